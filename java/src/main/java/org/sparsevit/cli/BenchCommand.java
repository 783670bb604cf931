package org.sparsevit.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Precision;
import org.sparsevit.bench.BenchCase;
import org.sparsevit.bench.BenchResult;
import org.sparsevit.bench.Benchmark;
import org.sparsevit.bench.Report;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code sparsevit bench}: end-to-end latency and throughput over a grid of cases (architectures x sizes x
 * batches x precisions x sparsities), with JSON, Markdown and PNG output.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure end-to-end latency (p50/p90/p99) and throughput, dense and pruned.")
public final class BenchCommand implements Callable<Integer> {
    /** The SparseViT paper's configurations for Swin-T (stage depths 2, 2, 6, 2). */
    static final Map<String, String> PAPER = SparsityConfig.PAPER;

    /** The depths the paper's configurations are for; other models skip them. */
    static final int[] SWIN_T_DEPTHS = {2, 2, 6, 2};

    @Mixin
    Main.Common common;

    @Option(names = "--arch", split = ",",
            description = "Architectures (comma-separated; default swin-t; with --weights, the file's, which an --arch"
                    + " given must match).")
    List<String> archs;

    @Option(names = "--backbone", description = "Benchmark the detection backbone instead of the classifier (with"
            + " --weights, the file's task is used; backbone weights need no --backbone).")
    boolean backbone;

    @Option(names = "--weights", paramLabel = "W.safetensors", description = "Use these weights instead of seeded random ones.")
    Path weights;

    @Option(names = "--size", defaultValue = "224x224", split = ",", paramLabel = "HxW", description = "Input sizes (comma-separated).")
    List<String> sizes;

    @Option(names = "--batch", defaultValue = "1", split = ",", description = "Batch sizes (comma-separated).")
    List<Integer> batches;

    @Option(names = "--precision", defaultValue = "fp32", split = ",", description = "fp32, tf32, fp16, bf16 (comma-separated).")
    List<String> precisions;

    @Option(names = "--backend", defaultValue = "auto", description = "auto, cpu or cuda.")
    String backend;

    @Option(names = "--sparsity", defaultValue = "dense", split = ";",
            description = "Sparsities, ';'-separated: dense, uniform:R, a compact form, a JSON file, paper-1..3, or 'all' "
                    + "(dense, uniform 0.3/0.5/0.6/0.8 and the paper's three).")
    List<String> sparsities;

    @Option(names = "--iters", defaultValue = "100", description = "Timed iterations per case (default ${DEFAULT-VALUE}).")
    int iters;

    @Option(names = "--warmup", defaultValue = "10", description = "Warm-up iterations per case (default ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--host-iters", paramLabel = "N", description = "Timed calls per case from host images to host"
            + " outputs (host_p50_ms: uploads, pass, downloads); 0 skips them (default: a tenth of --iters, 1 to 10).")
    Integer hostIters;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the rows as a JSON array.")
    Path json;

    @Option(names = "--markdown", paramLabel = "FILE", description = "Write a Markdown report.")
    Path markdown;

    @Option(names = "--plots", paramLabel = "DIR", description = "Write PNG plots.")
    Path plots;

    @Option(names = "--peers", paramLabel = "FILE", description = "Peers' rows (JSON) to put beside ours in the report and plots.")
    Path peers;

    @Option(names = "--time-budget", defaultValue = "0", paramLabel = "SECONDS",
            description = "Start no case that would end past this many seconds (judged by the longest case so far);"
                    + " 0: no limit. Cases left out are listed as skipped.")
    double timeBudget;

    @Option(names = "--cases-json", paramLabel = "FILE",
            description = "Write what became of every case (measured, failed with the error, skipped) as JSON.")
    Path casesJson;

    static List<String> expand(List<String> specs) {
        List<String> out = new ArrayList<>();
        for (String s : specs) {
            String t = s.strip();
            if (t.equalsIgnoreCase("all")) {
                out.add("dense");
                for (String u : new String[]{"0.3", "0.5", "0.6", "0.8"}) {
                    out.add("uniform:" + u);
                }
                out.addAll(PAPER.keySet());
            } else if (!t.isEmpty()) {
                out.add(t);
            }
        }
        return out;
    }

    /** The architecture's name: its preset's when it is one (swin-t, ...), else its shape, e.g. "swin C32 d2-2-4-2 h1-2-4-8 w7". */
    static String archName(SwinConfig cfg) {
        String preset = ModelChoice.presetOf(cfg);
        return preset != null ? preset
                : "swin C" + cfg.embedDim() + " d" + join(cfg.depths()) + " h" + join(cfg.heads()) + " w" + cfg.window();
    }

    private static String join(int[] v) {
        return Arrays.stream(v).mapToObj(Integer::toString).collect(Collectors.joining("-"));
    }

    /** The most values one tensor can hold (a Java array's limit; the input is built as one). */
    static final long MAX_TENSOR_VALUES = Integer.MAX_VALUE - 8;

