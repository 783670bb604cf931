package org.sparsevit.search;

import org.sparsevit.sparse.SparsityConfig;

/**
 * The best configuration a search found (the first one evaluated among equal best scores).
 *
 * @param sparsity    its ratios (pruning JSON form via {@link SparsityConfig#toJson()}; written with the
 *                    other fields by {@link EvolutionarySearch#writeResult})
 * @param score       evaluator score
 * @param gmacs       analytic GMACs at the searched size and batch
 * @param latencyMs   latency (measured or from the table), or NaN when no latency model was given
 * @param evaluated   distinct candidates evaluated (or taken from the log)
 * @param generations index of the last generation run (0: only the initial population)
 */
public record SearchResult(SparsityConfig sparsity, double score, double gmacs, double latencyMs, int evaluated,
                           int generations) {
}
