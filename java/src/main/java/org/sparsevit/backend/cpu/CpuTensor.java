package org.sparsevit.backend.cpu;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.Arrays;

import org.sparsevit.backend.Backend;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Shapes;
import org.sparsevit.tensor.Tensor;

/**
 * A CPU tensor: F32 or I32 values in native (off-heap) memory, so OpenBLAS reads them without a copy.
 * Memory comes from the backend's pool and goes back to it on {@link #close()}.
 */
final class CpuTensor implements Tensor {
    private final CpuBackend backend;
    private final int[] shape;
    private final DType dtype;
    private final long numel;
    private CpuMemory.Block block;
    private final FloatBuffer floats;
    private final IntBuffer ints;
    /** Bumped by every op that writes this tensor (so a packed copy of older values is never used). */
    private volatile long version;
    /** This tensor as a linear layer's weight, packed for the native kernels; null until first needed. */
    private FloatBuffer packed;
    private long packedVersion = -1;

    CpuTensor(CpuBackend backend, CpuMemory.Block block, DType dtype, int[] shape) {
        this.backend = backend;
        this.block = block;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.numel = Shapes.numel(shape);
        ByteBuffer bb = block.buffer().duplicate().order(ByteOrder.nativeOrder());
        bb.limit(Math.toIntExact(numel * 4));
        if (dtype == DType.I32) {
            this.ints = bb.asIntBuffer();
            this.floats = null;
        } else {
            this.floats = bb.asFloatBuffer();
            this.ints = null;
        }
    }

    /** The values (F32 tensors); absolute indexing from 0. */
    FloatBuffer f() {
        checkOpen();
        if (floats == null) {
            throw new IllegalArgumentException("expected an F32 tensor, got " + dtype + Arrays.toString(shape));
        }
        return floats;
    }

    /** The values (I32 tensors). */
    IntBuffer i() {
        checkOpen();
        if (ints == null) {
            throw new IllegalArgumentException("expected an I32 tensor, got " + dtype + Arrays.toString(shape));
        }
        return ints;
    }

    private void checkOpen() {
        if (block == null) {
            throw new IllegalStateException("tensor " + dtype + Arrays.toString(shape) + " is closed");
        }
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    @Override
    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    @Override
    public int rank() {
        return shape.length;
    }

    @Override
    public long numel() {
        return numel;
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public boolean isClosed() {
        return block == null;
    }

    /** Records that an op is about to write this tensor. */
    void written() {
        version++;
    }

    /**
     * This [n, k] tensor packed by {@code CpuNative.svj_cpu_pack_weights}, from a cache kept with the tensor:
     * packed on first use and again only after the tensor was written. Safe to call from several threads.
     */
    synchronized FloatBuffer packedWeights(int n, int k) {
        checkOpen();
        long v = version;
        if (packed == null || packedVersion != v) {
            packed = CpuNative.pack(f(), n, k);
            packedVersion = v;
        }
        return packed;
    }

    @Override
    public synchronized void close() {
        packed = null;
        if (block != null) {
            backend.memory().release(block);
            block = null;
        }
    }

    @Override
    public String toString() {
        return "CpuTensor(" + dtype + Arrays.toString(shape) + ")";
    }
}
