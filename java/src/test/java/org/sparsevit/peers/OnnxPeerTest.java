package org.sparsevit.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.model.CheckpointLayout;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.tensor.HostTensor;

/**
 * The ONNX Runtime CPU peer computes our function: bench/peers/swin_to_onnx.py turns our saved weights into
 * an ONNX model, ONNX Runtime (Java API) runs it, and its logits must match the CPU backend's within 1e-4
 * relative (max |diff| / max |ours|), at the benchmark's geometry and at one that pads, clamps windows and
 * shifts padded grids. Needs python3 (standard library only) and the ONNX Runtime jar (a test dependency);
 * skipped with the reason where either is missing (e.g. in the offline bundle's test run).
 */
class OnnxPeerTest {
    @TempDir
    Path tmp;

    /** A small classifier: four stages, a shift in stages 0 and 1 at 224, one window in stage 3. */
    static final SwinConfig SMALL = new SwinConfig(16, new int[]{2, 2, 2, 2}, new int[]{1, 2, 2, 4}, 7, 4, 4, 3, 10,
            Task.CLASSIFICATION, 224, CheckpointLayout.MICROSOFT, MergeOrder.CONCAT, 1e-5f);

    static Path script() {
        String p = System.getProperty("sparsevit.peers");
        Path dir = p != null && !p.isBlank() ? Path.of(p) : Path.of("..", "bench", "peers");
        return dir.resolve("swin_to_onnx.py").toAbsolutePath().normalize();
    }

    @BeforeEach
    void needsPythonAndOnnxRuntime() {
        assumeTrue(Files.isRegularFile(script()), "no " + script());
        assumeTrue(python("--version").code == 0, "python3 is not on the PATH");
        boolean ort;
        try {
            Class.forName("ai.onnxruntime.OrtEnvironment", false, getClass().getClassLoader());
            ort = true;
        } catch (ClassNotFoundException e) {
            ort = false;
        }
        assumeTrue(ort, "ONNX Runtime's Java API is not on the class path");
    }

    record Proc(int code, String out, String err) {
    }

