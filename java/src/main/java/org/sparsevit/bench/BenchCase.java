package org.sparsevit.bench;

import org.sparsevit.sparse.SparsityConfig;

/**
 * One measured configuration.
 *
 * @param arch       preset name (swin-t, swin-s, swin-b, ...)
 * @param backbone   detection backbone (four outputs) instead of the classifier
 * @param height     input height
 * @param width      input width
 * @param batch      images per forward pass
 * @param precision  fp32, tf32, fp16 or bf16
 * @param sparsityLabel how the sparsity was given ("dense", "uniform:0.6", or the compact form)
 * @param sparsity   the per-block ratios
 */
public record BenchCase(String arch, boolean backbone, int height, int width, int batch, String precision,
                        String sparsityLabel, SparsityConfig sparsity) {

    public String size() {
        return height + "x" + width;
    }

    public String label() {
        return arch + (backbone ? " backbone " : " cls ") + size() + " b" + batch + " " + precision + " " + sparsityLabel;
    }
}
