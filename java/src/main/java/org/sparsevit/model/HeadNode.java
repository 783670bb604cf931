package org.sparsevit.model;

import org.sparsevit.backend.Backend;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Tensor;

/**
 * Classification head: final LayerNorm {@code norm}, mean over tokens, Linear {@code head} to logits [B, classes].
 */
public final class HeadNode implements Node {
    private final Backend be;
    private final float eps;
    private final int classes;
    private final Tensor normW;
    private final Tensor normB;
    private final Tensor w;
    private final Tensor b;

    HeadNode(Backend be, SwinWeights weights) {
        this.be = be;
        this.eps = weights.config().eps();
        this.classes = weights.config().numClasses();
        this.normW = be.upload(weights.get("norm.weight"));
        this.normB = be.upload(weights.get("norm.bias"));
        this.w = be.upload(weights.get("head.weight"));
        this.b = be.upload(weights.get("head.bias"));
    }

    @Override
    public String name() {
        return "head";
    }

    /** Logits [B, classes]; the input is not changed. */
    public Tensor forward(FeatureMap x) {
        Tensor logits = be.empty(DType.F32, x.batch(), classes);
        try (Tensor t = be.empty(DType.F32, x.tokens().shape());
             Tensor pooled = be.empty(DType.F32, x.batch(), x.channels())) {
            be.layerNorm(x.tokens(), normW, normB, eps, t);
            be.meanPool(t, pooled);
            be.linear(pooled, w, b, logits);
        }
        return logits;
    }

    @Override
    public void close() {
        normW.close();
        normB.close();
        w.close();
        b.close();
    }
}
