package org.sparsevit.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** The slab planner: non-overlap of live buffers, alignment, determinism, and how close it gets to the peak. */
class ArenaPlanTest {

    /** A trace: sizes and [start, end) lifetimes of event numbers, built by replaying alloc/free steps. */
    static final class Trace {
        final List<Long> bytes = new ArrayList<>();
        final List<Integer> start = new ArrayList<>();
        final List<Integer> end = new ArrayList<>();
        int event;

        int alloc(long b) {
            bytes.add(b);
            start.add(event++);
            end.add(-1);
            return bytes.size() - 1;
        }

        void free(int id) {
            if (end.get(id) >= 0) {
                throw new IllegalStateException("double free of " + id);
            }
            end.set(id, event++);
        }

        void freeAll() {
            for (int i = 0; i < end.size(); i++) {
                if (end.get(i) < 0) {
                    free(i);
                }
            }
        }

        ArenaPlan plan() {
            return ArenaPlan.plan(bytes.stream().mapToLong(Long::longValue).toArray(),
                    start.stream().mapToInt(Integer::intValue).toArray(),
                    end.stream().mapToInt(Integer::intValue).toArray(), ArenaPlan.ALIGNMENT);
        }
    }

    /** Random program: allocate (sizes log-uniform over 1 B .. 4 MiB) or release a random live buffer. */
    static Trace randomTrace(long seed, int steps) {
        Random r = new Random(seed);
        Trace t = new Trace();
        List<Integer> live = new ArrayList<>();
        double pAlloc = 0.3 + 0.4 * r.nextDouble();
        for (int s = 0; s < steps; s++) {
            if (live.isEmpty() || r.nextDouble() < pAlloc) {
                live.add(t.alloc((long) Math.pow(2, r.nextDouble() * 22)));
            } else {
                t.free(live.remove(r.nextInt(live.size())));
            }
        }
        t.freeAll();
        return t;
    }

    /** The allocation pattern of Swin blocks on pruned tiles (as SwinBlock and StageNode allocate). */
    static Trace swinLikeTrace(int batch, int[] tokens, int[] dims, int[] depths, double keep) {
        Trace t = new Trace();
        long f = 4;
        int x = t.alloc(f * batch * tokens[0] * dims[0]);
        for (int s = 0; s < dims.length; s++) {
            long c = dims[s];
            long n = batch * (long) Math.max(49, (int) (tokens[s] * (s < 3 ? keep : 1.0)) / 49 * 49);
            int imp = t.alloc(f * batch * tokens[s]);
            int order = t.alloc(4L * batch * Math.max(1, tokens[s] / 49));
            for (int j = 0; j < depths[s]; j++) {
                int tile = t.alloc(f * n * c);
                int tt = t.alloc(f * n * c);
                int qkv = t.alloc(f * n * 3 * c);
                t.free(qkv);
                int proj = t.alloc(f * n * c);
                t.free(proj);
                int h = t.alloc(f * n * 4 * c);
                t.free(h);
                t.free(tt);
                t.free(tile);
            }
            t.free(imp);
            t.free(order);
            if (s + 1 < dims.length) {
                int next = t.alloc(f * batch * tokens[s + 1] * dims[s + 1]);
                int cat = t.alloc(f * batch * tokens[s + 1] * 4 * c);
                t.free(cat);
                t.free(x);
                x = next;
            }
        }
        t.free(x);
        return t;
    }

    /** Every invariant a plan must satisfy, checked pair by pair. */
    static void checkPlan(ArenaPlan p, Trace t) {
        int n = p.count();
        assertEquals(t.bytes.size(), n);
        for (int i = 0; i < n; i++) {
            assertEquals(0, p.offset(i) % ArenaPlan.ALIGNMENT, "offset of buffer " + i + " is not aligned");
            assertTrue(p.size(i) >= Math.max(1, t.bytes.get(i)), "buffer " + i + " smaller than requested");
            assertEquals(0, p.size(i) % ArenaPlan.ALIGNMENT, "size of buffer " + i + " is not aligned");
            assertTrue(p.offset(i) >= 0 && p.offset(i) + p.size(i) <= p.slabBytes(), "buffer " + i + " outside the slab");
            for (int j = i + 1; j < n; j++) {
                boolean together = t.start.get(i) < t.end.get(j) && t.start.get(j) < t.end.get(i);
                assertEquals(together, p.liveTogether(i, j));
                if (together) {
                    assertFalse(p.overlapInSlab(i, j), "buffers " + i + " and " + j + " are alive together and overlap: ["
                            + p.offset(i) + ", +" + p.size(i) + ") and [" + p.offset(j) + ", +" + p.size(j) + ")");
                }
            }
        }
        assertTrue(p.slabBytes() >= p.lowerBound(), "slab " + p.slabBytes() + " below the lower bound " + p.lowerBound());
        assertEquals(bruteForcePeak(p), p.lowerBound());
    }

