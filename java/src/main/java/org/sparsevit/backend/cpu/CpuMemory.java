package org.sparsevit.backend.cpu;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * A size-bucketed pool of direct buffers: blocks are powers of two (at least 4 KiB), reused after a
 * tensor closes, so a steady-state forward pass allocates nothing. At most {@code maxPooledBytes} stay
 * pooled; the rest is left to the garbage collector.
 */
final class CpuMemory {
    /** Largest tensor one direct buffer can hold. */
    static final long MAX_BYTES = Integer.MAX_VALUE - 15;

    record Block(ByteBuffer buffer, int bucket) {
    }

    private final Map<Integer, ArrayDeque<Block>> free = new HashMap<>();
    private final long maxPooledBytes;
    private long pooledBytes;

    CpuMemory(long maxPooledBytes) {
        this.maxPooledBytes = maxPooledBytes;
    }

    synchronized Block acquire(long bytes, String what) {
        if (bytes > MAX_BYTES) {
            throw new org.sparsevit.SparseVitException("CPU backend: " + what + " needs " + bytes
                    + " bytes, more than one buffer can hold (2 GiB); use a smaller batch or input");
        }
        int bucket = Math.max(12, 64 - Long.numberOfLeadingZeros(Math.max(1, bytes - 1)));
        ArrayDeque<Block> q = free.get(bucket);
        if (q != null && !q.isEmpty()) {
            Block b = q.pop();
            pooledBytes -= b.buffer().capacity();
            return b;
        }
        long cap = Math.min(1L << bucket, MAX_BYTES);
        return new Block(ByteBuffer.allocateDirect((int) cap), bucket);
    }

    synchronized void release(Block b) {
        if (pooledBytes + b.buffer().capacity() > maxPooledBytes) {
            return;
        }
        pooledBytes += b.buffer().capacity();
        free.computeIfAbsent(b.bucket(), k -> new ArrayDeque<>()).push(b);
    }

    synchronized void clear() {
        free.clear();
        pooledBytes = 0;
    }
}
