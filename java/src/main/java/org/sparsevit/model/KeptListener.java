package org.sparsevit.model;

/**
 * Receives, for every block a forward pass runs, which windows it processed. Attaching a listener makes
 * the pass copy the kept lists to the host (a synchronisation on the GPU); without one nothing is copied.
 */
@FunctionalInterface
public interface KeptListener {

    /**
     * @param record what one block did
     */
    void onBlock(BlockRecord record);

    /**
     * @param stage          stage index
     * @param block          block index within the stage
     * @param grid           height/width/padding/shift of the block's window grid
     * @param ratio          the block's sparsity ratio
     * @param pruned         false when no selection was active (every window, natural order)
     * @param k              windows processed (nW when not pruned)
     * @param kept           per image, the processed window numbers in kept order; null when not pruned
     * @param builtHere      whether this block built its parity's kept list
     * @param windowScores   per image, the importance of every window (when built here), else null
     */
    record BlockRecord(int stage, int block, org.sparsevit.backend.WindowGrid grid, double ratio, boolean pruned,
                       int k, int[][] kept, boolean builtHere, float[][] windowScores) {
    }
}
