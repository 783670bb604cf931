package org.sparsevit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

/** The issue #5 targets judged on synthetic rows: met, missed, and not measured when a row is absent. */
class TargetsTest {
    static BenchResult row(String impl, String backend, String task, String size, int batch, String prec, String sp,
                           double p50, Map<String, Double> ops) {
        return row(impl, backend, "dev", task, size, batch, prec, sp, p50, ops);
    }

    static BenchResult row(String impl, String backend, String device, String task, String size, int batch, String prec,
                           String sp, double p50, Map<String, Double> ops) {
        return new BenchResult(impl, "swin-t", task, size, batch, prec, backend, device, sp, 1.0, p50, p50, p50, p50,
                batch * 1000.0 / p50, 100, Map.of(), ops, Map.of(), null);
    }

    static BenchResult ours(String backend, String task, String size, int batch, String prec, String sp, double p50) {
        return row("sparsevit-j (graph)", backend, task, size, batch, prec, sp, p50, Map.of());
    }

    static Map<String, Targets.Result> byId(List<BenchResult> rows) {
        return Targets.evaluate(rows).stream().collect(Collectors.toMap(Targets.Result::id, Function.identity()));
    }

    /** A run where every GPU target is met (dense 672 b4 at 4 ms). */
    static List<BenchResult> goodGpu() {
        List<BenchResult> r = new ArrayList<>();
        r.add(ours("cuda", "classification", "224x224", 64, "fp16", "dense", 2.0));      // 32,000 images/s
        r.add(ours("cuda", "classification", "224x224", 1, "fp16", "dense", 0.4));
        r.add(ours("cuda", "backbone", "672x672", 4, "fp16", "dense", 4.0));
        r.add(row("sparsevit-j", "cuda", "backbone", "672x672", 4, "fp16", "uniform:0.6", 1.9,
                Map.of("tokenImportance", 0.02, "windowScores", 0.01, "sortWindows", 0.01, "gatherWindows", 0.05,
                        "scatterWindows", 0.05, "linear", 1.0)));
        r.add(row("sparsevit-j", "cuda", "backbone", "672x672", 4, "fp16", "paper-3", 2.5,
                Map.of("gatherWindows", 0.08, "scatterWindows", 0.08, "linear", 1.5)));
        r.add(row("timm-compile", "cuda", "backbone", "672x672", 4, "fp16", "dense", 9.0, Map.of()));
        r.add(row("timm-eager", "cuda", "backbone", "672x672", 4, "fp16", "dense", 17.0, Map.of()));
        return r;
    }

    @Test
    void everyGpuTargetMet() {
        Map<String, Targets.Result> t = byId(goodGpu());
        for (String id : List.of("cls224-b64-throughput", "cls224-b1-latency", "backbone672-vs-timm-compile",
                "backbone672-vs-timm-eager", "uniform0.6-latency", "paper3-speedup", "pruning-overhead")) {
            assertEquals(Targets.Status.MET, t.get(id).status(), id + ": " + t.get(id));
        }
        assertEquals(32_000, t.get("cls224-b64-throughput").measured(), 1e-6);
        assertEquals(32_000 / 25_000.0, t.get("cls224-b64-throughput").ratio(), 1e-9);
        assertEquals(9.0 / 4.0, t.get("backbone672-vs-timm-compile").measured(), 1e-9);
        assertEquals(1.9 / 4.0, t.get("uniform0.6-latency").measured(), 1e-9);
        assertEquals(4.0 / 2.5, t.get("paper3-speedup").measured(), 1e-9);
        // the worst pruned configuration decides: paper-3's 0.16 ms against uniform 0.6's 0.14 ms
        assertEquals(0.16 / 4.0, t.get("pruning-overhead").measured(), 1e-9);
        assertTrue(t.get("pruning-overhead").detail().contains("paper-3"), t.get("pruning-overhead").detail());
        // no CPU rows in this run
        assertEquals(Targets.Status.NOT_MEASURED, t.get("cpu-dense-vs-ort").status());
        assertEquals(Targets.Status.NOT_MEASURED, t.get("cpu-uniform0.6-speedup").status());
    }

