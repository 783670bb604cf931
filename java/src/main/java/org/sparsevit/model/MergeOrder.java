package org.sparsevit.model;

/**
 * Channel order of the 4C vector built by patch merging from a 2x2 neighbourhood.
 * Offsets are (dy, dx): row offset first.
 */
public enum MergeOrder {
    /** Official Swin: concatenate whole tokens in the order (0,0), (1,0), (0,1), (1,1); entry = t*C + c. */
    CONCAT,
    /** mmdet 2.x nn.Unfold order (SparseViT checkpoints): channel-major, entry = c*4 + dy*2 + dx. */
    UNFOLD
}
