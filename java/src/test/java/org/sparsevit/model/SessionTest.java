package org.sparsevit.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.tensor.HostTensor;

/** One loaded model served by several sessions on several threads, with its weights shared, not copied. */
class SessionTest {
    static final SwinConfig MINI = new SwinConfig(16, new int[]{2, 2, 2, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 0,
            Task.BACKBONE, 224, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);

    @Test
    void sessionsOnThreadsComputeWhatTheOwnerComputes() throws Exception {
        HostTensor x = HostTensor.zeros(1, 3, 96, 80);
        java.util.Random r = new java.util.Random(4);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = (float) r.nextGaussian();
        }
        double[][] sp = org.sparsevit.sparse.SparsityConfig.parseCompact("0.3,0.3/0.5,0.5/0,0/0,0").ratios();
        try (CpuBackend owner = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(MINI, 2), owner)) {
            SwinOutput ref = m.forward(x, sp, PaddingMode.SWIN, null, null);
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                List<Future<SwinOutput>> outs = new ArrayList<>();
                for (int t = 0; t < 3; t++) {
                    outs.add(pool.submit(() -> {
                        try (CpuBackend s = new CpuBackend(); SwinModel view = m.session(s)) {
                            SwinOutput o = null;
                            for (int rep = 0; rep < 3; rep++) {
                                o = view.forward(x, sp, PaddingMode.SWIN, null, null);
                            }
                            return o;
                        }
                    }));
                }
                for (Future<SwinOutput> f : outs) {
                    SwinOutput o = f.get();
                    for (int s = 0; s < 4; s++) {
                        assertArrayEquals(ref.features().get(s).data(), o.features().get(s).data());
                    }
                }
            } finally {
                pool.shutdown();
            }
            // closing the views released nothing: the owner still runs
            assertArrayEquals(ref.features().get(3).data(), m.forward(x, sp, PaddingMode.SWIN, null, null).features().get(3).data());
        }
        try (CpuBackend b = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(MINI, 2), b)) {
            m.close();
            assertThrows(IllegalStateException.class, () -> m.session(b));
        }
    }

    static HostTensor images(int seed, int... shape) {
        HostTensor x = HostTensor.zeros(shape);
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** One model on one CPU backend, shared by threads at once (no session each): every thread gets its own outputs. */
    @Test
    void threadsSharingOneCpuModelEachGetTheirOwnOutputs() throws Exception {
        double[][] sp = org.sparsevit.sparse.SparsityConfig.parseCompact("0.3,0.3/0.5,0.5/0,0/0,0").ratios();
        int threads = 4;
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(MINI, 6), be)) {
            List<HostTensor> xs = new ArrayList<>();
            List<SwinOutput> want = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                xs.add(images(30 + t, 1, 3, 64, 64));
                want.add(m.forward(xs.get(t), sp, PaddingMode.SWIN, null, null));
            }
            eachThreadGetsItsOwnOutputs(xs, want, x -> m.forward(x, sp, PaddingMode.SWIN, null, null), 4);
        }
    }

    /**
     * One compiled pass shared by threads, each with its own images: every thread gets the outputs of its own
     * images (the pass has one input buffer and one set of outputs, so the runs must take turns).
     */
    @Test
    void threadsSharingACompiledPassEachGetTheirOwnOutputs() throws Exception {
        double[][] sp = org.sparsevit.sparse.SparsityConfig.parseCompact("0.3,0.3/0.5,0.5/0,0/0,0").ratios();
        int threads = 4;
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(MINI, 3), be);
             CompiledForward pass = m.compile(new int[]{1, 3, 64, 64}, sp, PaddingMode.SWIN)) {
            List<HostTensor> xs = new ArrayList<>();
            List<SwinOutput> want = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                xs.add(images(10 + t, 1, 3, 64, 64));
                want.add(m.forward(xs.get(t), sp, PaddingMode.SWIN, null, null));
            }
            eachThreadGetsItsOwnOutputs(xs, want, x -> pass.run(x), 5);
        }
    }

    /**
     * Runs {@code run} on each of {@code xs} from a thread of its own, {@code reps} times, all threads released at
     * once; every result must equal {@code want} of the same index (else another thread's images were used).
     */
    static void eachThreadGetsItsOwnOutputs(List<HostTensor> xs, List<SwinOutput> want,
                                            java.util.function.Function<HostTensor, SwinOutput> run, int reps)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(xs.size());
        try {
            java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
            List<Future<List<SwinOutput>>> outs = new ArrayList<>();
            for (HostTensor x : xs) {
                outs.add(pool.submit(() -> {
                    start.await();
                    List<SwinOutput> got = new ArrayList<>();
                    for (int rep = 0; rep < reps; rep++) {
                        got.add(run.apply(x));
                    }
                    return got;
                }));
            }
            start.countDown();
            for (int t = 0; t < xs.size(); t++) {
                for (SwinOutput o : outs.get(t).get()) {
                    for (int s = 0; s < want.get(t).features().size(); s++) {
                        assertArrayEquals(want.get(t).features().get(s).data(), o.features().get(s).data(),
                                "thread " + t + ", stage " + s + ": another thread's images");
                    }
                }
            }
        } finally {
            pool.shutdown();
        }
    }

    /**
     * Closing a model closes what runs on its weights: the passes it handed out and its session views, which then
     * say so instead of computing on freed memory. A pass closed by its holder is forgotten by the model.
     */
    @Test
    void closingAModelClosesItsPassesAndViews() {
        double[][] sp = org.sparsevit.sparse.SparsityConfig.parseCompact("0.3,0.3/0.5,0.5/0,0/0,0").ratios();
        int[] shape = {1, 3, 64, 64};
        HostTensor x = images(40, shape);
        try (CpuBackend be = new CpuBackend(); CpuBackend other = new CpuBackend()) {
            SwinModel m = new SwinModel(SwinWeights.random(MINI, 8), be);
            CompiledForward kept = m.compile(shape, sp, PaddingMode.SWIN);
            CompiledForward closedEarly = m.compile(shape, sp, PaddingMode.SWIN);
            closedEarly.close();
            SwinModel view = m.session(other);
            CompiledForward viewPass = view.compile(shape, sp, PaddingMode.SWIN);
            SwinOutput before = kept.run(x);
            assertArrayEquals(before.features().get(3).data(), viewPass.run(x).features().get(3).data());
            m.close();
            String k = assertThrows(IllegalStateException.class, () -> kept.run(x)).getMessage();
            assertTrue(k.contains("compiled forward pass is closed (closing its model closes it too)"), k);
            assertThrows(IllegalStateException.class, () -> viewPass.run(x));
            String v = assertThrows(IllegalStateException.class,
                    () -> view.forward(x, sp, PaddingMode.SWIN, null, null)).getMessage();
            assertEquals("model is closed", v);
            assertThrows(IllegalStateException.class, () -> m.compile(shape, sp, PaddingMode.SWIN));
            assertThrows(IllegalStateException.class, () -> m.session(other));
            kept.close(); // closing again, and closing a closed view, are no-ops
            view.close();
        }
        // a pass or view closed by its holder is forgotten by the model (nothing kept alive until it closes)
        try (CpuBackend be = new CpuBackend(); CpuBackend other = new CpuBackend();
             SwinModel m = new SwinModel(SwinWeights.random(MINI, 9), be)) {
            m.compile(shape, sp, PaddingMode.SWIN).close();
            m.session(other).close();
            assertEquals(0, m.openPassesAndViews());
            CompiledForward open = m.compile(shape, sp, PaddingMode.SWIN);
            SwinModel view = m.session(other);
            assertEquals(2, m.openPassesAndViews());
            open.close();
            view.close();
            assertEquals(0, m.openPassesAndViews());
        }
    }
}