    /**
     * Rows of a run with a non-default setting (Benchmark.impl: "..., fusedGelu=all") judge no target, however fast;
     * the tile handover (rewindowWindows) counts as window data movement in the pruning overhead.
     */
    @Test
    void rowsOfANonDefaultSettingJudgeNoTarget() {
        List<BenchResult> r = goodGpu();
        r.add(row("sparsevit-j (graph, fusedGelu=all)", "cuda", "classification", "224x224", 64, "fp16", "dense", 1.0,
                Map.of()));
        r.add(row("sparsevit-j (graph, fusedGelu=off)", "cuda", "backbone", "672x672", 4, "fp16", "dense", 2.0, Map.of()));
        r.add(row("sparsevit-j (graph, fusedGelu=off)", "cuda", "backbone", "672x672", 4, "fp16", "paper-2", 3.0,
                Map.of("gatherWindows", 1.0)));
        r.add(row("sparsevit-j", "cuda", "backbone", "672x672", 4, "fp16", "paper-1", 3.0,
                Map.of("gatherWindows", 0.1, "rewindowWindows", 0.08)));
        Map<String, Targets.Result> t = byId(r);
        assertEquals(32_000, t.get("cls224-b64-throughput").measured(), 1e-6);
        assertEquals(1.9 / 4.0, t.get("uniform0.6-latency").measured(), 1e-9);
        assertEquals(0.18 / 4.0, t.get("pruning-overhead").measured(), 1e-9);
        assertTrue(t.get("pruning-overhead").detail().contains("paper-1"), t.get("pruning-overhead").detail());
    }

    @Test
    void missedTargetsCarryTheMeasuredRatio() {
        List<BenchResult> r = new ArrayList<>();
        r.add(ours("cuda", "classification", "224x224", 64, "fp16", "dense", 3.2));      // 20,000 images/s
        r.add(ours("cuda", "classification", "224x224", 1, "fp16", "dense", 0.8));
        r.add(ours("cuda", "backbone", "672x672", 4, "fp16", "dense", 4.0));
        r.add(ours("cuda", "backbone", "672x672", 4, "fp16", "uniform:0.6", 2.4));
        r.add(row("sparsevit-j", "cuda", "backbone", "672x672", 4, "fp16", "paper-3", 3.0,
                Map.of("tokenImportance", 0.1, "sortWindows", 0.1, "gatherWindows", 0.2, "scatterWindows", 0.2)));
        r.add(row("timm-compile", "cuda", "backbone", "672x672", 4, "fp16", "dense", 6.0, Map.of()));
        r.add(row("timm-eager", "cuda", "backbone", "672x672", 4, "fp16", "dense", 12.0, Map.of()));
        Map<String, Targets.Result> t = byId(r);
        for (String id : List.of("cls224-b64-throughput", "cls224-b1-latency", "backbone672-vs-timm-compile",
                "backbone672-vs-timm-eager", "uniform0.6-latency", "paper3-speedup", "pruning-overhead")) {
            assertEquals(Targets.Status.MISSED, t.get(id).status(), id + ": " + t.get(id));
        }
        assertEquals(0.8, t.get("cls224-b1-latency").ratio() * 0.5, 1e-9);
        assertEquals(20_000.0 / 25_000.0, t.get("cls224-b64-throughput").ratio(), 1e-9);
        assertEquals(1.5, t.get("backbone672-vs-timm-compile").measured(), 1e-9);
        assertEquals(0.6, t.get("uniform0.6-latency").measured(), 1e-9);
        assertEquals(0.6 / 4.0, t.get("pruning-overhead").measured(), 1e-9);
    }

    @Test
    void absentRowsAreNotMeasuredAndSayWhichRow() {
        Map<String, Targets.Result> t = byId(List.of());
        assertEquals(9, t.size());
        t.values().forEach(r -> {
            assertEquals(Targets.Status.NOT_MEASURED, r.status(), r.id());
            assertTrue(Double.isNaN(r.ratio()), r.id());
            assertTrue(r.detail().startsWith("no row for"), r.detail());
        });
        // a peer alone is not enough, and rows of another precision or backend do not stand in
        List<BenchResult> r = new ArrayList<>();
        r.add(row("timm-compile", "cuda", "backbone", "672x672", 4, "fp16", "dense", 6.0, Map.of()));
        r.add(ours("cuda", "backbone", "672x672", 4, "fp32", "dense", 4.0));
        r.add(ours("cpu", "classification", "224x224", 64, "fp16", "dense", 1.0));
        Map<String, Targets.Result> u = byId(r);
        assertEquals(Targets.Status.NOT_MEASURED, u.get("backbone672-vs-timm-compile").status());
        assertEquals(Targets.Status.NOT_MEASURED, u.get("cls224-b64-throughput").status());
        // the overhead needs a pruned row with a per-op breakdown
        r.add(ours("cuda", "backbone", "672x672", 4, "fp16", "dense", 4.0));
        r.add(ours("cuda", "backbone", "672x672", 4, "fp16", "paper-3", 3.0));
        Targets.Result ov = byId(r).get("pruning-overhead");
        assertEquals(Targets.Status.NOT_MEASURED, ov.status());
        assertTrue(ov.detail().contains("per-op breakdown"), ov.detail());
    }

