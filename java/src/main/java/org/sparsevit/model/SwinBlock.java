package org.sparsevit.model;

import org.sparsevit.backend.Backend;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.tensor.Tensor;

/**
 * One Swin block, executed on window tiles: for each processed window w (a [N, C] tile gathered from the
 * token map), y = w + proj(attn(norm1(w))), out = y + fc2(gelu(fc1(norm2(y)))), written back in place.
 * Windows that are not processed keep their values (SparseViT). LayerNorm and MLP act per token, so
 * running them on tiles is exact; padding tokens are zero before norm1 (mode SPARSEVIT: they enter
 * attention as norm1's bias) or zeroed after it (mode SWIN), and are dropped when the tile is written back.
 */
public final class SwinBlock implements AutoCloseable {
    private final Backend be;
    /** false for a session view, which shares the weights of the node it was made from */
    private final boolean owner;
    final int dim;
    final int heads;
    private final float eps;
    private final Tensor norm1W;
    private final Tensor norm1B;
    private final Tensor qkvW;
    private final Tensor qkvB;
    private final Tensor biasTable;
    private final Tensor projW;
    private final Tensor projB;
    private final Tensor norm2W;
    private final Tensor norm2B;
    private final Tensor fc1W;
    private final Tensor fc1B;
    private final Tensor fc2W;
    private final Tensor fc2B;

    SwinBlock(Backend be, SwinWeights weights, int stage, int block) {
        SwinConfig cfg = weights.config();
        this.be = be;
        this.owner = true;
        this.dim = cfg.dim(stage);
        this.heads = cfg.heads(stage);
        this.eps = cfg.eps();
        String p = "layers." + stage + ".blocks." + block + ".";
        this.norm1W = be.upload(weights.get(p + "norm1.weight"), be.storage());
        this.norm1B = be.upload(weights.get(p + "norm1.bias"), be.storage());
        this.qkvW = be.upload(weights.get(p + "attn.qkv.weight"), be.storage());
        this.qkvB = be.upload(weights.get(p + "attn.qkv.bias"), be.storage());
        this.biasTable = be.upload(weights.get(p + "attn.relative_position_bias_table"), be.storage());
        this.projW = be.upload(weights.get(p + "attn.proj.weight"), be.storage());
        this.projB = be.upload(weights.get(p + "attn.proj.bias"), be.storage());
        this.norm2W = be.upload(weights.get(p + "norm2.weight"), be.storage());
        this.norm2B = be.upload(weights.get(p + "norm2.bias"), be.storage());
        this.fc1W = be.upload(weights.get(p + "mlp.fc1.weight"), be.storage());
        this.fc1B = be.upload(weights.get(p + "mlp.fc1.bias"), be.storage());
        this.fc2W = be.upload(weights.get(p + "mlp.fc2.weight"), be.storage());
        this.fc2B = be.upload(weights.get(p + "mlp.fc2.bias"), be.storage());
    }


    /** The same node (same weights, not copied) running its ops on another backend session. */
    SwinBlock(SwinBlock src, Backend be) {
        this.be = be;
        this.owner = false;
        this.dim = src.dim;
        this.heads = src.heads;
        this.eps = src.eps;
        this.norm1W = src.norm1W;
        this.norm1B = src.norm1B;
        this.qkvW = src.qkvW;
        this.qkvB = src.qkvB;
        this.biasTable = src.biasTable;
        this.projW = src.projW;
        this.projB = src.projB;
        this.norm2W = src.norm2W;
        this.norm2B = src.norm2B;
        this.fc1W = src.fc1W;
        this.fc1B = src.fc1B;
        this.fc2W = src.fc2W;
        this.fc2B = src.fc2B;
    }

    /**
     * Runs the block in place on the first k windows of {@code order} (or all windows when order is null).
     *
     * @param x       token map [B, H*W, C], updated in place
     * @param grid    the block's window grid
     * @param order   I32 [B, nW] window order, or null for all windows in natural order
     * @param k       windows processed per image
     * @param padding where padding happens relative to norm1
     */
    public void forward(Tensor x, WindowGrid grid, Tensor order, int k, PaddingMode padding) {
        if (k == 0) {
            return;
        }
        int b = x.dim(0);
        int n = grid.windowTokens();
        try (Tensor tile = be.empty(be.storage(), b, k, n, dim);
             Tensor t = be.empty(be.storage(), b, k, n, dim)) {
            // tile = the kept windows [B, k, N, C]; t = norm1(tile), padding zeroed after norm1 in Swin's mode
            be.gatherLayerNorm(x, grid, order, k, norm1W, norm1B, eps, padding == PaddingMode.SWIN, tile, t);
            body(tile, t, grid, order, k);
            be.scatterWindows(tile, grid, order, k, x);
        }
    }

