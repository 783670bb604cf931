package org.sparsevit.backend;

import java.util.List;

import org.sparsevit.tensor.Tensor;

/**
 * A captured sequence of device work (a CUDA graph) that can be replayed without host work. Closing it
 * releases its outputs and the memory it holds.
 */
public interface Captured extends AutoCloseable {

    /** Enqueues the captured work again (asynchronous; synchronise the backend to wait). */
    void replay();

    /** What the captured work returned; every replay rewrites these tensors. */
    List<Tensor> outputs();

    @Override
    void close();
}
