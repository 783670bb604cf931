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
 * cuBLAS or cuBLASLt handle ({@code cublasDestroy} is documented to synchronise); destroying a graph's executable
 * goes through here too, to be safe. So one session closing, or trimming its pool, would break another session's
 * capture on another thread. Such calls go through {@link #synchronising}: it waits until no other thread is
 * capturing, and while it waits or runs no new capture begins on a thread that is not capturing already.
 *
 * <p>A thread does not wait for its own captures. The capturing session defers its own frees until its capture
 * ends; a synchronising call that the capturing thread makes on another session would break its own capture (the
 * runtime refuses it), and nothing here prevents that.
 *
 * <p>If the captures a call waits for have been running for {@link #WAIT_LIMIT_MS}, it runs anyway, with a
 * warning (and so do the calls after it while those captures go on). The capture it breaks then fails as any
 * broken capture does: its graph is not made, and callers fall back to eager passes. A lost graph is better than
 * a hang.
 */
final class DeviceGate {
    static final long WAIT_LIMIT_MS = 60_000;

    private static final Object LOCK = new Object();
    /** Captures in progress per thread: {count, System.nanoTime() when the first of them began}. */
    private static final Map<Thread, long[]> CAPTURING = new HashMap<>();
    /** Synchronising calls waiting for captures to end (new captures wait for them). */
    private static int waiting;

    private DeviceGate() {
    }

    /** Before a capture begins on this thread: waits while a synchronising call waits or runs. */
    static void beginCapture() {
        synchronized (LOCK) {
            Thread me = Thread.currentThread();
            boolean interrupted = false;
            // a thread already capturing does not wait (the waiting call waits for it: that would deadlock)
            while (waiting > 0 && !CAPTURING.containsKey(me)) {
                try {
                    LOCK.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                me.interrupt();
            }
            long[] c = CAPTURING.computeIfAbsent(me, t -> new long[]{0, System.nanoTime()});
            c[0]++;
        }
    }

    /** After a capture on this thread ended, whether or not it made a graph. */
    static void endCapture() {
        synchronized (LOCK) {
            long[] c = CAPTURING.get(Thread.currentThread());
            if (c == null) {
                throw new IllegalStateException("DeviceGate.endCapture without beginCapture on this thread");
            }
            if (--c[0] == 0) {
                CAPTURING.remove(Thread.currentThread());
            }
            LOCK.notifyAll();
        }
    }

    /** When the oldest capture of another thread began (System.nanoTime()), or null when there is none. */
    private static Long oldestOtherCapture() {
        Long oldest = null;
        for (Map.Entry<Thread, long[]> e : CAPTURING.entrySet()) {
            if (e.getKey() != Thread.currentThread() && (oldest == null || e.getValue()[1] - oldest < 0)) {
                oldest = e.getValue()[1];
            }
        }
        return oldest;
    }

    /**
     * Runs {@code call}, a call that synchronises the device, once no other thread is capturing. No capture
     * begins on another thread while it waits or runs. Returns its result.
     */
    static int synchronising(String what, IntSupplier call) {
        synchronized (LOCK) {
            waiting++;
            boolean interrupted = false;
            try {
                Long oldest;
                while ((oldest = oldestOtherCapture()) != null) {
                    long left = WAIT_LIMIT_MS - (System.nanoTime() - oldest) / 1_000_000;
                    if (left <= 0) {
                        System.err.println("sparsevit: " + what + " waited for a CUDA graph capture on another thread"
                                + " that has run for over " + WAIT_LIMIT_MS / 1000 + " s; running it now (that"
                                + " capture will fail)");
                        break;
                    }
                    try {
                        LOCK.wait(left);
                    } catch (InterruptedException e) {
                        interrupted = true; // finish the call (a free must not be lost), then restore the flag
                    }
                }
                return call.getAsInt();
            } finally {
                waiting--;
                LOCK.notifyAll();
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
