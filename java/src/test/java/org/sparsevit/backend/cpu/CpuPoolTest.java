package org.sparsevit.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;

import org.junit.jupiter.api.Test;

class CpuPoolTest {
    private static final CpuPool POOL = new CpuPool(2);

    @Test
    void everyPieceRunsOnceAndTheWorkersTakePart() {
        Set<String> threads = ConcurrentHashMap.newKeySet();
        for (int round = 0; round < 200; round++) {
            int pieces = 1 + round % 17;
            AtomicIntegerArray runs = new AtomicIntegerArray(pieces);
            POOL.run(pieces, i -> {
                runs.incrementAndGet(i);
                threads.add(Thread.currentThread().getName());
                if (i == 0) {
                    long until = System.nanoTime() + 200_000; // give the workers something to take
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                }
            });
            for (int i = 0; i < pieces; i++) {
                assertEquals(1, runs.get(i), "round " + round + " piece " + i);
            }
        }
        assertTrue(threads.stream().anyMatch(t -> t.startsWith("sparsevit-cpu-")), threads.toString());
        assertEquals(3, POOL.threads());
    }

    @Test
    void aFailingPieceFailsTheCallAndThePoolGoesOn() {
        IllegalArgumentException boom = new IllegalArgumentException("piece 3");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> POOL.run(8, i -> {
            if (i == 3) {
                throw boom;
            }
        }));
        assertSame(boom, e);
        AtomicIntegerArray runs = new AtomicIntegerArray(8);
        POOL.run(8, runs::incrementAndGet);
        for (int i = 0; i < 8; i++) {
            assertEquals(1, runs.get(i));
        }
    }

    /** Jobs started from inside a job, and from several threads at once, run (on their callers) and complete. */
    @Test
    void nestedAndConcurrentJobsComplete() throws InterruptedException {
        AtomicIntegerArray inner = new AtomicIntegerArray(4 * 5);
        POOL.run(4, i -> POOL.run(5, j -> inner.incrementAndGet(i * 5 + j)));
        for (int i = 0; i < 20; i++) {
            assertEquals(1, inner.get(i));
        }
        AtomicIntegerArray counts = new AtomicIntegerArray(4 * 50);
        List<Thread> callers = new ArrayList<>();
        for (int c = 0; c < 4; c++) {
            int caller = c;
            callers.add(new Thread(() -> {
                for (int r = 0; r < 50; r++) {
                    int slot = caller * 50 + r;
                    POOL.run(6, i -> counts.incrementAndGet(slot));
                }
            }));
        }
        callers.forEach(Thread::start);
        for (Thread t : callers) {
            t.join(60_000);
        }
        for (int i = 0; i < counts.length(); i++) {
            assertEquals(6, counts.get(i), "slot " + i);
        }
    }
}
