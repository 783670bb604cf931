package org.sparsevit.bench.ort;

import java.io.FileWriter;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

/**
 * The CPU peer: ONNX Runtime's Java API on an ONNX export of the same dense architecture (made by
 * bench/peers/export_onnx.py), timed like {@code sparsevit bench}: warm-up, then p50/p90/p99 of single
 * passes. Writes rows of the same JSON form with impl "onnxruntime-java".
 *
 * <pre>java -cp ort-bench.jar org.sparsevit.bench.ort.OrtBench model.onnx HxW batch iters warmup out.json [threads]</pre>
 */
public final class OrtBench {
    private OrtBench() {
    }

    public static void main(String[] a) throws OrtException, IOException {
        if (a.length < 6) {
            System.err.println("usage: OrtBench model.onnx HxW batch iters warmup out.json [threads]");
            System.exit(2);
        }
        String[] hw = a[1].split("x");
        int h = Integer.parseInt(hw[0]);
        int w = Integer.parseInt(hw[1]);
        int batch = Integer.parseInt(a[2]);
        int iters = Integer.parseInt(a[3]);
        int warmup = Integer.parseInt(a[4]);
        int threads = a.length > 6 ? Integer.parseInt(a[6]) : Runtime.getRuntime().availableProcessors();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            try (OrtSession s = env.createSession(a[0], o)) {
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
                                    + "\"backend\": \"cpu\", \"device\": \"CPU, %d threads, ONNX Runtime\", \"sparsity\": \"dense\", "
                                    + "\"gmacs\": 0, \"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"mean_ms\": %.4f, "
                                    + "\"images_per_s\": %.2f, \"iters\": %d}]%n", h, w, batch, threads, p50, pct(ms, 90),
                            pct(ms, 99), Arrays.stream(ms).average().orElse(0), batch * 1000.0 / p50, iters);
                    try (FileWriter f = new FileWriter(a[5])) {
                        f.write(row);
                    }
                    System.out.print(row);
                }
            }
        }
    }

    static double pct(double[] sorted, double p) {
        double pos = p / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(sorted.length - 1, lo + 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }
}
