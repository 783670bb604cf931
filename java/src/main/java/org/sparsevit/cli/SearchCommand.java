package org.sparsevit.cli;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Backends;
import org.sparsevit.backend.Precision;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.search.Evaluator;
import org.sparsevit.search.EvolutionarySearch;
import org.sparsevit.search.FidelityEvaluator;
import org.sparsevit.search.LatencyMeter;
import org.sparsevit.search.LatencyModel;
import org.sparsevit.search.LatencyTable;
import org.sparsevit.search.Range;
import org.sparsevit.search.SearchOptions;
import org.sparsevit.search.SearchResult;
import org.sparsevit.search.SearchSpace;
import org.sparsevit.search.Top1Evaluator;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sparsevit search}: evolutionary search of per-pair sparsity under MACs and/or latency windows. */
@Command(name = "search", mixinStandardHelpOptions = true,
        description = "Search per-block sparsity under a MACs or measured-latency window (evolutionary, resumable).")
public final class SearchCommand implements Callable<Integer> {
    @Mixin
    Main.Common common;

    @Option(names = "--arch", paramLabel = "NAME", description = "Architecture preset (swin-t, swin-s, swin-b, swin-l,"
            + " ...; default swin-t) with seeded random weights; with --weights, the file's, which --arch must match.")
    String arch;

    @Option(names = "--backbone", description = "The detection backbone (four feature maps) instead of the"
            + " classifier; with --weights, the file must be one.")
    boolean backbone;

    @Option(names = "--weights", paramLabel = "W.safetensors", description = "Weights (default: seeded random).")
    Path weights;

    @Option(names = "--size", required = true, paramLabel = "HxW",
            description = "Input size, height x width in pixels, that the constraints and the evaluator use"
                    + " (e.g. 672x672).")
    String size;

    @Option(names = "--batch", defaultValue = "1",
            description = "Images per pass for the latency constraint (and per top1 evaluation batch; default"
                    + " ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--gmacs", paramLabel = "MIN:MAX", description = "MACs window in GMACs.")
    String gmacs;

    @Option(names = "--latency-ms", paramLabel = "MIN:MAX",
            description = "Latency window in milliseconds (measured, or from --table).")
    String latencyMs;

    @Option(names = "--table", paramLabel = "FILE", description = "Use this latency table instead of direct"
            + " measurement (with --gmacs alone, to report each candidate's predicted latency).")
    Path table;

    @Option(names = "--evaluator", defaultValue = "fidelity",
            description = "fidelity (label-free) or top1 (needs --images).")
    String evaluator;

    @Option(names = "--images", paramLabel = "DIR", description = "Labelled folder for top1 (one sub-folder per"
            + " class), read at --size (square).")
    Path images;

    @Option(names = "--calib", defaultValue = "4",
            description = "Synthetic calibration images for fidelity (default ${DEFAULT-VALUE}).")
    int calib;

    @Option(names = "--budget", defaultValue = "1000", description = "Distinct candidates to evaluate, at most"
            + " (default ${DEFAULT-VALUE}); the search may converge before.")
    int budget;

    @Option(names = "--generations", defaultValue = "1000000", description = "Generation limit after the initial"
            + " population (default: none, the budget ends the search).")
    int generations;

    @Option(names = "--levels", defaultValue = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8", description = "Sparsity levels of"
            + " the search space, increasing (default ${DEFAULT-VALUE}); a --table must have the same.")
    String levels;

    @Option(names = "--seed", defaultValue = "0",
            description = "Seed of the search, of the random weights and of the synthetic calibration images"
                    + " (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--elitist", description = "Parents compete with their children for the next parent places"
            + " (the official search takes the best children only).")
    boolean elitist;

    @Option(names = "--novelty-tries", defaultValue = "0", paramLabel = "N", description = "Feasible draws spent"
            + " looking for a child not evaluated yet before a known one is taken; 0 (default, as the official search)"
            + " takes every feasible child, repeats included.")
    int noveltyTries;

