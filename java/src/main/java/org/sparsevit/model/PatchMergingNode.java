package org.sparsevit.model;

import org.sparsevit.backend.Backend;
import org.sparsevit.tensor.Tensor;

/**
 * Patch merging between stages: zero-pad to even size, gather each 2x2 neighbourhood into 4C channels
 * (order per checkpoint layout), LayerNorm(4C), bias-free Linear(4C to 2C). The new grid is
 * ceil(H/2) x ceil(W/2). Official names: {@code layers.i.downsample} / {@code stages.i.downsample}.
 */
public final class PatchMergingNode implements Node {
    private final Backend be;
    /** false for a session view, which shares the weights of the node it was made from */
    private final boolean owner;
    private final int index;
    private final MergeOrder order;
    private final float eps;
    private final Tensor normW;
    private final Tensor normB;
    private final Tensor reduction;

    PatchMergingNode(Backend be, SwinWeights weights, int stage) {
        this.be = be;
        this.owner = true;
        this.index = stage;
        this.order = weights.config().mergeOrder();
        this.eps = weights.config().eps();
        String p = "layers." + stage + ".downsample.";
        this.normW = be.upload(weights.get(p + "norm.weight"), be.storage());
        this.normB = be.upload(weights.get(p + "norm.bias"), be.storage());
        this.reduction = be.upload(weights.get(p + "reduction.weight"), be.storage());
    }


    /** The same node (same weights, not copied) running its ops on another backend session. */
    PatchMergingNode(PatchMergingNode src, Backend be) {
        this.be = be;
        this.owner = false;
        this.index = src.index;
        this.order = src.order;
        this.eps = src.eps;
        this.normW = src.normW;
        this.normB = src.normB;
        this.reduction = src.reduction;
    }

    @Override
    public String name() {
        return "merge" + index;
    }

    /** [B, H*W, C] to [B, ceil(H/2)*ceil(W/2), 2C]; the input is not closed. */
    public FeatureMap forward(FeatureMap x) {
        int h2 = (x.height() + 1) / 2;
        int w2 = (x.width() + 1) / 2;
        int c = x.channels();
        Tensor out = be.empty(be.storage(), x.batch(), h2 * w2, 2 * c);
        try (Tensor cat = be.empty(be.storage(), x.batch(), h2 * w2, 4 * c)) {
            be.patchMerge(x.tokens(), x.height(), x.width(), order, cat);
            be.layerNorm(cat, normW, normB, eps, cat);
            be.linear(cat, reduction, null, out);
        }
        return new FeatureMap(out, h2, w2);
    }

    @Override
    public void close() {
        if (!owner) {
            return;
        }
        normW.close();
        normB.close();
        reduction.close();
    }
}
