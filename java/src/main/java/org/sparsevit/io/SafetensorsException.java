package org.sparsevit.io;

import org.sparsevit.SparseVitException;

/** A weights file that is not a valid safetensors file, or does not fit the model: the message says where. */
public class SafetensorsException extends SparseVitException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
