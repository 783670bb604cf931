package org.sparsevit.backend.cpu;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

import org.bytedeco.javacpp.Pointer;
import org.sparsevit.backend.ArenaPlan;
import org.sparsevit.backend.WorkspaceArena;

/**
 * A size-bucketed pool of direct buffers: blocks are powers of two (at least 4 KiB), reused after a
 * tensor closes, so a steady-state forward pass allocates nothing. At most {@code maxPooledBytes} stay
 * pooled; the rest is left to the garbage collector. Inside a workspace scope ({@link WorkspaceArena})
 * planned tensors are slices of one direct buffer per key instead.
 */
final class CpuMemory {
    /** Largest tensor one direct buffer can hold. */
    static final long MAX_BYTES = Integer.MAX_VALUE - 15;

    /**
     * @param buffer the memory
     * @param bucket pool bucket, or -1 for a slice of a workspace slab
     * @param grant  the workspace scope's record of the allocation, or null
     */
    record Block(ByteBuffer buffer, int bucket, WorkspaceArena<ByteBuffer>.Grant grant) {
    }

    private final Map<Integer, ArrayDeque<Block>> free = new HashMap<>();
    private final long maxPooledBytes;
    private long pooledBytes;
    private final WorkspaceArena<ByteBuffer> arena = new WorkspaceArena<>("cpu", new WorkspaceArena.SlabMemory<>() {
        @Override
        public ByteBuffer allocate(long bytes) {
            if (bytes > MAX_BYTES - ArenaPlan.ALIGNMENT) {
                throw new org.sparsevit.SparseVitException("a slab of " + bytes
                        + " bytes is more than one direct buffer can hold (2 GiB)");
            }
            // over-allocate so the slab starts at an aligned address, as a device allocation would
            ByteBuffer raw = ByteBuffer.allocateDirect((int) (bytes + ArenaPlan.ALIGNMENT));
            long address = new Pointer(raw).address();
            int skip = (int) ((ArenaPlan.ALIGNMENT - address % ArenaPlan.ALIGNMENT) % ArenaPlan.ALIGNMENT);
            return raw.slice(skip, (int) bytes);
        }

        @Override
        public void free(ByteBuffer slab, long bytes) {
            // the garbage collector frees it once no slice is referenced
        }
    });

    CpuMemory(long maxPooledBytes) {
        this.maxPooledBytes = maxPooledBytes;
    }

    WorkspaceArena<ByteBuffer> arena() {
        return arena;
    }

    synchronized Block acquire(long bytes, String what) {
        if (bytes > MAX_BYTES) {
            throw new org.sparsevit.SparseVitException("CPU backend: " + what + " needs " + bytes
                    + " bytes, more than one buffer can hold (2 GiB); use a smaller batch or input");
        }
        WorkspaceArena<ByteBuffer>.Grant g = arena.request(bytes);
        if (g != null && g.slab() != null) {
            return new Block(g.slab().slice((int) g.offset(), (int) bytes), -1, g);
        }
        int bucket = Math.max(12, 64 - Long.numberOfLeadingZeros(Math.max(1, bytes - 1)));
        ArrayDeque<Block> q = free.get(bucket);
        if (q != null && !q.isEmpty()) {
            Block b = q.pop();
            pooledBytes -= b.buffer().capacity();
            return new Block(b.buffer(), bucket, g);
        }
        long cap = Math.min(1L << bucket, MAX_BYTES);
        arena.deviceAllocated(cap);
        return new Block(ByteBuffer.allocateDirect((int) cap), bucket, g);
    }

    synchronized void release(Block b) {
        if (b.grant() != null) {
            b.grant().release();
        }
        if (b.bucket() < 0) {
            return; // a slice of a slab
        }
        if (pooledBytes + b.buffer().capacity() > maxPooledBytes) {
            arena.deviceFreed(b.buffer().capacity()); // left to the garbage collector
            return;
        }
        pooledBytes += b.buffer().capacity();
        free.computeIfAbsent(b.bucket(), k -> new ArrayDeque<>()).push(new Block(b.buffer(), b.bucket(), null));
    }

    synchronized void clear() {
        free.clear();
        arena.deviceFreed(pooledBytes);
        pooledBytes = 0;
        arena.clear();
    }
}
