package org.sparsevit.search;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Captured;
import org.sparsevit.backend.CudaTimer;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * Latency as a service: measures one loaded model at one input size and batch, for any sparsity
 * configuration, without reloading anything.
 *
 * <p>A measurement runs {@code warmup} untimed forward passes, then {@code iters} timed ones. Each timed
 * pass starts on an idle device and is timed until its work has finished ({@link Backend#synchronize()}
 * after the pass, or the CUDA backend's own timer, see {@link CudaTimer}); results stay on the device, so
 * nothing is copied back. The result is the trimmed mean of the middle 50% of the sorted times with the
 * median, minimum and maximum as spread. Inputs are seeded standard-normal images uploaded once.
 *
 * <p>Before its first measurement a meter warms the JVM and the device up once ({@link #warmUp}); without
 * that, the first configurations measured would also pay for just-in-time compilation and memory pool
 * growth (on the CPU backend the first measurements of a fresh JVM come out several times too slow).
 *
 * <p>On a backend that captures graphs (CUDA) each measurement times replays of the whole forward captured as one
 * graph; should a capture fail, the meter measures with eager passes from then on, and says so ({@link #mode()};
 * a change of mode after graph measurements is an error, {@link ModeChangeException}), so that the timings of
 * one meter never mix the two modes silently.
 *
 * <p>Latency does not depend on weight values, so {@link #forConfig} measures an architecture with
 * seeded random weights.
 */
public final class LatencyMeter implements LatencyModel, AutoCloseable {
    private final SwinModel model;
    private final boolean ownsModel;
    private final int warmup;
    private final int iters;
    private final Tensor input;
    private final int height;
    private final int width;
    private final int batch;
    private boolean useGraphs = true;
    private String graphFailure;
    private boolean lastGraph;
    /** Measurements so far that replayed a captured graph. */
    private int graphMeasurements;
    private final PaddingMode padding;
    private boolean warmedUp;

    /**
     * One measurement in milliseconds.
     *
     * @param trimmedMeanMs mean of the middle 50% of the timed passes
     * @param p50Ms         median
     * @param minMs         fastest pass
     * @param maxMs         slowest pass
     * @param iters         timed passes
     */
    public record Measurement(double trimmedMeanMs, double p50Ms, double minMs, double maxMs, int iters) {
        /** Relative spread (max - min) / trimmed mean. */
        public double spread() {
            return (maxMs - minMs) / trimmedMeanMs;
        }

        /** E.g. {@code 12.345 ms (p50 12.340, min 12.100, max 13.002, 20 passes)}. */
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%.3f ms (p50 %.3f, min %.3f, max %.3f, %d passes)", trimmedMeanMs,
                    p50Ms, minMs, maxMs, iters);
        }
    }

    /**
     * Measures {@code model} (not closed by this meter) on {@code batch} images of height x width.
     *
     * @param warmup untimed passes before every measurement (0 or more; where the forward is captured as a graph,
     *               at least one eager pass precedes the capture all the same)
     * @param iters  timed passes per measurement (at least 4)
     */
    public LatencyMeter(SwinModel model, int height, int width, int batch, int warmup, int iters) {
        this(model, false, height, width, batch, warmup, iters);
    }

    private LatencyMeter(SwinModel model, boolean ownsModel, int height, int width, int batch, int warmup, int iters) {
        if (iters < 4 || warmup < 0) {
            throw new IllegalArgumentException("latency: at least 4 timed iterations and a non-negative warm-up are"
                    + " needed, got " + iters + " and " + warmup);
        }
        if (height <= 0 || width <= 0 || batch <= 0) {
            throw new IllegalArgumentException("latency: size and batch must be positive, got " + height + "x" + width
                    + ", batch " + batch);
        }
        this.model = model;
        this.ownsModel = ownsModel;
        this.warmup = warmup;
        this.iters = iters;
        this.height = height;
        this.width = width;
        this.batch = batch;
        this.padding = model.config().defaultPadding();
        HostTensor x = HostTensor.zeros(batch, model.config().inChans(), height, width);
        Random r = new Random(5);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = (float) r.nextGaussian();
        }
        this.input = model.backend().exclusive(() -> model.backend().upload(x, model.backend().storage()));
    }

    /**
     * A meter for an architecture on a backend: builds a model with seeded random weights, which the
     * meter closes with itself (the backend stays open).
     */
    public static LatencyMeter forConfig(SwinConfig cfg, Backend backend, int height, int width, int batch, int warmup,
                                         int iters) {
        SwinModel m = new SwinModel(SwinWeights.random(cfg, 1), backend);
        try {
            return new LatencyMeter(m, true, height, width, batch, warmup, iters);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int batch() {
        return batch;
    }

    public int warmup() {
        return warmup;
    }

    public int iters() {
        return iters;
    }

    public SwinModel model() {
        return model;
    }

    /**
     * Warms the JVM and the device up: passes alternating the dense model and every block at ratio 0.5,
     * for at least {@code minSeconds}, and then until the dense passes have settled (the median of the last
     * four within 10% of the four before) or {@code maxSeconds} have passed. That covers just-in-time
     * compilation of both the dense and the pruned code paths. Done once automatically (1 to 20 s) before
     * the first measurement.
     */
    public void warmUp(double minSeconds, double maxSeconds) {
        model.backend().exclusive(() -> {
            warmUpPasses(minSeconds, maxSeconds);
            return null;
        });
    }

    private void warmUpPasses(double minSeconds, double maxSeconds) {
        Runnable dense = pass(SparsityConfig.dense(model.config()).ratios());
        Runnable pruned = pass(SparsityConfig.uniform(model.config().depths(), 0.5).ratios());
        List<Double> times = new ArrayList<>();
        long t0 = System.nanoTime();
        while (true) {
            times.add(CudaTimer.timeMs(model.backend(), dense));
            pruned.run();
            double elapsed = (System.nanoTime() - t0) / 1e9;
            if (elapsed >= maxSeconds) {
                break;
            }
            int n = times.size();
            if (elapsed >= minSeconds && n >= 8) {
                double last = median(times.subList(n - 4, n));
                double before = median(times.subList(n - 8, n - 4));
                if (Math.abs(last - before) <= 0.1 * before) {
                    break;
                }
            }
        }
        model.backend().synchronize();
        warmedUp = true;
    }

    private static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private Runnable pass(double[][] ratios) {
        return () -> model.forwardTensors(input, ratios, padding, null, null).forEach(Tensor::close);
    }

    /**
     * Measures one configuration (checked against the model at this size first). The meter has the model's
     * session to itself meanwhile ({@link org.sparsevit.backend.Backend#exclusive}): passes other threads run
     * through the same model wait, so they neither land in the capture nor in the timings.
     *
     * <p>Where the backend captures graphs, every measurement is a graph replay until a capture fails; from
     * then on the meter runs eager passes only ({@link #mode()} says why). If that happens after some
     * configurations were already timed as graph replays, this measurement throws
     * {@link ModeChangeException} instead of quietly returning a timing of the other mode.
     *
     * @throws ModeChangeException when the measurement mode would change part way (see above)
     */
    public Measurement measure(SparsityConfig sp) {
        sp.validate(model.config(), height, width);
        return model.backend().exclusive(() -> measureHeld(sp));
    }

    private Measurement measureHeld(SparsityConfig sp) {
        if (!warmedUp) {
            warmUp(1, 20); // (the session lock is reentrant)
        }
        Runnable pass = pass(sp.ratios());
        // with graphs, one eager pass first even without warm-up: the GEMM plans, kernel loading and the
        // workspace's first (recording) run of this configuration then happen outside the capture
        boolean graphs = useGraphs && model.backend().capturesGraphs();
        for (int i = 0; i < (graphs ? Math.max(1, warmup) : warmup); i++) {
            pass.run();
        }
        model.backend().synchronize();
        // where the backend can (CUDA), time what a deployment runs: the whole forward replayed as one graph
        Captured graph = null;
        if (useGraphs) {
            String failure = null;
            try {
                graph = model.backend().capture(() -> model.forwardTensors(input, sp.ratios(), padding, null, null));
            } catch (RuntimeException e) {
                failure = String.valueOf(e.getMessage());
            }
            if (failure != null || (graph == null && graphMeasurements > 0)) {
                // from now on eager passes, for good: the same meter must not time some configurations one way
                // and others the other way without saying so
                useGraphs = false;
                graphFailure = failure != null ? failure : "the backend captured nothing";
                if (graphMeasurements > 0) {
                    throw new ModeChangeException("latency: capturing the forward of " + sp.toCompact()
                            + " as a graph failed after " + graphMeasurements + " measurement(s) replayed as graphs ("
                            + graphFailure + "); graph replays and eager passes do not compare, and this meter now"
                            + " measures with eager passes only");
                }
            }
        }
        try {
            Runnable timed = graph == null ? pass : graph::replay;
            if (graph != null) {
                graph.replay();
                model.backend().synchronize();
            }
            double[] ms = new double[iters];
            for (int i = 0; i < iters; i++) {
                ms[i] = CudaTimer.timeMs(model.backend(), timed);
            }
            lastGraph = graph != null;
            if (lastGraph) {
                graphMeasurements++;
            }
            return summarize(ms);
        } finally {
            if (graph != null) {
                graph.close();
            }
        }
    }

    /**
     * How the last measurement ran: "graph replay" (CUDA: the whole forward captured once and replayed) or
     * "eager passes" (the CPU, or when capture failed: the reason follows).
     */
    public String mode() {
        return lastGraph ? GRAPH_REPLAY : EAGER_PASSES + (graphFailure == null ? "" : " (capture failed: " + graphFailure + ")");
    }

    /** Whether the last measurement replayed a captured graph ({@link #GRAPH_REPLAY}) rather than eager passes. */
    public boolean graphs() {
        return lastGraph;
    }

    /** {@link #mode()} of a measurement that replayed a captured graph. */
    public static final String GRAPH_REPLAY = "graph replay";
    /** {@link #mode()} of a measurement that ran eager passes. */
    public static final String EAGER_PASSES = "eager passes";

    /**
     * Thrown by {@link #measure} when a configuration's graph capture fails after this meter has timed earlier
     * configurations as graph replays: its timings would otherwise mix the two modes without saying so. The
     * meter has switched to eager passes for good, so a caller that wants consistent timings (such as
     * {@link LatencyTable#build}) can measure everything again with it.
     */
    public static final class ModeChangeException extends SparseVitException {
        ModeChangeException(String message) {
            super(message);
        }
    }

    /** Trimmed mean of the middle 50%, median, min and max of some timings (sorted in place). */
    static Measurement summarize(double[] ms) {
        Arrays.sort(ms);
        int n = ms.length;
        int lo = n / 4;
        int hi = n - n / 4;
        double sum = 0;
        for (int i = lo; i < hi; i++) {
            sum += ms[i];
        }
        double p50 = n % 2 == 1 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
        return new Measurement(sum / (hi - lo), p50, ms[0], ms[n - 1], n);
    }

    /** The trimmed mean of a fresh measurement. */
    @Override
    public double latencyMs(SparsityConfig config) {
        return measure(config).trimmedMeanMs();
    }

    /** Measurements are noisy: the search logs them so that a resumed run reuses them. */
    @Override
    public boolean deterministic() {
        return false;
    }

    @Override
    public String describe() {
        return String.format(Locale.ROOT, "measured on %s: %s at %dx%d, batch %d, %d warm-up and %d timed passes",
                model.backend().device(), model.config(), height, width, batch, warmup, iters);
    }

    /** Measures several configurations, one after the other. */
    public List<Measurement> measureAll(List<SparsityConfig> configs) {
        return configs.stream().map(this::measure).toList();
    }

    /** Frees the input (and the model when the meter built it). */
    @Override
    public void close() {
        input.close();
        if (ownsModel) {
            model.close();
        }
    }
}
