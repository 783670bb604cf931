package org.sparsevit.search;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.SparseVitException;

/**
 * The search's JSON-lines log, kept so that a resumed search leaves exactly the file an uninterrupted
 * one would have written.
 *
 * <p>A resumed search replays its run from the start and hands every line to {@link #write} again. While
 * those lines equal the existing ones they are only confirmed, not written. At the first difference (the
 * summary line of a generation the budget had cut short, or a line cut off by a crash) the rest of the old
 * file is dropped and writing continues from there. If the part that would be dropped still holds
 * evaluations (a resumed run given a smaller budget than the log's: its last generation's summary line comes
 * where the log goes on with that generation's candidates), the file is left as it is and no more lines are
 * written: the log then describes the longer run, of which this run is a prefix. Any other difference before
 * the log's last evaluation means the log is not this run's (another version of the search, or an edited file):
 * that is an error, and the file is left as it is.
 */
final class SearchLog implements AutoCloseable {
    private static final ObjectMapper OM = new ObjectMapper();

    /** A line of the existing file: its text, byte offset, whether it ended with a newline, and its JSON. */
    private record Line(String text, long offset, boolean complete, JsonNode json) {
    }

    private enum Mode { MATCHING, APPENDING, FROZEN }

    private final Path file;
    private final List<Line> old = new ArrayList<>();
    private int next;
    private Mode mode = Mode.MATCHING;
    private BufferedWriter out;

    /** Opens {@code file}; an existing file is read for resuming (nothing is changed yet). */
    SearchLog(Path file) {
        this.file = file;
        if (!Files.exists(file)) {
            return;
        }
        byte[] b;
        try {
            b = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new SparseVitException("search log " + file + ": cannot read (" + e.getMessage() + ")", e);
        }
        int start = 0;
        while (start < b.length) {
            int end = start;
            while (end < b.length && b[end] != '\n') {
                end++;
            }
            boolean complete = end < b.length;
            String text = new String(b, start, end - start, StandardCharsets.UTF_8);
            JsonNode json = null;
            if (complete) {
                try {
                    json = OM.readTree(text);
                } catch (IOException e) {
                    throw new SparseVitException("search log " + file + ": line " + (old.size() + 1)
                            + " is not JSON; give a new log file or repair this one");
                }
            }
            old.add(new Line(text, start, complete, json));
            start = end + 1;
        }
    }

    /**
     * The JSON of the existing file's complete lines (a line cut off at the end is left out), for
     * loading evaluations; the first one is the header.
     */
    List<JsonNode> existing() {
        List<JsonNode> l = new ArrayList<>();
        for (Line x : old) {
            if (x.complete()) {
                l.add(x.json());
            }
        }
        return l;
    }

    /**
     * Writes or checks the header line. Throws when the existing file was written by a search with
     * another header, naming the fields that differ.
     */
    void header(ObjectNode header) {
        if (!old.isEmpty() && old.get(0).complete() && !old.get(0).text().equals(header.toString())) {
            JsonNode was = old.get(0).json();
            StringBuilder diff = new StringBuilder();
            for (Iterator<String> it = header.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!header.get(f).equals(was.get(f))) {
                    diff.append(diff.isEmpty() ? "" : "; ").append(f).append(": ")
                            .append(was.has(f) ? text(was.get(f)) : "(absent)").append(" in the log, ")
                            .append(text(header.get(f))).append(" now");
                }
            }
            throw new SparseVitException("search log " + file + " was written by a search with other options ("
                    + (diff.isEmpty() ? "another header" : diff) + "); resume with the same options or give a new"
                    + " log file");
        }
        write(header);
    }

    private static String text(JsonNode n) {
        return n.isTextual() ? n.asText() : n.toString();
    }

    /** Confirms or writes one line (see the class comment). */
    void write(ObjectNode line) {
        String text = line.toString();
        try {
            if (mode == Mode.MATCHING) {
                if (next < old.size() && old.get(next).complete() && (old.get(next).text().equals(text)
                        || old.get(next).json() != null && old.get(next).json().equals(NUMERIC, line))) {
                    next++;
                    return;
                }
                if (holdsEvaluations(next)) {
                    Line was = old.get(next);
                    String type = was.complete() && was.json() != null ? was.json().path("type").asText() : "";
                    if (line.path("type").asText().equals("generation")
                            && (type.equals("candidate") || type.equals("latency"))) {
                        mode = Mode.FROZEN;
                        return;
                    }
                    throw new SparseVitException("search log " + file + ": line " + (next + 1) + " is not what this"
                            + " run gives there (" + difference(was, line) + "), and evaluations follow it: the log"
                            + " was written by another version of the search or with other inputs (a latency"
                            + " model or evaluator that describes itself the same), or edited; it was left as it"
                            + " is; give a new log file");
                }
                startAppending();
            }
            if (mode == Mode.APPENDING) {
                out.write(text);
                out.write('\n');
                out.flush();
            }
        } catch (IOException e) {
            throw new SparseVitException("search log " + file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    /** Equal JSON, numbers compared by value (a log rewritten by another tool may spell 5.0 as 5). */
    private static final java.util.Comparator<JsonNode> NUMERIC = (a, b) -> {
        if (a.equals(b)) {
            return 0;
        }
        if (a.isNumber() && b.isNumber()) {
            return Double.compare(a.asDouble(), b.asDouble());
        }
        return 1;
    };

    private static String abbreviate(String line) {
        return line.length() <= 160 ? line : line.substring(0, 157) + "...";
    }

    /** The first field in which an old line and this run's differ, or both lines (shortened) if not JSON objects. */
    private static String difference(Line was, ObjectNode now) {
        JsonNode old = was.json();
        if (old != null && old.isObject()) {
            for (Iterator<String> it = now.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!now.get(f).equals(old.get(f))) {
                    return "\"" + f + "\": " + (old.has(f) ? old.get(f) : "absent") + " in the log, " + now.get(f)
                            + " in this run, in a " + now.path("type").asText() + " line";
                }
            }
            for (Iterator<String> it = old.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!now.has(f)) {
                    return "\"" + f + "\": " + old.get(f) + " in the log, absent in this run";
                }
            }
        }
        return "the log has " + abbreviate(was.text()) + ", this run " + abbreviate(now.toString());
    }

    /** Whether the existing log goes further than the lines written so far (and is left as it is). */
    boolean goesFurther() {
        return mode == Mode.FROZEN || (mode == Mode.MATCHING && holdsEvaluations(next));
    }

    private boolean holdsEvaluations(int from) {
        for (int i = from; i < old.size(); i++) {
            Line x = old.get(i);
            if (x.complete() && x.json() != null) {
                String type = x.json().path("type").asText();
                if (type.equals("candidate") || type.equals("latency")) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Drops the old lines from {@code next} on and opens the file for appending. */
    private void startAppending() throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        if (next < old.size()) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(old.get(next).offset());
            }
        }
        out = new BufferedWriter(new OutputStreamWriter(Files.newOutputStream(file, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND), StandardCharsets.UTF_8));
        mode = Mode.APPENDING;
    }

    @Override
    public void close() {
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                throw new SparseVitException("search log " + file + ": cannot close (" + e.getMessage() + ")", e);
            }
        }
    }
}
