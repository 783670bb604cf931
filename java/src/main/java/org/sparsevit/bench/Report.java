package org.sparsevit.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import javax.imageio.ImageIO;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;

import org.sparsevit.SparseVitException;

/** Writes benchmark rows as JSON, a Markdown table and PNG plots; reads peers' rows of the same form. */
public final class Report {
    private Report() {
    }

    static ObjectMapper mapper() {
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

    /** Rows from a JSON array (ours or a peer's: at least impl, arch, size, batch, precision, sparsity, p50_ms). */
    public static List<BenchResult> readJson(Path file) {
        try {
            JsonNode arr = new ObjectMapper().readTree(file.toFile());
            List<BenchResult> out = new ArrayList<>();
            for (JsonNode n : arr) {
                out.add(new BenchResult(n.path("impl").asText("?"), n.path("arch").asText(), n.path("task").asText(),
                        n.path("size").asText(), n.path("batch").asInt(), n.path("precision").asText(),
                        n.path("backend").asText(), n.path("device").asText(), n.path("sparsity").asText("dense"),
                        n.path("gmacs").asDouble(), n.path("p50_ms").asDouble(), n.path("p90_ms").asDouble(),
                        n.path("p99_ms").asDouble(), n.path("mean_ms").asDouble(), n.path("images_per_s").asDouble(),
                        n.path("iters").asInt(), Map.of(), Map.of()));
            }
            return out;
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot read benchmark rows (" + e.getMessage() + ")", e);
        }
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
        }
        return sb.toString();
    }

    /** latency_vs_sparsity.png, speedup_over_dense.png and, when peers are given, ours_vs_peers.png. */
    public static List<Path> plots(Path dir, List<BenchResult> ours, List<BenchResult> peers) {
        List<Path> written = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            Map<String, List<double[]>> lat = new LinkedHashMap<>();
            Map<String, Double> dense = new LinkedHashMap<>();
            for (BenchResult r : ours) {
                if (r.sparsity().equals("dense")) {
                    dense.put(key(r), r.p50Ms());
                }
            }
            for (BenchResult r : ours) {
                Double d = dense.get(key(r));
                double macsFrac = r.gmacs();
                lat.computeIfAbsent(key(r), k -> new ArrayList<>()).add(new double[]{macsFrac, r.p50Ms()});
            }
            Path p1 = dir.resolve("latency_vs_sparsity.png");
            ImageIO.write(Charts.line("Latency vs executed GMACs (each point a sparsity config)", "GMACs per pass",
                    "p50 latency (ms)", lat), "png", p1.toFile());
            written.add(p1);
            List<String> labels = new ArrayList<>();
            List<Double> vals = new ArrayList<>();
            List<Integer> groups = new ArrayList<>();
            List<String> keys = new ArrayList<>(dense.keySet());
            for (BenchResult r : ours) {
                Double d = dense.get(key(r));
                if (d != null && !r.sparsity().equals("dense")) {
                    labels.add(r.size() + " b" + r.batch() + " " + r.precision() + " " + shortLabel(r.sparsity()));
                    vals.add(d / r.p50Ms());
                    groups.add(keys.indexOf(key(r)));
                }
            }
            Path p2 = dir.resolve("speedup_over_dense.png");
            ImageIO.write(Charts.bars("Speedup over dense (p50)", "x faster than dense", labels,
                    vals.stream().mapToDouble(Double::doubleValue).toArray(),
                    groups.stream().mapToInt(Integer::intValue).toArray()), "png", p2.toFile());
            written.add(p2);
            if (peers != null && !peers.isEmpty()) {
                List<BenchResult> all = new ArrayList<>(ours);
                all.addAll(peers);
                all.sort((a, b) -> (a.arch() + a.size() + a.batch() + a.precision() + a.sparsity() + a.impl())
                        .compareTo(b.arch() + b.size() + b.batch() + b.precision() + b.sparsity() + b.impl()));
                List<String> impls = all.stream().map(BenchResult::impl).distinct().toList();
                List<String> pl = new ArrayList<>();
                double[] pv = new double[all.size()];
                int[] pg = new int[all.size()];
                for (int i = 0; i < all.size(); i++) {
                    BenchResult r = all.get(i);
                    pl.add(r.impl() + " " + r.size() + " b" + r.batch() + " " + r.precision() + " " + shortLabel(r.sparsity()));
                    pv[i] = r.imagesPerS();
                    pg[i] = impls.indexOf(r.impl());
                }
                Path p3 = dir.resolve("ours_vs_peers.png");
                ImageIO.write(Charts.bars("Throughput: SparseViT-J vs peers", "images/s", pl, pv, pg), "png", p3.toFile());
                written.add(p3);
            }
        } catch (IOException e) {
            throw new SparseVitException(dir + ": cannot write plots (" + e.getMessage() + ")", e);
        }
        return written;
    }

    private static String shortLabel(String s) {
        return s.length() > 28 ? s.substring(0, 25) + "..." : s;
    }

    private static String key(BenchResult r) {
        return r.arch() + " " + r.task() + " " + r.size() + " b" + r.batch() + " " + r.precision() + " " + r.backend();
    }

    private static void mkdirs(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
    }
}
