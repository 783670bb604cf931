package org.sparsevit.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.bench.Report;
import org.sparsevit.backend.Backends;
import org.sparsevit.backend.Precision;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.search.LatencyMeter;
import org.sparsevit.search.LatencyTable;
import org.sparsevit.search.SearchSpace;
import org.sparsevit.sparse.SparsityConfig;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

/** {@code sparsevit latency}: measured latency of one configuration, or a latency table for the search. */
@Command(name = "latency", mixinStandardHelpOptions = true,
        description = "Measure the latency of a sparsity configuration, or build (and validate) a latency table.")
public final class LatencyCommand implements Callable<Integer> {
    @Mixin
    Main.Common common;

    @Spec
    CommandSpec spec;

    @Option(names = "--arch", paramLabel = "NAME", description = "Architecture preset (swin-t, swin-s, swin-b, swin-l,"
            + " ...; default swin-t) with seeded random weights; with --weights, the file's, which --arch must match.")
    String arch;

    @Option(names = "--backbone", description = "The detection backbone (four feature maps) instead of the"
            + " classifier; with --weights, the file must be one.")
    boolean backbone;

    @Option(names = "--weights", paramLabel = "W.safetensors",
            description = "Safetensors weights (default: seeded random weights of --arch; latency does not"
                    + " depend on their values).")
    Path weights;

    @Option(names = "--size", required = true, paramLabel = "HxW",
            description = "Input size, height x width in pixels (e.g. 672x672).")
    String size;

    @Option(names = "--batch", defaultValue = "1", description = "Images per pass (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "P",
            description = "fp32, tf32, fp16 or bf16 (fp16/bf16 store weights and activations in that type; CUDA only;"
                    + " default ${DEFAULT-VALUE}). A table records it, and a search must run at it.")
    String precision;

    @Option(names = "--backend", defaultValue = "auto",
            description = "cpu, cuda or auto (CUDA when a GPU is usable; default ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--sparsity", defaultValue = "dense", paramLabel = "FILE|COMPACT",
            description = "The configuration to measure: dense, uniform:R, a compact form (0.6,0.6/0,0/...) or a"
                    + " JSON file such as a search result (default ${DEFAULT-VALUE}). Not with --table.")
    String sparsity;

    @Option(names = "--warmup", defaultValue = "10",
            description = "Untimed passes before timing (default ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--iters", defaultValue = "50",
            description = "Timed passes, at least 4: the result is the trimmed mean of the middle half (default"
                    + " ${DEFAULT-VALUE}).")
    int iters;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the measurement as JSON.")
    Path json;

    @Option(names = "--table", paramLabel = "FILE",
            description = "Build the per-pair latency table for the search and write it here.")
    Path table;

    @Option(names = "--validate", defaultValue = "20",
            description = "Random configurations to check the table against (default ${DEFAULT-VALUE}).")
    int validate;

    @Option(names = "--levels", defaultValue = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8", paramLabel = "R,R,...",
            description = "With --table: the pruning ratio levels of the search space, increasing values in [0, 1]"
                    + " (default ${DEFAULT-VALUE}); a search must use the same levels.")
    String levels;

    @Option(names = "--rounds", defaultValue = "1",

            description = "Measure the whole table this many times; entries are the medians (default"
                    + " ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the random validation configurations.")
    long seed;

    /**
     * The name of a model's architecture: the preset it has ({@link SwinConfig#preset}, e.g. swin-t for a
     * Swin-T checkpoint, whatever --arch said), else "custom".
     */
    static String archName(SwinConfig cfg) {
        String preset = ModelChoice.presetOf(cfg);
        return preset != null ? preset : "custom";
    }

    /** The measured case's fields, first in both JSON forms. */
    private ObjectNode caseNode(ObjectMapper om, SwinConfig cfg, int[] hw, String device) {
        ObjectNode n = om.createObjectNode();
        n.put("arch", archName(cfg));
        n.put("task", cfg.task() == Task.BACKBONE ? "backbone" : "classification");
        n.put("size", hw[0] + "x" + hw[1]);
        n.put("batch", batch);
        n.put("precision", precision);
        n.put("device", device);
        return n;
    }

