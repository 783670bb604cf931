package org.sparsevit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.sparsevit.Fixtures;
import org.sparsevit.SparseVitException;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.sparse.SparsityConfig;

/** What {@link Benchmark#run(List, double, java.util.function.Consumer)} counts as a case failure, and what not. */
class BenchmarkTest {
    static final Path FILE = Fixtures.file("swin-reference", "swin-mini-cls.safetensors");
    static final SwinWeights MINI = SwinWeights.load(FILE);

    static BenchCase dense(String precision) {
        return new BenchCase("mini", false, 64, 64, 1, precision, "dense", SparsityConfig.dense(MINI.config()));
    }

    /**
     * Rows of a run with a non-default fusedGelu or fusedMlp setting on CUDA with FP16/BF16 storage, or with the
     * tile handover off, say so in their impl; the CPU and FP32 ignore fusedGelu and fusedMlp.
     */
    @Test
    void implNamesTheGraphAndSettingsOtherThanTheDefaults() {
        String before = System.getProperty("sparsevit.fusedGelu");
        String rewindow = System.getProperty("sparsevit.rewindow");
        String block = System.getProperty("sparsevit.fusedMlp");
        try {
            System.clearProperty("sparsevit.fusedMlp");
            System.clearProperty("sparsevit.fusedGelu");
            System.clearProperty("sparsevit.rewindow");
            assertEquals("sparsevit-j (graph)", Benchmark.impl("cuda", "fp16", true));
            assertEquals("sparsevit-j", Benchmark.impl("cpu", "fp32", false));
            System.setProperty("sparsevit.fusedGelu", "auto");
            assertEquals("sparsevit-j (graph)", Benchmark.impl("cuda", "fp16", true));
            System.setProperty("sparsevit.fusedGelu", "Off");
            assertEquals("sparsevit-j (graph, fusedGelu=off)", Benchmark.impl("cuda", "fp16", true));
            assertEquals("sparsevit-j (fusedGelu=off)", Benchmark.impl("cuda", "bf16", false));
            assertEquals("sparsevit-j (graph)", Benchmark.impl("cuda", "fp32", true));
            assertEquals("sparsevit-j", Benchmark.impl("cpu", "fp16", false));
            System.setProperty("sparsevit.rewindow", "false");
            assertEquals("sparsevit-j (graph, fusedGelu=off, rewindow=false)", Benchmark.impl("cuda", "fp16", true));
            assertEquals("sparsevit-j (rewindow=false)", Benchmark.impl("cpu", "fp32", false));
            System.clearProperty("sparsevit.rewindow");
            System.setProperty("sparsevit.fusedMlp", "auto");
            assertEquals("sparsevit-j (graph, fusedGelu=off)", Benchmark.impl("cuda", "fp16", true));
            System.setProperty("sparsevit.fusedMlp", " OFF");
            assertEquals("sparsevit-j (graph, fusedGelu=off, fusedMlp=off)", Benchmark.impl("cuda", "fp16", true));
            System.clearProperty("sparsevit.fusedGelu");
            assertEquals("sparsevit-j (fusedMlp=off)", Benchmark.impl("cuda", "bf16", false));
            assertEquals("sparsevit-j (graph)", Benchmark.impl("cuda", "tf32", true));
            assertEquals("sparsevit-j", Benchmark.impl("cpu", "fp16", false));
        } finally {
            restore("sparsevit.fusedMlp", block);
            restore("sparsevit.fusedGelu", before);
            restore("sparsevit.rewindow", rewindow);
        }
    }

    static void restore(String property, String value) {
        if (value == null) {
            System.clearProperty(property);
        } else {
            System.setProperty(property, value);
        }
    }

    @Test
    void aRowThatCannotBeRecordedEndsTheRunInsteadOfFailingTheCase() {
        try (Benchmark bm = new Benchmark("cpu", FILE, 0, 1, null)) {
            SparseVitException e = assertThrows(SparseVitException.class, () -> bm.run(List.of(dense("fp32"),
                    dense("fp32")), 0, r -> {
                        throw new SparseVitException("cannot write rows.json (no space left on device)");
                    }));
            assertTrue(e.getMessage().contains("no space left"), e.getMessage());
            // the first case was measured (and is not reported as failed); the second never started
            assertEquals(List.of("measured"), bm.outcomes().stream().map(Benchmark.Outcome::status).toList());
        }
    }

    @Test
    void aPrecisionTheBackendCannotRunFailsTheRunBeforeAnyCase() {
        try (Benchmark bm = new Benchmark("cpu", FILE, 0, 1, null)) {
            SparseVitException e = assertThrows(SparseVitException.class,
                    () -> bm.run(List.of(dense("fp32"), dense("fp16")), 0, null));
            assertTrue(e.getMessage().contains("fp16"), e.getMessage());
            assertEquals(List.of(), bm.outcomes());
        }
        try (Benchmark bm = new Benchmark("cpu", FILE, 0, 1, null)) {
            SparseVitException e = assertThrows(SparseVitException.class, () -> bm.run(List.of(dense("fp33")), 0, null));
            assertTrue(e.getMessage().contains("unknown precision 'fp33'"), e.getMessage());
            assertEquals(List.of(), bm.outcomes());
        }
    }

    @Test
    void everyRowTimesTheHostToHostCallAndKeepsItThroughJson(@org.junit.jupiter.api.io.TempDir Path dir) {
        try (Benchmark bm = new Benchmark("cpu", FILE, 0, 20, null)) {
            List<BenchResult> rows = bm.run(List.of(dense("fp32")), 0, null);
            assertEquals(1, rows.size());
            Double host = rows.get(0).hostP50Ms();
            assertTrue(host != null && host > 0 && Double.isFinite(host), "host_p50_ms " + host);
            Path json = dir.resolve("rows.json");
            Report.writeJson(json, rows);
            assertEquals(host, Report.readJson(json).get(0).hostP50Ms());
            assertTrue(Report.breakdown(rows).contains("host to host"), Report.breakdown(rows));
        }
        try (Benchmark bm = new Benchmark("cpu", FILE, 0, 20, null).withHostIters(0)) {
            assertEquals(null, bm.run(List.of(dense("fp32")), 0, null).get(0).hostP50Ms(), "--host-iters 0");
        }
        assertThrows(IllegalArgumentException.class, () -> new Benchmark("cpu", FILE, 0, 1, null).withHostIters(-2));
        // a row's host_p50_ms is a non-negative number or absent
        for (String bad : new String[]{"\"fast\"", "-1"}) {
            String row = "[{\"impl\": \"x\", \"arch\": \"swin-t\", \"precision\": \"fp32\", \"size\": \"224x224\","
                    + " \"batch\": 1, \"p50_ms\": 2.0, \"host_p50_ms\": " + bad + "}]";
            SparseVitException e = assertThrows(SparseVitException.class,
                    () -> Report.rows(new com.fasterxml.jackson.databind.ObjectMapper().readTree(row), "rows.json"));
            assertTrue(e.getMessage().contains("host_p50_ms"), e.getMessage());
        }
    }
}
