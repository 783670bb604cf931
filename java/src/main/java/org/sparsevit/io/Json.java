package org.sparsevit.io;

import java.io.IOException;
import java.nio.file.Path;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.sparsevit.SparseVitException;

/**
 * Reading the JSON files users hand us (sparsity configurations, latency tables, results, rows): strict about what
 * follows the value (trailing content is an error, not ignored), and with one-line errors that name the line and
 * column, never the parser's multi-line source excerpt.
 */
public final class Json {
    private static final ObjectMapper STRICT = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Json() {
    }

    /**
     * The JSON value of a file; a SparseVitException names the file, what it was read as ({@code what}, e.g.
     * "latency table") and the problem.
     */
    public static JsonNode read(Path file, String what) {
        try {
            return STRICT.readTree(file.toFile());
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot read the " + what + " (" + problem(e) + ")", e);
        }
    }

    /** The JSON value of a text; a SparseVitException says what it was read as and the problem. */
    public static JsonNode parse(String text, String what) {
        try {
            return STRICT.readTree(text);
        } catch (IOException e) {
            throw new SparseVitException(what + ": " + problem(e), e);
        }
    }

    /** An I/O or parse error in one line: "not valid JSON at line L, column C (reason)" or the I/O message. */
    public static String problem(IOException e) {
        if (e instanceof JsonProcessingException j) {
            String at = j.getLocation() == null ? "" : " at line " + j.getLocation().getLineNr() + ", column "
                    + j.getLocation().getColumnNr();
            return "not valid JSON" + at + ": " + j.getOriginalMessage();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
