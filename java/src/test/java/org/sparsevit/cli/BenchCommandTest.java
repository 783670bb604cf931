package org.sparsevit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.backend.Backends;
import org.sparsevit.bench.BenchResult;
import org.sparsevit.bench.Report;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.sparse.SparsityConfig;

/** {@code sparsevit bench} on tiny cases: the weights' architecture, and bad input refused before any case runs. */
class BenchCommandTest {
    @TempDir
    Path tmp;

    /** One timed pass per case, no warm-up, at 64x64 on the CPU (also on a machine with a GPU). */
    static CliTest.Result bench(String... more) {
        return benchAt("64x64", more);
    }

    static CliTest.Result benchAt(String size, String... more) {
        List<String> a = new ArrayList<>(List.of("bench", "--size", size, "--iters", "1", "--warmup", "0",
                "--backend", "cpu"));
        a.addAll(Arrays.asList(more));
        return CliTest.run(a.toArray(String[]::new));
    }

    /** Exit 1, one last line naming the problem (the expected parts), no stack trace, and no case started. */
    static void refused(CliTest.Result r, String... expected) {
        assertEquals(1, r.code(), r.err());
        List<String> errorLines = r.err().lines().filter(l -> l.startsWith("error")).toList();
        assertEquals(1, errorLines.size(), r.err());
        String error = errorLines.get(0);
        assertTrue(error.startsWith("error: "), r.err());
        assertEquals(error, r.err().strip().lines().reduce((x, y) -> y).orElse(""), "the error comes last: " + r.err());
        for (String e : expected) {
            assertTrue(error.contains(e), "expected '" + e + "' in: " + r.err());
        }
        assertFalse(r.err().contains("\tat "), r.err());
        assertFalse(r.err().contains("case 1/"), "no case may run: " + r.err());
    }

    @Test
    void weightsGiveTheArchitectureAndThePaperConfigurationsAreSkippedForOtherDepths() {
        Path w = CliTest.swin("swin-mini-cls.safetensors");
        SwinConfig cfg = SwinWeights.load(w).config();
        assertFalse(Arrays.equals(cfg.depths(), SwinConfig.preset("swin-t").depths()), "the fixture is not swin-t");
        Path json = tmp.resolve("rows.json");
        CliTest.Result r = bench("--weights", w.toString(), "--sparsity", "dense;uniform:0.5;paper-2", "--json",
                json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("skipping") && r.err().contains("paper-2")
                && r.err().contains(Arrays.toString(cfg.depths())), r.err());
        List<BenchResult> rows = Report.readJson(json);
        assertEquals(List.of("dense", "uniform:0.5"), rows.stream().map(BenchResult::sparsity).toList());
        String name = BenchCommand.archName(cfg);
        assertTrue(name.contains("C" + cfg.embedDim()) && name.contains(String.valueOf(cfg.depths()[2])), name);
        for (BenchResult row : rows) {
            assertEquals(name, row.arch());
            assertEquals("classification", row.task());
        }
        // the MACs are the loaded model's, not swin-t's
        double dense = MacCounter.count(cfg, 64, 64, 1, SparsityConfig.dense(cfg)).totalGMacs();
        assertEquals(dense, rows.get(0).gmacs(), 5e-4);

        // the model's own depths in the compact form are measured, not skipped
        StringBuilder own = new StringBuilder();
        for (int s = 0; s < cfg.numStages(); s++) {
            own.append(s > 0 ? "/" : "").append(String.join(",", java.util.Collections.nCopies(cfg.depth(s), "0")));
        }
        CliTest.Result compact = bench("--weights", w.toString(), "--sparsity", own.toString());
        assertEquals(0, compact.code(), compact.err());
        assertFalse(compact.err().contains("skipping"), compact.err());
    }

