package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.sparsevit.backend.Captured;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * Sessions on several threads against one rule of the device: a call that synchronises the whole device
 * (cudaFree, a cuBLAS handle destroyed) breaks a stream capture running on another thread, whatever the capture
 * mode. So a session closing (or trimming its pool) waits for other threads' captures to end (DeviceGate).
 */
@Tag("gpu")
class CudaThreadsTest {

    @Test
    void aSessionClosingWaitsForACaptureOnAnotherThread() throws Exception {
        assumeTrue(CudaBackend.unavailableReason() == null, "no usable GPU: " + CudaBackend.unavailableReason());
        ExecutorService capturer = Executors.newSingleThreadExecutor();
        CudaBackend b = new CudaBackend(); // closed by the closer thread (and again, a no-op, at the end)
        try (CudaBackend a = new CudaBackend()) {
            float[] values = new float[256];
            for (int i = 0; i < values.length; i++) {
                values[i] = i - 100;
            }
            Tensor x = a.upload(new HostTensor(values.clone(), new int[]{256}));
            b.upload(new HostTensor(values.clone(), new int[]{256})).close(); // a pooled block, freed by b.close()
            CountDownLatch release = new CountDownLatch(1);
            Future<Captured> graph = captureHeldOpen(capturer, a, () -> a.add(x, x), release, () -> a.add(x, x));
            AtomicBoolean closed = new AtomicBoolean();
            Thread closer = new Thread(() -> {
                b.close();
                closed.set(true);
            });
            closer.start();
            // the capture is still running (it waits for the latch): b's frees and handle teardown must wait too,
            // in DeviceGate (a timed wait); without the gate the closer would finish instead
            long until = System.nanoTime() + 10_000_000_000L;
            while (closer.getState() != Thread.State.TIMED_WAITING && closer.isAlive() && System.nanoTime() < until) {
                Thread.sleep(5);
            }
            Thread.State atGate = closer.getState();
            boolean closedDuringCapture = closed.get();
            release.countDown();
            try (Captured g = graph.get(60, TimeUnit.SECONDS)) {
                closer.join(60_000);
                assertFalse(closedDuringCapture, "a session closed while another thread was capturing");
                assertEquals(Thread.State.TIMED_WAITING, atGate, "the closing session did not wait at the gate");
                assertTrue(closed.get(), "the session did not close after the capture ended");
                // the capture recorded both adds and ran neither; one replay doubles x twice
                float[] now = a.download(x).data();
                assertArrayEquals(values, now, "a captured add ran at capture time");
                g.replay();
                float[] want = values.clone();
                for (int i = 0; i < want.length; i++) {
                    want[i] *= 4;
                }
                assertArrayEquals(want, a.download(x).data());
            }
            x.close();
        } finally {
            capturer.shutdownNow();
            b.close();
        }
    }

