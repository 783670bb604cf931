package org.sparsevit.macs;

import org.sparsevit.backend.WindowGrid;
import org.sparsevit.model.StageGeometry;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.sparse.SparsityConfig;

/**
 * Analytic multiply-accumulate counts of what a (pruned) Swin actually executes, for the whole batch.
 *
 * <p>Convention: that of the official Swin {@code flops()} methods (one MAC per multiply-add of every
 * matrix product, plus one per element for every LayerNorm), applied to what really runs:
 * <ul>
 *   <li>patch embedding: Ho * Wo * C * Cin * p^2 for the convolution (the image padded to patch
 *       multiples), plus Ho * Wo * C for its LayerNorm;</li>
 *   <li>a block processing k windows of N = w^2 tokens, t = k * N (the padding tokens of a padded window
 *       are computed, so they count): qkv 3 t C^2, q k^T t N C, attn v t N C, proj t C^2, MLP 2 t C (r C),
 *       and t C for each of its two LayerNorms. k = nW while no selection is active in the stage, else
 *       (int) (nW * (1 - s));</li>
 *   <li>patch merging: h2 * w2 * 4C * 2C for the reduction plus h2 * w2 * 4C for its LayerNorm, with
 *       h2 x w2 = ceil(h / 2) x ceil(w / 2);</li>
 *   <li>backbone: the output norms, H * W * C each; classification: the final norm on the last stage's
 *       tokens plus C * classes for the head;</li>
 *   <li>not counted: softmax, GELU, residual and bias additions, the relative position bias and mask, the
 *       gathers/scatters and the SparseViT importance scores (all O(tokens), below 0.1% of the total).</li>
 * </ul>
 *
 * <p>Against the published figures (Swin paper; SparseViT paper, Swin-T backbone) this gives, in GMACs:
 * Swin-T classification 224, batch 1: 4.494 (4.49); backbone batch 4 at 672x672: 161.786 dense (161.8),
 * 139.461 for 0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0 (139.5), 116.428 for
 * 0.6,0.6/0,0/0.2,0.2,0.4,0.4,0.5,0.5/0,0 (116.5); 576x576: 149.456 (149.5); 544x544: 119.798 (119.8);
 * 256x704, batch 6: 140.721 (140.8). Every figure is met within 0.08 G. Leaving the LayerNorms out
 * would give 161.633 / 139.327 / 116.313 / 149.330 / 119.692 / 140.611 for the backbone figures, 0.11 to
 * 0.19 G low on every one, so the published numbers include them.
 */
public final class MacCounter {
    private MacCounter() {
    }

    /** Dense MACs (every block processes every window). */
    public static MacReport count(SwinConfig cfg, int height, int width, int batch) {
        return count(cfg, height, width, batch, SparsityConfig.dense(cfg));
    }

    /**
     * MACs of one forward pass of {@code batch} images of height x width with the given ratios. The ratios
     * are checked with the exact, size-aware rule ({@link SparsityConfig#validate(SwinConfig, int, int)}).
     */
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
                blocks[s][j] = attn + mlp + ln;
            }
            long l = (long) geo[s].height() * geo[s].width();
            if (cfg.isBackbone()) {
                norms[s] = l * c;
            }
            if (s < ns - 1) {
                long l2 = (long) geo[s + 1].height() * geo[s + 1].width();
                merges[s] = l2 * 4 * c * 2 * c + l2 * 4 * c;
            }
        }
        long head = 0;
        if (!cfg.isBackbone()) {
            long cf = cfg.numFeatures();
            long l = (long) geo[ns - 1].height() * geo[ns - 1].width();
            head = l * cf + cf * cfg.numClasses();
        }
        // every count above is per image; the batch's total must fit in a long, or the report's sums would wrap
        // around (a negative total)
        long perImage = patch + head;
        for (int s = 0; s < ns; s++) {
            for (long b : blocks[s]) {
                perImage += b;
            }
            perImage += merges[s] + norms[s];
        }
        if (perImage > Long.MAX_VALUE / batch) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "batch %d at %dx%d: %.4g MACs, more"
                    + " than a count can hold (2^63 - 1); use a smaller batch", batch, height, width,
                    (double) perImage * batch));
        }
        for (int s = 0; s < ns; s++) {
            for (int j = 0; j < blocks[s].length; j++) {
                blocks[s][j] *= batch;
            }
            merges[s] *= batch;
            norms[s] *= batch;
        }
        return new MacReport(blocks, kept, windows, patch * batch, merges, norms, head * batch);
    }
}
