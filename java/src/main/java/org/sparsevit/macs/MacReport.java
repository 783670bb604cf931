package org.sparsevit.macs;

import java.util.List;
import java.util.Locale;

/**
 * MACs of one configuration: per block, per stage (blocks plus the patch merging after the stage and its
 * output norm) and in total. Counts are for the whole batch.
 *
 * @param blocks     per stage, per block: MACs executed by that block
 * @param kept       per stage, per block: windows processed per image
 * @param windows    per stage: windows per image (nW)
 * @param patchEmbed patch embedding convolution and its norm
 * @param merges     per stage: patch merging after it (0 for the last stage)
 * @param norms      per stage: backbone output norm (0 for classification)
 * @param head       classification head (final norm and linear), 0 for a backbone
 */
public record MacReport(long[][] blocks, int[][] kept, int[] windows, long patchEmbed, long[] merges, long[] norms,
                        long head) {

    public long stageTotal(int s) {
        long t = merges[s] + norms[s];
        for (long b : blocks[s]) {
            t += b;
        }
        return t;
    }

    public long total() {
        long t = patchEmbed + head;
        for (int s = 0; s < blocks.length; s++) {
            t += stageTotal(s);
        }
        return t;
    }

    public double totalGMacs() {
        return total() / 1e9;
    }

    /** A per-stage table (GMACs), one line per stage plus patch embedding and head. */
    public String toTable() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-12s %8s %-28s %10s%n", "part", "windows", "kept per block", "GMACs"));
        sb.append(String.format(Locale.ROOT, "%-12s %8s %-28s %10.3f%n", "patch_embed", "-", "-", patchEmbed / 1e9));
        for (int s = 0; s < blocks.length; s++) {
            StringBuilder k = new StringBuilder();
            for (int j = 0; j < kept[s].length; j++) {
                k.append(j == 0 ? "" : ",").append(kept[s][j]);
            }
            sb.append(String.format(Locale.ROOT, "%-12s %8d %-28s %10.3f%n", "stage" + s, windows[s], k, stageTotal(s) / 1e9));
        }
        if (head > 0) {
            sb.append(String.format(Locale.ROOT, "%-12s %8s %-28s %10.3f%n", "head", "-", "-", head / 1e9));
        }
        return sb.toString();
    }

    /** Block MACs flattened in model order (for tests and search). */
    public List<Long> blockList() {
        java.util.ArrayList<Long> l = new java.util.ArrayList<>();
        for (long[] st : blocks) {
            for (long b : st) {
                l.add(b);
            }
        }
        return l;
    }
}
