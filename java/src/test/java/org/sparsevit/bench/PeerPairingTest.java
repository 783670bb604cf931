package org.sparsevit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** Which of our rows a peer's row is compared with (the "ours x faster" column and the peers plot). */
class PeerPairingTest {
    static BenchResult cpu(String impl, String device, double p50) {
        return TargetsTest.row(impl, "cpu", device, "classification", "224x224", 1, "fp32", "dense", p50, Map.of());
    }

    @Test
    void cpuPeersMeetOurRowsOnAsManyThreadsTheMedianOfThem() {
        List<BenchResult> ours = List.of(
                cpu("sparsevit-j", "CPU, 2 threads, OpenBLAS 0.3.31", 141),
                cpu("sparsevit-j", "CPU, 1 threads, OpenBLAS 0.3.31", 221),
                cpu("sparsevit-j", "CPU, 1 threads, OpenBLAS 0.3.31", 215),
                cpu("sparsevit-j", "CPU, 1 threads, OpenBLAS 0.3.31", 237),
                cpu("sparsevit-j", "CPU, 2 threads, OpenBLAS 0.3.31", 145));
        BenchResult ort1 = TargetsTest.row("onnxruntime-java", "onnxruntime-cpu", "CPU, 1 threads, ONNX Runtime 1.22.0",
                "classification", "224x224", 1, "fp32", "dense", 158, Map.of());
        BenchResult ort2 = TargetsTest.row("onnxruntime-java", "onnxruntime-cpu", "CPU, 2 threads, ONNX Runtime 1.22.0",
                "classification", "224x224", 1, "fp32", "dense", 90, Map.of());
        assertEquals(221, ResultsReport.ourRowFor(ort1, ours).orElseThrow().p50Ms());
        // two rows on 2 threads: the lower of the middle two
        assertEquals(141, ResultsReport.ourRowFor(ort2, ours).orElseThrow().p50Ms());
        assertEquals(1, ResultsReport.threadsOf(ort1));
        assertEquals(-1, ResultsReport.threadsOf(cpu("x", "NVIDIA H100 80GB HBM3", 1)));
        // a peer on a thread count we did not run meets nothing; a GPU peer (no thread count) meets its case
        BenchResult ort4 = TargetsTest.row("onnxruntime-java", "onnxruntime-cpu", "CPU, 4 threads, ONNX Runtime 1.22.0",
                "classification", "224x224", 1, "fp32", "dense", 60, Map.of());
        assertTrue(ResultsReport.ourRowFor(ort4, ours).isEmpty());
        BenchResult timm = TargetsTest.row("timm-eager", "cuda", "NVIDIA H100", "classification", "224x224", 1, "fp32",
                "dense", 5, Map.of());
        BenchResult gpuOurs = TargetsTest.row("sparsevit-j", "cuda", "NVIDIA H100", "classification", "224x224", 1, "fp32",
                "dense", 1, Map.of());
        assertEquals(gpuOurs, ResultsReport.ourRowFor(timm, List.of(gpuOurs)).orElseThrow());
    }
}