    /** Refuses an input size whose input tensor cannot even be built here (before any case runs). */
    static void checkSize(SwinConfig cfg, String size, int[] hw, int batch) {
        long values = (long) batch * cfg.inChans() * hw[0] * hw[1];
        String what = "--size " + size + (batch > 1 ? " at --batch " + batch : "") + " is too large: ";
        if (values > MAX_TENSOR_VALUES) {
            throw new SparseVitException(what + "the input alone (" + batch + " x " + cfg.inChans() + " x " + hw[0]
                    + " x " + hw[1] + ") is " + values + " values, more than one tensor can hold (" + MAX_TENSOR_VALUES
                    + ")");
        }
        long bytes = 4 * values;
        long heap = Runtime.getRuntime().maxMemory();
        if (heap != Long.MAX_VALUE && bytes > heap) {
            throw new SparseVitException(String.format(Locale.ROOT, "%sthe input alone takes %.1f GiB, more than this"
                    + " JVM's heap (%.1f GiB; -Xmx)", what, bytes / (double) (1L << 30), heap / (double) (1L << 30)));
        }
    }

    /** Refuses a sparsity that names a directory or nothing at all, before it is parsed as a compact form. */
    private static void checkSparsitySpec(String spec) {
        Path p;
        try {
            p = Path.of(spec);
        } catch (InvalidPathException e) {
            return;
        }
        if (Files.isDirectory(p)) {
            throw new SparseVitException("--sparsity " + spec + ": is a directory, not a sparsity file (JSON)");
        }
    }

    /** The same file given for two options (an output over an input or another output) would lose data. */
    private static void checkDistinct(Map<String, Path> files) {
        Map<Path, String> seen = new LinkedHashMap<>();
        for (Map.Entry<String, Path> e : files.entrySet()) {
            if (e.getValue() == null) {
                continue;
            }
            Path k = e.getValue().toAbsolutePath().normalize();
            String other = seen.putIfAbsent(k, e.getKey());
            if (other != null) {
                throw new SparseVitException(other + " and " + e.getKey() + " name the same file " + e.getValue());
            }
        }
    }

