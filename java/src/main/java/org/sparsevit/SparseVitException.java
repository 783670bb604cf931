package org.sparsevit;

/**
 * A problem the user can fix: bad input, a corrupt file, an invalid configuration, a missing GPU.
 * The message is complete on its own (it names the file, tensor, stage or option concerned); the
 * command line prints it as one line without a stack trace.
 */
public class SparseVitException extends RuntimeException {
    public SparseVitException(String message) {
        super(message);
    }

    public SparseVitException(String message, Throwable cause) {
        super(message, cause);
    }
}
