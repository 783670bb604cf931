package org.sparsevit.bench;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Backends;
import org.sparsevit.backend.CudaTimer;
import org.sparsevit.backend.MemoryStats;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.ProfilingBackend;
import org.sparsevit.backend.cuda.CudaBackend;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.model.CompiledForward;
import org.sparsevit.model.FeatureMap;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The end-to-end benchmark: for every case, warm-up passes, then {@code iters} timed forward passes
 * (each synchronised, results left on the device), reported as p50/p90/p99 and images/s, with the
 * analytic MACs, a per-node breakdown (one pass run node by node with synchronisation) and a per-op
 * breakdown (one profiled pass). Models are built once per (architecture, task, precision) and reused.
 */
public final class Benchmark implements AutoCloseable {
    private final String backendName;
    private final SwinWeights weights;
    private final int warmup;
    private final int iters;
    private final PrintStream progress;
    /** Whether the bar is redrawn in place (a terminal) or written as lines (a log: no console). */
    private final boolean interactive = System.console() != null;
    private String lastLine = "";
    private final Map<String, ProfilingBackend> backends = new HashMap<>();
    private final Map<String, SwinModel> models = new HashMap<>();

    /**
     * @param backendName cpu, cuda or auto
     * @param weights     a weights file to use instead of seeded random weights, or null; every case is run
     *                    with the file's architecture and task (see {@link #Benchmark(String, SwinWeights, int, int,
     *                    PrintStream)})
     * @param warmup      untimed passes per case
     * @param iters       timed passes per case
     * @param progress    where the progress bar goes (stderr), or null
     */
    public Benchmark(String backendName, java.nio.file.Path weights, int warmup, int iters, PrintStream progress) {
        this(backendName, weights == null ? null : SwinWeights.load(weights), warmup, iters, progress);
    }

    /**
     * As {@link #Benchmark(String, java.nio.file.Path, int, int, PrintStream)} with weights already loaded: every
     * case runs on a model of these weights (whatever the case's arch says: the caller names it), so the cases'
     * sparsities must be for the weights' depths.
     */
    public Benchmark(String backendName, SwinWeights weights, int warmup, int iters, PrintStream progress) {
        if (iters <= 0 || warmup < 0) {
            throw new IllegalArgumentException("--iters must be positive and --warmup non-negative, got " + iters
                    + " and " + warmup);
        }
        this.backendName = backendName;
        this.weights = weights;
        this.warmup = warmup;
        this.iters = iters;
        this.progress = progress;
    }

    private int hostIters = -1;
    private String hostFailure;

    /**
     * Timed calls from host images to host outputs per case ({@link BenchResult#hostP50Ms}): 0 skips them; the
     * default (-1) is a tenth of the iterations, 1 to 10.
     */
    public Benchmark withHostIters(int n) {
        if (n < -1) {
            throw new IllegalArgumentException("--host-iters must be 0 or more, got " + n);
        }
        this.hostIters = n;
        return this;
    }

    private ProfilingBackend backend(String precision) {
        return backends.computeIfAbsent(precision, p -> new ProfilingBackend(
                Backends.create(backendName, Precision.parse(p), progress == null ? null : progress::println)));
    }

    private SwinModel model(BenchCase c) {
        String key = c.arch() + "/" + c.backbone() + "/" + c.precision();
        return models.computeIfAbsent(key, k -> {
            ProfilingBackend be = backend(c.precision());
            SwinWeights w;
            if (weights != null) {
                w = weights;
            } else {
                SwinConfig cfg = SwinConfig.preset(c.arch());
                if (c.backbone()) {
                    cfg = cfg.withTask(Task.BACKBONE, 0);
                }
                w = SwinWeights.random(cfg, 7);
            }
            return new SwinModel(w, be);
        });
    }

    /** What became of one case: "measured", "failed" (with the error) or "skipped" (time budget). */
    public record Outcome(String label, String status, String reason, double seconds) {
    }

    private final List<Outcome> outcomes = new ArrayList<>();

    /** The outcome of every case given to {@link #run(List, double, Consumer)}, in order. */
    public List<Outcome> outcomes() {
        return List.copyOf(outcomes);
    }

    /** Runs every case; a case that fails is reported on the progress stream and skipped. */
    public List<BenchResult> run(List<BenchCase> cases) {
        return run(cases, 0, null);
    }

