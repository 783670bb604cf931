package org.sparsevit.search;

import java.util.Arrays;

/**
 * One point of a {@link SearchSpace}: a level index per block pair, stage by stage (gene i is pair
 * {@link SearchSpace#geneBlock(int) geneBlock(i)}). Immutable, with value equality, hash code and a
 * lexicographic order, so it can key caches and sorted maps. Convert it with
 * {@link SearchSpace#toSparsity(Candidate)} or {@link SearchSpace#ratios(Candidate)}.
 */
public final class Candidate implements Comparable<Candidate> {
    private final int[] genes;

    private Candidate(int[] genes) {
        this.genes = genes;
    }

    /** A candidate with these level indices (copied; not checked against a space, see {@link SearchSpace#check}). */
    public static Candidate of(int... genes) {
        return new Candidate(genes.clone());
    }

    /** Number of genes (block pairs). */
    public int size() {
        return genes.length;
    }

    /** Level index of gene {@code i}. */
    public int gene(int i) {
        return genes[i];
    }

    /** A copy of the level indices. */
    public int[] genes() {
        return genes.clone();
    }

    /** Gene-by-gene squared distance to another candidate of the same space (handy for test evaluators). */
    public int squaredDistance(Candidate o) {
        if (o.genes.length != genes.length) {
            throw new IllegalArgumentException(o + " and " + this + " have different gene counts");
        }
        int d = 0;
        for (int i = 0; i < genes.length; i++) {
            d += (genes[i] - o.genes[i]) * (genes[i] - o.genes[i]);
        }
        return d;
    }

    @Override
    public int compareTo(Candidate o) {
        return Arrays.compare(genes, o.genes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Candidate c && Arrays.equals(genes, c.genes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(genes);
    }

    /** {@code [i, j, ...]}. */
    @Override
    public String toString() {
        return Arrays.toString(genes);
    }
}