    static Proc python(String... args) {
        List<String> cmd = new ArrayList<>(List.of("python3", "-B"));
        if (args.length == 0 || !args[0].startsWith("--version")) {
            cmd.add(script().toString());
        }
        cmd.addAll(List.of(args));
        try {
            Path out = Files.createTempFile("py", ".out");
            Path err = Files.createTempFile("py", ".err");
            try {
                Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
                if (!p.waitFor(300, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new AssertionError("timed out: " + cmd);
                }
                return new Proc(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                        Files.readString(err, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            return new Proc(-1, "", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static HostTensor images(int b, int h, int w, long seed) {
        HostTensor t = HostTensor.zeros(b, 3, h, w);
        Random r = new Random(seed);
        for (int i = 0; i < t.data().length; i++) {
            t.data()[i] = (float) r.nextGaussian();
        }
        return t;
    }

    static HostTensor ours(Path weights, HostTensor x) {
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.load(weights), be)) {
            return m.forward(x).logits();
        }
    }

    static double relative(HostTensor want, HostTensor got) {
        assertArrayEquals(want.shape(), got.shape());
        double diff = 0;
        for (int i = 0; i < want.data().length; i++) {
            diff = Math.max(diff, Math.abs((double) want.data()[i] - got.data()[i]));
        }
        return diff / want.maxAbs();
    }

    Path export(SwinConfig cfg, long seed, String size, int batch) {
        Path w = tmp.resolve("w" + seed + ".safetensors");
        if (!Files.exists(w)) {
            SwinWeights.random(cfg, seed).save(w);
        }
        Path onnx = tmp.resolve("m" + seed + "-" + size + "-" + batch + ".onnx");
        Proc p = python(w.toString(), onnx.toString(), "--size", size, "--batch", Integer.toString(batch));
        assertEquals(0, p.code, p.err);
        assertTrue(p.out.contains("wrote " + onnx), p.out);
        return onnx;
    }

    @Test
    void onnxRuntimeMatchesTheCpuBackend() throws Exception {
        // 224: the benchmark's geometry; 162x98: patch padding, padded and shifted grids, clamped windows
        // (stage 2 is 11x7, stage 3 6x4), odd merges; batch 2
        Object[][] cases = {{"224x224", 1}, {"162x98", 2}};
        for (Object[] c : cases) {
            String size = (String) c[0];
            int batch = (Integer) c[1];
            String[] hw = size.split("x");
            HostTensor x = images(batch, Integer.parseInt(hw[0]), Integer.parseInt(hw[1]), 17);
            Path onnx = export(SMALL, 5, size, batch);
            HostTensor want = ours(tmp.resolve("w5.safetensors"), x);
            HostTensor got = Ort.run(onnx, x);
            double rel = relative(want, got);
            assertTrue(rel <= 1e-4, size + ": ONNX Runtime differs from the CPU backend by " + rel + " relative");
            // the comparison can tell models apart: other weights give other logits
            export(SMALL, 6, size, batch);
            double other = relative(ours(tmp.resolve("w6.safetensors"), x), got);
            assertTrue(other > 1e-2, size + ": other weights differ by only " + other);
        }
    }

    @Test
    void badWeightsGetOneLineAndExitCode1() throws IOException {
        Path out = tmp.resolve("bad.onnx");
        Path tiny = tmp.resolve("tiny.safetensors");
        Files.write(tiny, new byte[3]);
        Proc p = python(tiny.toString(), out.toString());
        assertEquals(1, p.code);
        assertEquals("error: " + tiny + ": file is 3 bytes, too short for a safetensors header", p.err.strip());

        // a tensor missing
        SwinWeights w = SwinWeights.random(SMALL, 1);
        Map<String, HostTensor> m = new java.util.LinkedHashMap<>(w.all());
        m.remove("layers.1.blocks.1.mlp.fc2.bias");
        Path missing = tmp.resolve("missing.safetensors");
        org.sparsevit.io.Safetensors.write(missing, m, SwinWeights.metadata(SMALL), org.sparsevit.tensor.DType.F32);
        p = python(missing.toString(), out.toString());
        assertEquals(1, p.code);
        assertEquals(1, p.err.strip().lines().count(), p.err);
        assertTrue(p.err.contains("1 missing keys (layers.1.blocks.1.mlp.fc2.bias)"), p.err);

        // a backbone: no head
        Path bb = tmp.resolve("bb.safetensors");
        SwinWeights.random(SMALL.withTask(Task.BACKBONE, 0), 1).save(bb);
        p = python(bb.toString(), out.toString());
        assertEquals(1, p.code);
        assertTrue(p.err.strip().startsWith("error: " + bb + ": no head.weight: only Swin classifiers"), p.err);

        // a malformed size
        Path ok = tmp.resolve("ok.safetensors");
        w.save(ok);
        p = python(ok.toString(), out.toString(), "--size", "22a");
        assertEquals(1, p.code);
        assertEquals("error: --size '22a' is not HxW with positive integers (e.g. 224x224)", p.err.strip());
        assertTrue(!Files.exists(out), "no model is written for bad input");
    }

    /** ONNX Runtime in a nested class, so that the test class loads where the jar is absent. */
    static final class Ort {
        static HostTensor run(Path model, HostTensor x) throws Exception {
            ai.onnxruntime.OrtEnvironment env = ai.onnxruntime.OrtEnvironment.getEnvironment();
            long[] shape = java.util.Arrays.stream(x.shape()).asLongStream().toArray();
            try (ai.onnxruntime.OrtSession.SessionOptions o = new ai.onnxruntime.OrtSession.SessionOptions()) {
                o.setIntraOpNumThreads(1);
                o.setOptimizationLevel(ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT);
                try (ai.onnxruntime.OrtSession s = env.createSession(model.toString(), o);
                     ai.onnxruntime.OnnxTensor t = ai.onnxruntime.OnnxTensor.createTensor(env,
                             FloatBuffer.wrap(x.data()), shape);
                     ai.onnxruntime.OrtSession.Result r = s.run(Map.of("images", t))) {
                    assertEquals(List.of("logits"), new ArrayList<>(s.getOutputNames()));
                    ai.onnxruntime.OnnxTensor y = (ai.onnxruntime.OnnxTensor) r.get(0);
                    FloatBuffer fb = y.getFloatBuffer();
                    float[] d = new float[fb.remaining()];
                    fb.get(d);
                    return new HostTensor(d, java.util.Arrays.stream(y.getInfo().getShape()).mapToInt(v -> (int) v)
                            .toArray());
                }
            }
        }
    }
}