    @Test
    void cpuTargets() {
        List<BenchResult> r = new ArrayList<>();
        r.add(ours("cpu", "classification", "224x224", 1, "fp32", "dense", 100));
        r.add(ours("cpu", "classification", "224x224", 1, "fp32", "uniform:0.6", 50));
        r.add(ours("cpu", "backbone", "448x448", 1, "fp32", "dense", 700));
        r.add(ours("cpu", "backbone", "448x448", 1, "fp32", "uniform:0.6", 400));
        r.add(row("onnxruntime-java", "onnxruntime-cpu", "classification", "224x224", 1, "fp32", "dense", 80, Map.of()));
        r.add(row("onnxruntime-java", "cpu", "classification", "224x224", 1, "fp32", "dense", 120, Map.of()));
        Map<String, Targets.Result> t = byId(r);
        // against ONNX Runtime's faster row: 80 / 100
        assertEquals(Targets.Status.MISSED, t.get("cpu-dense-vs-ort").status());
        assertEquals(0.8, t.get("cpu-dense-vs-ort").measured(), 1e-9);
        // the smaller speedup decides: 700 / 400 = 1.75 < 1.8
        assertEquals(Targets.Status.MISSED, t.get("cpu-uniform0.6-speedup").status());
        assertEquals(1.75, t.get("cpu-uniform0.6-speedup").measured(), 1e-9);
        r.remove(3);
        r.add(ours("cpu", "backbone", "448x448", 1, "fp32", "uniform:0.6", 350));
        assertEquals(Targets.Status.MET, byId(r).get("cpu-uniform0.6-speedup").status());
    }

    /** A dense row pairs with uniform 0.6 only on the same device (thread count) and, of several, the same run. */
    @Test
    void cpuSpeedupPairsRowsOfTheSameDeviceAndRun() {
        String one = "CPU, 1 threads, OpenBLAS";
        String two = "CPU, 2 threads, OpenBLAS";
        List<BenchResult> r = new ArrayList<>();
        r.add(row("sparsevit-j", "cpu", one, "classification", "224x224", 1, "fp32", "dense", 300, Map.of()));
        r.add(row("sparsevit-j", "cpu", two, "classification", "224x224", 1, "fp32", "dense", 100, Map.of()));
        r.add(row("sparsevit-j", "cpu", two, "classification", "224x224", 1, "fp32", "uniform:0.6", 50, Map.of()));
        r.add(row("sparsevit-j", "cpu", two, "classification", "224x224", 1, "fp32", "dense", 90, Map.of()));
        r.add(row("sparsevit-j", "cpu", two, "classification", "224x224", 1, "fp32", "uniform:0.6", 60, Map.of()));
        Targets.Result res = byId(r).get("cpu-uniform0.6-speedup");
        // 100 / 50 = 2.0 and 90 / 60 = 1.5: the one-thread dense row (300) pairs with nothing
        assertEquals(1.5, res.measured(), 1e-9);
        assertEquals(Targets.Status.MISSED, res.status());
        assertTrue(res.detail().contains("(" + two + "): 2.00x"), res.detail());
        assertFalse(res.detail().contains("6.00x"), res.detail());
    }

    @Test
    void peaksOfKnownGpus() {
        assertEquals("H100 SXM5", GpuPeaks.of("NVIDIA H100 80GB HBM3").orElseThrow().model());
        assertEquals("", GpuPeaks.of("NVIDIA H100 80GB HBM3").orElseThrow().assumption());
        assertEquals("H100 PCIe", GpuPeaks.of("NVIDIA H100 PCIe").orElseThrow().model());
        assertEquals("H200 SXM", GpuPeaks.of("NVIDIA H200").orElseThrow().model());
        assertEquals("H200 NVL", GpuPeaks.of("NVIDIA H200 NVL").orElseThrow().model());
        assertTrue(GpuPeaks.of("NVIDIA A100-SXM4-80GB").isEmpty());
        assertTrue(GpuPeaks.of("CPU, 2 threads").isEmpty());
        GpuPeaks h = GpuPeaks.of("NVIDIA H100 80GB HBM3").orElseThrow();
        assertEquals(989.5, h.tflops("fp16"), 1e-9);
        assertEquals(h.tflops("fp16"), h.tflops("bf16"), 1e-9);
        assertTrue(Double.isNaN(h.tflops("int8")));
        // Swin-T 224 batch 64: 287.4 GMACs in 2.5 ms is 229.9 TFLOP/s
        assertEquals(229.92, GpuPeaks.achievedTflops(287.4, 2.5), 1e-9);
        assertEquals(0, GpuPeaks.achievedTflops(0, 2.5));
    }
}
