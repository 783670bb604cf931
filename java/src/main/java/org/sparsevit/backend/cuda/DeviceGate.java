package org.sparsevit.backend.cuda;

import java.util.HashMap;
import java.util.Map;
import java.util.function.IntSupplier;

/**
 * The order, across all sessions of the process, between stream captures and the calls that synchronise the
 * whole device.
 *
 * <p>Every session captures its own stream on its own thread, in thread-local capture mode. That mode stops the
 * capturing thread from making unsafe calls, but not other threads. And some calls synchronise the whole device,
 * which fails against, or invalidates, every capture in progress: {@code cudaFree}, and creating or destroying a
 * cuBLAS or cuBLASLt handle ({@code cublasDestroy} is documented to synchronise). So one session closing, or
 * trimming its pool, would break another session's capture on another thread. Such calls go through
 * {@link #synchronising}: it waits until no other thread is capturing, and no capture begins while one of them
 * runs. A thread never waits for its own captures: while it captures, its sessions defer their frees.
 *
 * <p>If another thread's capture lasts longer than {@link #WAIT_LIMIT_MS}, the call runs anyway, with a warning.
 * The capture it breaks then fails as any broken capture does: its graph is not made, and callers fall back to
 * eager passes. A lost graph is better than a hang.
 */
final class DeviceGate {
    static final long WAIT_LIMIT_MS = 60_000;

    private static final Object LOCK = new Object();
    /** Captures in progress, per thread. */
    private static final Map<Thread, Integer> CAPTURING = new HashMap<>();
    private static int captures;

    private DeviceGate() {
    }

    /** Before a capture begins on this thread (waits while a synchronising call runs). */
    static void beginCapture() {
        synchronized (LOCK) {
            captures++;
            CAPTURING.merge(Thread.currentThread(), 1, Integer::sum);
        }
    }

    /** After a capture on this thread ended, whether or not it made a graph. */
    static void endCapture() {
        synchronized (LOCK) {
            Integer n = CAPTURING.get(Thread.currentThread());
            if (n == null) {
                throw new IllegalStateException("DeviceGate.endCapture without beginCapture on this thread");
            }
            if (n == 1) {
                CAPTURING.remove(Thread.currentThread());
            } else {
                CAPTURING.put(Thread.currentThread(), n - 1);
            }
            captures--;
            LOCK.notifyAll();
        }
    }

    /** Captures in progress on other threads than this one. */
    static int othersCapturing() {
        synchronized (LOCK) {
            return captures - CAPTURING.getOrDefault(Thread.currentThread(), 0);
        }
    }

    /**
     * Runs {@code call}, a call that synchronises the device, once no other thread is capturing. No capture
     * begins while it runs. Returns its result.
     */
    static int synchronising(String what, IntSupplier call) {
        synchronized (LOCK) {
            long deadline = System.nanoTime() + WAIT_LIMIT_MS * 1_000_000;
            boolean interrupted = false;
            while (captures - CAPTURING.getOrDefault(Thread.currentThread(), 0) > 0) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    System.err.println("sparsevit: " + what + " waited " + WAIT_LIMIT_MS / 1000 + " s for a CUDA graph"
                            + " capture on another thread to end; running it now (that capture will fail)");
                    break;
                }
                try {
                    LOCK.wait(left);
                } catch (InterruptedException e) {
                    interrupted = true; // finish the call (a free must not be lost), then restore the flag
                }
            }
            try {
                return call.getAsInt();
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