    /** Peak live bytes, by evaluating every event time separately. */
    static long bruteForcePeak(ArenaPlan p) {
        int maxT = 0;
        for (int i = 0; i < p.count(); i++) {
            maxT = Math.max(maxT, p.end(i));
        }
        long peak = 0;
        for (int time = 0; time <= maxT; time++) {
            long live = 0;
            for (int i = 0; i < p.count(); i++) {
                if (p.start(i) <= time && time < p.end(i)) {
                    live += p.size(i);
                }
            }
            peak = Math.max(peak, live);
        }
        return peak;
    }

    @Test
    void buffersThatNeverLiveTogetherShareTheSlab() {
        Trace t = new Trace();
        for (int i = 0; i < 5; i++) {
            t.free(t.alloc(1000L * (i + 1)));
        }
        ArenaPlan p = t.plan();
        checkPlan(p, t);
        for (int i = 0; i < 5; i++) {
            assertEquals(0, p.offset(i));
        }
        assertEquals(ArenaPlan.align(5000, 256), p.slabBytes());
        assertEquals(p.lowerBound(), p.slabBytes());
    }

    @Test
    void aFreedGapIsReusedByASmallerBuffer() {
        Trace t = new Trace();
        int a = t.alloc(1024);
        int big = t.alloc(4096);
        int c = t.alloc(1024);
        t.free(big);
        int d = t.alloc(2048); // fits where big was, between a and c, whatever their order
        t.free(a);
        t.free(c);
        t.free(d);
        ArenaPlan p = t.plan();
        checkPlan(p, t);
        assertEquals(1024 + 4096 + 1024, p.slabBytes());
        assertEquals(p.lowerBound(), p.slabBytes());
    }

    @Test
    void zeroAndOddSizesAreRoundedToTheAlignment() {
        ArenaPlan p = ArenaPlan.plan(new long[]{0, 1, 257}, new int[]{0, 1, 2}, new int[]{3, 4, 5}, 256);
        assertEquals(256, p.size(0));
        assertEquals(256, p.size(1));
        assertEquals(512, p.size(2));
        assertEquals(1024, p.slabBytes());
    }

    @Test
    void randomTracesNeverOverlapLiveBuffers() {
        double worst = 0;
        double sum = 0;
        int cases = 300;
        for (int seed = 0; seed < cases; seed++) {
            Trace t = randomTrace(seed, 1 + seed % 200);
            ArenaPlan p = t.plan();
            checkPlan(p, t);
            double ratio = (double) p.slabBytes() / p.lowerBound();
            worst = Math.max(worst, ratio);
            sum += ratio;
        }
        // random interleavings are the hard case; measured: mean 1.006, worst 1.19 over these seeds
        assertTrue(sum / cases < 1.05, "mean slab / lower bound " + sum / cases);
        assertTrue(worst < 1.5, "worst slab / lower bound " + worst);
    }

    @Test
    void planningIsDeterministic() {
        for (int seed = 0; seed < 50; seed++) {
            Trace t = randomTrace(1000 + seed, 150);
            ArenaPlan a = t.plan();
            ArenaPlan b = t.plan();
            long[] oa = new long[a.count()];
            long[] ob = new long[b.count()];
            for (int i = 0; i < oa.length; i++) {
                oa[i] = a.offset(i);
                ob[i] = b.offset(i);
            }
            assertArrayEquals(oa, ob);
            assertEquals(a.slabBytes(), b.slabBytes());
        }
    }

    @Test
    void swinLikeTracesReachTheLowerBound() {
        int[][] sizes = {{56 * 56, 28 * 28, 14 * 14, 7 * 7}, {168 * 168, 84 * 84, 42 * 42, 21 * 21}};
        for (int[] tokens : sizes) {
            for (int batch : new int[]{1, 4}) {
                for (double keep : new double[]{1.0, 0.5, 0.2}) {
                    Trace t = swinLikeTrace(batch, tokens, new int[]{96, 192, 384, 768}, new int[]{2, 2, 6, 2}, keep);
                    ArenaPlan p = t.plan();
                    checkPlan(p, t);
                    assertTrue(p.slabBytes() <= 1.01 * p.lowerBound(), "slab " + p + " for " + tokens[0] + " tokens, batch "
                            + batch + ", keep " + keep);
                    // and far below the sum of the buffers, which is what no reuse at all would need
                    assertTrue(p.slabBytes() < p.sumOfSizes() / 4, p.toString());
                }
            }
        }
    }

    @Test
    void badInputIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> ArenaPlan.plan(new long[]{1}, new int[]{2}, new int[]{2}, 256));
        assertThrows(IllegalArgumentException.class, () -> ArenaPlan.plan(new long[]{-1}, new int[]{0}, new int[]{1}, 256));
        assertThrows(IllegalArgumentException.class, () -> ArenaPlan.plan(new long[]{1}, new int[]{0}, new int[]{1}, 100));
        assertThrows(IllegalArgumentException.class, () -> ArenaPlan.plan(new long[]{1, 2}, new int[]{0}, new int[]{1}, 256));
        ArenaPlan empty = ArenaPlan.plan(new long[0], new int[0], new int[0], 256);
        assertEquals(0, empty.slabBytes());
        assertEquals(0, empty.lowerBound());
    }
}
