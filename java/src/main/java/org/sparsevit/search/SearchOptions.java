package org.sparsevit.search;

/**
 * Parameters of the evolutionary search (defaults as in the official SparseViT search).
 *
 * @param population    candidates per generation (100)
 * @param parents       top candidates kept as parents (25)
 * @param mutations     children by mutation per generation (50)
 * @param crossovers    children by crossover per generation (50)
 * @param mutationProb  probability that a gene is redrawn (0.1)
 * @param generations   generation limit (after the initial population)
 * @param maxCandidates limit on distinct evaluated candidates (the budget); 0 for none
 * @param seed          random seed
 * @param maxTries      rejection-sampling attempts before giving up on a constraint window
 */
public record SearchOptions(int population, int parents, int mutations, int crossovers, double mutationProb,
                            int generations, int maxCandidates, long seed, int maxTries) {

    public SearchOptions {
        if (population <= 0 || parents <= 0 || parents > population || mutations < 0 || crossovers < 0
                || !(mutationProb >= 0 && mutationProb <= 1) || generations < 0 || maxCandidates < 0 || maxTries <= 0) {
            throw new IllegalArgumentException("invalid search options: " + this);
        }
    }

    public static SearchOptions defaults() {
        return new SearchOptions(100, 25, 50, 50, 0.1, 20, 0, 0, 100_000);
    }

    public SearchOptions withBudget(int candidates) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb,
                candidates > 0 ? Integer.MAX_VALUE / 2 : generations, candidates, seed, maxTries);
    }

    public SearchOptions withSeed(long s) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates, s,
                maxTries);
    }

    public SearchOptions withGenerations(int g) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, g, maxCandidates, seed, maxTries);
    }
}
