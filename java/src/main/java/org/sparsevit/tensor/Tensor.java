package org.sparsevit.tensor;

import org.sparsevit.backend.Backend;

/**
 * A dense, row-major tensor owned by a {@link Backend} (host memory for the CPU backend, device memory
 * for CUDA). Tensors are created by their backend and must be closed; using a closed tensor throws
 * {@link IllegalStateException}. Read values back with {@link Backend#download(Tensor)}.
 */
public interface Tensor extends AutoCloseable {

    /** A copy of the shape, outermost first. */
    int[] shape();

    /** Size of dimension i; negative i counts from the end. */
    int dim(int i);

    int rank();

    long numel();

    DType dtype();

    Backend backend();

    boolean isClosed();

    /** Releases the memory (returns it to the backend's pool). Idempotent. */
    @Override
    void close();
}