    @Option(names = "--backend", defaultValue = "auto",
            description = "cpu, cuda or auto (CUDA when a GPU is usable; default ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--precision", defaultValue = "fp32", description = "fp32, tf32, fp16 or bf16 (the model the"
            + " evaluator and the latency measurements run; a --table must have been measured at it).")
    String precision;

    @Option(names = "--iters", defaultValue = "20", description = "Timed iterations per latency measurement.")
    int iters;

    @Option(names = "--log", paramLabel = "FILE",
            description = "Evaluation log (JSON lines); an existing log is resumed. Default: OUT.log")
    Path logFile;

    @Option(names = "--time-limit", paramLabel = "SECONDS", description = "Stop after the first generation that ends"
            + " this long after the start, writing the best so far (run the same command again to go on from the log).")
    Double timeLimit;

    @Option(names = "--out", required = true, paramLabel = "best.json",
            description = "Where the best configuration goes (the pruning JSON form with its GMACs, latency and"
                    + " score).")
    Path out;

    @Override
    public Integer call() {
        if (gmacs == null && latencyMs == null) {
            throw new SparseVitException("search: give a constraint window, --gmacs MIN:MAX and/or --latency-ms MIN:MAX");
        }
        if (timeLimit != null && !(timeLimit >= 0 && timeLimit < 1e9)) {
            throw new SparseVitException("search: --time-limit must be a number of seconds >= 0, got " + timeLimit);
        }
        if (budget <= 0) {
            throw new SparseVitException("search: --budget must be a positive number of candidates, got " + budget);
        }
        if (generations < 0) {
            throw new SparseVitException("search: --generations must be >= 0, got " + generations);
        }
        boolean top1 = evaluator.equalsIgnoreCase("top1");
        if (!top1 && !evaluator.equalsIgnoreCase("fidelity")) {
            throw new SparseVitException("search: unknown evaluator '" + evaluator + "' (fidelity or top1)");
        }
        if (top1 && images == null) {
            throw new SparseVitException("search: --evaluator top1 needs --images DIR");
        }
        if (!top1 && images != null) {
            throw new SparseVitException("search: --images is for --evaluator top1 (the fidelity evaluator uses"
                    + " --calib synthetic images)");
        }
        if (!top1 && calib <= 0) {
            throw new SparseVitException("search: --calib must be a positive number of images, got " + calib);
        }
        int[] hw = MacsCommand.parseSize(size);
        Range gmacsWindow = gmacs == null ? null : Range.parse(gmacs, "--gmacs");
        Range latencyWindow = latencyMs == null ? null : Range.parse(latencyMs, "--latency-ms");
        if (top1 && hw[0] != hw[1]) {
            throw new SparseVitException("search: --evaluator top1 reads its images square; give a square --size, got "
                    + size);
        }
        // where the result and the log go, before any work
        org.sparsevit.bench.Report.checkWritableFile("--out", out);
        org.sparsevit.bench.Report.checkWritableFile("--log", logFile != null ? logFile : Path.of(out + ".log"));
        SwinWeights w = ModelChoice.weights(weights, arch, backbone, seed + 1);
        SwinConfig cfg = w.config();
        SearchSpace space = new SearchSpace(cfg.depths(), SearchSpace.parseLevels(levels));
        if (noveltyTries < 0) {
            throw new SparseVitException("search: --novelty-tries must be >= 0, got " + noveltyTries);
        }
        SearchOptions opt = SearchOptions.defaults().withSeed(seed).withGenerations(generations).withBudget(budget)
                .withElitism(elitist).withNoveltyTries(noveltyTries);
        if (generations < 1_000_000) {
            opt = opt.withGenerations(generations);
        }
        Path log = logFile != null ? logFile : Path.of(out.toString() + ".log");
        Precision prec = Precision.parse(precision);
        LatencyTable tab = null;
        if (table != null) {
            tab = LatencyTable.read(table);
            // the architecture, task and precision (any weights: latency does not depend on weight values)
            try {
                tab.checkModel(cfg, null, prec);
            } catch (SparseVitException e) {
                throw new SparseVitException("search: " + e.getMessage(), e);
            }
            try {
                tab.checkPredictions();
            } catch (SparseVitException e) {
                System.err.println("search: warning: " + table + ": " + e.getMessage() + " (noisy timings? its"
                        + " predictions are rough; configurations predicted outside the window are left out)");
            }
        }
        try (Backend be = Backends.create(backend, prec, System.err::println); SwinModel m = new SwinModel(w, be)) {
            if (tab != null && !tab.device().equals(be.device())) {
                System.err.println("search: note: " + table + " was measured on " + tab.device() + ", this run is on "
                        + be.device());
            }
            Evaluator ev = top1
                    ? new Top1Evaluator(m, images, Math.max(1, batch), cfg.defaultPadding(), hw[0])
                    : new FidelityEvaluator(m, FidelityEvaluator.syntheticInputs(calib, hw[0], hw[1], seed + 2),
                            cfg.defaultPadding());
            long t0 = System.nanoTime();
            SearchResult r;
            EvolutionarySearch s;
            // a table predicts (and with --gmacs alone reports) latencies; without one, a latency window is measured
            try (LatencyMeter meter = tab == null && latencyMs != null
                    ? new LatencyMeter(m, hw[0], hw[1], batch, 3, Math.max(4, iters)) : null) {
                LatencyModel lat = tab != null ? tab : meter;
                Bar bar = new Bar(budget);
                s = new EvolutionarySearch(cfg, hw[0], hw[1], batch, space, opt, gmacsWindow, latencyWindow, lat, ev)
                        .onProgress(line -> {
                            bar.clear();
                            System.out.println(line);
                        })
                        .onCandidates(bar::show).logTo(log)
                        .timeLimit(timeLimit == null ? null : Duration.ofMillis(Math.round(timeLimit * 1000)));
                try {
                    r = s.run();
                } finally {
                    bar.clear();
                }
            }
            EvolutionarySearch.writeResult(out, r);
            System.out.printf(Locale.ROOT, "best: %s score %.6f, %.2f GMACs%s; %d candidates (%d from the log) in %.1f s%s;"
                    + " wrote %s%n", r.sparsity().toCompact(), r.score(), r.gmacs(),
                    Double.isNaN(r.latencyMs()) ? "" : String.format(Locale.ROOT, ", %.3f ms", r.latencyMs()),
                    r.evaluated(), s.resumedCandidates(), (System.nanoTime() - t0) / 1e9,
                    s.stoppedByTime() ? " (stopped by the time limit; the same command goes on from " + log + ")" : "",
                    out);
        }
        return 0;
    }

    /**
     * A progress bar on stderr against the candidate budget, redrawn in place on a terminal; nothing when the
     * output is a file (the search prints a line per generation to stdout either way).
     */
    static final class Bar {
        private final int budget;
        private final boolean on = System.console() != null;
        private boolean drawn;

        Bar(int budget) {
            this.budget = budget;
        }

        void show(int candidates) {
            if (!on) {
                return;
            }
            int width = 30;
            double f = Math.min(1, (double) candidates / budget);
            int fill = (int) Math.round(f * width);
            System.err.print(String.format(Locale.ROOT, "\r[%s%s] %3.0f%% %d of %d candidates", "#".repeat(fill),
                    ".".repeat(width - fill), 100 * f, candidates, budget));
            System.err.flush();
            drawn = true;
        }

        void clear() {
            if (drawn) {
                System.err.print("\r" + " ".repeat(70) + "\r");
                System.err.flush();
                drawn = false;
            }
        }
    }
}
