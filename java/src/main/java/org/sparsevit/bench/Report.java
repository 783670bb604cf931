package org.sparsevit.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;

import org.sparsevit.SparseVitException;
import org.sparsevit.sparse.SparsityConfig;

/** Writes benchmark rows as JSON, a Markdown table and PNG plots; reads peers' rows of the same form. */
public final class Report {
    private Report() {
    }

    public static ObjectMapper mapper() {
        return new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(SerializationFeature.INDENT_OUTPUT);
    }

    public static void writeJson(Path file, List<BenchResult> rows) {
        write(file, rows);
    }

    /** The outcome of every case of a run (measured, failed, skipped) as a JSON array. */
    public static void writeOutcomes(Path file, List<Benchmark.Outcome> outcomes) {
        write(file, outcomes);
    }

    private static void write(Path file, Object value) {
        byte[] bytes;
        try {
            bytes = mapper().writeValueAsBytes(value);
        } catch (IOException e) {
            throw new SparseVitException("cannot write " + file + " (" + e.getMessage() + ")", e);
        }
        writeAtomically(file, bytes);
    }

    /** Writes a text file (the Markdown report), as {@link #writeJson} does. */
    public static void writeText(Path file, String text) {
        writeAtomically(file, text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Writes a whole file through a temporary file beside it, moved over the old one, so that a run killed while
     * writing (the bundle's time limits) leaves the previous version rather than a truncated file.
     */
    private static void writeAtomically(Path file, byte[] bytes) {
        Path tmp = null;
        try {
            mkdirs(file);
            Path abs = file.toAbsolutePath();
            // (not createTempFile: the file keeps the usual permissions)
            tmp = abs.resolveSibling("." + abs.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
            Files.write(tmp, bytes);
            try {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new SparseVitException("cannot write " + file + " (" + reason(e) + ")", e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the failure above is the one to report
                }
            }
        }
    }

    /** An I/O error in a few words: the message without the path the caller names anyway. */
    private static String reason(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof FileAlreadyExistsException f) {
            return f.getFile() + " exists and is not a directory";
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /**
     * Checks, before any work, that {@code file} can be written as a file: not a directory, writable if it exists,
     * and otherwise its nearest existing ancestor a writable directory (the missing ones are created on writing).
     * {@code option} names it in the error ("--json").
     */
    public static void checkWritableFile(String option, Path file) {
        Path abs = file.toAbsolutePath().normalize();
        if (Files.isDirectory(abs)) {
            throw new SparseVitException("cannot write " + option + " " + file + " (it is a directory, not a file)");
        }
        if (Files.exists(abs)) {
            if (!Files.isRegularFile(abs)) {
                throw new SparseVitException("cannot write " + option + " " + file + " (it exists and is not a regular file)");
            }
            if (!Files.isWritable(abs)) {
                throw new SparseVitException("cannot write " + option + " " + file + " (it is not writable)");
            }
        }
        checkAncestor(option, file, abs.getParent());
    }

    /** As {@link #checkWritableFile} for a directory to write files into ({@code --plots}). */
    public static void checkWritableDir(String option, Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs)) {
            if (!Files.isDirectory(abs)) {
                throw new SparseVitException("cannot write " + option + " " + dir + " (it is a file, not a directory)");
            }
            if (!Files.isWritable(abs)) {
                throw new SparseVitException("cannot write " + option + " " + dir + " (the directory is not writable)");
            }
            return;
        }
        checkAncestor(option, dir, abs.getParent());
    }

    private static void checkAncestor(String option, Path target, Path parent) {
        Path p = parent;
        while (p != null && !Files.exists(p)) {
            p = p.getParent();
        }
        if (p == null) {
            return;
        }
        if (!Files.isDirectory(p)) {
            throw new SparseVitException("cannot write " + option + " " + target + " (" + p
                    + " is a file, not a directory)");
        }
        if (!Files.isWritable(p)) {
            throw new SparseVitException("cannot write " + option + " " + target + " (directory " + p
                    + " is not writable)");
        }
    }

    /** Rows from a JSON array (ours or a peer's: at least impl, arch, size, batch, precision, sparsity, p50_ms). */
    public static List<BenchResult> readJson(Path file) {
        if (!Files.exists(file)) {
            throw new SparseVitException(file + ": cannot read benchmark rows (no such file)");
        }
        if (Files.isDirectory(file)) {
            throw new SparseVitException(file + ": cannot read benchmark rows (it is a directory)");
        }
        JsonNode arr;
        arr = org.sparsevit.io.Json.read(file, "benchmark rows");
        return rows(arr, file.toString());
    }

    /** Rows from a JSON array node ({@code where} names it in errors); a missing node gives no rows. */
    public static List<BenchResult> rows(JsonNode arr, String where) {
        List<BenchResult> out = new ArrayList<>();
        if (arr == null || arr.isMissingNode() || arr.isNull()) {
            return out;
        }
        if (!arr.isArray()) {
            throw new SparseVitException(where + ": expected a JSON array of benchmark rows");
        }
        int index = 0;
        for (JsonNode n : arr) {
            if (!n.isObject() || !n.has("p50_ms") || !n.has("size")) {
                throw new SparseVitException(where + ": a row without size or p50_ms: " + abbreviate(n.toString()));
            }
            // timings and counts must be numbers: "fast" or -5 would be read as 0 or taken as measured
            String row = where + ": row " + index++ + " (" + n.path("impl").asText("?") + " " + n.path("size").asText()
                    + " " + n.path("sparsity").asText("dense") + ")";
            for (String k : new String[]{"p50_ms", "p90_ms", "p99_ms", "mean_ms", "gmacs", "images_per_s", "batch", "iters",
                    "host_p50_ms"}) {
                JsonNode v = n.get(k);
                if (v == null || v.isNull() && !k.equals("p50_ms")) {
                    continue;
                }
                boolean positive = k.equals("p50_ms") || k.equals("batch");
                boolean integer = k.equals("batch") || k.equals("iters");
                double d = v.isNumber() ? v.asDouble() : Double.NaN;
                if (!Double.isFinite(d) || (positive ? d <= 0 : d < 0) || integer && !(v.canConvertToInt() && d == Math.rint(d))) {
                    throw new SparseVitException(row + ": " + k + " " + abbreviate(v.toString()) + " is not a "
                            + (positive ? "positive" : "non-negative") + (integer ? " integer" : " number"));
                }
            }
            // the case: what the report groups, pairs and titles rows by ("### : x  abc b0" otherwise)
            if (!n.has("batch") || n.get("batch").isNull()) {
                throw new SparseVitException(row + ": no batch (the images per pass, a positive integer)");
            }
            for (String k : new String[]{"arch", "precision"}) {
                JsonNode v = n.get(k);
                if (v == null || !v.isTextual() || v.asText().isBlank()) {
                    throw new SparseVitException(row + ": " + (v == null || v.isNull() ? "no " + k
                            : k + " " + abbreviate(v.toString()) + " is not a name") + " (e.g. "
                            + (k.equals("arch") ? "swin-t" : "fp32") + ")");
                }
            }
            JsonNode size = n.get("size");
            if (!size.isTextual() || !isSize(size.asText())) {
                throw new SparseVitException(row + ": size " + abbreviate(size.toString())
                        + " is not HxW with positive integers (e.g. \"224x224\")");
            }
            JsonNode sp = n.get("sparsity");
            if (sp != null && !sp.isNull() && (!sp.isTextual() || !isSparsityLabel(sp.asText()))) {
                throw new SparseVitException(row + ": sparsity " + abbreviate(sp.toString()) + " is not dense,"
                        + " uniform:R, paper-1..3, a compact form (e.g. 0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0), inline"
                        + " JSON or a .json file name (ratios in [0, 1])");
            }
            out.add(new BenchResult(n.path("impl").asText("?"), n.path("arch").asText(), n.path("task").asText(),
                    n.path("size").asText(), n.path("batch").asInt(), n.path("precision").asText(),
                    n.path("backend").asText(), n.path("device").asText(), n.path("sparsity").asText("dense"),
                    n.path("gmacs").asDouble(), n.path("p50_ms").asDouble(), n.path("p90_ms").asDouble(),
                    n.path("p99_ms").asDouble(), n.path("mean_ms").asDouble(), n.path("images_per_s").asDouble(),
                    n.path("iters").asInt(), doubles(n.path("stages_ms")), doubles(n.path("ops_ms")),
                    longs(n.path("memory")), n.path("host_p50_ms").isNumber() ? n.get("host_p50_ms").asDouble() : null));
        }
        return out;
    }

    /** A row's size: "HxW" with positive integers, as bench and the peers' scripts write it. */
    static boolean isSize(String s) {
        java.util.regex.Matcher m = SIZE.matcher(s);
        if (!m.matches()) {
            return false;
        }
        try {
            return Integer.parseInt(m.group(1)) > 0 && Integer.parseInt(m.group(2)) > 0;
        } catch (NumberFormatException e) {
            return false;   // beyond an int
        }
    }

    private static final java.util.regex.Pattern SIZE = java.util.regex.Pattern.compile("(\\d+)x(\\d+)");

    /**
     * A row's sparsity as bench labels it (the --sparsity given): dense, uniform:R, paper-1..3, a compact form, inline
     * JSON, or the name of a JSON file (not read here: the rows may come from another machine). Ratios are in [0, 1].
     */
    static boolean isSparsityLabel(String label) {
        String s = label.strip();
        String lower = s.toLowerCase(Locale.ROOT);
        if (lower.equals("dense") || SparsityConfig.PAPER.containsKey(lower)) {
            return true;
        }
        if (lower.endsWith(".json") && !s.startsWith("{")) {
            return true;
        }
        try {
            SparsityConfig c;
            if (lower.startsWith("uniform:")) {
                c = SparsityConfig.uniform(new int[]{1}, org.sparsevit.Numbers.decimal(s.substring(8)));
            } else if (s.startsWith("{")) {
                c = SparsityConfig.parseJson(s);
            } else {
                c = SparsityConfig.parseCompact(s);
            }
            for (double[] stage : c.ratios()) {
                for (double r : stage) {
                    if (!(r >= 0 && r <= 1)) {
                        return false;
                    }
                }
            }
            return true;
        } catch (NumberFormatException | SparseVitException e) {
            return false;
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    private static Map<String, Double> doubles(JsonNode obj) {
        Map<String, Double> m = new LinkedHashMap<>();
        obj.fields().forEachRemaining(e -> {
            if (e.getValue().isNumber()) {
                m.put(e.getKey(), e.getValue().asDouble());
            }
        });
        return m;
    }

    private static Map<String, Long> longs(JsonNode obj) {
        Map<String, Long> m = new LinkedHashMap<>();
        obj.fields().forEachRemaining(e -> {
            if (e.getValue().isNumber()) {
                m.put(e.getKey(), e.getValue().asLong());
            }
        });
        return m;
    }

    public static String markdown(List<BenchResult> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append("| impl | arch | task | size | batch | precision | backend | sparsity | GMACs | p50 ms | p90 ms | p99 ms | images/s |\n");
        sb.append("| --- | --- | --- | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
        for (BenchResult r : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %d | %s | %s | %s | %.2f | %.3f | %.3f | %.3f | %.1f |%n",
                    r.impl(), r.arch(), r.task(), r.size(), r.batch(), r.precision(), r.backend(), r.sparsity(), r.gmacs(),
                    r.p50Ms(), r.p90Ms(), r.p99Ms(), r.imagesPerS()));
        }
        return sb.toString();
    }

    /** Per-node and per-op breakdown tables of our rows. */
    public static String breakdown(List<BenchResult> rows) {
        StringBuilder sb = new StringBuilder();
        for (BenchResult r : rows) {
            if (r.stagesMs() == null || r.stagesMs().isEmpty()) {
                continue;
            }
            sb.append(String.format(Locale.ROOT, "%n#### %s %s %s b%d %s %s%n%n", r.arch(), r.task(), r.size(), r.batch(),
                    r.precision(), r.sparsity()));
            sb.append("| node | ms |\n| --- | ---: |\n");
            r.stagesMs().forEach((k, v) -> sb.append(String.format(Locale.ROOT, "| %s | %.3f |%n", k, v)));
            sb.append("\n| op | ms per pass |\n| --- | ---: |\n");
            r.opsMs().entrySet().stream().sorted((a, b) -> Double.compare(b.getValue(), a.getValue()))
                    .forEach(e -> sb.append(String.format(Locale.ROOT, "| %s | %.3f |%n", e.getKey(), e.getValue())));
            if (r.hostP50Ms() != null) {
                sb.append(String.format(Locale.ROOT, "%nhost to host (float32 upload, pass, float32 download): p50 %.3f ms%n",
                        r.hostP50Ms()));
            }
            if (r.memory() != null && !r.memory().isEmpty()) {
                sb.append("\nmemory: ");
                r.memory().forEach((k, v) -> sb.append(k).append(' ').append(v).append("; "));
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    private static void mkdirs(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
    }
}
