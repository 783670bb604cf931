package org.sparsevit.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The offline bundle's scripts (bench/bundle) as a GPU session runs them, on what they can do without a GPU and
 * without the bundle's runtime: results.py turning the test parts' logs and the stage files into results.json,
 * which the report reads back; run-gpu.sh's plans, stage skipping and packing into the device tool's $OUT. The
 * device time of a session is too short to find a broken script there. Needs bash and python3 (CI has both);
 * skipped with the reason where the scripts are not beside the build (the bundle's own test run).
 */
class BundleScriptsTest {
    static final ObjectMapper OM = new ObjectMapper();

    @TempDir
    Path tmp;

    static Path scripts() {
        return Path.of("..", "bench", "bundle").toAbsolutePath().normalize();
    }

    @BeforeEach
    void needsTheScripts() {
        assumeTrue(Files.isRegularFile(scripts().resolve("run-gpu.sh")), "no " + scripts().resolve("run-gpu.sh"));
        assumeTrue(run(Map.of(), "python3", "--version").code == 0, "python3 is not on the PATH");
        assumeTrue(run(Map.of(), "bash", "--version").code == 0, "bash is not on the PATH");
    }

    record Proc(int code, String out) {
    }

    /** Runs a command (stdout and stderr together) with extra environment variables, in the temporary folder. */
    Proc run(Map<String, String> env, String... cmd) {
        try {
            Path out = Files.createTempFile("cmd", ".out");
            try {
                ProcessBuilder pb = new ProcessBuilder(cmd).directory(tmp.toFile()).redirectErrorStream(true)
                        .redirectOutput(out.toFile());
                pb.environment().putAll(env);
                Process p = pb.start();
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new AssertionError("timed out: " + List.of(cmd));
                }
                return new Proc(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
            }
        } catch (IOException e) {
            return new Proc(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static String summary(int found, int aborted, int successful, int failed) {
        return String.join("\n", "[        19 containers successful ]", "[         0 containers failed     ]",
                "[ " + found + " tests found ]", "[         0 tests skipped         ]", "[ " + found + " tests started ]",
                "[ " + aborted + " tests aborted ]", "[ " + successful + " tests successful ]",
                "[ " + failed + " tests failed ]", "");
    }

    /**
     * One call's test parts: a summary where the JVM finished, the test feed where it was stopped (containers
     * not counted as tests); rows and stages; the report reads the totals and names each part.
     */
    @Test
    void resultsPyCountsEachTestPartAndTheReportReadsThem() throws Exception {
        Path call = Files.createDirectories(tmp.resolve("call1"));
        Files.writeString(call.resolve("tests-gpu-sv.log"), "JUnit Jupiter > CudaOpsTest > gelu() :: SUCCESSFUL\n"
                + summary(76, 1, 74, 1));
        String m = "JUnit Jupiter > CudaModelTest > ";
        Files.writeString(call.resolve("tests-gpu-swin.log"), String.join("\n",
                m + "swinFixtures() :: STARTED", m + "swinFixtures() :: SUCCESSFUL",
                m + "reducedPrecisionClassifier(Precision, double) > [1] FP16, 2e-2 :: SUCCESSFUL",
                m + "reducedPrecisionClassifier(Precision, double) > [2] BF16, 6e-2 :: STARTED", ""));
        Files.writeString(call.resolve("rows-t-cls224-fp16.json"), "[{\"impl\": \"sparsevit-j (graph)\", \"arch\": \"swin-t\","
                + " \"task\": \"classification\", \"size\": \"224x224\", \"batch\": 64, \"precision\": \"fp16\", \"backend\":"
                + " \"cuda\", \"device\": \"NVIDIA H200\", \"sparsity\": \"dense\", \"gmacs\": 287.4, \"p50_ms\": 2.0,"
                + " \"p90_ms\": 2.1, \"p99_ms\": 2.2, \"images_per_s\": 32000}]");
        Files.writeString(call.resolve("stages.jsonl"), "{\"name\": \"tests\", \"status\": \"ok\", \"seconds\": 40,"
                + " \"budget\": 100, \"note\": \"gpu-sv: 74 tests successful\"}\n");
        Files.writeString(call.resolve("peers-meta.json"), "{\"torch\": \"2.9.1\", \"timm\": \"1.0.22\", \"cuda\":"
                + " \"13.0\", \"device_error\": \"RuntimeError: no CUDA GPUs are available\", \"reference_check\": {\"fixture\": \"sparsevit-reference\", \"tolerance\": 1e-4, \"ok\":"
                + " false, \"cases\": {\"a\": {\"max_abs_diff\": [2e-7, 3.5], \"kept_lists\": 8, \"kept_equal\": true},"
                + " \"b\": {\"max_abs_diff\": [1e-7], \"kept_lists\": 2, \"kept_equal\": false}}}}");
        Path bundle = Files.createDirectories(tmp.resolve("bundle"));
        Files.writeString(bundle.resolve("COMMIT"), "abc123\n");
        Proc p = run(Map.of(), "python3", "-B", scripts().resolve("results.py").toString(), call.toString(),
                bundle.toString());
        assertEquals(0, p.code, p.out);
        JsonNode r = OM.readTree(call.resolve("results.json").toFile());
        assertEquals(76, r.get("tests_passed").asInt(), r.toString());
        assertEquals(1, r.get("tests_failed").asInt());
        assertEquals(1, r.get("tests_skipped").asInt());
        assertEquals("summary", r.at("/tests_parts/gpu-sv/source").asText());
        assertTrue(r.at("/tests_parts/gpu-swin/source").asText().startsWith("test feed"), r.toString());
        assertEquals(2, r.at("/tests_parts/gpu-swin/passed").asInt(), "the container and the unfinished test not counted");
        assertEquals("abc123", r.get("commit").asText());
        assertEquals(1, r.get("rows").size());
        assertEquals("tests", r.at("/stages/0/name").asText());

        ResultsReport rep = ResultsReport.read(call);
        String md = rep.markdown("GPU", List.of(), "");
        assertTrue(md.contains("| tests | 76 passed, 1 failed, 1 skipped"), md);
        assertTrue(md.contains("| GPU tests on swin-reference | 2 passed, 0 failed, 0 skipped"), md);
        assertTrue(md.contains("| call1 | tests | ok | 40 | 100 |"), md);
        assertTrue(md.contains("| peers (PyTorch) | PyTorch 2.9.1; timm 1.0.22; CUDA 13.0; PyTorch could not use CUDA: RuntimeError: no CUDA GPUs are available; SparseViT baseline does NOT"
                + " reproduce the official implementation (sparsevit-reference, 2 cases, float64): outputs within 3.5"
                + " (tolerance 0.0001), 10 kept lists NOT all equal |"), md);
        assertEquals(1, rep.ours().size());
    }

    Proc runGpu(Map<String, String> env, String... args) {
        Map<String, String> e = new HashMap<>(env);
        e.putIfAbsent("PATH", "/usr/bin:/bin");   // no nvidia-smi, whatever the machine has
        List<String> cmd = new ArrayList<>(List.of("bash", scripts().resolve("run-gpu.sh").toString()));
        cmd.addAll(List.of(args));
        return run(e, cmd.toArray(String[]::new));
    }

    /** A plan's defaults and packing: stages that need a GPU say so, and $OUT gets the call's two files. */
    @Test
    void runGpuPlansSkipWithoutAGpuAndPackIntoOut() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("out"));
        Path call = tmp.resolve("x").resolve("call2");
        Proc p = runGpu(Map.of("OUT", out.toString(), "SVJ_PREVIOUS", tmp.resolve("none").toString()), "--plan",
                "call2", call.toString(), "search", "peers");
        assertEquals(0, p.code, p.out);
        assertTrue(p.out.contains("stages: search peers; deadline 400s"), p.out);
        assertTrue(Files.size(out.resolve("call2-results.json")) > 0, p.out);
        assertTrue(Files.size(out.resolve("call2.tar.gz")) > 0, p.out);
        JsonNode r = OM.readTree(out.resolve("call2-results.json").toFile());
        assertEquals(2, r.get("stages").size(), r.toString());
        for (JsonNode st : r.get("stages")) {
            assertEquals("skipped", st.get("status").asText(), st.toString());
        }
        assertTrue(r.at("/stages/0/note").asText().contains("no GPU"), r.toString());

        Proc bad = runGpu(Map.of(), "--plan", "call3");
        assertEquals(2, bad.code, bad.out);
        assertTrue(bad.out.contains("unknown plan 'call3' (call1 or call2)"), bad.out);
        Proc badStage = runGpu(Map.of(), tmp.resolve("y").toString(), "benchmark");
        assertEquals(2, badStage.code, badStage.out);
        assertTrue(badStage.out.contains("unknown stage 'benchmark'"), badStage.out);

        // a test part that does not exist is named in the stage's note before any JVM starts
        Proc part = runGpu(Map.of("SVJ_TESTS", "gpu-sv gpu-foo"), tmp.resolve("z").toString(), "tests");
        JsonNode t = OM.readTree(tmp.resolve("z").resolve("results.json").toFile());
        assertTrue(t.at("/stages/0/note").asText().contains("unknown test part 'gpu-foo'"), t + "\n" + part.out);
        assertEquals("failed", t.at("/stages/0/status").asText(), t.toString());
    }

    /**
     * Python (the peers, results.py) runs with the library path run-gpu.sh was started with, not with the CUDA
     * directories the script adds for the cuBLAS presets: those would shadow the CUDA libraries of PyTorch's wheels.
     */
    @Test
    void pythonRunsWithTheLibraryPathTheScriptWasGiven() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/usr/local/cuda/lib64")) || Files.isDirectory(Path.of("/usr/lib/x86_64-linux-gnu")),
                "none of the CUDA library directories run-gpu.sh adds is on this machine");
        String real = run(Map.of(), "bash", "-c", "command -v python3").out.strip();
        Path bin = Files.createDirectories(tmp.resolve("pybin"));
        Path log = tmp.resolve("ld.log");
        Path py = bin.resolve("python3");
        Files.writeString(py, "#!/bin/sh\necho \"${LD_LIBRARY_PATH-<unset>}\" >> " + log + "\nexec " + real + " \"$@\"\n");
        assertTrue(py.toFile().setExecutable(true));
        String path = bin + ":/usr/bin:/bin";

        Proc p = runGpu(Map.of("PATH", path, "LD_LIBRARY_PATH", "/orig/lib"), tmp.resolve("a").toString(), "peers");
        assertEquals(0, p.code, p.out);
        List<String> seen = Files.readAllLines(log);
        assertTrue(seen.size() >= 2, "python ran for the peers' check and results.py: " + seen + "\n" + p.out);
        assertEquals(List.of("/orig/lib"), seen.stream().distinct().toList(), p.out);

        Files.delete(log);
        Proc q = run(Map.of("PATH", path), "env", "-u", "LD_LIBRARY_PATH", "bash", scripts().resolve("run-gpu.sh").toString(),
                tmp.resolve("b").toString(), "peers");
        assertEquals(0, q.code, q.out);
        assertEquals(List.of("<unset>"), Files.readAllLines(log).stream().distinct().toList(), q.out);
    }

    /**
     * A GPU that nvidia-smi lists but the smoke test cannot use (here: a stand-in nvidia-smi, and no Java runtime
     * beside the script): the call stops after info, gathers the diagnosis, and says why the rest did not run.
     */
    @Test
    void aFailedSmokeTestOnAGpuStopsTheCallWithADiagnosis() throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path smi = bin.resolve("nvidia-smi");
        Files.writeString(smi, "#!/bin/sh\ncase \"$*\" in *-L*) echo 'GPU 0: Test GPU (UUID: GPU-0)' ;; *) echo 'Test GPU' ;; esac\n");
        assertTrue(smi.toFile().setExecutable(true));
        String path = bin + ":/usr/bin:/bin";
        Proc p = runGpu(Map.of("PATH", path), "--plan", "call1", tmp.resolve("g").toString());
        assertEquals(0, p.code, p.out);
        assertTrue(p.out.contains("stopping: the CUDA smoke test failed"), p.out);
        JsonNode st = OM.readTree(tmp.resolve("g").resolve("results.json").toFile()).get("stages");
        List<String> seen = new ArrayList<>();
        for (JsonNode s : st) {
            seen.add(s.get("name").asText() + " " + s.get("status").asText());
        }
        assertEquals(List.of("info failed", "diagnose done", "tests not run", "bench not run", "peers not run"), seen);
        assertTrue(st.get(0).get("note").asText().contains("runtime/bin/java"), "the demo's own error: " + st.get(0));
        assertTrue(st.get(1).get("note").asText().startsWith("blocking launches: exit 127"), st.get(1).toString());
        assertTrue(st.get(2).get("note").asText().startsWith("the CUDA smoke test failed (info: demo --backend cuda failed"),
                st.get(2).toString());
        assertTrue(Files.exists(tmp.resolve("g").resolve("demo-cuda-blocking.log")));

        // SVJ_SMOKE_GATE=0: the other stages run all the same (and fail or skip on their own)
        Proc open = runGpu(Map.of("PATH", path, "SVJ_SMOKE_GATE", "0"), "--plan", "call1", tmp.resolve("h").toString(),
                "info", "peers");
        assertEquals(0, open.code, open.out);
        JsonNode st2 = OM.readTree(tmp.resolve("h").resolve("results.json").toFile()).get("stages");
        assertEquals(2, st2.size(), st2.toString());
        assertEquals("peers", st2.get(1).get("name").asText());
        assertNotEquals("not run", st2.get(1).get("status").asText(), st2.toString());
    }
}
