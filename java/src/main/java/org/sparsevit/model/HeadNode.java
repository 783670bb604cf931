package org.sparsevit.model;

import org.sparsevit.backend.Backend;
import org.sparsevit.tensor.Tensor;

/**
 * Classification head: final LayerNorm {@code norm}, mean over tokens, Linear {@code head} to logits [B, classes].
 */
public final class HeadNode implements Node {
    private final Backend be;
    /** false for a session view, which shares the weights of the node it was made from */
    private final boolean owner;
    private final float eps;
    private final int classes;
    private final Tensor normW;
    private final Tensor normB;
    private final Tensor w;
    private final Tensor b;

    HeadNode(Backend be, SwinWeights weights) {
        this.be = be;
        this.owner = true;
        this.eps = weights.config().eps();
        this.classes = weights.config().numClasses();
        this.normW = be.upload(weights.get("norm.weight"), be.storage());
        this.normB = be.upload(weights.get("norm.bias"), be.storage());
        this.w = be.upload(weights.get("head.weight"), be.storage());
        this.b = be.upload(weights.get("head.bias"), be.storage());
    }


    /** The same node (same weights, not copied) running its ops on another backend session. */
    HeadNode(HeadNode src, Backend be) {
        this.be = be;
        this.owner = false;
        this.eps = src.eps;
        this.classes = src.classes;
        this.normW = src.normW;
        this.normB = src.normB;
        this.w = src.w;
        this.b = src.b;
    }

    @Override
    public String name() {
        return "head";
    }

    /** Logits [B, classes]; the input is not changed. */
    public Tensor forward(FeatureMap x) {
        Tensor logits = be.empty(be.storage(), x.batch(), classes);
        try (Tensor t = be.empty(be.storage(), x.tokens().shape());
             Tensor pooled = be.empty(be.storage(), x.batch(), x.channels())) {
            be.layerNorm(x.tokens(), normW, normB, eps, t);
            be.meanPool(t, pooled);
            be.linear(pooled, w, b, logits);
        }
        return logits;
    }

    @Override
    public void close() {
        if (!owner) {
            return;
        }
        normW.close();
        normB.close();
        w.close();
        b.close();
    }
}
