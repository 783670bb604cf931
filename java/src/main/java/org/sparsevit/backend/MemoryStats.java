package org.sparsevit.backend;

/**
 * Memory counters of one backend session (see {@link Backend#memoryStats()}), cumulative since it was created.
 *
 * @param deviceAllocations   allocations from the device (cudaMalloc, or a new direct buffer on the CPU): pool
 *                            misses and slabs. A steady-state forward pass adds none.
 * @param deviceBytes         bytes currently allocated from the device by this session (tensors in use,
 *                            pooled blocks and slabs)
 * @param peakDeviceBytes     the largest {@code deviceBytes} so far
 * @param workspaces          workspace keys currently cached (planned or recording)
 * @param slabs               slabs currently allocated (cached ones and ones still held by captured graphs)
 * @param slabBytes           bytes in those slabs
 * @param slabLowerBoundBytes the sum, over those slabs, of their plans' peak live bytes (what no plan can beat)
 * @param recordings          first runs recorded and planned
 * @param replays             scoped runs that took their memory from a slab
 * @param slabGrants          allocations served from a slab
 * @param divergences         scoped runs whose requests stopped matching their plan (the rest came from the pool)
 */
public record MemoryStats(long deviceAllocations, long deviceBytes, long peakDeviceBytes, int workspaces, int slabs,
                          long slabBytes, long slabLowerBoundBytes, long recordings, long replays, long slabGrants,
                          long divergences) {

    /** The counters of a backend that keeps none. */
    public static final MemoryStats NONE = new MemoryStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}
