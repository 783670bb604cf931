package org.sparsevit.search;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.SparseVitException;
import org.sparsevit.sparse.SparsityConfig;

/**
 * A latency lookup table: the dense latency plus, for every block pair of the search space and every
 * sparsity level, the change in end-to-end latency when only that pair is pruned at that level (measured
 * once per device, architecture, size, batch and precision). Prediction = dense + sum of the pairs' deltas;
 * {@link #validate} compares predictions with direct measurements and reports the error. Entries are
 * measured end to end, so they include each pair's share of selection, gather and scatter.
 */
public final class LatencyTable implements LatencyModel {
    private final String device;
    private final String arch;
    private final int height;
    private final int width;
    private final int batch;
    private final String precision;
    private final double denseMs;
    private final double[] levels;
    /** [gene][level] delta in ms relative to dense. */
    private final double[][] delta;
    private final SearchSpace space;

    private LatencyTable(String device, String arch, int height, int width, int batch, String precision, double denseMs,
                         double[] levels, double[][] delta, SearchSpace space) {
        this.device = device;
        this.arch = arch;
        this.height = height;
        this.width = width;
        this.batch = batch;
        this.precision = precision;
        this.denseMs = denseMs;
        this.levels = levels;
        this.delta = delta;
        this.space = space;
    }

    /** Measures the table with {@code meter} over {@code space}. */
    public static LatencyTable build(LatencyMeter meter, SearchSpace space, String arch, String precision,
                                     Consumer<String> progress) {
        double dense = meter.measure(SparsityConfig.dense(meter.model().config())).trimmedMeanMs();
        double[] levels = space.levels();
        double[][] d = new double[space.genes()][levels.length];
        int total = space.genes() * (levels.length - 1);
        int done = 0;
        for (int g = 0; g < space.genes(); g++) {
            for (int l = 1; l < levels.length; l++) {
                int[] genes = new int[space.genes()];
                genes[g] = l;
                double t = meter.measure(space.toSparsity(genes)).trimmedMeanMs();
                d[g][l] = t - dense;
                done++;
                if (progress != null) {
                    int[] sb = space.geneBlock(g);
                    progress.accept(String.format(Locale.ROOT, "table %d/%d: stage %d blocks %d-%d at %.2f: %+.3f ms",
                            done, total, sb[0], sb[1], sb[1] + 1, levels[l], d[g][l]));
                }
            }
        }
        return new LatencyTable(meter.model().backend().device(), arch, meter.height(), meter.width(), meter.batch(),
                precision, dense, levels, d, space);
    }

    @Override
    public double latencyMs(SparsityConfig config) {
        int[] g = space.fromSparsity(config);
        double t = denseMs;
        for (int i = 0; i < g.length; i++) {
            t += delta[i][g[i]];
        }
        return t;
    }

    public double denseMs() {
        return denseMs;
    }

    /** Entries: [pair gene][level index], milliseconds relative to dense. */
    public double[][] deltas() {
        double[][] c = new double[delta.length][];
        for (int i = 0; i < delta.length; i++) {
            c[i] = delta[i].clone();
        }
        return c;
    }

    /**
     * Prediction error over {@code n} random configurations of the space: {mean relative error, max
     * relative error}, each |predicted - measured| / measured.
     */
    public double[] validate(LatencyMeter meter, int n, long seed, Consumer<String> progress) {
        Random r = new Random(seed);
        double sum = 0;
        double max = 0;
        for (int i = 0; i < n; i++) {
            SparsityConfig c = space.toSparsity(space.random(r));
            double measured = meter.measure(c).trimmedMeanMs();
            double predicted = latencyMs(c);
            double e = Math.abs(predicted - measured) / measured;
            sum += e;
            max = Math.max(max, e);
            if (progress != null) {
                progress.accept(String.format(Locale.ROOT, "validate %d/%d: %s predicted %.3f ms, measured %.3f ms (%.1f%%)",
                        i + 1, n, c.toCompact(), predicted, measured, 100 * e));
            }
        }
        return new double[]{sum / n, max};
    }

    public void write(Path file) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode n = om.createObjectNode();
        n.put("device", device);
        n.put("arch", arch);
        n.put("size", height + "x" + width);
        n.put("batch", batch);
        n.put("precision", precision);
        n.put("dense_ms", denseMs);
        ArrayNode lv = n.putArray("levels");
        for (double l : levels) {
            lv.add(l);
        }
        ArrayNode depths = n.putArray("depths");
        for (int d : space.depths()) {
            depths.add(d);
        }
        ArrayNode entries = n.putArray("entries");
        for (int g = 0; g < delta.length; g++) {
            int[] sb = space.geneBlock(g);
            ObjectNode e = entries.addObject();
            e.put("stage", sb[0]);
            e.putArray("blocks").add(sb[1]).add(sb[1] + 1);
            ArrayNode ms = e.putArray("delta_ms");
            for (double v : delta[g]) {
                ms.add(v);
            }
        }
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            om.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), n);
        } catch (IOException ex) {
            throw new SparseVitException(file + ": cannot write the latency table (" + ex.getMessage() + ")", ex);
        }
    }

    public static LatencyTable read(Path file) {
        try {
            JsonNode n = new ObjectMapper().readTree(file.toFile());
            double[] levels = new double[n.get("levels").size()];
            for (int i = 0; i < levels.length; i++) {
                levels[i] = n.get("levels").get(i).asDouble();
            }
            int[] depths = new int[n.get("depths").size()];
            for (int i = 0; i < depths.length; i++) {
                depths[i] = n.get("depths").get(i).asInt();
            }
            SearchSpace space = new SearchSpace(depths, levels);
            List<double[]> rows = new ArrayList<>();
            for (JsonNode e : n.get("entries")) {
                double[] d = new double[levels.length];
                for (int i = 0; i < d.length; i++) {
                    d[i] = e.get("delta_ms").get(i).asDouble();
                }
                rows.add(d);
            }
            if (rows.size() != space.genes()) {
                throw new SparseVitException(file + ": " + rows.size() + " entries for " + space.genes() + " block pairs");
            }
            String[] size = n.get("size").asText().split("x");
            return new LatencyTable(n.path("device").asText(), n.path("arch").asText(), Integer.parseInt(size[0]),
                    Integer.parseInt(size[1]), n.get("batch").asInt(), n.path("precision").asText(),
                    n.get("dense_ms").asDouble(), levels, rows.toArray(new double[0][]), space);
        } catch (IOException | RuntimeException e) {
            if (e instanceof SparseVitException s) {
                throw s;
            }
            throw new SparseVitException(file + ": not a latency table (" + e.getMessage() + ")", e);
        }
    }
}
