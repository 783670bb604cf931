package org.sparsevit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sparsevit report} on a synthetic run-gpu.sh output, and {@code bench}'s time budget and case log. */
class ReportCommandTest {
    @TempDir
    Path tmp;

    static String row(String impl, String task, String size, int batch, String prec, String sp, double gmacs,
                      double p50, String ops) {
        return String.format(java.util.Locale.ROOT, "{\"impl\": \"%s\", \"arch\": \"swin-t\", \"task\": \"%s\", \"size\": \"%s\","
                        + " \"batch\": %d, \"precision\": \"%s\", \"backend\": \"cuda\", \"device\": \"NVIDIA H100 80GB HBM3\","
                        + " \"sparsity\": \"%s\", \"gmacs\": %s, \"p50_ms\": %s, \"p90_ms\": %s, \"p99_ms\": %s, \"mean_ms\": %s,"
                        + " \"images_per_s\": %s, \"iters\": 100, \"ops_ms\": {%s}}", impl, task, size, batch, prec, sp, gmacs,
                p50, p50, p50, p50, batch * 1000.0 / p50, ops);
    }

    @Test
    @Tag("awt")
    void reportOfASyntheticGpuRun() throws Exception {
        Path in = tmp.resolve("gpu");
        Files.createDirectories(in);
        String rows = String.join(",\n",
                row("sparsevit-j (graph)", "classification", "224x224", 64, "fp16", "dense", 287.4, 2.5, ""),
                row("sparsevit-j (graph)", "backbone", "672x672", 4, "fp16", "dense", 161.8, 4.0, ""),
                row("sparsevit-j (graph)", "backbone", "672x672", 4, "fp16", "uniform:0.6", 70.0, 2.4,
                        "\"gatherWindows\": 0.05, \"scatterWindows\": 0.05, \"linear\": 1.2"),
                row("sparsevit-j (graph)", "backbone", "672x672", 4, "fp16", "paper-3", 116.0, 2.5,
                        "\"tokenImportance\": 0.01, \"gatherWindows\": 0.06, \"scatterWindows\": 0.06, \"linear\": 1.5"));
        String peers = String.join(",\n",
                row("timm-compile", "backbone", "672x672", 4, "fp16", "dense", 0, 7.0, ""),
                row("timm-eager", "backbone", "672x672", 4, "fp16", "dense", 0, 20.0, ""),
                row("pytorch-sparsevit-eager", "backbone", "672x672", 4, "fp16", "uniform:0.6", 0, 15.0, ""));
        Files.writeString(in.resolve("results.json"), "{\"date\": \"2026-11-23T10:00:00Z\", \"device\": \"NVIDIA H100 80GB HBM3\","
                + " \"driver\": \"580.65\", \"cuda\": \"13.0\", \"commit\": \"abc\", \"tests_passed\": 120, \"tests_failed\": 0,"
                + " \"tests_skipped\": 2, \"rows\": [" + rows + "], \"peers\": [" + peers + "],"
                + " \"latency_table\": {\"arch\": \"swin-t\", \"task\": \"backbone\", \"size\": \"672x672\", \"batch\": 4,"
                + " \"precision\": \"fp16\", \"device\": \"NVIDIA H100 80GB HBM3\", \"dense_ms\": 4.0, \"rounds\": 1, \"iters\": 50,"
                + " \"build_seconds\": 60, \"mode\": \"graph replay\", \"validated\": 2, \"mean_error\": 0.021, \"max_error\": 0.03,"
                + " \"validation\": [{\"sparsity\": \"0,0/0,0/0,0,0,0,0,0/0,0\", \"predicted_ms\": 4.0, \"measured_ms\": 3.9, \"error\": 0.0256}]},"
                + " \"search\": {\"compact\": \"0.5,0.5/0,0/0.2,0.2,0.4,0.4,0.4,0.4/0,0\", \"score\": 0.97, \"gmacs\": 110,"
                + " \"latency_ms\": 2.4, \"candidates\": 800, \"generations\": 9}, \"search_window\": \"2.200:2.600\","
                + " \"search_measured\": {\"trimmed_mean_ms\": 2.45, \"p50_ms\": 2.45, \"min_ms\": 2.4, \"max_ms\": 2.6},"
                + " \"stages\": [{\"name\": \"bench\", \"status\": \"ok\", \"seconds\": 250, \"budget\": 320, \"note\": \"4 rows\"}],"
                + " \"cases\": [{\"label\": \"swin-b cls 224x224 b64 fp16 dense\", \"status\": \"skipped\", \"reason\": \"time budget\"}]}");
        Path out = tmp.resolve("report");
        CliTest.Result r = CliTest.run("report", in.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        // met: b64 throughput (25,600), vs eager (5x), paper-3 (1.6x), overhead (3.25%); missed: vs compile (1.75x),
        // uniform 0.6 (0.6x dense); not measured: b1 latency and the two CPU targets
        assertTrue(r.out().contains("targets: 4 met, 2 missed, 3 not measured"), r.out());
        String md = Files.readString(out.resolve("README.md"));
        assertTrue(md.contains("| device | NVIDIA H100 80GB HBM3 |"), md);
        assertTrue(md.contains("120 passed, 0 failed, 2 skipped"), md);
        // 2 x 287.4 GMACs / 2.5 ms = 229.9 TFLOP/s, 23.2% of the H100 SXM5's 989.5 dense FP16
        assertTrue(md.contains("| 229.9 (23.2%) |"), md);
        assertTrue(md.contains("H100 SXM5: FP32 67.0, TF32 494.5, FP16/BF16 989.5 TFLOP/s"), md);
        assertTrue(md.contains("| timm-compile | dense | 161.80 | 7.000 |"), "a peer gets our GMACs: " + md);
        assertTrue(md.contains("Prediction error against direct measurement over 2 random configurations: mean **2.10%**"), md);
        assertTrue(md.contains("(inside the window)"), md);
        assertTrue(md.contains("- skipped: time budget (1): swin-b cls 224x224 b64 fp16 dense"), md);
        for (String png : new String[]{"latency_vs_sparsity_backbone_672x672.png", "speedup_over_dense.png",
            "ours_vs_peers.png"}) {
            assertTrue(Files.size(out.resolve(png)) > 1000, png);
            assertTrue(md.contains("](" + png + ")"), png);
        }
        JsonNode j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(4, j.get("rows").size());
        assertEquals(3, j.get("peers").size());
        assertEquals(9, j.get("targets").size());
        JsonNode compile = null;
        for (JsonNode t : j.get("targets")) {
            if (t.get("id").asText().equals("backbone672-vs-timm-compile")) {
                compile = t;
            }
        }
        assertEquals("missed", compile.get("status").asText());
        assertEquals(1.75, compile.get("measured").asDouble(), 1e-9);
        assertEquals("H100 SXM5", j.get("gpu_peaks").get("model").asText());
        assertFalse(md.contains("NaN"), md);
    }

    static String part(int passed, int failed, int aborted, String source) {
        return String.format(java.util.Locale.ROOT, "{\"passed\": %d, \"failed\": %d, \"skipped\": 0, \"aborted\": %d,"
                + " \"containers_failed\": 0, \"source\": \"%s\", \"undiscovered\": []}", passed, failed, aborted, source);
    }

    static Path call(Path dir, String name, String parts, String extra) throws Exception {
        Path d = dir.resolve(name);
        Files.createDirectories(d);
        Files.writeString(d.resolve("results.json"), "{\"date\": \"2026-12-02T10:00:00Z\", \"device\": \"NVIDIA H200\","
                + " \"tests_parts\": {" + parts + "}, \"rows\": [], \"peers\": []" + extra + "}");
        return d;
    }

    /** The device calls' test parts side by side; a part run again replaces the earlier counts; totals over all. */
    @Test
    void testPartsOfSeveralCallsAreMerged() throws Exception {
        Path c1 = call(tmp, "call1", "\"gpu-sv\": " + part(70, 0, 0, "summary"),
                ", \"tests_passed\": 70, \"tests_failed\": 0, \"tests_skipped\": 0, \"stages\": [{\"name\": \"tests\","
                        + " \"status\": \"ok\", \"seconds\": 3, \"budget\": 100, \"note\": \"gpu-sv\"}]");
        Path c2 = call(tmp, "call2", "\"gpu-swin\": " + part(2, 1, 0, "test feed (the JVM was stopped)"),
                ", \"tests_passed\": 2, \"tests_failed\": 1, \"tests_skipped\": 0");
        Path out = tmp.resolve("rep");
        CliTest.Result r = CliTest.run("report", c1.toString(), c2.toString(), "--out", out.toString(), "--no-plots");
        assertEquals(0, r.code(), r.err());
        String md = Files.readString(out.resolve("README.md"));
        assertTrue(md.contains("| tests | 72 passed, 1 failed, 0 skipped (gpu-sv: summary; gpu-swin: test feed (the JVM was"
                + " stopped)) |"), md);
        assertTrue(md.contains("| GPU tests but those on swin-reference | 70 passed, 0 failed, 0 skipped"), md);
        assertTrue(md.contains("| GPU tests on swin-reference | 2 passed, 1 failed, 0 skipped"), md);
        assertTrue(md.contains("| call1 | tests | ok | 3 | 100 | gpu-sv |"), "the stage names its call: " + md);
        JsonNode j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(72, j.get("tests_passed").asInt());
        assertEquals(1, j.get("tests_failed").asInt());

        // a third call ran gpu-swin again (after a fix): its counts replace the second call's
        Path c3 = call(tmp, "call3", "\"gpu-swin\": " + part(2, 0, 1, "summary"), "");
        r = CliTest.run("report", c1.toString(), c2.toString(), c3.toString(), "--out", out.toString(), "--no-plots");
        assertEquals(0, r.code(), r.err());
        j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(72, j.get("tests_passed").asInt());
        assertEquals(0, j.get("tests_failed").asInt());
        assertEquals(1, j.get("tests_skipped").asInt());
        assertEquals(2, j.get("tests_parts").size());
        // a call without tests changes nothing
        Path c4 = call(tmp, "call4", "", "");
        r = CliTest.run("report", c1.toString(), c4.toString(), "--out", out.toString(), "--no-plots");
        assertEquals(0, r.code(), r.err());
        j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(70, j.get("tests_passed").asInt());
        assertEquals(1, j.get("tests_parts").size());
    }

    @Test
    void rowFilesAndFactsFromTheCommandLine() throws Exception {
        Path rows = tmp.resolve("rows.json");
        Files.writeString(rows, "[" + row("sparsevit-j", "classification", "224x224", 1, "fp32", "dense", 4.49, 240, "")
                .replace("\"cuda\"", "\"cpu\"") + ","
                + row("sparsevit-j", "classification", "224x224", 1, "fp32", "uniform:0.6", 1.29, 100, "")
                .replace("\"cuda\"", "\"cpu\"") + "]");
        Path notes = tmp.resolve("notes.md");
        Files.writeString(notes, "Measured on a shared machine.\n");
        Path out = tmp.resolve("cpu");
        CliTest.Result r = CliTest.run("report", rows.toString(), "--out", out.toString(), "--device", "2-core CPU",
                "--date", "2026-11-22", "--notes", notes.toString(), "--no-plots");
        assertEquals(0, r.code(), r.err());
        String md = Files.readString(out.resolve("README.md"));
        assertTrue(md.startsWith("# Benchmark: 2-core CPU, 2026-11-22"), md);
        assertTrue(md.contains("| CPU: uniform 0.6 at least 1.8x faster than our dense | **met** | 2.40x |"), md);
        assertTrue(md.contains("## Notes\n\nMeasured on a shared machine."), md);
        assertFalse(md.contains("peaks used"), "no GPU peaks for a CPU run: " + md);

        CliTest.Result missing = CliTest.run("report", tmp.resolve("nope").toString(), "--out", out.toString());
        assertEquals(1, missing.code());
        assertEquals("error: " + tmp.resolve("nope") + ": no such file or directory", missing.err().strip());
        Path bad = tmp.resolve("bad.json");
        Files.writeString(bad, "[{\"impl\": \"x\"}]");
        CliTest.Result badRows = CliTest.run("report", bad.toString(), "--out", out.toString());
        assertEquals(1, badRows.code());
        assertTrue(badRows.err().startsWith("error: " + bad + ": a row without size or p50_ms"), badRows.err());
        assertEquals(1, badRows.err().strip().lines().count(), badRows.err());
    }

    /** The results committed under bench/results (results.json, ours and peers' row files) stay reportable. */
    @Test
    void committedResultsAreStillReportable() throws Exception {
        Path results = Path.of("..", "bench", "results").toAbsolutePath().normalize();
        List<Path> inputs;
        try (Stream<Path> files = Files.walk(results)) {
            inputs = files.filter(f -> f.toString().endsWith(".json")).sorted().toList();
        }
        int reported = 0;
        for (Path f : inputs) {
            JsonNode n = new ObjectMapper().readTree(f.toFile());
            if (!n.isArray() && !n.has("rows")) {
                continue;   // machine.json, ort_ops.json: not benchmark rows
            }
            Path out = tmp.resolve("rep" + reported++);
            CliTest.Result r = CliTest.run("report", f.toString(), "--out", out.toString(), "--no-plots");
            assertEquals(0, r.code(), f + ": " + r.err());
            assertTrue(r.out().matches("(?s)wrote .*: [0-9]+ rows, [0-9]+ peer rows.*") && !r.out().contains(": 0 rows, 0 peer"),
                    f + ": " + r.out());
        }
        assertTrue(reported >= 10, "committed row files found: " + reported);
    }

    @Test
    void benchKeepsToItsTimeBudgetAndLogsEveryCase() throws Exception {
        Path json = tmp.resolve("rows.json");
        Path cases = tmp.resolve("cases.json");
        CliTest.Result r = CliTest.run("bench", "--backend", "cpu", "--size", "64x64", "--sparsity", "dense;uniform:0.5;uniform:0.8",
                "--iters", "2", "--warmup", "0", "--time-budget", "0.001", "--json", json.toString(), "--cases-json",
                cases.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode c = new ObjectMapper().readTree(cases.toFile());
        assertEquals(3, c.size());
        assertEquals("measured", c.get(0).get("status").asText());
        assertEquals("skipped", c.get(1).get("status").asText());
        assertTrue(c.get(1).get("reason").asText().startsWith("time budget"), c.get(1).toString());
        assertEquals(1, new ObjectMapper().readTree(json.toFile()).size());
        assertTrue(r.err().contains("1 of 3 cases measured, 0 failed, 2 skipped"), r.err());
        // no terminal (surefire's stderr, a device call's log): the progress is one line per case and phase
        assertTrue(r.err().contains("case 1/3 swin-t cls 64x64 b1 fp32 dense\n"), r.err());
        assertTrue(r.err().contains("case 1/3 swin-t cls 64x64 b1 fp32 dense: done\n"), r.err());
        assertTrue(r.err().indexOf('\r') < 0, "no bar redrawn in place: " + r.err());
        CliTest.Result neg = CliTest.run("bench", "--backend", "cpu", "--size", "64x64", "--time-budget", "-1");
        assertEquals(1, neg.code());
        assertTrue(neg.err().contains("--time-budget must be 0 (no limit) or positive"), neg.err());
        CliTest.Result host = CliTest.run("bench", "--backend", "cpu", "--size", "64x64", "--host-iters", "-1");
        assertEquals(1, host.code());
        assertTrue(host.err().contains("--host-iters must be 0 or positive, got -1"), host.err());
    }
}
