package org.sparsevit.model;

import org.sparsevit.backend.WindowGrid;

/**
 * The token grid of one stage for a given input size, and the window grids of its blocks.
 *
 * @param stage   stage index
 * @param height  token rows: ceil(H / patch) for stage 0, then ceil(previous / 2)
 * @param width   token columns
 * @param regular the window grid of even blocks
 * @param shifted the window grid of odd blocks (equal to {@code regular} when the classifier disables the shift)
 */
public record StageGeometry(int stage, int height, int width, WindowGrid regular, WindowGrid shifted) {

    /** The grid of block j. */
    public WindowGrid grid(int block) {
        return block % 2 == 1 ? shifted : regular;
    }

    public int numWindows() {
        return regular.numWindows();
    }

    /** Geometry of every stage of {@code cfg} for an H x W input. */
    public static StageGeometry[] of(SwinConfig cfg, int height, int width) {
        if (height <= 0 || width <= 0) {
            throw new IllegalArgumentException("input size " + height + "x" + width + " must be positive");
        }
        StageGeometry[] g = new StageGeometry[cfg.numStages()];
        int h = (height + cfg.patchSize() - 1) / cfg.patchSize();
        int w = (width + cfg.patchSize() - 1) / cfg.patchSize();
        for (int s = 0; s < g.length; s++) {
            g[s] = new StageGeometry(s, h, w, StageNode.grid(cfg, h, w, 0), StageNode.grid(cfg, h, w, 1));
            h = (h + 1) / 2;
            w = (w + 1) / 2;
        }
        return g;
    }
}
