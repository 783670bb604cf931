package org.sparsevit.search;

import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

import org.sparsevit.SparseVitException;
import org.sparsevit.sparse.SparsityConfig;

/**
 * The official SparseViT search space: one ratio per block pair (blocks (0,1), (2,3), ... of a stage share
 * it), taken from a level set (default 0, 0.1, ..., 0.8), non-decreasing within a stage. A candidate is
 * its genes: one level index per pair, stage by stage.
 */
public final class SearchSpace {
    private final int[] depths;
    private final double[] levels;
    private final int[] pairsPerStage;
    private final int genes;

    public SearchSpace(int[] depths, double[] levels) {
        this.depths = depths.clone();
        this.levels = levels.clone();
        if (levels.length == 0) {
            throw new SparseVitException("search: the level set is empty");
        }
        for (int i = 0; i < levels.length; i++) {
            if (!(levels[i] >= 0 && levels[i] <= 1) || (i > 0 && levels[i] <= levels[i - 1])) {
                throw new SparseVitException("search: levels must be increasing values in [0, 1], got " + Arrays.toString(levels));
            }
        }
        pairsPerStage = new int[depths.length];
        int g = 0;
        for (int s = 0; s < depths.length; s++) {
            if (depths[s] % 2 != 0) {
                throw new SparseVitException("search: stage " + s + " has " + depths[s] + " blocks; the search pairs blocks");
            }
            pairsPerStage[s] = depths[s] / 2;
            g += pairsPerStage[s];
        }
        genes = g;
    }

    /** Default levels 0, 0.1, ..., 0.8. */
    public static double[] defaultLevels() {
        double[] l = new double[9];
        for (int i = 0; i < l.length; i++) {
            l[i] = Math.round(i * 0.1 * 10) / 10.0;
        }
        return l;
    }

    /** Levels from "0,0.1,0.2" form. */
    public static double[] parseLevels(String s) {
        try {
            return Arrays.stream(s.split(",")).map(String::strip).mapToDouble(Double::parseDouble).toArray();
        } catch (NumberFormatException e) {
            throw new SparseVitException("search: levels '" + s + "' are not comma-separated numbers");
        }
    }

    public int genes() {
        return genes;
    }

    public double[] levels() {
        return levels.clone();
    }

    public int[] depths() {
        return depths.clone();
    }

    /** Sorts the genes of each stage ascending (ratios non-decreasing within a stage). */
    public int[] normalize(int[] g) {
        int[] out = g.clone();
        int off = 0;
        for (int p : pairsPerStage) {
            Arrays.sort(out, off, off + p);
            off += p;
        }
        return out;
    }

    public int[] random(Random r) {
        int[] g = new int[genes];
        for (int i = 0; i < genes; i++) {
            g[i] = r.nextInt(levels.length);
        }
        return normalize(g);
    }

    /** Each gene redrawn with probability p, then re-sorted within stages. */
    public int[] mutate(int[] g, double p, Random r) {
        int[] out = g.clone();
        for (int i = 0; i < genes; i++) {
            if (r.nextDouble() < p) {
                out[i] = r.nextInt(levels.length);
            }
        }
        return normalize(out);
    }

    /** Each gene from either parent with equal probability, then re-sorted within stages. */
    public int[] crossover(int[] a, int[] b, Random r) {
        int[] out = new int[genes];
        for (int i = 0; i < genes; i++) {
            out[i] = r.nextBoolean() ? a[i] : b[i];
        }
        return normalize(out);
    }

    public SparsityConfig toSparsity(int[] g) {
        double[][] v = new double[depths.length][];
        int off = 0;
        for (int s = 0; s < depths.length; s++) {
            v[s] = new double[depths[s]];
            for (int p = 0; p < pairsPerStage[s]; p++) {
                v[s][2 * p] = levels[g[off + p]];
                v[s][2 * p + 1] = levels[g[off + p]];
            }
            off += pairsPerStage[s];
        }
        return new SparsityConfig(v);
    }

    /** The genes of a configuration in this space (exact level matches required). */
    public int[] fromSparsity(SparsityConfig c) {
        c.checkSearchSpace();
        int[] g = new int[genes];
        int off = 0;
        for (int s = 0; s < depths.length; s++) {
            for (int p = 0; p < pairsPerStage[s]; p++) {
                double v = c.ratio(s, 2 * p);
                int idx = -1;
                for (int l = 0; l < levels.length; l++) {
                    if (Math.abs(levels[l] - v) < 1e-9) {
                        idx = l;
                    }
                }
                if (idx < 0) {
                    throw new SparseVitException(String.format(Locale.ROOT,
                            "search: ratio %s of stage %d is not one of the levels %s", v, s, Arrays.toString(levels)));
                }
                g[off + p] = idx;
            }
            off += pairsPerStage[s];
        }
        return g;
    }

    /** Stage and first block of each gene, e.g. {stage, block}. */
    public int[] geneBlock(int gene) {
        int off = 0;
        for (int s = 0; s < depths.length; s++) {
            if (gene < off + pairsPerStage[s]) {
                return new int[]{s, 2 * (gene - off)};
            }
            off += pairsPerStage[s];
        }
        throw new IndexOutOfBoundsException("gene " + gene);
    }
}
