package org.sparsevit.search;

import org.sparsevit.sparse.SparsityConfig;

/**
 * The best configuration found.
 *
 * @param sparsity    its ratios (pruning JSON form via {@link SparsityConfig#toJson()})
 * @param score       evaluator score
 * @param gmacs       analytic GMACs at the searched size and batch
 * @param latencyMs   latency (measured or from the table), or NaN when no latency model was given
 * @param evaluated   distinct candidates evaluated
 * @param generations generations run
 */
public record SearchResult(SparsityConfig sparsity, double score, double gmacs, double latencyMs, int evaluated,
                           int generations) {
}
