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

    /**
     * The report's plots: per input size, p50 latency against effective sparsity (1 - GMACs / dense GMACs,
     * one series per implementation, architecture, batch and precision); our speedup over dense; and how many
     * times faster ours is than each peer at the same case. Returns the file names written (relative to dir).
     */
    public static List<String> report(Path dir, ResultsReport rep) {
        List<String> names = new ArrayList<>();
        List<BenchResult> ours = rep.ours();
        List<BenchResult> all = new ArrayList<>(ours);
        all.addAll(rep.peers());
        try {
            Files.createDirectories(dir);
            Map<String, Map<String, List<double[]>>> bySize = new LinkedHashMap<>();
            for (BenchResult r : all) {
                double dense = ours.stream().filter(o -> sameCase(o, r) && o.sparsity().equals("dense") && o.gmacs() > 0)
                        .mapToDouble(BenchResult::gmacs).findFirst().orElse(0);
                double g = rep.gmacs(r);
                if (dense <= 0 || g <= 0 || r.p50Ms() <= 0) {
                    continue;
                }
                String size = r.task() + " " + r.size();
                String series = r.impl() + " " + r.arch() + " b" + r.batch() + " " + r.precision()
                        + (r.backend().contains("cpu") ? " cpu" : "");
                bySize.computeIfAbsent(size, k -> new LinkedHashMap<>()).computeIfAbsent(series, k -> new ArrayList<>())
                        .add(new double[]{1 - g / dense, r.p50Ms()});
            }
            for (Map.Entry<String, Map<String, List<double[]>>> e : bySize.entrySet()) {
                boolean any = e.getValue().values().stream().anyMatch(v -> v.size() > 1);
                if (!any) {
                    continue;
                }
                String name = "latency_vs_sparsity_" + e.getKey().replace(' ', '_') + ".png";
                ImageIO.write(Charts.line("p50 latency vs sparsity, " + e.getKey(),
                        "effective sparsity (1 - GMACs / dense GMACs)", "p50 latency (ms)", e.getValue()), "png",
                        dir.resolve(name).toFile());
                names.add(name);
            }
            List<String> labels = new ArrayList<>();
            List<Double> vals = new ArrayList<>();
            List<Integer> groups = new ArrayList<>();
            List<String> keys = new ArrayList<>();
            for (BenchResult r : ours) {
                if (r.sparsity().equals("dense")) {
                    continue;
                }
                ours.stream().filter(o -> sameCase(o, r) && o.backend().equals(r.backend()) && o.sparsity().equals("dense"))
                        .findFirst().ifPresent(d -> {
                            String k = key(r);
                            if (!keys.contains(k)) {
                                keys.add(k);
                            }
                            labels.add(r.arch() + " " + r.size() + " b" + r.batch() + " " + r.precision() + " "
                                    + shortLabel(r.sparsity()));
                            vals.add(d.p50Ms() / r.p50Ms());
                            groups.add(keys.indexOf(k));
                        });
            }
            if (!labels.isEmpty()) {
                ImageIO.write(Charts.bars("Speedup over our dense (p50)", "x faster than dense", labels,
                        vals.stream().mapToDouble(Double::doubleValue).toArray(),
                        groups.stream().mapToInt(Integer::intValue).toArray()), "png",
                        dir.resolve("speedup_over_dense.png").toFile());
                names.add("speedup_over_dense.png");
            }
            List<String> pl = new ArrayList<>();
            List<Double> pv = new ArrayList<>();
            List<Integer> pg = new ArrayList<>();
            List<String> impls = new ArrayList<>();
            for (BenchResult p : rep.peers()) {
                ResultsReport.ourRowFor(p, ours).ifPresent(o -> {
                    if (!impls.contains(p.impl())) {
                        impls.add(p.impl());
                    }
                    int th = ResultsReport.threadsOf(p);
                    pl.add("vs " + p.impl() + ": " + p.arch() + " " + p.size() + " b" + p.batch() + " " + p.precision()
                            + " " + shortLabel(p.sparsity()) + (th > 0 ? ", " + th + " thr." : ""));
                    pv.add(p.p50Ms() / o.p50Ms());
                    pg.add(impls.indexOf(p.impl()));
                });
            }
            if (!pl.isEmpty()) {
                ImageIO.write(Charts.bars("SparseViT-J vs peers: peer p50 / our p50 (above 1: ours faster)",
                        "x faster than the peer", pl, pv.stream().mapToDouble(Double::doubleValue).toArray(),
                        pg.stream().mapToInt(Integer::intValue).toArray()), "png", dir.resolve("ours_vs_peers.png").toFile());
                names.add("ours_vs_peers.png");
            }
        } catch (IOException e) {
            throw new SparseVitException(dir + ": cannot write plots (" + e.getMessage() + ")", e);
        }
        return names;
    }

    private static boolean sameCase(BenchResult a, BenchResult b) {
        return a.arch().equalsIgnoreCase(b.arch()) && a.task().equals(b.task()) && a.size().equals(b.size())
                && a.batch() == b.batch() && a.precision().equalsIgnoreCase(b.precision());
    }

    private static String shortLabel(String s) {
        return s.length() > 28 ? s.substring(0, 25) + "..." : s;
    }

    private static String key(BenchResult r) {
        return r.arch() + " " + r.task() + " " + r.size() + " b" + r.batch() + " " + r.precision() + " " + r.backend();
    }

}
