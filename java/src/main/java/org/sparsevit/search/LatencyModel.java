package org.sparsevit.search;

import org.sparsevit.sparse.SparsityConfig;

/** Latency of a configuration in milliseconds: measured directly ({@link LatencyMeter}) or predicted ({@link LatencyTable}). */
@FunctionalInterface
public interface LatencyModel {
    double latencyMs(SparsityConfig config);
}
