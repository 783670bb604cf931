package org.sparsevit.bench.ort;

import java.io.FileWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

/**
 * The CPU peer: ONNX Runtime's Java API on an ONNX model of the same dense architecture (written by
 * bench/peers/swin_to_onnx.py from our weights, or by export_onnx.py from timm), timed like
 * {@code sparsevit bench}: warm-up, then p50/p90/p99 of single passes. Writes rows of the same JSON form,
 * backend "onnxruntime-cpu", impl "onnxruntime-java".
 *
 * <pre>
 * java -cp ort-bench.jar org.sparsevit.bench.ort.OrtBench model.onnx HxW batch iters warmup out.json [threads [gmacs]]
 * java -cp ort-bench.jar org.sparsevit.bench.ort.OrtBench check model.onnx input.npy expected.npy [tolerance]
 * </pre>
 *
 * {@code check} runs the model once on {@code input.npy} (float32 [B, 3, H, W]) and compares the output with
 * {@code expected.npy} (our CPU backend's logits): max |diff| / max |expected| must be at most the tolerance
 * (default 1e-4); exit code 0 when it is, 1 when not, 2 for bad arguments or files. With the environment
 * variable {@code SVJ_ORT_PROFILE=prefix} the timing mode also writes ONNX Runtime's per-node profile.
 */
public final class OrtBench {
    private OrtBench() {
    }

    public static void main(String[] a) {
        try {
            if (a.length >= 1 && a[0].equals("check")) {
                System.exit(check(a));
            }
            System.exit(bench(a));
        } catch (OrtException | IOException | IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
        }
    }

