package org.sparsevit.backend.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The CPU backend's threads: the caller plus {@code workers} daemon threads that, after a job, keep polling for
 * the next one for {@link #SPIN_NANOS} before they park. A forward pass is a hundred or more short parallel ops a
 * few microseconds apart; waking a parked thread for each (what Java's fork-join pool does) cost several
 * milliseconds per Swin-T pass on 2 cores. One job runs at a time: a caller that finds the pool busy (another
 * thread's job, or a job started from inside a job) runs its pieces itself.
 */
final class CpuPool {
    /** How long an idle worker polls for the next job before it parks. */
    static final long SPIN_NANOS = 1_000_000;

    private static final class Job {
        final int pieces;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable error;

        Job(int pieces, IntConsumer body) {
            this.pieces = pieces;
            this.body = body;
        }
    }

    private final Thread[] workers;
    private final AtomicBoolean busy = new AtomicBoolean();
    private volatile Job job;
    private volatile long generation;

    CpuPool(int workers) {
        this.workers = new Thread[workers];
        for (int i = 0; i < workers; i++) {
            Thread t = new Thread(this::workerLoop, "sparsevit-cpu-" + (i + 1));
            t.setDaemon(true);
            this.workers[i] = t;
            t.start();
        }
    }

    /** Threads a job runs on: the caller and the workers. */
    int threads() {
        return workers.length + 1;
    }

    /** Runs body(piece) for every piece in [0, pieces), spread over the threads; returns when all are done. */
    void run(int pieces, IntConsumer body) {
        if (pieces <= 0) {
            return;
        }
        if (pieces == 1 || workers.length == 0 || !busy.compareAndSet(false, true)) {
            for (int i = 0; i < pieces; i++) {
                body.accept(i);
            }
            return;
        }
        Job j = new Job(pieces, body);
        try {
            job = j;
            generation++; // only the holder of `busy` writes it
            for (Thread w : workers) {
                LockSupport.unpark(w); // a permit for a worker that is parked or about to park; harmless otherwise
            }
            work(j);
            while (j.done.get() < j.pieces) {
                Thread.onSpinWait();
            }
        } finally {
            job = null;
            busy.set(false);
        }
        Throwable e = j.error;
        if (e instanceof RuntimeException re) {
            throw re;
        }
        if (e instanceof Error er) {
            throw er;
        }
        if (e != null) {
            throw new IllegalStateException(e);
        }
    }

    private static void work(Job j) {
        int i;
        while ((i = j.next.getAndIncrement()) < j.pieces) {
            try {
                j.body.accept(i);
            } catch (Throwable t) {
                j.error = t;
            } finally {
                j.done.incrementAndGet();
            }
        }
    }

    private void workerLoop() {
        long seen = 0;
        while (true) {
            long idleSince = System.nanoTime();
            while (generation == seen) {
                if (System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this); // woken by run()'s unpark (or spuriously: the loop checks again)
                }
            }
            seen = generation;
            Job j = job;
            if (j != null) {
                work(j);
            }
        }
    }
}
