package org.sparsevit.backend;

/**
 * The window grid of one block: how an H x W token map is padded, rolled and cut into windows.
 *
 * <p>The map is zero-padded at the bottom/right to Hp x Wp (multiples of {@code window}); a shifted grid
 * is then rolled by {@code shift} rows and columns towards the top-left, so position (i, j) of the rolled
 * map holds padded position ((i + shift) mod Hp, (j + shift) mod Wp). Window number r * nWw + c is the
 * window in row r and column c of the rolled padded map; its N = window^2 tokens are row-major.
 *
 * <p>For shifted grids the attention mask gives every rolled position a region label from its row band
 * (i &lt; Hp - window, i &lt; Hp - shift, else) and column band; pairs of different regions get -100.
 *
 * @param height      token rows H of the (unpadded) map
 * @param width       token columns W
 * @param window      window side (possibly smaller than the model's window for small classification stages)
 * @param shift       cyclic shift (0 for a regular grid)
 * @param biasWindow  window side the relative position bias table was built for: its rows are
 *                    (2 * biasWindow - 1)^2; equal to {@code window} except for clamped small stages
 */
public record WindowGrid(int height, int width, int window, int shift, int biasWindow) {

    public WindowGrid {
        if (height <= 0 || width <= 0 || window <= 0 || shift < 0 || shift >= window || biasWindow < window) {
            throw new IllegalArgumentException("invalid window grid: " + height + "x" + width + ", window " + window
                    + ", shift " + shift + ", bias window " + biasWindow);
        }
    }

    public static WindowGrid of(int height, int width, int window, int shift) {
        return new WindowGrid(height, width, window, shift, window);
    }

    /** Padded height Hp (next multiple of the window). */
    public int paddedHeight() {
        return (height + window - 1) / window * window;
    }

    /** Padded width Wp. */
    public int paddedWidth() {
        return (width + window - 1) / window * window;
    }

    /** Windows per column nWh. */
    public int windowRows() {
        return paddedHeight() / window;
    }

    /** Windows per row nWw. */
    public int windowCols() {
        return paddedWidth() / window;
    }

    /** Windows nW = nWh * nWw. */
    public int numWindows() {
        return windowRows() * windowCols();
    }

    /** Tokens per window N = window^2. */
    public int windowTokens() {
        return window * window;
    }

    public boolean shifted() {
        return shift > 0;
    }

    public boolean padded() {
        return paddedHeight() != height || paddedWidth() != width;
    }

    /**
     * Index into the unpadded H*W map of token t of window w, or -1 when that token is padding.
     * This is the index arithmetic every gather/scatter kernel implements.
     */
    public int sourceToken(int w, int t) {
        int r = w / windowCols();
        int c = w % windowCols();
        int i = r * window + t / window;
        int j = c * window + t % window;
        int pi = shift == 0 ? i : (i + shift) % paddedHeight();
        int pj = shift == 0 ? j : (j + shift) % paddedWidth();
        return pi < height && pj < width ? pi * width + pj : -1;
    }

    /**
     * The inverse of {@link #sourceToken}: the row w * N + t of map token {@code token} (0 &lt;= token &lt; H*W) in a
     * tile that holds every window of this grid in natural order. The token sits at padded position (i, j), which
     * the roll moves to ((i - shift) mod Hp, (j - shift) mod Wp); that position's window and place in it give the row.
     */
    public int tileRow(int token) {
        if (token < 0 || token >= height * width) {
            throw new IllegalArgumentException("token " + token + " outside the " + height + "x" + width + " map");
        }
        int i = token / width;
        int j = token % width;
        if (shift != 0) {
            i = (i - shift + paddedHeight()) % paddedHeight();
            j = (j - shift + paddedWidth()) % paddedWidth();
        }
        int w = (i / window) * windowCols() + j / window;
        return w * windowTokens() + (i % window) * window + j % window;
    }

    /**
     * Checks a rewindow (Backend.rewindowWindows) from this grid to {@code to}: both cut the same map into windows
     * of the same size (their shifts may differ), and the source, of shape {@code fromShape}, is [B, nW, N, C]:
     * every window of this grid.
     */
    public void checkRewindow(WindowGrid to, int[] fromShape, String op) {
        if (height != to.height || width != to.width || window != to.window) {
            throw new IllegalArgumentException(op + ": grids " + this + " and " + to + " do not cut the same map into"
                    + " windows of the same size");
        }
        if (fromShape.length != 4 || fromShape[1] != numWindows() || fromShape[2] != windowTokens()) {
            throw new IllegalArgumentException(op + ": source must be [B, " + numWindows() + ", " + windowTokens()
                    + ", C] (every window of its grid), got " + java.util.Arrays.toString(fromShape));
        }
    }

    /** Region label (0..8) of token t of window w, for the shift mask; 0 everywhere when not shifted. */
    public int region(int w, int t) {
        if (shift == 0) {
            return 0;
        }
        int i = (w / windowCols()) * window + t / window;
        int j = (w % windowCols()) * window + t % window;
        return band(i, paddedHeight()) * 3 + band(j, paddedWidth());
    }

    private int band(int i, int padded) {
        return i < padded - window ? 0 : (i < padded - shift ? 1 : 2);
    }

    /** Row of the relative position bias table for query token q and key token k. */
    public int biasRow(int q, int k) {
        int dy = q / window - k / window;
        int dx = q % window - k % window;
        return (dy + biasWindow - 1) * (2 * biasWindow - 1) + (dx + biasWindow - 1);
    }
}