    private void writeJson(ObjectMapper om, ObjectNode n) throws java.io.IOException {
        Path parent = json.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        om.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), n);
    }

    @Override
    public Integer call() throws Exception {
        int[] hw = MacsCommand.parseSize(size);
        ParseResult given = spec.commandLine().getParseResult();
        if (table != null && given.hasMatchedOption("--sparsity")) {
            throw new SparseVitException("latency: --sparsity measures one configuration and --table the whole"
                    + " table; give one of them");
        }
        if (table == null) {
            for (String o : new String[]{"--levels", "--rounds", "--validate", "--seed"}) {
                if (given.hasMatchedOption(o)) {
                    throw new SparseVitException("latency: " + o + " is an option of --table, which is not given");
                }
            }
        }
        if (table != null && json != null && table.toAbsolutePath().normalize().equals(
                json.toAbsolutePath().normalize())) {
            throw new SparseVitException("latency: --table and --json name the same file, " + table
                    + "; the JSON would overwrite the table");
        }
        if (table != null) {
            Report.checkWritableFile("--table", table);
        }
        if (json != null) {
            Report.checkWritableFile("--json", json);
        }
        SwinWeights w = ModelChoice.weights(weights, arch, backbone, 1);
        SwinConfig cfg = w.config();
        try (Backend be = Backends.create(backend, Precision.parse(precision), System.err::println);
             SwinModel m = new SwinModel(w, be);
             LatencyMeter meter = new LatencyMeter(m, hw[0], hw[1], batch, warmup, iters)) {
            if (table != null) {
                if (rounds <= 0 || validate < 0) {
                    throw new SparseVitException("latency: --rounds must be positive and --validate non-negative, got "
                            + rounds + " and " + validate);
                }
                SearchSpace space = new SearchSpace(cfg.depths(), SearchSpace.parseLevels(levels));
                long t0 = System.nanoTime();
                LatencyTable t = LatencyTable.build(meter, space, archName(cfg),
                        Precision.parse(precision).name().toLowerCase(Locale.ROOT), rounds, System.err::println);
                t.write(table);
                try {
                    t.checkPredictions();
                } catch (SparseVitException e) {
                    System.err.println("latency: warning: " + e.getMessage() + "; the timings were mostly noise:"
                            + " measure again with more --iters, --warmup or --rounds on an idle machine (the table"
                            + " was written; a search leaves configurations predicted outside its window out)");
                }
                double buildS = (System.nanoTime() - t0) / 1e9;
                System.out.printf(Locale.ROOT, "table written to %s (dense %.3f ms, %d round(s), %.1f s)%n", table,
                        t.denseMs(), rounds, buildS);
                List<LatencyTable.Check> checks = validate == 0 ? List.of()
                        : t.validateEach(meter, validate, seed, System.err::println);
                double mean = checks.stream().mapToDouble(LatencyTable.Check::error).average().orElse(Double.NaN);
                double max = checks.stream().mapToDouble(LatencyTable.Check::error).max().orElse(Double.NaN);
                if (!checks.isEmpty()) {
                    System.out.printf(Locale.ROOT, "prediction error over %d random configurations: mean %.2f%%,"
                            + " max %.2f%%%n", checks.size(), 100 * mean, 100 * max);
                }
                if (json != null) {
                    ObjectMapper om = new ObjectMapper();
                    ObjectNode n = caseNode(om, cfg, hw, be.device());
                    n.put("table", table.toString());
                    n.put("dense_ms", t.denseMs());
                    n.put("rounds", rounds);
                    n.put("iters", iters);
                    n.put("build_seconds", buildS);
                    n.put("mode", meter.mode());
                    n.put("validated", checks.size());
                    if (!checks.isEmpty()) {
                        n.put("mean_error", mean);
                        n.put("max_error", max);
                    }
                    var arr = n.putArray("validation");
                    for (LatencyTable.Check c : checks) {
                        ObjectNode e = arr.addObject();
                        e.put("sparsity", c.sparsity());
                        e.put("predicted_ms", c.predictedMs());
                        e.put("measured_ms", c.measuredMs());
                        e.put("error", c.error());
                    }
                    writeJson(om, n);
                }
                return 0;
            }
            SparsityConfig sp = SparsityConfig.parse(sparsity, cfg);
            LatencyMeter.Measurement r = meter.measure(sp);
            System.out.printf(Locale.ROOT, "%s %dx%d batch %d %s on %s, sparsity %s: %.3f ms (trimmed mean of %d; p50 %.3f,"
                            + " min %.3f, max %.3f)%n", archName(cfg), hw[0], hw[1], batch, precision, be.device(), sp.toCompact(),
                    r.trimmedMeanMs(), iters, r.p50Ms(), r.minMs(), r.maxMs());
            System.out.println("measured as " + meter.mode());
            if (json != null) {
                ObjectMapper om = new ObjectMapper();
                ObjectNode n = caseNode(om, cfg, hw, be.device());
                n.put("sparsity", sp.toCompact());
                n.put("trimmed_mean_ms", r.trimmedMeanMs());
                n.put("p50_ms", r.p50Ms());
                n.put("min_ms", r.minMs());
                n.put("max_ms", r.maxMs());
                n.put("iters", iters);
                n.put("mode", meter.mode());
                writeJson(om, n);
            }
        } catch (IllegalArgumentException e) {
            throw new SparseVitException(e.getMessage(), e);
        }
        return 0;
    }
}
