package org.sparsevit.model;

/** What a Swin model returns. */
public enum Task {
    /** Logits from mean pooling, a final LayerNorm and a linear head (Microsoft classification release). */
    CLASSIFICATION,
    /** Four NCHW feature maps, one per stage, each after its own LayerNorm norm0..norm3 (detection backbone). */
    BACKBONE
}
