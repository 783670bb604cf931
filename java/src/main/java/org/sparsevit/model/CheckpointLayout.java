package org.sparsevit.model;

/** Parameter naming conventions of the checkpoints we read. */
public enum CheckpointLayout {
    /** (a) microsoft/Swin-Transformer classification: layers.i.blocks.j.attn.qkv, norm, head. */
    MICROSOFT,
    /** (b) official Swin detection backbone: same block names, norm0..norm3 instead of norm/head. */
    SWIN_DETECTION,
    /** (c) mmdet 2.x / SparseViT: stages.i.blocks.j.attn.w_msa.qkv, ffn.layers, patch_embed.projection. */
    MMDET
}
