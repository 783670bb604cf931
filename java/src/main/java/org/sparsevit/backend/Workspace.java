package org.sparsevit.backend;

/**
 * A workspace scope on a backend ({@link Backend#workspace}): the device memory of the tensors allocated on
 * this thread inside it is planned once per key and afterwards handed out from one slab.
 *
 * <pre>
 * try (Workspace w = backend.workspace(key)) {
 *     ... allocate, compute, close temporaries ...
 *     w.finished();   // the work ran to its end: a first run's recording may be planned
 * }
 * </pre>
 *
 * Closing a scope without {@link #finished()} (an exception left it) discards what a first run recorded.
 * Scopes do not nest: a scope opened inside another joins the outer one (it is a no-op).
 */
public interface Workspace extends AutoCloseable {

    /** The scope of backends without a workspace arena: does nothing. */
    Workspace NONE = () -> {
    };

    /** Marks the scoped work as complete; call it just before the scope closes normally. */
    default void finished() {
    }

    @Override
    void close();
}
