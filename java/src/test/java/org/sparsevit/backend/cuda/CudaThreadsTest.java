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
            CountDownLatch capturing = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Future<Captured> graph = capturer.submit(() -> a.capture(() -> {
                a.add(x, x);
                capturing.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                a.add(x, x);
            }));
            assertTrue(capturing.await(30, TimeUnit.SECONDS), "the capture did not start");
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
}