    @Test
    void backboneWeightsAreBenchmarkedAsABackbone() {
        Path json = tmp.resolve("bb.json");
        CliTest.Result r = bench("--weights", CliTest.swin("swin-mini-backbone.safetensors").toString(), "--sparsity",
                "uniform:0.5", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        List<BenchResult> rows = Report.readJson(json);
        assertEquals(1, rows.size());
        assertEquals("backbone", rows.get(0).task());
    }

    @Test
    void anArchitectureOrTaskTheWeightsDoNotHaveIsRefused() {
        Path w = CliTest.swin("swin-mini-cls.safetensors");
        Path json = tmp.resolve("rows.json");
        refused(bench("--weights", w.toString(), "--arch", "swin-s", "--json", json.toString()),
                "--arch swin-s does not match the weights (");
        refused(bench("--weights", w.toString(), "--arch", "swin-t", "--json", json.toString()),
                "--arch swin-t does not match the weights (");
        refused(bench("--weights", w.toString(), "--backbone", "--json", json.toString()), "--backbone", "classifier");
        assertFalse(Files.exists(json));
        // only paper configurations on a model of other depths: nothing to run, and why
        refused(bench("--weights", w.toString(), "--sparsity", "paper-1"), "no benchmark cases to run",
                "Swin-T's depths");
    }

    @Test
    void aRunThatCannotMeasureAnythingIsRefusedAndKeepsEarlierFiles() throws Exception {
        Path json = tmp.resolve("rows.json");
        Path cases = tmp.resolve("cases.json");
        String oldRows = "[ {\"impl\": \"earlier\", \"size\": \"224x224\", \"p50_ms\": 1.5} ]";
        String oldCases = "[ {\"label\": \"earlier\", \"status\": \"measured\"} ]";
        Files.writeString(json, oldRows);
        Files.writeString(cases, oldCases);
        String[] out = {"--json", json.toString(), "--cases-json", cases.toString()};
        refused(bench(concat(out, "--precision", "fp33")), "fp33");
        refused(bench(concat(out, "--precision", "fp32,fp16")), "fp16");
        if (Backends.cudaUnavailableReason() != null) {
            List<String> a = new ArrayList<>(List.of("bench", "--size", "64x64", "--iters", "1", "--warmup", "0",
                    "--backend", "cuda"));
            a.addAll(Arrays.asList(out));
            refused(CliTest.run(a.toArray(String[]::new)), "--backend cuda: no usable GPU");
        }
        assertEquals(oldRows, Files.readString(json));
        assertEquals(oldCases, Files.readString(cases));
    }

    @Test
    void inputsAndOutputLocationsAreCheckedBeforeMeasuring() throws Exception {
        Path file = Files.writeString(tmp.resolve("afile"), "x");
        Path dir = Files.createDirectories(tmp.resolve("adir"));
        Path badJson = Files.writeString(tmp.resolve("bad.json"), "{not json");
        Path badRows = Files.writeString(tmp.resolve("rows-bad.json"), "[{\"impl\": \"x\"}]");
        Path json = tmp.resolve("rows.json");
        String[][] bad = {
            {"--peers", tmp.resolve("nonexist.json").toString()},
            {"--peers", badJson.toString()},
            {"--peers", badRows.toString()},
            {"--peers", dir.toString()},
            {"--plots", file.toString()},
            {"--plots", file.resolve("plots").toString()},
            {"--cases-json", file.resolve("x.json").toString()},
            {"--markdown", file.resolve("sub").resolve("x.md").toString()},
            {"--markdown", dir.toString()},
            {"--cases-json", json.toString()},
        };
        for (String[] b : bad) {
            CliTest.Result r = bench(concat(new String[]{"--json", json.toString()}, b));
            refused(r, b[0], Path.of(b[1]).getFileName().toString());
            assertFalse(Files.exists(json), String.join(" ", b) + ": " + r.err());
        }
        refused(bench("--json", dir.toString()), "--json", "directory");

        // an unwritable directory (as root every directory is writable: checked where the test can see it)
        Path ro = Files.createDirectories(tmp.resolve("ro"));
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            if (!Files.isWritable(ro)) {
                refused(bench("--json", json.toString(), "--markdown", ro.resolve("r.md").toString()), "--markdown",
                        "not writable");
                refused(bench("--json", json.toString(), "--plots", ro.resolve("plots").toString()), "--plots",
                        "not writable");
                assertFalse(Files.exists(json));
            }
        } finally {
            Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }

    @Test
    void aSizeTooLargeOrAnEmptyOrDirectorySparsityIsNamed() {
        // one image too large for a tensor: refused where sizes are parsed (MacsCommand.parseSize)
        refused(benchAt("100000x100000"), "--size 100000x100000: the images [1, 3, 100000, 100000] would hold");
        refused(benchAt("224x224", "--batch", "100000"), "--size 224x224 at --batch 100000 is too large: ");
        refused(bench("--sparsity", ""), "--sparsity '' names no sparsity");
        refused(bench("--sparsity", tmp.toString()), "--sparsity " + tmp, "is a directory");
    }

    static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
