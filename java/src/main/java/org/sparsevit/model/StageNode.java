package org.sparsevit.model;

import java.util.ArrayList;
import java.util.List;

import org.sparsevit.backend.Backend;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Tensor;

/**
 * One Swin stage: its blocks plus the SparseViT window selector.
 *
 * <p>Selection (official SparseViT semantics): at the first block whose ratio is &gt; 0 the stage computes
 * the importance map A (per token, mean over channels of |x| of that block's input). Each grid parity
 * (regular = even blocks, shifted = odd blocks) gets one kept list, built by the first block of that
 * parity that runs once A exists: window scores (L2 of A over each window of the padded, rolled grid),
 * sorted descending per image, ties to the lower window number. Every block of the parity then processes
 * the first k = (int) (nW * (1.0 - ratio)) windows of that list. Blocks before A exists process every
 * window. Official names: Swin {@code layers.i}, mmdet {@code stages.i}.
 */
public final class StageNode implements Node {
    private final Backend be;
    private final int index;
    private final SwinConfig cfg;
    private final List<SwinBlock> blocks = new ArrayList<>();
    /**
     * {@code -Dsparsevit.rewindow=false} makes every dense block scatter its output to the token map and the next
     * one gather it again, instead of handing its tile over (Backend.rewindowWindows): the same values, one pass
     * over the map more per pair of dense blocks. For comparisons; read when a model is made.
     */
    public static final String REWINDOW_PROPERTY = "sparsevit.rewindow";

    /** {@link #REWINDOW_PROPERTY} now: true unless it is "false" (read once per model, when its stages are made). */
    public static boolean handoverByDefault() {
        return !"false".equalsIgnoreCase(System.getProperty(REWINDOW_PROPERTY, "true"));
    }

    /** Whether dense pairs hand their tile over: fixed when the model is made (part of its workspace key). */
    private final boolean handover;

    /** The same stage (shared weights) on another backend session. */
    StageNode(StageNode src, Backend be) {
        this.be = be;
        this.index = src.index;
        this.cfg = src.cfg;
        this.handover = src.handover;
        for (SwinBlock b : src.blocks) {
            blocks.add(new SwinBlock(b, be));
        }
    }

    StageNode(Backend be, SwinWeights weights, int stage) {
        this.be = be;
        this.index = stage;
        this.cfg = weights.config();
        this.handover = handoverByDefault();
        for (int j = 0; j < cfg.depth(stage); j++) {
            blocks.add(new SwinBlock(be, weights, stage, j));
        }
    }

    /** Whether this stage's dense pairs hand their tile over (see {@link #REWINDOW_PROPERTY}). */
    boolean handover() {
        return handover;
    }

    @Override
    public String name() {
        return "stage" + index;
    }

    public int index() {
        return index;
    }

    public int depth() {
        return blocks.size();
    }

    public int dim() {
        return cfg.dim(index);
    }

    /**
     * The window grid block {@code block} uses on an H x W map: the official classification model uses one
     * window of the map's size and no shift when min(H, W) &lt;= window; the backbone always keeps the
     * window and shifts odd blocks by window / 2.
     */
    public static WindowGrid grid(SwinConfig cfg, int height, int width, int block) {
        int w = cfg.window();
        int shift = w / 2;
        if (cfg.task() == Task.CLASSIFICATION && Math.min(height, width) <= w) {
            w = Math.min(height, width);
            shift = 0;
        }
        return new WindowGrid(height, width, w, block % 2 == 1 ? shift : 0, cfg.window());
    }

    /** k = (int) (nW * (1.0 - ratio)), in double precision exactly as the official code. */
    public static int keptWindows(int numWindows, double ratio) {
        return (int) (numWindows * (1.0 - ratio));
    }

    /**
     * Runs every block in place.
     *
     * @param x        the stage's token map, updated in place
     * @param ratios   one sparsity ratio per block (all zero for a dense pass)
     * @param padding  padding mode
     * @param listener receives each block's kept windows, or null
     */
    public void forward(FeatureMap x, double[] ratios, PaddingMode padding, KeptListener listener) {
        if (ratios.length != blocks.size()) {
            throw new IllegalArgumentException("stage " + index + " has " + blocks.size() + " blocks but "
                    + ratios.length + " ratios were given");
        }
        int b = x.batch();
        Tensor importance = null;
        Tensor[] lists = new Tensor[2];
        int[] listK = new int[2];
        // a dense block followed by another hands its output tile over instead of scattering it to the map (the
        // next one re-windows it): a pass over the map fewer per pair, the same values. The map is stale
        // meanwhile; the last dense block of a run scatters (importance reads the map, as does the next stage).
        Tensor carried = null;
        WindowGrid carriedGrid = null;
        try {
            for (int j = 0; j < blocks.size(); j++) {
                WindowGrid g = grid(cfg, x.height(), x.width(), j);
                int nW = g.numWindows();
                if (importance == null && ratios[j] > 0) {
                    importance = be.empty(DType.F32, b, x.height() * x.width());
                    be.tokenImportance(x.tokens(), importance);
                }
                if (importance == null) {
                    boolean keep = handover && j + 1 < blocks.size() && ratios[j + 1] == 0;
                    Tensor from = carried;
                    carried = null;   // forwardDense closes it
                    carried = blocks.get(j).forwardDense(x.tokens(), g, from, carriedGrid, keep, padding);
                    carriedGrid = keep ? g : null;
                    if (listener != null) {
                        listener.onBlock(new KeptListener.BlockRecord(index, j, g, ratios[j], false, nW, null, false,
                                null));
                    }
                    continue;
                }
                int parity = j % 2;
                boolean built = false;
                float[][] scores = null;
                if (lists[parity] == null) {
                    lists[parity] = be.empty(DType.I32, b, nW);
                    try (Tensor s = be.empty(DType.F32, b, nW)) {
                        be.windowScores(importance, g, s);
                        be.sortWindows(s, lists[parity]);
                        if (listener != null) {
                            scores = rows(be.download(s).data(), b, nW);
                        }
                    }
                    built = true;
                }
                int k = keptWindows(nW, ratios[j]);
                if (!built && k > listK[parity]) {
                    throw new org.sparsevit.SparseVitException("sparsity: stage " + index + ", block " + j + " keeps " + k
                            + " of " + nW + " windows, more than the " + listK[parity]
                            + " of its grid parity's list (ratios of one parity must not decrease once selection starts)");
                }
                listK[parity] = k; // as the official code, each block truncates its parity's list to its k
                blocks.get(j).forward(x.tokens(), g, lists[parity], k, padding);
                if (listener != null) {
                    int[] all = be.downloadInts(lists[parity]);
                    int[][] kept = new int[b][k];
                    for (int bb = 0; bb < b; bb++) {
                        System.arraycopy(all, bb * nW, kept[bb], 0, k);
                    }
                    listener.onBlock(new KeptListener.BlockRecord(index, j, g, ratios[j], true, k, kept, built, scores));
                }
            }
        } finally {
            if (carried != null) {   // only when a block or the listener failed after a tile was handed over
                carried.close();
            }
            if (importance != null) {
                importance.close();
            }
            for (Tensor t : lists) {
                if (t != null) {
                    t.close();
                }
            }
        }
    }

    private static float[][] rows(float[] flat, int b, int n) {
        float[][] r = new float[b][n];
        for (int i = 0; i < b; i++) {
            System.arraycopy(flat, i * n, r[i], 0, n);
        }
        return r;
    }

    @Override
    public void close() {
        blocks.forEach(SwinBlock::close);
    }
}
