package org.sparsevit.search;

import java.util.Locale;

/**
 * Parameters of the evolutionary search. The defaults are those of the official SparseViT search:
 * population 100, the top 25 as parents, 50 children by mutation (each gene redrawn with probability 0.1)
 * and 50 by crossover per generation.
 *
 * <p>Build variants with the {@code with...} methods, e.g.
 * {@code SearchOptions.defaults().withSeed(7).withBudget(2000)}.
 *
 * @param population       size of the initial, randomly sampled population (100)
 * @param parents          best candidates kept as parents for the next generation (25)
 * @param mutations        children by mutation per generation (50)
 * @param crossovers       children by crossover per generation (50)
 * @param mutationProb     probability that a gene is redrawn by mutation (0.1)
 * @param generations      generation limit, counted after the initial population (20)
 * @param maxCandidates    budget: distinct candidates to evaluate, 0 for no limit (0)
 * @param seed             seed of the search's only random generator (0)
 * @param maxTries         rejection-sampling draws per candidate before the search gives up on the
 *                         constraint windows (100000)
 * @param noveltyTries     feasible draws spent looking for a not yet evaluated child before an already
 *                         evaluated one is accepted (1000)
 * @param staleGenerations generations in a row without a new candidate after which the search stops as
 *                         converged (20)
 * @param evaluationBatch  most candidates per call of the evaluator; the log is written after each call,
 *                         so smaller batches lose less work to an interruption (25). Does not change the
 *                         course of the search.
 */
public record SearchOptions(int population, int parents, int mutations, int crossovers, double mutationProb,
                            int generations, int maxCandidates, long seed, int maxTries, int noveltyTries,
                            int staleGenerations, int evaluationBatch) {

    public SearchOptions {
        if (population <= 0 || parents <= 0 || parents > population || mutations < 0 || crossovers < 0
                || mutations + crossovers == 0 || !(mutationProb >= 0 && mutationProb <= 1) || generations < 0
                || maxCandidates < 0 || maxTries <= 0 || noveltyTries <= 0 || staleGenerations <= 0
                || evaluationBatch <= 0) {
            throw new IllegalArgumentException("invalid search options: " + describe(population, parents, mutations,
                    crossovers, mutationProb, generations, maxCandidates, seed, maxTries, noveltyTries,
                    staleGenerations, evaluationBatch) + " (positive sizes, parents <= population, at least one"
                    + " child per generation, mutation probability in [0, 1])");
        }
    }

    /** The official search's parameters, 20 generations, no candidate budget, seed 0. */
    public static SearchOptions defaults() {
        return new SearchOptions(100, 25, 50, 50, 0.1, 20, 0, 0, 100_000, 1000, 20, 25);
    }

    /**
     * A budget of {@code candidates} distinct evaluations. A positive budget also lifts the generation
     * limit (the search then runs until the budget is spent or it converges); call
     * {@link #withGenerations} afterwards to keep one as well. 0 removes the budget.
     */
    public SearchOptions withBudget(int candidates) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb,
                candidates > 0 ? Integer.MAX_VALUE / 2 : generations, candidates, seed, maxTries, noveltyTries,
                staleGenerations, evaluationBatch);
    }

    public SearchOptions withSeed(long s) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                s, maxTries, noveltyTries, staleGenerations, evaluationBatch);
    }

    public SearchOptions withGenerations(int g) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, g, maxCandidates, seed,
                maxTries, noveltyTries, staleGenerations, evaluationBatch);
    }

    /** Population, parents and children per generation (mutation, crossover) in one go. */
    public SearchOptions withPopulation(int size, int parentCount, int mutationChildren, int crossoverChildren) {
        return new SearchOptions(size, parentCount, mutationChildren, crossoverChildren, mutationProb, generations,
                maxCandidates, seed, maxTries, noveltyTries, staleGenerations, evaluationBatch);
    }

    public SearchOptions withMutationProb(double p) {
        return new SearchOptions(population, parents, mutations, crossovers, p, generations, maxCandidates, seed,
                maxTries, noveltyTries, staleGenerations, evaluationBatch);
    }

    public SearchOptions withMaxTries(int tries) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, tries, noveltyTries, staleGenerations, evaluationBatch);
    }

    public SearchOptions withNoveltyTries(int tries) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, maxTries, tries, staleGenerations, evaluationBatch);
    }

    public SearchOptions withStaleGenerations(int g) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, maxTries, noveltyTries, g, evaluationBatch);
    }

    public SearchOptions withEvaluationBatch(int candidates) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, maxTries, noveltyTries, staleGenerations, candidates);
    }

    /**
     * The options that shape the course of the search, as one line: everything but the budget, the
     * generation limit and the evaluation batch, which a resumed run may change.
     */
    public String trajectoryKey() {
        return String.format(Locale.ROOT, "population %d, parents %d, mutations %d, crossovers %d, mutation p %s,"
                        + " seed %d, max tries %d, novelty tries %d, stale generations %d", population, parents,
                mutations, crossovers, mutationProb, seed, maxTries, noveltyTries, staleGenerations);
    }

    private static String describe(int population, int parents, int mutations, int crossovers, double mutationProb,
                                   int generations, int maxCandidates, long seed, int maxTries, int noveltyTries,
                                   int staleGenerations, int evaluationBatch) {
        return String.format(Locale.ROOT, "population %d, parents %d, mutations %d, crossovers %d, mutation p %s,"
                        + " generations %d, budget %d, seed %d, max tries %d, novelty tries %d, stale generations %d,"
                        + " evaluation batch %d", population, parents, mutations, crossovers, mutationProb,
                generations, maxCandidates, seed, maxTries, noveltyTries, staleGenerations, evaluationBatch);
    }
}
