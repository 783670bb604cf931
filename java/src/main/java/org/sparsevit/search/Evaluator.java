package org.sparsevit.search;

import java.util.List;

import org.sparsevit.sparse.SparsityConfig;

/**
 * Scores sparsity configurations for the search; higher is better. Implement it with your own metric
 * (mAP of a detector, top-1 of a classifier, through your own pipeline), or use {@link FidelityEvaluator}
 * (label-free agreement with the dense model) or {@link Top1Evaluator} (labelled image folder).
 *
 * <p>The search calls it with batches of candidates (at most {@link SearchOptions#evaluationBatch()}),
 * never twice for the same configuration, and only with configurations inside the constraint windows.
 * Scores must be finite. A deterministic evaluator makes a seeded search reproducible and resumable.
 */
@FunctionalInterface
public interface Evaluator {
    /** One score per configuration, in the same order. */
    double[] score(List<SparsityConfig> candidates);

    /**
     * One line identifying what is scored: the metric, its data, the model (weights, precision). It is part of
     * the search log's header, so a log is only resumed with the same evaluator; the default is a fixed text, which
     * leaves that check to the caller (a resumed run takes the logged scores as they are).
     */
    default String describe() {
        return "custom evaluator";
    }
}
