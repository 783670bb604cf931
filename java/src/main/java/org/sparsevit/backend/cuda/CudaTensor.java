package org.sparsevit.backend.cuda;

import java.util.Arrays;

import org.sparsevit.backend.Backend;
import org.sparsevit.backend.WorkspaceArena;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Shapes;
import org.sparsevit.tensor.Tensor;

/**
 * A tensor in device memory: an address from the backend's pool or from a workspace slab (see
 * {@link WorkspaceArena}), a shape and a dtype.
 */
final class CudaTensor implements Tensor {
    private final CudaBackend backend;
    private final int[] shape;
    private final DType dtype;
    private final long numel;
    private final int bucket;
    /** the workspace scope's record of this allocation, or null (allocated outside any scope) */
    private final WorkspaceArena<Long>.Grant grant;
    private long address;

    CudaTensor(CudaBackend backend, long address, int bucket, WorkspaceArena<Long>.Grant grant, DType dtype,
               int[] shape) {
        this.backend = backend;
        this.address = address;
        this.bucket = bucket;
        this.grant = grant;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.numel = Shapes.numel(shape);
    }

    /** The device address; throws when closed. */
    long ptr() {
        if (address == 0) {
            throw new IllegalStateException("tensor " + dtype + Arrays.toString(shape) + " is closed");
        }
        return address;
    }

    long bytes() {
        return numel * dtype.bytes();
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
        return address == 0;
    }

    @Override
    public synchronized void close() {
        if (address != 0) {
            if (bucket >= 0) {
                // bucket < 0: memory in a workspace slab, or a view over another tensor's memory
                backend.release(address, bucket);
            }
            if (grant != null) {
                grant.release();
            }
            address = 0;
        }
    }

    @Override
    public String toString() {
        return "CudaTensor(" + dtype + Arrays.toString(shape) + ")";
    }
}
