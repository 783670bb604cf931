package org.sparsevit.macs;

import org.sparsevit.backend.WindowGrid;
import org.sparsevit.model.StageGeometry;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.sparse.SparsityConfig;

/**
 * Analytic multiply-accumulate counts of what a (pruned) Swin actually executes, in the convention of
 * the official Swin {@code flops()} methods, which the Swin and SparseViT papers' figures follow:
 * <ul>
 *   <li>patch embedding: Ho * Wo * C * Cin * p^2 for the convolution, plus Ho * Wo * C for its LayerNorm;</li>
 *   <li>a block processing k windows of N tokens (padding tokens included: they are computed), t = k * N:
 *       qkv 3 t C^2, q k^T t N C, attn v t N C, proj t C^2, MLP 2 t C * (r C), and t C per LayerNorm;</li>
 *   <li>patch merging: h2 * w2 * 4C * 2C for the reduction plus h2 * w2 * 4C for its LayerNorm;</li>
 *   <li>backbone output norms H * W * C each; classification: the final norm on the last stage's tokens
 *       plus C * classes for the head;</li>
 *   <li>softmax, GELU, residual adds, bias adds and the SparseViT importance scores are not counted.</li>
 * </ul>
 * Reproduces Swin-T 224: 4.49 G, and the SparseViT paper's backbone figures (e.g. 672x672, batch 4:
 * 161.8 G dense, 139.5 G and 116.5 G for its first two configurations).
 */
public final class MacCounter {
    private MacCounter() {
    }

    public static MacReport count(SwinConfig cfg, int height, int width, int batch, SparsityConfig sp) {
        if (batch <= 0) {
            throw new IllegalArgumentException("batch must be positive, got " + batch);
        }
        sp.validate(cfg, height, width);
        StageGeometry[] geo = StageGeometry.of(cfg, height, width);
        int ns = cfg.numStages();
        long[][] blocks = new long[ns][];
        int[][] kept = new int[ns][];
        int[] windows = new int[ns];
        long[] merges = new long[ns];
        long[] norms = new long[ns];
        long c0 = cfg.embedDim();
        long l0 = (long) geo[0].height() * geo[0].width();
        long patch = l0 * c0 * cfg.inChans() * cfg.patchSize() * cfg.patchSize() + l0 * c0;
        for (int s = 0; s < ns; s++) {
            long c = cfg.dim(s);
            long hidden = c * cfg.mlpRatio();
            blocks[s] = new long[cfg.depth(s)];
            kept[s] = new int[cfg.depth(s)];
            windows[s] = geo[s].numWindows();
            for (int j = 0; j < cfg.depth(s); j++) {
                WindowGrid g = geo[s].grid(j);
                int nW = g.numWindows();
                int k = sp.selectionActive(s, j) ? SparsityConfig.keptWindows(nW, sp.ratio(s, j)) : nW;
                kept[s][j] = k;
                long n = g.windowTokens();
                long t = (long) k * n;
                long attn = 3 * t * c * c + 2 * t * n * c + t * c * c;
                long mlp = 2 * t * c * hidden;
                long ln = 2 * t * c;
                blocks[s][j] = (attn + mlp + ln) * batch;
            }
            long l = (long) geo[s].height() * geo[s].width();
            if (cfg.isBackbone()) {
                norms[s] = l * c * batch;
            }
            if (s < ns - 1) {
                long l2 = (long) geo[s + 1].height() * geo[s + 1].width();
                merges[s] = (l2 * 4 * c * 2 * c + l2 * 4 * c) * batch;
            }
        }
        long head = 0;
        if (!cfg.isBackbone()) {
            long cf = cfg.numFeatures();
            long l = (long) geo[ns - 1].height() * geo[ns - 1].width();
            head = (l * cf + cf * cfg.numClasses()) * batch;
        }
        return new MacReport(blocks, kept, windows, patch * batch, merges, norms, head);
    }
}
