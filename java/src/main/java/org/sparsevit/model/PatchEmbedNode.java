package org.sparsevit.model;

import org.sparsevit.backend.Backend;
import org.sparsevit.tensor.Tensor;

/**
 * Patch embedding: a patch x patch, stride patch convolution (image zero-padded on the bottom/right to
 * patch multiples), flattened row-major into tokens, then LayerNorm.
 * Official names: Swin {@code patch_embed.proj}, {@code patch_embed.norm}; mmdet {@code patch_embed.projection}.
 */
public final class PatchEmbedNode implements Node {
    private final Backend be;
    /** false for a session view, which shares the weights of the node it was made from */
    private final boolean owner;
    private final int patch;
    private final int dim;
    private final float eps;
    private final Tensor w;
    private final Tensor b;
    private final Tensor normW;
    private final Tensor normB;

    PatchEmbedNode(Backend be, SwinWeights weights) {
        SwinConfig cfg = weights.config();
        this.be = be;
        this.owner = true;
        this.patch = cfg.patchSize();
        this.dim = cfg.embedDim();
        this.eps = cfg.eps();
        this.w = be.upload(weights.get("patch_embed.proj.weight"), be.storage());
        this.b = be.upload(weights.get("patch_embed.proj.bias"), be.storage());
        this.normW = be.upload(weights.get("patch_embed.norm.weight"), be.storage());
        this.normB = be.upload(weights.get("patch_embed.norm.bias"), be.storage());
    }


    /** The same node (same weights, not copied) running its ops on another backend session. */
    PatchEmbedNode(PatchEmbedNode src, Backend be) {
        this.be = be;
        this.owner = false;
        this.patch = src.patch;
        this.dim = src.dim;
        this.eps = src.eps;
        this.w = src.w;
        this.b = src.b;
        this.normW = src.normW;
        this.normB = src.normB;
    }

    @Override
    public String name() {
        return "patch_embed";
    }

    /** images [B, Cin, H, W] to a token map [B, ceil(H/p) * ceil(W/p), C]. */
    public FeatureMap forward(Tensor images) {
        int h = (images.dim(2) + patch - 1) / patch;
        int wd = (images.dim(3) + patch - 1) / patch;
        Tensor out = be.empty(be.storage(), images.dim(0), h * wd, dim);
        be.patchEmbed(images, w, b, patch, out);
        be.layerNorm(out, normW, normB, eps, out);
        return new FeatureMap(out, h, wd);
    }

    @Override
    public void close() {
        if (!owner) {
            return;
        }
        w.close();
        b.close();
        normW.close();
        normB.close();
    }
}
