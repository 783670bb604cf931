package org.sparsevit.search;

import java.util.List;

import org.sparsevit.sparse.SparsityConfig;

/**
 * Scores sparsity configurations; higher is better. Implement it with your own metric (mAP of a detector,
 * top-1 of a classifier, through your own pipeline). The search calls it with batches of candidates and
 * never twice for the same configuration. A deterministic evaluator makes a seeded search reproducible.
 */
@FunctionalInterface
public interface Evaluator {
    double[] score(List<SparsityConfig> candidates);
}
