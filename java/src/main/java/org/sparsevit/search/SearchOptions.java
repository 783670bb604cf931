package org.sparsevit.search;

import java.util.Locale;

/**
 * Parameters of the evolutionary search. The defaults are those of the official SparseViT search
 * (mit-han-lab/sparsevit, tools/search.py): population 100, the top 25 as parents, 50 children by mutation
 * (each gene taken with probability 0.1 from a fresh random configuration) and 50 by crossover per generation;
 * the next parents are the best of the children alone, and a child that was evaluated before is accepted as
 * it is (a cache hit). {@link #withElitism} and {@link #withNoveltyTries} turn on two departures from it: parents
 * that compete with their children, and children that must be new.
 *
 * <p>Build variants with the {@code with...} methods, e.g.
 * {@code SearchOptions.defaults().withSeed(7).withBudget(2000)}.
 *
 * @param population       size of the initial, randomly sampled population (100)
 * @param parents          best candidates kept as parents for the next generation (25)
 * @param mutations        children by mutation per generation (50)
 * @param crossovers       children by crossover per generation (50)
 * @param mutationProb     probability that a gene comes from a fresh random configuration in a mutation (0.1)
 * @param generations      generation limit, counted after the initial population (20)
 * @param maxCandidates    budget: distinct candidates to evaluate, 0 for no limit (0)
 * @param seed             seed of the search's only random generator (0)
 * @param maxTries         rejection-sampling draws per candidate before the search gives up on the
 *                         constraint windows (100000)
 * @param noveltyTries     0 (official): any feasible draw is taken, one evaluated before or drawn twice in a
 *                         generation included, and it keeps its place in the population; otherwise the feasible
 *                         draws spent looking for a candidate not evaluated yet before a known one is accepted (0)
 * @param staleGenerations generations in a row without a new candidate after which the search stops as
 *                         converged (20)
 * @param evaluationBatch  most candidates per call of the evaluator; the log is written after each call,
 *                         so smaller batches lose less work to an interruption (25). Does not change the
 *                         course of the search.
 * @param elitist          false (official): the next parents are the best of the generation's children; true:
 *                         the best of the parents and their children together, so the best are never lost
 */
public record SearchOptions(int population, int parents, int mutations, int crossovers, double mutationProb,
                            int generations, int maxCandidates, long seed, int maxTries, int noveltyTries,
                            int staleGenerations, int evaluationBatch, boolean elitist) {

    public SearchOptions {
        if (population <= 0 || parents <= 0 || parents > population || mutations < 0 || crossovers < 0
                || mutations + crossovers == 0 || !(mutationProb >= 0 && mutationProb <= 1) || generations < 0
                || maxCandidates < 0 || maxTries <= 0 || noveltyTries < 0 || staleGenerations <= 0
                || evaluationBatch <= 0) {
            throw new IllegalArgumentException("invalid search options: " + describe(population, parents, mutations,
                    crossovers, mutationProb, generations, maxCandidates, seed, maxTries, noveltyTries,
                    staleGenerations, evaluationBatch, elitist) + " (positive sizes, parents <= population, at least one"
                    + " child per generation, mutation probability in [0, 1])");
        }
    }

    /** The official search's parameters, 20 generations, no candidate budget, seed 0. */
    public static SearchOptions defaults() {
        return new SearchOptions(100, 25, 50, 50, 0.1, 20, 0, 0, 100_000, 0, 20, 25, false);
    }

    /**
     * A budget of {@code candidates} distinct evaluations. A positive budget also lifts the generation
     * limit (the search then runs until the budget is spent or it converges); call
     * {@link #withGenerations} afterwards to keep one as well. 0 removes the budget.
     */
    public SearchOptions withBudget(int candidates) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb,
                candidates > 0 ? Integer.MAX_VALUE / 2 : generations, candidates, seed, maxTries, noveltyTries,
                staleGenerations, evaluationBatch, elitist);
    }

    public SearchOptions withSeed(long s) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                s, maxTries, noveltyTries, staleGenerations, evaluationBatch, elitist);
    }

    public SearchOptions withGenerations(int g) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, g, maxCandidates, seed,
                maxTries, noveltyTries, staleGenerations, evaluationBatch, elitist);
    }

    /** Population, parents and children per generation (mutation, crossover) in one go. */
    public SearchOptions withPopulation(int size, int parentCount, int mutationChildren, int crossoverChildren) {
        return new SearchOptions(size, parentCount, mutationChildren, crossoverChildren, mutationProb, generations,
                maxCandidates, seed, maxTries, noveltyTries, staleGenerations, evaluationBatch, elitist);
    }

    public SearchOptions withMutationProb(double p) {
        return new SearchOptions(population, parents, mutations, crossovers, p, generations, maxCandidates, seed,
                maxTries, noveltyTries, staleGenerations, evaluationBatch, elitist);
    }

    public SearchOptions withMaxTries(int tries) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, tries, noveltyTries, staleGenerations, evaluationBatch, elitist);
    }

    public SearchOptions withNoveltyTries(int tries) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, maxTries, tries, staleGenerations, evaluationBatch, elitist);
    }

    public SearchOptions withStaleGenerations(int g) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, maxTries, noveltyTries, g, evaluationBatch, elitist);
    }

    /** Parents compete with their children for the next generation's parent places (not in the official search). */
    public SearchOptions withElitism(boolean e) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, maxTries, noveltyTries, staleGenerations, evaluationBatch, e);
    }

    public SearchOptions withEvaluationBatch(int candidates) {
        return new SearchOptions(population, parents, mutations, crossovers, mutationProb, generations, maxCandidates,
                seed, maxTries, noveltyTries, staleGenerations, candidates, elitist);
    }

    /**
     * The options that shape the course of the search, as one line: everything but the budget, the
     * generation limit and the evaluation batch, which a resumed run may change.
     */
    public String trajectoryKey() {
        return String.format(Locale.ROOT, "population %d, parents %d, mutations %d, crossovers %d, mutation p %s,"
                        + " seed %d, max tries %d, novelty tries %d, stale generations %d%s", population, parents,
                mutations, crossovers, mutationProb, seed, maxTries, noveltyTries, staleGenerations,
                elitist ? ", elitist" : "");
    }

    private static String describe(int population, int parents, int mutations, int crossovers, double mutationProb,
                                   int generations, int maxCandidates, long seed, int maxTries, int noveltyTries,
                                   int staleGenerations, int evaluationBatch, boolean elitist) {
        return String.format(Locale.ROOT, "population %d, parents %d, mutations %d, crossovers %d, mutation p %s,"
                        + " generations %d, budget %d, seed %d, max tries %d, novelty tries %d, stale generations %d,"
                        + " evaluation batch %d%s", population, parents, mutations, crossovers, mutationProb,
                generations, maxCandidates, seed, maxTries, noveltyTries, staleGenerations, evaluationBatch,
                elitist ? ", elitist" : "");
    }
}