    @Override
    public Integer call() throws IOException {
        // every argument, input and output location is checked before anything is measured
        if (iters <= 0) {
            throw new SparseVitException("--iters must be positive, got " + iters);
        }
        if (warmup < 0) {
            throw new SparseVitException("--warmup must be 0 or positive, got " + warmup);
        }
        if (hostIters != null && hostIters < 0) {
            throw new SparseVitException("--host-iters must be 0 or positive, got " + hostIters);
        }
        if (!(timeBudget >= 0)) {
            throw new SparseVitException("--time-budget must be 0 (no limit) or positive, got " + timeBudget);
        }
        List<String> precs = new ArrayList<>();
        for (String p : precisions) {
            String q = p.strip().toLowerCase(Locale.ROOT);
            try {
                Precision.parse(q);
            } catch (SparseVitException e) {
                throw new SparseVitException("--precision: " + e.getMessage());
            }
            precs.add(q);
        }
        List<String> specs = expand(sparsities);
        if (specs.isEmpty()) {
            throw new SparseVitException("--sparsity '" + String.join(";", sparsities) + "' names no sparsity (give dense,"
                    + " uniform:R, a compact form, a JSON file, paper-1..3 or all)");
        }
        for (String sp : specs) {
            if (!PAPER.containsKey(sp)) {
                checkSparsitySpec(sp);
            }
        }
        if (peers != null && Files.isDirectory(peers)) {
            throw new SparseVitException("--peers " + peers + ": is a directory, not a JSON file of benchmark rows");
        }
        if (peers != null && !Files.isRegularFile(peers)) {
            throw new SparseVitException("--peers " + peers + ": no such file");
        }
        Map<String, Path> files = new LinkedHashMap<>();
        files.put("--weights", weights);
        files.put("--peers", peers);
        files.put("--json", json);
        files.put("--cases-json", casesJson);
        files.put("--markdown", markdown);
        checkDistinct(files);
        if (json != null) {
            Report.checkWritableFile("--json", json);
        }
        if (casesJson != null) {
            Report.checkWritableFile("--cases-json", casesJson);
        }
        if (markdown != null) {
            Report.checkWritableFile("--markdown", markdown);
        }
        if (plots != null) {
            Report.checkWritableDir("--plots", plots);
        }
        List<BenchResult> peerRows;
        try {
            peerRows = peers == null ? List.of() : Report.readJson(peers);
        } catch (SparseVitException e) {
            throw new SparseVitException("--peers " + e.getMessage(), e);
        }

        // the models: with --weights the file's architecture and task, else the --arch presets
        SwinWeights loaded = null;
        List<String> names = new ArrayList<>();
        List<SwinConfig> cfgs = new ArrayList<>();
        if (weights != null) {
            loaded = SwinWeights.load(weights);
            SwinConfig cfg = loaded.config();
            if (archs != null && archs.size() > 1) {
                throw new SparseVitException("--arch " + String.join(",", archs) + ": give at most one architecture with"
                        + " --weights (the file holds one: " + ModelChoice.shape(cfg) + ")");
            }
            ModelChoice.checkAgainst(weights, cfg, archs == null ? null : archs.get(0), backbone);
            names.add(archs != null ? archs.get(0).strip() : archName(cfg));
            cfgs.add(cfg);
        } else {
            for (String arch : archs == null ? List.of("swin-t") : archs) {
                SwinConfig cfg = SwinConfig.preset(arch.strip());
                names.add(arch.strip());
                cfgs.add(backbone ? cfg.withTask(Task.BACKBONE, 0) : cfg);
            }
        }

        List<BenchCase> cases = new ArrayList<>();
        List<String> skips = new ArrayList<>();
        for (int a = 0; a < cfgs.size(); a++) {
            SwinConfig cfg = cfgs.get(a);
            String arch = names.get(a);
            for (String size : sizes) {
                int[] hw = MacsCommand.parseSize(size.strip());
                for (int b : batches) {
                    if (b <= 0) {
                        throw new SparseVitException("--batch must be positive, got " + b);
                    }
                    checkSize(cfg, size.strip(), hw, b);
                    for (String p : precs) {
                        for (String sp : specs) {
                            String why;
                            SparsityConfig c = null;
                            if (PAPER.containsKey(sp) && !Arrays.equals(cfg.depths(), SWIN_T_DEPTHS)) {
                                why = "the paper's configurations are for Swin-T's depths "
                                        + Arrays.toString(SWIN_T_DEPTHS) + ", the model has " + Arrays.toString(cfg.depths());
                            } else {
                                c = SparsityConfig.parse(PAPER.getOrDefault(sp, sp), cfg);
                                try {
                                    c.validate(cfg, hw[0], hw[1]);
                                    why = null;
                                } catch (SparseVitException e) {
                                    why = e.getMessage();
                                }
                            }
                            if (why != null) {
                                String skip = arch + " " + size.strip() + " " + sp + ": " + why;
                                if (!skips.contains(skip)) {
                                    System.err.println("skipping " + skip);
                                    skips.add(skip);
                                }
                                continue;
                            }
                            cases.add(new BenchCase(arch, cfg.isBackbone(), hw[0], hw[1], b, p, sp, c));
                        }
                    }
                }
            }
        }
        if (cases.isEmpty()) {
            throw new SparseVitException("no benchmark cases to run: every case was skipped (" + skips.get(0)
                    + (skips.size() > 1 ? "; and " + (skips.size() - 1) + " more" : "") + ")");
        }
        List<BenchResult> rows = new ArrayList<>();
        List<Benchmark.Outcome> outcomes;
        try (Benchmark bm = new Benchmark(backend, loaded, warmup, iters, System.err)
                .withHostIters(hostIters == null ? -1 : hostIters)) {
            // rows are written as they come, so an interrupted run still leaves every finished case
            bm.run(cases, timeBudget, r -> {
                rows.add(r);
                if (json != null) {
                    Report.writeJson(json, rows);
                }
            });
            outcomes = bm.outcomes();
        }
        if (rows.isEmpty()) {
            // a run that measured nothing never replaces an earlier run's files (a new file still records it)
            if (casesJson != null) {
                keepOrWrite(casesJson, () -> Report.writeOutcomes(casesJson, outcomes));
            }
            if (json != null) {
                keepOrWrite(json, () -> Report.writeJson(json, rows));
            }
        } else if (casesJson != null) {
            Report.writeOutcomes(casesJson, outcomes);
        }
        long failed = outcomes.stream().filter(o -> o.status().equals("failed")).count();
        long skipped = outcomes.stream().filter(o -> o.status().equals("skipped")).count();
        if (failed + skipped > 0) {
            System.err.printf(Locale.ROOT, "%d of %d cases measured, %d failed, %d skipped%n", rows.size(), cases.size(),
                    failed, skipped);
        }
        if (rows.isEmpty()) {
            throw new SparseVitException("no case could be measured (" + outcomes.stream()
                    .filter(o -> !o.reason().isEmpty()).map(o -> o.reason()).findFirst().orElse("?") + ")");
        }
        System.out.print(Report.markdown(rows));
        if (json != null) {
            Report.writeJson(json, rows);
        }
        if (markdown != null) {
            List<BenchResult> all = new ArrayList<>(rows);
            all.addAll(peerRows);
            String md = "# Benchmark\n\nDevice: " + rows.get(0).device() + ", " + iters + " timed iterations after "
                    + warmup + " warm-up passes per case.\n\n" + Report.markdown(all) + "\n## Breakdown\n"
                    + Report.breakdown(rows);
            Report.writeText(markdown, md);
        }
        if (plots != null) {
            for (Path p : org.sparsevit.bench.Plots.write(plots, rows, peerRows)) {
                System.err.println("wrote " + p);
            }
        }
        return 0;
    }

    private static void keepOrWrite(Path file, Runnable write) {
        if (Files.exists(file)) {
            System.err.println("left " + file + " as it was: nothing was measured");
        } else {
            write.run();
        }
    }
}
