package org.sparsevit.backend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Offsets of buffers in one slab, computed from their lifetimes, so that no two buffers alive at the same time
 * overlap. Backend-neutral and pure: the workspace arena of a backend ({@link WorkspaceArena}) records the
 * allocations of one forward pass and plans them with this class.
 *
 * <p>Input: per buffer its size in bytes and its lifetime as a half-open interval {@code [start, end)} of event
 * numbers (an allocation and a release are events; a buffer released at event e and one allocated at event e
 * or later may share memory). Sizes are rounded up to the alignment (at least one alignment unit each), and
 * every offset is a multiple of it.
 *
 * <p>Method: greedy by size. Buffers are placed largest first (ties: earlier start, then lower index, so the
 * result is deterministic); each goes into the smallest gap, between the buffers already placed that are
 * alive at the same time, that holds it, or above all of them when no gap does. The slab is the highest end.
 * The lower bound no placement can beat is the peak of the live (aligned) bytes over time,
 * {@link #lowerBound()}; on the traces of a Swin forward the greedy reaches it or comes within a few percent.
 */
public final class ArenaPlan {
    /** The alignment both backends use: cuBLAS and vector loads want at least 16 bytes; 256 is what cudaMalloc gives. */
    public static final long ALIGNMENT = 256;

    private final long[] bytes;
    private final long[] sizes;
    private final int[] start;
    private final int[] end;
    private final long[] offsets;
    private final long alignment;
    private final long slab;
    private final long lowerBound;

    private ArenaPlan(long[] bytes, long[] sizes, int[] start, int[] end, long[] offsets, long alignment, long slab,
                      long lowerBound) {
        this.bytes = bytes;
        this.sizes = sizes;
        this.start = start;
        this.end = end;
        this.offsets = offsets;
        this.alignment = alignment;
        this.slab = slab;
        this.lowerBound = lowerBound;
    }

    /**
     * Plans buffers with the given sizes and lifetimes.
     *
     * @param bytes     requested size of buffer i (non-negative)
     * @param start     event at which buffer i is allocated
     * @param end       event at which it is released (greater than its start)
     * @param alignment a power of two
     */
    public static ArenaPlan plan(long[] bytes, int[] start, int[] end, long alignment) {
        int n = bytes.length;
        if (start.length != n || end.length != n) {
            throw new IllegalArgumentException("arena plan: " + n + " sizes but " + start.length + " starts and "
                    + end.length + " ends");
        }
        if (alignment <= 0 || Long.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("arena plan: alignment " + alignment + " is not a power of two");
        }
        long[] sizes = new long[n];
        for (int i = 0; i < n; i++) {
            if (bytes[i] < 0) {
                throw new IllegalArgumentException("arena plan: buffer " + i + " has negative size " + bytes[i]);
            }
            if (end[i] <= start[i]) {
                throw new IllegalArgumentException("arena plan: buffer " + i + " ends at event " + end[i]
                        + ", not after its start " + start[i]);
            }
            sizes[i] = align(Math.max(1, bytes[i]), alignment);
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.<Integer>comparingLong(i -> -sizes[i]).thenComparingInt(i -> start[i])
                .thenComparingInt(i -> i));
        long[] offsets = new long[n];
        Arrays.fill(offsets, -1);
        List<Integer> placed = new ArrayList<>();
        long top = 0;
        List<Integer> conflicts = new ArrayList<>();
        for (int i : order) {
            conflicts.clear();
            for (int j : placed) {
                if (start[j] < end[i] && start[i] < end[j]) {
                    conflicts.add(j);
                }
            }
            conflicts.sort(Comparator.<Integer>comparingLong(j -> offsets[j]).thenComparingInt(j -> j));
            long best = -1;
            long bestGap = Long.MAX_VALUE;
            long lo = 0; // everything below lo is taken by a conflicting buffer (or is the start of the slab)
            for (int j : conflicts) {
                long gap = offsets[j] - lo;
                if (gap >= sizes[i] && gap < bestGap) {
                    best = lo;
                    bestGap = gap;
                }
                lo = Math.max(lo, offsets[j] + sizes[j]);
            }
            offsets[i] = best >= 0 ? best : lo;
            top = Math.max(top, offsets[i] + sizes[i]);
            placed.add(i);
        }
        return new ArenaPlan(bytes.clone(), sizes, start.clone(), end.clone(), offsets, alignment, top,
                peakLive(sizes, start, end));
    }

    /** The largest sum of sizes alive at one time (releases at an event come before allocations at it). */
    static long peakLive(long[] sizes, int[] start, int[] end) {
        int n = sizes.length;
        long[][] ev = new long[2 * n][];
        for (int i = 0; i < n; i++) {
            ev[2 * i] = new long[]{start[i], 1, sizes[i]};
            ev[2 * i + 1] = new long[]{end[i], 0, -sizes[i]};
        }
        Arrays.sort(ev, Comparator.<long[]>comparingLong(e -> e[0]).thenComparingLong(e -> e[1]));
        long live = 0;
        long peak = 0;
        for (long[] e : ev) {
            live += e[2];
            peak = Math.max(peak, live);
        }
        return peak;
    }

    static long align(long v, long alignment) {
        return (v + alignment - 1) & -alignment;
    }

    /** Number of buffers. */
    public int count() {
        return bytes.length;
    }

    /** Requested size of buffer i. */
    public long bytes(int i) {
        return bytes[i];
    }

    /** Size buffer i occupies in the slab (aligned). */
    public long size(int i) {
        return sizes[i];
    }

    public int start(int i) {
        return start[i];
    }

    public int end(int i) {
        return end[i];
    }

    /** Byte offset of buffer i in the slab, a multiple of {@link #alignment()}. */
    public long offset(int i) {
        return offsets[i];
    }

    public long alignment() {
        return alignment;
    }

    /** Bytes the slab needs. */
    public long slabBytes() {
        return slab;
    }

    /** Peak of the live aligned bytes: no placement needs less. */
    public long lowerBound() {
        return lowerBound;
    }

    /** Whether buffers i and j are alive at the same time. */
    public boolean liveTogether(int i, int j) {
        return start[i] < end[j] && start[j] < end[i];
    }

    /** Whether buffers i and j occupy overlapping bytes of the slab. */
    public boolean overlapInSlab(int i, int j) {
        return offsets[i] < offsets[j] + sizes[j] && offsets[j] < offsets[i] + sizes[i];
    }

    /** Bytes the buffers would take one after another (what a plan without reuse needs). */
    public long sumOfSizes() {
        long s = 0;
        for (long v : sizes) {
            s += v;
        }
        return s;
    }

    /** E.g. "74 buffers, slab 12.3 MiB, lower bound 12.1 MiB (+1.6%), without reuse 80.2 MiB". */
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%d buffers, slab %.1f MiB, lower bound %.1f MiB (+%.1f%%), without reuse %.1f MiB",
                count(), slab / 1048576.0, lowerBound / 1048576.0,
                lowerBound == 0 ? 0.0 : 100.0 * (slab - lowerBound) / lowerBound, sumOfSizes() / 1048576.0);
    }
}