    /**
     * Runs the block on every window (a dense block), with its input from the token map x, or, when {@code from} is
     * not null, from the previous dense block's output tile {@code from} (every window of {@code fromGrid}, not
     * scattered: x is stale), which this call closes. With {@code keepTile} the block's own output tile (every
     * window of {@code grid}, natural order) is returned for the next dense block instead of being scattered to x;
     * the caller then owns it. Otherwise the output is scattered into x and null is returned. The results are
     * those of {@link #forward} with a scatter after every block: the rewindow reads what the gather would, and
     * norm1 is the same LayerNorm, bit for bit on the CPU. (On CUDA the gather's fused norm1 writes a padding
     * token's norm1 as beta verbatim in SparseViT's padding mode, where LayerNorm of the zero row computes
     * 0 * gamma + beta: the same value, though a beta of -0.0 comes out +0.0.) A handover saves a pass over the map (scatter 2 + gather with norm1 3 passes
     * of C channels become rewindow 2 + norm1 2).
     */
    public Tensor forwardDense(Tensor x, WindowGrid grid, Tensor from, WindowGrid fromGrid, boolean keepTile,
                               PaddingMode padding) {
        int b = x.dim(0);
        int n = grid.windowTokens();
        int nW = grid.numWindows();
        boolean swin = padding == PaddingMode.SWIN;
        Tensor tile = null;
        boolean handedOver = false;
        try {
            tile = be.empty(be.storage(), b, nW, n, dim);
            boolean rewindowed = from != null;
            if (rewindowed) {
                // the move, then norm1 as a pass of its own, t allocated after the previous tile is released: with
                // both in one kernel, the previous tile, this one and t would be alive together, and the workspace
                // plan of a dense chain needed a slab 15% above its lower bound (the MLP's buffer could no longer
                // reuse the previous tile's memory)
                be.rewindowWindows(from, fromGrid, grid, tile);
                from.close();
                from = null;
            }
            try (Tensor t = be.empty(be.storage(), b, nW, n, dim)) {
                if (!rewindowed) {
                    be.gatherLayerNorm(x, grid, null, nW, norm1W, norm1B, eps, swin, tile, t);
                } else {
                    be.layerNorm(tile, norm1W, norm1B, eps, t);
                    if (swin && grid.padded()) {
                        be.zeroPadding(t, grid, null, nW);
                    }
                }
                body(tile, t, grid, null, nW);
            }
            if (keepTile) {
                handedOver = true;
                return tile;
            }
            be.scatterWindows(tile, grid, null, nW, x);
            return null;
        } finally {
            if (from != null) {
                from.close();
            }
            if (tile != null && !handedOver) {
                tile.close();
            }
        }
    }

    /** Attention and MLP with their residuals on tile [B, k, N, C] in place; t [B, k, N, C] holds norm1(tile). */
    private void body(Tensor tile, Tensor t, WindowGrid grid, Tensor order, int k) {
        int b = tile.dim(0);
        int n = grid.windowTokens();
        try (Tensor qkv = be.empty(be.storage(), b, k, n, 3 * dim)) {
            be.linear(t, qkvW, qkvB, qkv);                          // [B, k, N, 3C]
            be.windowAttention(qkv, biasTable, heads, grid, order, k, t);
        }
        be.linearResidual(t, projW, projB, tile);                  // y = w + proj(attn), in the tile
        be.mlpResidual(tile, norm2W, norm2B, eps, fc1W, fc1B, fc2W, fc2B, t);   // y + mlp(norm2(y)), hidden 4C
    }

    @Override
    public void close() {
        if (!owner) {
            return;
        }
        for (Tensor t : new Tensor[]{norm1W, norm1B, qkvW, qkvB, biasTable, projW, projB, norm2W, norm2B, fc1W, fc1B,
                fc2W, fc2B}) {
            t.close();
        }
    }
}