    /**
     * Runs the cases in order. A case that throws is reported on the progress stream, recorded as "failed"
     * and the run goes on. With {@code budgetSeconds > 0}, a case is not started when the time spent so far
     * plus the longest case so far would exceed the budget (it is recorded as "skipped"), so a caller's hard
     * time limit does not cut a case off. {@code onRow} (may be null) sees every row as soon as it is measured.
     */
    public List<BenchResult> run(List<BenchCase> cases, double budgetSeconds, Consumer<BenchResult> onRow) {
        // every backend first: an unknown precision, one the backend cannot run or a GPU that is not there fails
        // the run before any case, instead of failing every case
        for (BenchCase c : cases) {
            backend(c.precision());
        }
        List<BenchResult> out = new ArrayList<>();
        long start = System.nanoTime();
        double longest = 0;
        for (int i = 0; i < cases.size(); i++) {
            BenchCase c = cases.get(i);
            double elapsed = (System.nanoTime() - start) / 1e9;
            if (budgetSeconds > 0 && elapsed + longest > budgetSeconds) {
                String why = String.format(Locale.ROOT, "time budget: %.0f s spent of %.0f s, the longest case took %.0f s",
                        elapsed, budgetSeconds, longest);
                outcomes.add(new Outcome(c.label(), "skipped", why, 0));
                if (progress != null) {
                    progress.println("\ncase skipped: " + c.label() + ": " + why);
                }
                continue;
            }
            long t0 = System.nanoTime();
            BenchResult r = null;
            hostFailure = null;
            try {
                r = run(c, i, cases.size());
            } catch (RuntimeException | OutOfMemoryError e) {
                // (out of memory: the case's buffers; what it held is garbage now, and the next case can still run)
                String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
                if (e instanceof ArithmeticException) {
                    msg = "input too large: " + c.batch() + " x " + c.size() + " overflows a size or index (" + msg + ")";
                } else if (e instanceof OutOfMemoryError) {
                    msg = "out of memory at " + c.batch() + " x " + c.size() + " (" + msg + "); a smaller batch or size,"
                            + " or more -Xmx / -XX:MaxDirectMemorySize";
                }
                outcomes.add(new Outcome(c.label(), "failed", msg, (System.nanoTime() - t0) / 1e9));
                if (progress != null) {
                    progress.println("\ncase failed: " + c.label() + ": " + msg);
                }
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            longest = Math.max(longest, secs);
            if (r != null) {
                out.add(r);
                outcomes.add(new Outcome(c.label(), "measured", hostFailure == null ? ""
                        : "host-to-host timing failed: " + hostFailure, secs));
                // outside the case's try: a row that cannot be recorded (a full disk) ends the run, it is not
                // a failure of the case
                if (onRow != null) {
                    onRow.accept(r);
                }
            }
        }
        if (progress != null) {
            progress.println();
        }
        return out;
    }

    private void bar(int caseIdx, int cases, int done, int total, String label) {
        if (progress == null) {
            return;
        }
        if (!interactive) {
            // a log file: one line per case and phase instead of a bar redrawn every pass
            String line = String.format(Locale.ROOT, "case %d/%d %s", caseIdx + 1, cases, label);
            if (done == total) {
                progress.println(line + ": done");
            } else if (!line.equals(lastLine)) {
                progress.println(line);
            }
            lastLine = line;
            return;
        }
        int width = 30;
        double f = (caseIdx + (double) done / total) / cases;
        int fill = (int) Math.round(f * width);
        progress.print(String.format(Locale.ROOT, "\r[%s%s] %3.0f%% case %d/%d %-60s", "#".repeat(fill),
                ".".repeat(width - fill), 100 * f, caseIdx + 1, cases, label));
        progress.flush();
    }

    public BenchResult run(BenchCase c, int caseIdx, int cases) {
        SwinModel m = model(c);
        ProfilingBackend be = (ProfilingBackend) m.backend();
        SwinConfig cfg = m.config();
        c.sparsity().validate(cfg, c.height(), c.width());
        double[][] ratios = c.sparsity().ratios();
        PaddingMode pad = PaddingMode.SWIN;
        HostTensor x = HostTensor.zeros(c.batch(), cfg.inChans(), c.height(), c.width());
        Random r = new Random(11);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = (float) r.nextGaussian();
        }
        double[] ms = new double[iters];
        boolean[] graphed = new boolean[1];
        Map<String, Double> stages = new LinkedHashMap<>();
        Map<String, Double> ops = new LinkedHashMap<>();
        Map<String, Long> memory = new LinkedHashMap<>();
        be.setEnabled(false);
        try (Tensor img = be.upload(x, be.storage())) {
            // where the pass is captured, one eager pass first even without warm-up: cuBLASLt plans, kernel
            // loading and the workspace's recording run then happen outside the capture
            int eager = be.capturesGraphs() ? Math.max(1, warmup) : warmup;
            for (int i = 0; i < eager; i++) {
                m.forwardTensors(img, ratios, pad, null, null).forEach(Tensor::close);
                bar(caseIdx, cases, 0, iters, c.label() + " (warm-up)");
            }
            be.synchronize();
            // on a GPU the whole forward is captured once and replayed as one graph
            org.sparsevit.backend.Captured graph = null;
            try {
                graph = be.capture(() -> m.forwardTensors(img, ratios, pad, null, null));
            } catch (RuntimeException e) {
                if (progress != null) {
                    progress.println("\ngraph capture failed, timing eager passes: " + e.getMessage());
                }
            }
            graphed[0] = graph != null;
            MemoryStats before = be.memoryStats();
            try {
                if (graph != null) {
                    // the first launch also uploads the graph to the device: not timed
                    graph.replay();
                    be.synchronize();
                }
                org.sparsevit.backend.Captured g = graph;
                Runnable pass = g != null ? g::replay
                        : () -> m.forwardTensors(img, ratios, pad, null, null).forEach(Tensor::close);
                for (int i = 0; i < iters; i++) {
                    // CUDA events around the graph launch (or the eager pass) on the GPU, as the peers are timed;
                    // wall clock around a synchronised pass on the CPU
                    ms[i] = CudaTimer.timeMs(be, pass);
                    if (i % Math.max(1, iters / 50) == 0 || i == iters - 1) {
                        bar(caseIdx, cases, i + 1, iters, c.label());
                    }
                }
                MemoryStats after = be.memoryStats();
                memory.put("device_allocations_timed", after.deviceAllocations() - before.deviceAllocations());
                memory.put("slab_bytes", after.slabBytes());
                memory.put("slab_lower_bound_bytes", after.slabLowerBoundBytes());
                memory.put("peak_device_bytes", after.peakDeviceBytes());
            } finally {
                if (graph != null) {
                    graph.close();
                }
            }
            stages.putAll(nodeBreakdown(m, be, img, ratios, pad));
            be.reset();
            be.setEnabled(true);
            int prof = Math.min(3, iters);
            for (int i = 0; i < prof; i++) {
                m.forwardTensors(img, ratios, pad, null, null).forEach(Tensor::close);
            }
            be.setEnabled(false);
            be.stats().forEach((op, v) -> ops.put(op, v[1] / 1e6 / prof));
        }
        Double host = hostLatency(m, x, ratios, pad, caseIdx, cases, c.label());
        double[] sorted = ms.clone();
        Arrays.sort(sorted);
        double p50 = pct(sorted, 50);
        double mean = Arrays.stream(ms).average().orElse(0);
        double g = MacCounter.count(cfg, c.height(), c.width(), c.batch(), c.sparsity()).totalGMacs();
        return new BenchResult(impl(be.name(), c.precision(), graphed[0]), c.arch(), c.backbone() ? "backbone" : "classification", c.size(), c.batch(),
                c.precision(), be.name(), be.device(), c.sparsityLabel(), round(g, 3), round(p50, 4),
                round(pct(sorted, 90), 4), round(pct(sorted, 99), 4), round(mean, 4), round(c.batch() * 1000.0 / p50, 2),
                iters, stages, ops, memory, host == null ? null : round(host, 4));
    }