    static int bench(String[] a) throws OrtException, IOException {
        if (a.length < 6) {
            System.err.println("usage: OrtBench model.onnx HxW batch iters warmup out.json [threads [gmacs]]\n"
                    + "       OrtBench check model.onnx input.npy expected.npy [tolerance]");
            return 2;
        }
        String[] hw = a[1].toLowerCase(Locale.ROOT).split("x");
        int h = Integer.parseInt(hw[0]);
        int w = Integer.parseInt(hw[1]);
        int batch = Integer.parseInt(a[2]);
        int iters = Integer.parseInt(a[3]);
        int warmup = Integer.parseInt(a[4]);
        int threads = a.length > 6 ? Integer.parseInt(a[6]) : Runtime.getRuntime().availableProcessors();
        double gmacs = a.length > 7 ? Double.parseDouble(a[7]) : 0;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        String profile = System.getenv("SVJ_ORT_PROFILE");
        boolean profiling = profile != null && !profile.isBlank();
        try (OrtSession.SessionOptions o = options(threads);
             OrtSession s = env.createSession(a[0], profiling ? profiled(o, profile) : o)) {
            String input = s.getInputNames().iterator().next();
            float[] x = new float[batch * 3 * h * w];
            Random r = new Random(11);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[]{batch, 3, h, w})) {
                for (int i = 0; i < warmup; i++) {
                    s.run(Map.of(input, t)).close();
                }
                double[] ms = new double[iters];
                for (int i = 0; i < iters; i++) {
                    long t0 = System.nanoTime();
                    s.run(Map.of(input, t)).close();
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
                Arrays.sort(ms);
                double p50 = pct(ms, 50);
                String row = String.format(Locale.ROOT, "[{\"impl\": \"onnxruntime-java\", \"arch\": \"swin-t\", "
                                + "\"task\": \"classification\", \"size\": \"%dx%d\", \"batch\": %d, \"precision\": \"fp32\", "
                                + "\"backend\": \"onnxruntime-cpu\", \"device\": \"CPU, %d threads, ONNX Runtime %s\", "
                                + "\"sparsity\": \"dense\", \"gmacs\": %.3f, \"p50_ms\": %.4f, \"p90_ms\": %.4f, "
                                + "\"p99_ms\": %.4f, \"mean_ms\": %.4f, \"images_per_s\": %.2f, \"iters\": %d, "
                                + "\"intra_op_threads\": %d}]%n", h, w, batch, threads, env.getVersion(), gmacs, p50,
                        pct(ms, 90), pct(ms, 99), Arrays.stream(ms).average().orElse(0), batch * 1000.0 / p50, iters,
                        threads);
                try (FileWriter f = new FileWriter(a[5], StandardCharsets.UTF_8)) {
                    f.write(row);
                }
                System.out.print(row);
            }
            if (profiling) {
                System.err.println("profile: " + s.endProfiling());
            }
        }
        return 0;
    }

    static int check(String[] a) throws OrtException, IOException {
        if (a.length < 4) {
            System.err.println("usage: OrtBench check model.onnx input.npy expected.npy [tolerance]");
            return 2;
        }
        double tol = a.length > 4 ? Double.parseDouble(a[4]) : 1e-4;
        Npy x = Npy.read(Path.of(a[2]));
        Npy want = Npy.read(Path.of(a[3]));
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[] got;
        long[] gotShape;
        try (OrtSession.SessionOptions o = options(Runtime.getRuntime().availableProcessors());
             OrtSession s = env.createSession(a[1], o);
             OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x.data), x.shape);
             OrtSession.Result r = s.run(Map.of(s.getInputNames().iterator().next(), t))) {
            OnnxTensor out = (OnnxTensor) r.get(0);
            gotShape = out.getInfo().getShape();
            FloatBuffer fb = out.getFloatBuffer();
            got = new float[fb.remaining()];
            fb.get(got);
        }
        if (!Arrays.equals(gotShape, want.shape)) {
            System.out.printf(Locale.ROOT, "check FAILED: ONNX Runtime output %s, expected %s%n",
                    Arrays.toString(gotShape), Arrays.toString(want.shape));
            return 1;
        }
        double maxDiff = 0;
        double maxAbs = 0;
        for (int i = 0; i < got.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs((double) got[i] - want.data[i]));
            maxAbs = Math.max(maxAbs, Math.abs(want.data[i]));
        }
        double rel = maxDiff / Math.max(maxAbs, 1e-30);
        boolean ok = rel <= tol && Double.isFinite(rel);
        System.out.printf(Locale.ROOT, "check %s: ONNX Runtime %s vs %s %s: max |diff| %.3e, max |expected| %.3e, "
                        + "relative %.3e (tolerance %.1e)%n", ok ? "passed" : "FAILED", env.getVersion(), a[3],
                Arrays.toString(want.shape), maxDiff, maxAbs, rel, tol);
        return ok ? 0 : 1;
    }

    static OrtSession.SessionOptions options(int threads) throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setIntraOpNumThreads(threads);
        o.setInterOpNumThreads(1);
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        return o;
    }

    /** Session options that also write ONNX Runtime's profile (a Chrome-trace JSON, one event per node run). */
    static OrtSession.SessionOptions profiled(OrtSession.SessionOptions o, String prefix) throws OrtException {
        o.enableProfiling(prefix);
        return o;
    }

    static double pct(double[] sorted, double p) {
        double pos = p / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(sorted.length - 1, lo + 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /** A float32 C-order .npy file (format 1.x or 2.x). */
    record Npy(long[] shape, float[] data) {
        private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

        static Npy read(Path file) throws IOException {
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException(file + ": no such file");
            }
            byte[] b = Files.readAllBytes(file);
            ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            if (b.length < 10 || (b[0] & 0xff) != 0x93 || !new String(b, 1, 5, StandardCharsets.ISO_8859_1).equals("NUMPY")) {
                throw new IllegalArgumentException(file + ": not a .npy file (bad magic string)");
            }
            int major = b[6];
            int headerLen = major == 1 ? Short.toUnsignedInt(bb.getShort(8)) : bb.getInt(8);
            int start = major == 1 ? 10 : 12;
            if (start + headerLen > b.length) {
                throw new IllegalArgumentException(file + ": truncated header");
            }
            String header = new String(b, start, headerLen, StandardCharsets.ISO_8859_1);
            if (!header.contains("'descr': '<f4'")) {
                throw new IllegalArgumentException(file + ": not little-endian float32 (" + header.strip() + ")");
            }
            if (header.contains("'fortran_order': True")) {
                throw new IllegalArgumentException(file + ": Fortran-order arrays are not supported");
            }
            Matcher m = SHAPE.matcher(header);
            if (!m.find()) {
                throw new IllegalArgumentException(file + ": no shape in the header");
            }
            long[] shape = Arrays.stream(m.group(1).split(",")).map(String::strip).filter(v -> !v.isEmpty())
                    .mapToLong(Long::parseLong).toArray();
            long n = Arrays.stream(shape).reduce(1, (p, q) -> p * q);
            int off = start + headerLen;
            if (b.length - off < n * 4) {
                throw new IllegalArgumentException(file + ": truncated data: shape " + Arrays.toString(shape) + " needs "
                        + n * 4 + " bytes, found " + (b.length - off));
            }
            float[] data = new float[(int) n];
            bb.position(off);
            bb.asFloatBuffer().get(data);
            return new Npy(shape, data);
        }
    }
}
