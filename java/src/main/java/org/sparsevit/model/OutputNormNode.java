package org.sparsevit.model;

import org.sparsevit.backend.Backend;
import org.sparsevit.tensor.Tensor;

/**
 * Backbone output i: LayerNorm {@code norm<i>} over the stage's final tokens, returned as NCHW
 * [B, C, H, W]. Official names: {@code norm0..norm3} (Swin detection and mmdet alike).
 */
public final class OutputNormNode implements Node {
    private final Backend be;
    /** false for a session view, which shares the weights of the node it was made from */
    private final boolean owner;
    private final int index;
    private final float eps;
    private final Tensor w;
    private final Tensor b;

    OutputNormNode(Backend be, SwinWeights weights, int stage) {
        this.be = be;
        this.owner = true;
        this.index = stage;
        this.eps = weights.config().eps();
        this.w = be.upload(weights.get("norm" + stage + ".weight"), be.storage());
        this.b = be.upload(weights.get("norm" + stage + ".bias"), be.storage());
    }


    /** The same node (same weights, not copied) running its ops on another backend session. */
    OutputNormNode(OutputNormNode src, Backend be) {
        this.be = be;
        this.owner = false;
        this.index = src.index;
        this.eps = src.eps;
        this.w = src.w;
        this.b = src.b;
    }

    @Override
    public String name() {
        return "norm" + index;
    }

    /** A new NCHW tensor [B, C, H, W]; the input is not changed. */
    public Tensor forward(FeatureMap x) {
        Tensor out = be.empty(be.storage(), x.batch(), x.channels(), x.height(), x.width());
        try (Tensor t = be.empty(be.storage(), x.tokens().shape())) {
            be.layerNorm(x.tokens(), w, b, eps, t);
            be.toChannelsFirst(t, x.height(), x.width(), out);
        }
        return out;
    }

    @Override
    public void close() {
        if (!owner) {
            return;
        }
        w.close();
        b.close();
    }
}
