package org.sparsevit.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.imageio.ImageIO;

import org.sparsevit.SparseVitException;

/** The benchmark's PNG plots (kept apart from {@link Report} so that JSON/Markdown need no AWT). */
public final class Plots {
    private Plots() {
    }

    /** latency_vs_sparsity.png, speedup_over_dense.png and, when peers are given, ours_vs_peers.png. */
    public static List<Path> write(Path dir, List<BenchResult> ours, List<BenchResult> peers) {
        List<Path> written = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            Map<String, List<double[]>> lat = new LinkedHashMap<>();
            Map<String, Double> dense = new LinkedHashMap<>();
            for (BenchResult r : ours) {
                if (r.sparsity().equals("dense")) {
                    dense.put(key(r), r.p50Ms());
                }
            }
            for (BenchResult r : ours) {
                Double d = dense.get(key(r));
                double macsFrac = r.gmacs();
                lat.computeIfAbsent(key(r), k -> new ArrayList<>()).add(new double[]{macsFrac, r.p50Ms()});
            }
            Path p1 = dir.resolve("latency_vs_sparsity.png");
            ImageIO.write(Charts.line("Latency vs executed GMACs (each point a sparsity config)", "GMACs per pass",
                    "p50 latency (ms)", lat), "png", p1.toFile());
            written.add(p1);
            List<String> labels = new ArrayList<>();
            List<Double> vals = new ArrayList<>();
            List<Integer> groups = new ArrayList<>();
            List<String> keys = new ArrayList<>(dense.keySet());
            for (BenchResult r : ours) {
                Double d = dense.get(key(r));
                if (d != null && !r.sparsity().equals("dense")) {
                    labels.add(r.size() + " b" + r.batch() + " " + r.precision() + " " + shortLabel(r.sparsity()));
                    vals.add(d / r.p50Ms());
                    groups.add(keys.indexOf(key(r)));
                }
            }
            Path p2 = dir.resolve("speedup_over_dense.png");
            ImageIO.write(Charts.bars("Speedup over dense (p50)", "x faster than dense", labels,
                    vals.stream().mapToDouble(Double::doubleValue).toArray(),
                    groups.stream().mapToInt(Integer::intValue).toArray()), "png", p2.toFile());
            written.add(p2);
            if (peers != null && !peers.isEmpty()) {
                List<BenchResult> all = new ArrayList<>(ours);
                all.addAll(peers);
                all.sort((a, b) -> (a.arch() + a.size() + a.batch() + a.precision() + a.sparsity() + a.impl())
                        .compareTo(b.arch() + b.size() + b.batch() + b.precision() + b.sparsity() + b.impl()));
                List<String> impls = all.stream().map(BenchResult::impl).distinct().toList();
                List<String> pl = new ArrayList<>();
                double[] pv = new double[all.size()];
                int[] pg = new int[all.size()];
                for (int i = 0; i < all.size(); i++) {
                    BenchResult r = all.get(i);
                    pl.add(r.impl() + " " + r.size() + " b" + r.batch() + " " + r.precision() + " " + shortLabel(r.sparsity()));
                    pv[i] = r.imagesPerS();
                    pg[i] = impls.indexOf(r.impl());
                }
                Path p3 = dir.resolve("ours_vs_peers.png");
                ImageIO.write(Charts.bars("Throughput: SparseViT-J vs peers", "images/s", pl, pv, pg), "png", p3.toFile());
                written.add(p3);
            }
        } catch (IOException e) {
            throw new SparseVitException(dir + ": cannot write plots (" + e.getMessage() + ")", e);
        }
        return written;
    }

    private static String shortLabel(String s) {
        return s.length() > 28 ? s.substring(0, 25) + "..." : s;
    }

    private static String key(BenchResult r) {
        return r.arch() + " " + r.task() + " " + r.size() + " b" + r.batch() + " " + r.precision() + " " + r.backend();
    }

}