    /**
     * Threads sharing one model on one session, each with its own images: every thread gets its own outputs. The
     * model compiles a configuration on its second use and then replays one CUDA graph with one input buffer, so
     * without taking turns a thread would read another's outputs, and a thread's launches would land in another's
     * capture.
     */
    @Test
    void threadsSharingAModelOnOneSessionEachGetTheirOwnOutputs() throws Exception {
        assumeTrue(CudaBackend.unavailableReason() == null, "no usable GPU: " + CudaBackend.unavailableReason());
        double[][] sp = org.sparsevit.sparse.SparsityConfig.parseCompact("0.3,0.3/0.5,0.5/0,0/0,0").ratios();
        org.sparsevit.model.PaddingMode pad = org.sparsevit.model.PaddingMode.SWIN;
        int threads = 3;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (CudaBackend gpu = new CudaBackend();
             org.sparsevit.model.SwinModel m = miniModel(gpu, 5)) {
            java.util.List<HostTensor> xs = new java.util.ArrayList<>();
            java.util.List<org.sparsevit.model.SwinOutput> want = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++) {
                HostTensor x = images(20 + t);
                xs.add(x);
                try (Tensor img = gpu.upload(x)) {
                    want.add(m.forward(img, sp, pad, null, null)); // a device tensor: always an eager pass
                }
            }
            CountDownLatch start = new CountDownLatch(1);
            java.util.List<Future<java.util.List<org.sparsevit.model.SwinOutput>>> outs = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++) {
                HostTensor x = xs.get(t);
                outs.add(pool.submit(() -> {
                    start.await();
                    java.util.List<org.sparsevit.model.SwinOutput> got = new java.util.ArrayList<>();
                    for (int rep = 0; rep < 3; rep++) {
                        got.add(m.forward(x, sp, pad, null, null));
                    }
                    return got;
                }));
            }
            start.countDown();
            for (int t = 0; t < threads; t++) {
                java.util.List<org.sparsevit.model.SwinOutput> got = outs.get(t).get(600, TimeUnit.SECONDS);
                for (int rep = 0; rep < got.size(); rep++) {
                    for (int s = 0; s < 4; s++) {
                        org.sparsevit.Golden.assertClose("thread " + t + " pass " + rep + " out" + s,
                                want.get(t).features().get(s), got.get(rep).features().get(s), 1e-6);
                    }
                }
            }
            assertEquals(java.util.List.of("graph replay"), m.compiledModes(),
                    "the shared configuration was not compiled into a graph");
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * One thread captures passes of a model (compile) while another runs eager passes of the same model on the same
     * session (a listener makes them eager; each uploads and downloads): the eager thread's copies must not fall
     * inside the capture, where they are not allowed and would break it.
     */
    @Test
    void eagerPassesWaitForAnotherThreadsCaptureOnTheSameSession() throws Exception {
        assumeTrue(CudaBackend.unavailableReason() == null, "no usable GPU: " + CudaBackend.unavailableReason());
        double[][] sp = org.sparsevit.sparse.SparsityConfig.parseCompact("0.3,0.3/0.5,0.5/0,0/0,0").ratios();
        org.sparsevit.model.PaddingMode pad = org.sparsevit.model.PaddingMode.SWIN;
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (CudaBackend gpu = new CudaBackend();
             org.sparsevit.model.SwinModel m = miniModel(gpu, 7)) {
            HostTensor x = images(3);
            org.sparsevit.model.KeptListener listener = record -> { };
            org.sparsevit.model.SwinOutput want = m.forward(x, sp, pad, listener, null);
            CountDownLatch start = new CountDownLatch(1);
            Future<?> eager = pool.submit(() -> {
                start.await();
                for (int rep = 0; rep < 6; rep++) {
                    org.sparsevit.model.SwinOutput o = m.forward(x, sp, pad, listener, null);
                    for (int s = 0; s < 4; s++) {
                        org.sparsevit.Golden.assertClose("eager pass " + rep + " out" + s,
                                want.features().get(s), o.features().get(s), 1e-6);
                    }
                }
                return null;
            });
            Future<?> capturing = pool.submit(() -> {
                start.await();
                for (int rep = 0; rep < 4; rep++) {
                    try (org.sparsevit.model.CompiledForward pass = m.compile(new int[]{1, 3, 64, 64}, sp, pad)) {
                        assertTrue(pass.captured(), "capture " + rep + ": " + pass.mode());
                    }
                }
                return null;
            });
            start.countDown();
            eager.get(600, TimeUnit.SECONDS);
            capturing.get(600, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Work from another thread on a session that is capturing a graph is refused with a message naming both
     * threads: on the session's one stream it would be recorded into that graph instead of running. The capture
     * itself is unharmed and replays what its own thread enqueued.
     */
    @Test
    void anotherThreadsWorkOnACapturingSessionIsRefused() throws Exception {
        assumeTrue(CudaBackend.unavailableReason() == null, "no usable GPU: " + CudaBackend.unavailableReason());
        ExecutorService capturer = Executors.newSingleThreadExecutor(r -> new Thread(r, "capturer"));
        try (CudaBackend a = new CudaBackend()) {
            float[] values = {1, 2, 3, 4};
            Tensor x = a.upload(new HostTensor(values.clone(), new int[]{4}));
            Tensor y = a.upload(new HostTensor(values.clone(), new int[]{4}));
            CountDownLatch release = new CountDownLatch(1);
            Future<Captured> graph = captureHeldOpen(capturer, a, () -> a.add(x, x), release, () -> { });
            String me = Thread.currentThread().getName();
            try {
                IllegalStateException add = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                        () -> a.add(y, y));
                assertTrue(add.getMessage().startsWith("add: thread '" + me + "' used a CUDA session while thread"
                        + " 'capturer' captures a graph on it"), add.getMessage());
                org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> a.download(y));
                org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                        () -> a.upload(new HostTensor(values.clone(), new int[]{4})));
                org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, a::synchronize);
            } finally {
                release.countDown();
            }
            try (Captured g = graph.get(60, TimeUnit.SECONDS)) {
                assertArrayEquals(values, a.download(y).data(), "the refused add ran");
                g.replay();
                assertArrayEquals(new float[]{2, 4, 6, 8}, a.download(x).data());
            }
            x.close();
            y.close();
        } finally {
            capturer.shutdownNow();
        }
    }

    /**
     * Starts a capture on {@code session} on the {@code capturer} thread that enqueues {@code before}, then waits
     * (capture still open) for {@code release}, then enqueues {@code after}; returns once the capture is open.
     */
    static Future<Captured> captureHeldOpen(ExecutorService capturer, CudaBackend session, Runnable before,
                                            CountDownLatch release, Runnable after) throws InterruptedException {
        CountDownLatch capturing = new CountDownLatch(1);
        Future<Captured> graph = capturer.submit(() -> session.capture(() -> {
            before.run();
            capturing.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            after.run();
        }));
        assertTrue(capturing.await(30, TimeUnit.SECONDS), "the capture did not start");
        return graph;
    }

    /** A small random backbone (C=16, window 7) on {@code gpu}. */
    static org.sparsevit.model.SwinModel miniModel(CudaBackend gpu, long seed) {
        org.sparsevit.model.SwinConfig mini = new org.sparsevit.model.SwinConfig(16, new int[]{2, 2, 2, 2},
                new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 0, org.sparsevit.model.Task.BACKBONE, 224,
                org.sparsevit.model.CheckpointLayout.SWIN_DETECTION, org.sparsevit.model.MergeOrder.CONCAT, 1e-5f);
        return new org.sparsevit.model.SwinModel(org.sparsevit.model.SwinWeights.random(mini, seed), gpu);
    }

    /** Seeded Gaussian images [1, 3, 64, 64]. */
    static HostTensor images(long seed) {
        HostTensor x = HostTensor.zeros(1, 3, 64, 64);
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = (float) r.nextGaussian();
        }
        return x;
    }
}
