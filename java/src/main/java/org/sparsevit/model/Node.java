package org.sparsevit.model;

/**
 * A part of a Swin model that can describe itself: the graph API is a list of these
 * (patch embedding, stages, patch merging, output norms, head).
 */
public interface Node extends AutoCloseable {

    /** Name in the model, e.g. "stage2" or "merge1". */
    String name();

    /** Releases the node's weights on the backend. */
    @Override
    void close();
}