    /**
     * The rows' impl: "sparsevit-j", with "graph" in brackets when the pass was replayed as a CUDA graph, a
     * {@code sparsevit.fusedGelu} or {@code sparsevit.fusedMlp} setting other than the default on CUDA with
     * FP16/BF16 storage (the only place they act; e.g. "sparsevit-j (graph, fusedGelu=off, fusedMlp=off)"), and
     * {@code sparsevit.rewindow=false}, so that runs comparing
     * settings keep their rows apart (and such rows judge no target, Targets).
     */
    static String impl(String backend, String precision, boolean graphed) {
        List<String> notes = new ArrayList<>();
        if (graphed) {
            notes.add("graph");
        }
        String mlp = System.getProperty(CudaBackend.FUSED_GELU_PROPERTY);
        boolean halfStorage = "fp16".equalsIgnoreCase(precision) || "bf16".equalsIgnoreCase(precision);
        if ("cuda".equals(backend) && halfStorage && mlp != null && !mlp.trim().equalsIgnoreCase("auto")) {
            notes.add("fusedGelu=" + mlp.trim().toLowerCase(Locale.ROOT));
        }
        String block = System.getProperty(CudaBackend.FUSED_MLP_PROPERTY);
        if ("cuda".equals(backend) && halfStorage && block != null && !block.trim().equalsIgnoreCase("auto")) {
            notes.add("fusedMlp=" + block.trim().toLowerCase(Locale.ROOT));
        }
        if (!org.sparsevit.model.StageNode.handoverByDefault()) {
            notes.add("rewindow=false");
        }
        return notes.isEmpty() ? "sparsevit-j" : "sparsevit-j (" + String.join(", ", notes) + ")";
    }

