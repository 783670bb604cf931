package org.sparsevit.model;

import org.sparsevit.backend.WindowGrid;

/**
 * The token grid of one stage for a given input size, and the window grids of its blocks.
 *
 * <p>Stage 0 has ceil(H / patch) x ceil(W / patch) tokens (the image is zero-padded to patch multiples);
 * each patch merging gives ceil(h / 2) x ceil(w / 2). The window of a block is the model's window, padded
 * at the bottom/right to Hp x Wp (next multiples of the window), with shift window / 2 on odd blocks;
 * except that the classification model (microsoft/Swin-Transformer) uses window = min(h, w) and no shift
 * when min(h, w) &lt;= window. The detection backbone always keeps the window and shifts odd blocks.
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

    /** Windows per block nW = nWh * nWw (the same for the regular and the shifted grid). */
    public int numWindows() {
        return regular.numWindows();
    }

    /** Effective window side (smaller than the model's window only for small classification stages). */
    public int window() {
        return regular.window();
    }

    /** Shift of the odd blocks (0 when the classifier disables it). */
    public int shift() {
        return shifted.shift();
    }

    /** Padded height Hp, a multiple of {@link #window()}. */
    public int paddedHeight() {
        return regular.paddedHeight();
    }

    /** Padded width Wp. */
    public int paddedWidth() {
        return regular.paddedWidth();
    }

    /** Window rows nWh. */
    public int windowRows() {
        return regular.windowRows();
    }

    /** Window columns nWw. */
    public int windowCols() {
        return regular.windowCols();
    }

    /** Tokens per stage h * w (unpadded). */
    public long tokens() {
        return (long) height * width;
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
