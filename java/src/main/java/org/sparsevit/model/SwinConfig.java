package org.sparsevit.model;

import java.util.Arrays;
import java.util.Locale;

/**
 * The architecture of a Swin model. Immutable.
 *
 * @param embedDim    channels of stage 0 (C); stage i has C * 2^i
 * @param depths      blocks per stage (four stages in every official model)
 * @param heads       attention heads per stage
 * @param window      window size w (7, or 12 for the 384 models)
 * @param patchSize   patch embedding size and stride (4)
 * @param mlpRatio    hidden width of the MLP relative to C (4)
 * @param inChans     image channels (3)
 * @param numClasses  classes of the head; 0 for a backbone
 * @param task        classification or backbone
 * @param imgSize     nominal input size of the classification model (224 or 384); informational
 * @param layout      checkpoint naming
 * @param mergeOrder  patch merging channel order (CONCAT for Swin checkpoints, UNFOLD for mmdet)
 * @param eps         LayerNorm epsilon (1e-5)
 */
public record SwinConfig(int embedDim, int[] depths, int[] heads, int window, int patchSize, int mlpRatio,
                         int inChans, int numClasses, Task task, int imgSize, CheckpointLayout layout,
                         MergeOrder mergeOrder, float eps) {

    public SwinConfig {
        depths = depths.clone();
        heads = heads.clone();
        if (depths.length != heads.length || depths.length == 0) {
            throw new IllegalArgumentException("depths " + Arrays.toString(depths) + " and heads "
                    + Arrays.toString(heads) + " must have the same, non-zero length");
        }
        for (int s = 0; s < depths.length; s++) {
            int c = embedDim << s;
            if (depths[s] <= 0 || heads[s] <= 0 || c % heads[s] != 0) {
                throw new IllegalArgumentException("stage " + s + ": depth " + depths[s] + ", heads " + heads[s]
                        + " and width " + c + " are not a valid combination (width must divide by heads)");
            }
        }
        if (embedDim <= 0 || window <= 0 || patchSize <= 0 || mlpRatio <= 0 || inChans <= 0 || numClasses < 0) {
            throw new IllegalArgumentException("invalid Swin configuration: embedDim " + embedDim + ", window " + window
                    + ", patch " + patchSize + ", mlpRatio " + mlpRatio + ", classes " + numClasses);
        }
        if (task == Task.CLASSIFICATION && numClasses == 0) {
            throw new IllegalArgumentException("a classification model needs numClasses > 0");
        }
    }

    public int numStages() {
        return depths.length;
    }

    /** Channels of stage s. */
    public int dim(int s) {
        return embedDim << s;
    }

    public int depth(int s) {
        return depths[s];
    }

    public int heads(int s) {
        return heads[s];
    }

    @Override
    public int[] depths() {
        return depths.clone();
    }

    @Override
    public int[] heads() {
        return heads.clone();
    }

    public int totalBlocks() {
        return Arrays.stream(depths).sum();
    }

    /** Channels of the last stage (the pooled feature width of the classifier). */
    public int numFeatures() {
        return dim(numStages() - 1);
    }

    public boolean isBackbone() {
        return task == Task.BACKBONE;
    }

    /** The padding mode that reproduces the official code of this checkpoint layout. */
    public PaddingMode defaultPadding() {
        return layout == CheckpointLayout.MMDET ? PaddingMode.SPARSEVIT : PaddingMode.SWIN;
    }

    public SwinConfig withTask(Task t, int classes) {
        CheckpointLayout l = layout;
        if (t == Task.BACKBONE && l == CheckpointLayout.MICROSOFT) {
            l = CheckpointLayout.SWIN_DETECTION;
        } else if (t == Task.CLASSIFICATION && l == CheckpointLayout.SWIN_DETECTION) {
            l = CheckpointLayout.MICROSOFT;
        }
        return new SwinConfig(embedDim, depths, heads, window, patchSize, mlpRatio, inChans,
                t == Task.BACKBONE ? 0 : classes, t, imgSize, l, mergeOrder, eps);
    }

    public SwinConfig withLayout(CheckpointLayout l, MergeOrder order) {
        return new SwinConfig(embedDim, depths, heads, window, patchSize, mlpRatio, inChans, numClasses, task,
                imgSize, l, order, eps);
    }

    /**
     * Named presets: swin-t, swin-s, swin-b, swin-l (window 7, 224), and swin-b-384, swin-l-384 (window 12).
     * Classification with 1000 classes; use {@link #withTask} for a backbone.
     */
    public static SwinConfig preset(String name) {
        String n = name.toLowerCase(Locale.ROOT).replace('_', '-');
        int w = 7;
        int img = 224;
        if (n.endsWith("-384")) {
            w = 12;
            img = 384;
            n = n.substring(0, n.length() - 4);
        }
        return switch (n) {
            case "swin-t", "swin-tiny" -> std(96, new int[]{2, 2, 6, 2}, new int[]{3, 6, 12, 24}, w, img);
            case "swin-s", "swin-small" -> std(96, new int[]{2, 2, 18, 2}, new int[]{3, 6, 12, 24}, w, img);
            case "swin-b", "swin-base" -> std(128, new int[]{2, 2, 18, 2}, new int[]{4, 8, 16, 32}, w, img);
            case "swin-l", "swin-large" -> std(192, new int[]{2, 2, 18, 2}, new int[]{6, 12, 24, 48}, w, img);
            default -> throw new IllegalArgumentException("unknown architecture '" + name
                    + "' (known: swin-t, swin-s, swin-b, swin-l, swin-b-384, swin-l-384)");
        };
    }

    private static SwinConfig std(int c, int[] depths, int[] heads, int w, int img) {
        return new SwinConfig(c, depths, heads, w, 4, 4, 3, 1000, Task.CLASSIFICATION, img,
                CheckpointLayout.MICROSOFT, MergeOrder.CONCAT, 1e-5f);
    }

    /** Parameter count (weights and biases), for reports. */
    public long parameterCount() {
        long p = (long) dim(0) * inChans * patchSize * patchSize + dim(0) + 2L * dim(0);
        int tw = 2 * window - 1;
        for (int s = 0; s < numStages(); s++) {
            long c = dim(s);
            long hid = c * mlpRatio;
            long block = 2 * c + (3 * c * c + 3 * c) + (long) tw * tw * heads[s] + (c * c + c) + 2 * c
                    + (hid * c + hid) + (c * hid + c);
            p += block * depths[s];
            if (s < numStages() - 1) {
                p += 2 * 4 * c + 4 * c * 2 * c;
            }
            if (task == Task.BACKBONE) {
                p += 2 * c;
            }
        }
        if (task == Task.CLASSIFICATION) {
            p += 2L * numFeatures() + (long) numFeatures() * numClasses + numClasses;
        }
        return p;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "Swin(%s, C=%d, depths=%s, heads=%s, window=%d, patch=%d, mlp=%d, %s, merge=%s)",
                task == Task.BACKBONE ? "backbone" : "classification, " + numClasses + " classes",
                embedDim, Arrays.toString(depths), Arrays.toString(heads), window, patchSize, mlpRatio, layout,
                mergeOrder);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SwinConfig c && embedDim == c.embedDim && Arrays.equals(depths, c.depths)
                && Arrays.equals(heads, c.heads) && window == c.window && patchSize == c.patchSize
                && mlpRatio == c.mlpRatio && inChans == c.inChans && numClasses == c.numClasses && task == c.task
                && layout == c.layout && mergeOrder == c.mergeOrder && Float.compare(eps, c.eps) == 0;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(depths) * 31 + embedDim * 7 + window;
    }
}
