package org.sparsevit.search;

import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

import org.sparsevit.SparseVitException;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.sparse.SparsityConfig;

/**
 * The search space of the official SparseViT search: one ratio per block pair (blocks (0,1), (2,3), ...
 * of a stage share it), taken from a level set (default 0, 0.1, ..., 0.8), non-decreasing within a stage.
 * A point of the space is a {@link Candidate}: one level index per pair, stage by stage, sorted ascending
 * within each stage.
 *
 * <p>The variation operators re-sort each stage's genes afterwards, as the official search does, so they
 * always return points of the space: {@link #random} draws every gene uniformly, {@link #mutate} redraws
 * each gene with a given probability, {@link #crossover} takes each gene from either parent with equal
 * probability. All randomness comes from the caller's generator.
 */
public final class SearchSpace {
    private final int[] depths;
    private final double[] levels;
    private final int[] pairsPerStage;
    private final int[] firstGene;
    private final int genes;

    /**
     * @param depths blocks per stage (each even)
     * @param levels the ratio levels, strictly increasing values in [0, 1]
     */
    public SearchSpace(int[] depths, double[] levels) {
        this.depths = depths.clone();
        this.levels = levels.clone();
        checkLevels(levels);
        pairsPerStage = new int[depths.length];
        firstGene = new int[depths.length];
        int g = 0;
        for (int s = 0; s < depths.length; s++) {
            if (depths[s] <= 0 || depths[s] % 2 != 0) {
                throw new SparseVitException("search: stage " + s + " has " + depths[s]
                        + " blocks; the search pairs blocks, so every stage needs an even, positive depth");
            }
            pairsPerStage[s] = depths[s] / 2;
            firstGene[s] = g;
            g += pairsPerStage[s];
        }
        genes = g;
    }

    /** The model's stages with the default levels. */
    public static SearchSpace of(SwinConfig cfg) {
        return new SearchSpace(cfg.depths(), defaultLevels());
    }

    /** Default levels 0, 0.1, ..., 0.8 (those of the official search). */
    public static double[] defaultLevels() {
        double[] l = new double[9];
        for (int i = 0; i < l.length; i++) {
            l[i] = i / 10.0;
        }
        return l;
    }

    /**
     * Levels from the "0,0.1,0.2" form of the {@code --levels} option (search and latency share it), checked as the
     * constructor does; errors name the option.
     */
    public static double[] parseLevels(String s) {
        double[] levels;
        try {
            levels = Arrays.stream(s.split(",", -1)).map(String::strip).mapToDouble(org.sparsevit.Numbers::decimal)
                    .toArray();
        } catch (NumberFormatException e) {
            throw new SparseVitException("--levels '" + s + "' are not comma-separated numbers (e.g. 0,0.1,0.2)");
        }
        try {
            checkLevels(levels);
        } catch (SparseVitException e) {
            throw new SparseVitException("--levels '" + s + "': " + e.getMessage());
        }
        return levels;
    }

    /** Levels are strictly increasing values in [0, 1], at least one. */
    private static void checkLevels(double[] levels) {
        if (levels.length == 0) {
            throw new SparseVitException("the level set is empty");
        }
        for (int i = 0; i < levels.length; i++) {
            if (!(levels[i] >= 0 && levels[i] <= 1) || (i > 0 && levels[i] <= levels[i - 1])) {
                throw new SparseVitException("levels must be increasing values in [0, 1], got "
                        + Arrays.toString(levels));
            }
        }
    }

    /** Number of genes (block pairs over all stages). */
    public int genes() {
        return genes;
    }

    /** The ratio levels. */
    public double[] levels() {
        return levels.clone();
    }

    /** Number of levels. */
    public int levelCount() {
        return levels.length;
    }

    /** Blocks per stage. */
    public int[] depths() {
        return depths.clone();
    }

    /** Number of distinct candidates (non-decreasing level choices per stage, multiplied over stages). */
    public long size() {
        long n = 1;
        for (int p : pairsPerStage) {
            // multisets of size p from L levels: C(L + p - 1, p)
            long c = 1;
            for (int i = 1; i <= p; i++) {
                c = c * (levels.length - 1 + i) / i;
            }
            n = Math.multiplyExact(n, c);
        }
        return n;
    }

    /** Stage and first block of a gene, as {stage, block} (the gene covers blocks block and block + 1). */
    public int[] geneBlock(int gene) {
        for (int s = 0; s < depths.length && gene >= 0; s++) {
            if (gene < firstGene[s] + pairsPerStage[s]) {
                return new int[]{s, 2 * (gene - firstGene[s])};
            }
        }
        throw new IndexOutOfBoundsException("gene " + gene + " of " + genes);
    }

