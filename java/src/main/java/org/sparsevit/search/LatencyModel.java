package org.sparsevit.search;

import org.sparsevit.sparse.SparsityConfig;

/**
 * Latency of a configuration in milliseconds, at the input size and batch the model was set up for:
 * measured directly ({@link LatencyMeter}, exact but slow and noisy) or predicted ({@link LatencyTable},
 * fast and repeatable).
 */
@FunctionalInterface
public interface LatencyModel {
    /** Latency of one forward pass with these ratios, in milliseconds. */
    double latencyMs(SparsityConfig config);

    /**
     * Whether the same configuration always gets the same latency. The search logs every latency a
     * non-deterministic model gives (measurements), so that a resumed search reuses them instead of
     * measuring again and takes exactly the same course. Default false.
     */
    default boolean deterministic() {
        return false;
    }

    /**
     * One line identifying the model (device, size, ...). It is part of the search log's header, so a log
     * is only resumed with the same latency model; the default is a fixed text.
     */
    default String describe() {
        return "custom latency model";
    }
}
