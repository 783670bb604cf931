package org.sparsevit.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import org.sparsevit.SparseVitException;
import org.sparsevit.bench.BenchCase;
import org.sparsevit.bench.BenchResult;
import org.sparsevit.bench.Benchmark;
import org.sparsevit.bench.Report;
import org.sparsevit.model.SwinConfig;
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
    static final Map<String, String> PAPER = new LinkedHashMap<>();

    static {
        PAPER.put("paper-1", "0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0");
        PAPER.put("paper-2", "0.6,0.6/0,0/0.2,0.2,0.4,0.4,0.5,0.5/0,0");
        PAPER.put("paper-3", "0.7,0.7/0,0/0.2,0.2,0.4,0.4,0.5,0.5/0,0");
    }

    @Mixin
    Main.Common common;

    @Option(names = "--arch", defaultValue = "swin-t", split = ",", description = "Architectures (comma-separated).")
    List<String> archs;

    @Option(names = "--backbone", description = "Benchmark the detection backbone instead of the classifier.")
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

    @Override
    public Integer call() throws IOException {
        List<BenchCase> cases = new ArrayList<>();
        for (String arch : archs) {
            SwinConfig cfg = SwinConfig.preset(arch.strip());
            if (backbone) {
                cfg = cfg.withTask(Task.BACKBONE, 0);
            }
            for (String size : sizes) {
                int[] hw = MacsCommand.parseSize(size.strip());
                for (int b : batches) {
                    if (b <= 0) {
                        throw new SparseVitException("--batch must be positive, got " + b);
                    }
                    for (String p : precisions) {
                        for (String sp : expand(sparsities)) {
                            String spec = PAPER.getOrDefault(sp, sp);
                            SparsityConfig c = SparsityConfig.parse(spec, cfg);
                            try {
                                c.validate(cfg, hw[0], hw[1]);
                            } catch (SparseVitException e) {
                                System.err.println("skipping " + arch + " " + sp + ": " + e.getMessage());
                                continue;
                            }
                            cases.add(new BenchCase(arch.strip(), backbone, hw[0], hw[1], b,
                                    p.strip().toLowerCase(Locale.ROOT), sp, c));
                        }
                    }
                }
            }
        }
        if (cases.isEmpty()) {
            throw new SparseVitException("no benchmark cases to run");
        }
        if (timeBudget < 0) {
            throw new SparseVitException("--time-budget must be 0 (no limit) or positive, got " + timeBudget);
        }
        List<BenchResult> rows = new ArrayList<>();
        List<Benchmark.Outcome> outcomes;
        try (Benchmark bm = new Benchmark(backend, weights, warmup, iters, System.err)) {
            // rows are written as they come, so an interrupted run still leaves every finished case
            bm.run(cases, timeBudget, r -> {
                rows.add(r);
                if (json != null) {
                    Report.writeJson(json, rows);
                }
            });
            outcomes = bm.outcomes();
        }
        if (casesJson != null) {
            Report.writeOutcomes(casesJson, outcomes);
        }
        long failed = outcomes.stream().filter(o -> o.status().equals("failed")).count();
        long skipped = outcomes.stream().filter(o -> o.status().equals("skipped")).count();
        if (failed + skipped > 0) {
            System.err.printf(Locale.ROOT, "%d of %d cases measured, %d failed, %d skipped%n", rows.size(), cases.size(),
                    failed, skipped);
        }
        if (rows.isEmpty()) {
            if (json != null) {
                Report.writeJson(json, rows);
            }
            throw new SparseVitException("no case could be measured (" + outcomes.stream()
                    .filter(o -> !o.reason().isEmpty()).map(o -> o.reason()).findFirst().orElse("?") + ")");
        }
        List<BenchResult> peerRows = peers == null ? List.of() : Report.readJson(peers);
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
            Path parent = markdown.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.writeString(markdown, md);
        }
        if (plots != null) {
            for (Path p : org.sparsevit.bench.Plots.write(plots, rows, peerRows)) {
                System.err.println("wrote " + p);
            }
        }
        return 0;
    }
}
