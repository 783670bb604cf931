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
    /** Forms of this tensor derived for the native kernels (a packed weight, an expanded bias), by key. */
    private final java.util.Map<String, Object> derived = new java.util.HashMap<>();
    private long derivedVersion;

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
     * A form of this tensor derived by {@code make} (a packed weight, an expanded bias table), from a cache kept
     * with the tensor: made on first use and again only after the tensor was written. Safe from several threads.
     */
    synchronized <T> T derived(String key, java.util.function.Supplier<T> make) {
        checkOpen();
        long v = version;
        if (v != derivedVersion) {
            derived.clear();
            derivedVersion = v;
        }
        @SuppressWarnings("unchecked")
        T value = (T) derived.get(key);
        if (value == null) {
            value = make.get();
            derived.put(key, value);
        }
        return value;
    }

    /** This [n, k] tensor packed by {@code CpuNative.svj_cpu_pack_weights}, cached as {@link #derived}. */
    FloatBuffer packedWeights(int n, int k) {
        return derived("packed " + n + "x" + k, () -> CpuNative.pack(f(), n, k));
    }

    @Override
    public synchronized void close() {
        derived.clear();
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
