package org.sparsevit.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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

/** Writes benchmark rows as JSON, a Markdown table and PNG plots; reads peers' rows of the same form. */
public final class Report {
    private Report() {
    }

    public static ObjectMapper mapper() {
        return new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(SerializationFeature.INDENT_OUTPUT);
    }

    public static void writeJson(Path file, List<BenchResult> rows) {
        try {
            mkdirs(file);
            mapper().writeValue(file.toFile(), rows);
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    /** The outcome of every case of a run (measured, failed, skipped) as a JSON array. */
    public static void writeOutcomes(Path file, List<Benchmark.Outcome> outcomes) {
        try {
            mkdirs(file);
            mapper().writeValue(file.toFile(), outcomes);
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    /** Rows from a JSON array (ours or a peer's: at least impl, arch, size, batch, precision, sparsity, p50_ms). */
    public static List<BenchResult> readJson(Path file) {
        JsonNode arr;
        try {
            arr = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot read benchmark rows (" + e.getMessage() + ")", e);
        }
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
        for (JsonNode n : arr) {
            if (!n.isObject() || !n.has("p50_ms") || !n.has("size")) {
                throw new SparseVitException(where + ": a row without size or p50_ms: " + abbreviate(n.toString()));
            }
            out.add(new BenchResult(n.path("impl").asText("?"), n.path("arch").asText(), n.path("task").asText(),
                    n.path("size").asText(), n.path("batch").asInt(), n.path("precision").asText(),
                    n.path("backend").asText(), n.path("device").asText(), n.path("sparsity").asText("dense"),
                    n.path("gmacs").asDouble(), n.path("p50_ms").asDouble(), n.path("p90_ms").asDouble(),
                    n.path("p99_ms").asDouble(), n.path("mean_ms").asDouble(), n.path("images_per_s").asDouble(),
                    n.path("iters").asInt(), doubles(n.path("stages_ms")), doubles(n.path("ops_ms")),
                    longs(n.path("memory"))));
        }
        return out;
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