    /** Throws SparseVitException unless {@code c} is a point of this space (gene count, level range, order). */
    public Candidate check(Candidate c) {
        if (c.size() != genes) {
            throw new SparseVitException("search: candidate " + c + " has " + c.size() + " genes, the space has "
                    + genes);
        }
        for (int i = 0; i < genes; i++) {
            if (c.gene(i) < 0 || c.gene(i) >= levels.length) {
                throw new SparseVitException("search: candidate " + c + ": gene " + i + " is not a level index (0.."
                        + (levels.length - 1) + ")");
            }
        }
        for (int s = 0; s < depths.length; s++) {
            for (int p = 1; p < pairsPerStage[s]; p++) {
                if (c.gene(firstGene[s] + p) < c.gene(firstGene[s] + p - 1)) {
                    throw new SparseVitException("search: candidate " + c + ": the levels of stage " + s
                            + " decrease; they must be non-decreasing within a stage");
                }
            }
        }
        return c;
    }

    /** The candidate with each stage's genes sorted ascending (ratios non-decreasing within a stage). */
    public Candidate normalize(Candidate c) {
        return Candidate.of(sortStages(c.genes()));
    }

    private int[] sortStages(int[] g) {
        for (int s = 0; s < depths.length; s++) {
            Arrays.sort(g, firstGene[s], firstGene[s] + pairsPerStage[s]);
        }
        return g;
    }

    /** Every ratio 0. */
    public Candidate dense() {
        return Candidate.of(new int[genes]);
    }

    /** Every ratio at the highest level (the fewest MACs). */
    public Candidate sparsest() {
        int[] g = new int[genes];
        Arrays.fill(g, levels.length - 1);
        return Candidate.of(g);
    }

    /** Every gene drawn uniformly from the levels, then sorted within stages. */
    public Candidate random(Random r) {
        int[] g = new int[genes];
        for (int i = 0; i < genes; i++) {
            g[i] = r.nextInt(levels.length);
        }
        return Candidate.of(sortStages(g));
    }

    /**
     * Mutation as in the official search: a fresh {@link #random} configuration is drawn, each gene is taken from
     * it with probability {@code p} and from the parent otherwise, then the genes are sorted within stages. A
     * mutated gene is therefore not uniform over the levels: in a stage of three pairs, the first pair gets the
     * lowest of three uniform draws, the last the highest.
     */
    public Candidate mutate(Candidate parent, double p, Random r) {
        int[] g = parent.genes();
        int[] fresh = random(r).genes();
        for (int i = 0; i < genes; i++) {
            if (r.nextDouble() < p) {
                g[i] = fresh[i];
            }
        }
        return Candidate.of(sortStages(g));
    }

    /** Each gene from either parent with equal probability, then sorted within stages. */
    public Candidate crossover(Candidate a, Candidate b, Random r) {
        int[] g = new int[genes];
        for (int i = 0; i < genes; i++) {
            g[i] = r.nextBoolean() ? a.gene(i) : b.gene(i);
        }
        return Candidate.of(sortStages(g));
    }

    /** Per-block ratios [stage][block] of a candidate (both blocks of a pair get the pair's level). */
    public double[][] ratios(Candidate c) {
        check(c);
        double[][] v = new double[depths.length][];
        for (int s = 0; s < depths.length; s++) {
            v[s] = new double[depths[s]];
            for (int p = 0; p < pairsPerStage[s]; p++) {
                double r = levels[c.gene(firstGene[s] + p)];
                v[s][2 * p] = r;
                v[s][2 * p + 1] = r;
            }
        }
        return v;
    }

    /** The candidate as a sparsity configuration. */
    public SparsityConfig toSparsity(Candidate c) {
        return new SparsityConfig(ratios(c));
    }

    /**
     * The candidate of a configuration of this space: pairs sharing a ratio, non-decreasing within stages,
     * every ratio one of the levels (to within 1e-9).
     */
    public Candidate candidate(SparsityConfig sp) {
        sp.validate(depths);
        sp.checkSearchSpace();
        int[] g = new int[genes];
        for (int s = 0; s < depths.length; s++) {
            for (int p = 0; p < pairsPerStage[s]; p++) {
                double v = sp.ratio(s, 2 * p);
                int idx = -1;
                for (int l = 0; l < levels.length && idx < 0; l++) {
                    if (Math.abs(levels[l] - v) < 1e-9) {
                        idx = l;
                    }
                }
                if (idx < 0) {
                    throw new SparseVitException(String.format(Locale.ROOT,
                            "search: ratio %s of stage %d, blocks %d-%d is not one of the levels %s", v, s, 2 * p,
                            2 * p + 1, Arrays.toString(levels)));
                }
                g[firstGene[s] + p] = idx;
            }
        }
        return Candidate.of(g);
    }

    /** Whether two spaces have the same stages and levels. */
    public boolean sameAs(SearchSpace o) {
        return Arrays.equals(depths, o.depths) && Arrays.equals(levels, o.levels);
    }

    /** E.g. {@code depths [2, 2, 6, 2], levels [0.0, 0.1, ...]}. */
    @Override
    public String toString() {
        return "depths " + Arrays.toString(depths) + ", levels " + Arrays.toString(levels);
    }
}
