package org.sparsevit.io;

import org.sparsevit.SparseVitException;

/** A .npy file that cannot be read: the message names the file and the problem. */
public class NpyException extends SparseVitException {
    public NpyException(String message) {
        super(message);
    }

    public NpyException(String message, Throwable cause) {
        super(message, cause);
    }
}