    /**
     * The median wall-clock time of {@code CompiledForward.run(HostTensor)} over {@link #withHostIters} calls after
     * an untimed one: host images in, host outputs out, as a caller with Java arrays sees it. Null when not asked
     * for, or when it cannot run for want of memory (a second pass's buffers, the outputs' arrays): the reason
     * goes to the case's outcome, and the case keeps its graph timings. Any other failure fails the case (a device
     * fault would fail every later case too).
     */
    private Double hostLatency(SwinModel m, HostTensor x, double[][] ratios, PaddingMode pad, int caseIdx, int cases,
                               String label) {
        int n = hostIters >= 0 ? hostIters : Math.max(1, Math.min(10, iters / 10));
        if (n == 0) {
            return null;
        }
        double[] t = new double[n];
        try (CompiledForward pass = m.compile(x.shape(), ratios, pad)) {
            pass.run(x);
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                pass.run(x);
                t[i] = (System.nanoTime() - t0) / 1e6;
            }
        } catch (OutOfMemoryError e) {
            hostFailure = "out of Java heap (" + e.getMessage() + ")";
        } catch (org.sparsevit.SparseVitException e) {
            String msg = String.valueOf(e.getMessage());
            if (!msg.contains("out of memory") && !msg.contains("out of device memory")) {
                throw e;
            }
            hostFailure = msg;
        }
        if (hostFailure != null) {
            if (progress != null) {
                progress.println("\nhost-to-host timing failed: " + hostFailure);
            }
            return null;
        }
        bar(caseIdx, cases, iters, iters, label + " (host to host)");
        Arrays.sort(t);
        return pct(t, 50);
    }

    /** One pass node by node, synchronising after each, averaged over a few passes. */
    private Map<String, Double> nodeBreakdown(SwinModel m, Backend be, Tensor img, double[][] ratios, PaddingMode pad) {
        Map<String, Double> t = new LinkedHashMap<>();
        int reps = Math.max(1, Math.min(3, iters));
        for (int rep = 0; rep < reps; rep++) {
            long t0 = System.nanoTime();
            FeatureMap x = m.patchEmbed().forward(img);
            be.synchronize();
            add(t, "patch_embed", t0);
            try {
                for (int s = 0; s < m.stages().size(); s++) {
                    t0 = System.nanoTime();
                    m.stages().get(s).forward(x, ratios[s], pad, null);
                    be.synchronize();
                    add(t, "stage" + s, t0);
                    if (!m.outputNorms().isEmpty()) {
                        t0 = System.nanoTime();
                        m.outputNorms().get(s).forward(x).close();
                        be.synchronize();
                        add(t, "norm" + s, t0);
                    }
                    if (s < m.merges().size()) {
                        t0 = System.nanoTime();
                        FeatureMap next = m.merges().get(s).forward(x);
                        be.synchronize();
                        add(t, "merge" + s, t0);
                        x.close();
                        x = next;
                    }
                }
                if (m.head() != null) {
                    t0 = System.nanoTime();
                    m.head().forward(x).close();
                    be.synchronize();
                    add(t, "head", t0);
                }
            } finally {
                x.close();
            }
        }
        t.replaceAll((k, v) -> round(v / reps, 4));
        return t;
    }

    private static void add(Map<String, Double> t, String k, long t0) {
        t.merge(k, (System.nanoTime() - t0) / 1e6, Double::sum);
    }

    static double pct(double[] sorted, double p) {
        if (sorted.length == 1) {
            return sorted[0];
        }
        double pos = p / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(sorted.length - 1, lo + 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    @Override
    public void close() {
        models.values().forEach(SwinModel::close);
        backends.values().forEach(Backend::close);
    }
}
