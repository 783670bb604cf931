package org.sparsevit.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Backends;
import org.sparsevit.io.Images;
import org.sparsevit.io.Npy;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinOutput;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.sparse.KeptDump;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code sparsevit run}: one forward pass. Writes DIR/logits.npy (classification) or DIR/out0.npy ..
 * DIR/out3.npy (backbone), float32, NCHW.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run a Swin model (optionally pruned) on an .npy batch or a PNG/JPEG image.")
public final class RunCommand implements Callable<Integer> {
    @Mixin
    Main.Common common;

    @Option(names = "--weights", required = true, paramLabel = "W.safetensors", description = "Weights (safetensors; F32, F16 or BF16).")
    Path weights;

    @Option(names = "--input", required = true, paramLabel = "X", description = "Input: .npy [B, 3, H, W] float32/float16, or a PNG/JPEG image.")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "DIR", description = "Directory for the outputs (created if needed).")
    Path output;

    @Option(names = "--backend", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--precision", defaultValue = "fp32",
            description = "fp32, tf32, fp16 or bf16 (fp16/bf16 store weights and activations in that type; CUDA only).")
    String precision;

    @Option(names = "--sparsity", paramLabel = "FILE|COMPACT",
            description = "Per-block ratios: a JSON file {\"stages\": [[...], ...]}, a compact form like 0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0, uniform:R, paper-1..3 (Swin-T), or 'dense' (default).")
    String sparsity;

    @Option(names = "--padding", paramLabel = "swin|sparsevit",
            description = "Pad after norm1 (swin, official Swin) or before it (sparsevit, official SparseViT). Default: from the checkpoint layout.")
    String padding;

    @Option(names = "--dump-kept", paramLabel = "FILE", description = "Write the kept windows of every block (kept.json format).")
    Path dumpKept;

    @Option(names = "--labels", paramLabel = "FILE",
            description = "Class names for the printed top-5 (classifiers): a text file with one name per line, a JSON"
                    + " array, or a Hugging Face config.json (id2label). With it the top-5 is printed for .npy inputs too.")
    Path labels;

    @Override
    public Integer call() throws IOException {
        SwinWeights w = SwinWeights.load(weights);
        SwinConfig cfg = w.config();
        HostTensor x = readInput(input, cfg);
        SparsityConfig sp = sparsity == null ? SparsityConfig.dense(cfg) : SparsityConfig.parse(sparsity, cfg);
        sp.validate(cfg, x.dim(2), x.dim(3));
        PaddingMode pad = padding == null ? cfg.defaultPadding() : PaddingMode.parse(padding);
        java.util.List<String> names = null;
        if (labels != null) {
            if (cfg.isBackbone()) {
                throw new SparseVitException("--labels: " + weights + " is a backbone (no classes to name)");
            }
            names = readLabels(labels, cfg.numClasses());
        }
        prepareOutputDir(output);
        try (Backend be = Backends.create(backend, org.sparsevit.backend.Precision.parse(precision), System.err::println); SwinModel model = new SwinModel(w, be)) {
            KeptDump dump = dumpKept == null ? null : new KeptDump(cfg.window(), x.dim(0));
            long t0 = System.nanoTime();
            SwinOutput out = model.forward(x, sp.ratios(), pad, dump, null);
            double ms = (System.nanoTime() - t0) / 1e6;
            if (out.logits() != null) {
                Npy.write(output.resolve("logits.npy"), out.logits());
                if (isImage(input) || names != null) {
                    printTop5(out.logits(), names);
                }
            } else {
                for (int s = 0; s < out.features().size(); s++) {
                    Npy.write(output.resolve("out" + s + ".npy"), out.features().get(s));
                }
            }
            if (dump != null) {
                dump.write(dumpKept);
            }
            System.out.printf(Locale.ROOT, "%s on %s: input %s, sparsity %s, %.1f ms; wrote %s%n",
                    cfg.isBackbone() ? "backbone" : "classifier", be.device(), java.util.Arrays.toString(x.shape()),
                    sp.toCompact(), ms, output);
        }
        return 0;
    }

    static HostTensor readInput(Path in, SwinConfig cfg) {
        if (isImage(in)) {
            return Images.load(in, cfg.isBackbone() ? 0 : cfg.imgSize());
        }
        HostTensor x = Npy.read(in);
        if (x.rank() != 4 || x.dim(1) != cfg.inChans()) {
            throw new SparseVitException(in + ": input must be [B, " + cfg.inChans() + ", H, W], got "
                    + java.util.Arrays.toString(x.shape()));
        }
        checkFinite(in, x);
        return x;
    }

    /** Refuses NaN and infinite values (every output would be NaN), naming the file, the counts and the first. */
    static void checkFinite(Path in, HostTensor x) {
        float[] d = x.data();
        int nan = 0;
        int inf = 0;
        int first = -1;
        for (int i = 0; i < d.length; i++) {
            float v = d[i];
            if (v - v != 0) {   // NaN or infinite
                if (first < 0) {
                    first = i;
                }
                if (v != v) {
                    nan++;
                } else {
                    inf++;
                }
            }
        }
        if (first >= 0) {
            int[] idx = new int[x.rank()];
            for (int a = x.rank() - 1, r = first; a >= 0; a--) {
                idx[a] = r % x.dim(a);
                r /= x.dim(a);
            }
            throw new SparseVitException(in + ": input holds " + (nan > 0 ? nan + " NaN value(s)" : "")
                    + (nan > 0 && inf > 0 ? " and " : "") + (inf > 0 ? inf + " infinite value(s)" : "")
                    + ", the first at " + java.util.Arrays.toString(idx));
        }
    }

    /** PNG/JPEG by extension (decided without loading any AWT class). */
    static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    static void prepareOutputDir(Path dir) {
        try {
            if (Files.exists(dir) && !Files.isDirectory(dir)) {
                throw new SparseVitException(dir + ": --output must be a directory, but a file exists there");
            }
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new SparseVitException(dir + ": cannot create output directory (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Class names from a UTF-8 text file (one per line; blank lines are unnamed classes, except at the end), a JSON
     * array of strings, or a JSON object with {@code id2label} (Hugging Face config.json); exactly
     * {@code classes} of them.
     */
    static java.util.List<String> readLabels(Path file, int classes) {
        String text;
        try {
            text = Files.readString(file);
            if (text.startsWith("\uFEFF")) {
                text = text.substring(1);   // a byte order mark
            }
        } catch (java.nio.charset.MalformedInputException e) {
            throw new SparseVitException(file + ": not UTF-8 text");
        } catch (java.nio.file.NoSuchFileException e) {
            throw new SparseVitException(file + ": no such file");
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        java.util.List<String> out = new java.util.ArrayList<>();
        String t = text.strip();
        if (t.startsWith("{") || t.startsWith("[")) {
            com.fasterxml.jackson.databind.JsonNode n;
            n = org.sparsevit.io.Json.parse(t, file + " (labels)");
            if (n.isObject()) {
                com.fasterxml.jackson.databind.JsonNode m = n.path("id2label");
                if (!m.isObject()) {
                    throw new SparseVitException(file + ": a JSON object without id2label (expected a Hugging Face"
                            + " config.json, a JSON array of names, or one name per line)");
                }
                String[] byId = new String[m.size()];
                for (var it = m.fields(); it.hasNext(); ) {
                    var e = it.next();
                    int id;
                    try {
                        id = Integer.parseInt(e.getKey());
                    } catch (NumberFormatException ex) {
                        throw new SparseVitException(file + ": id2label key '" + e.getKey() + "' is not a class index");
                    }
                    if (id < 0 || id >= byId.length || byId[id] != null) {
                        throw new SparseVitException(file + ": id2label ids must be 0.." + (byId.length - 1)
                                + ", each once (found " + e.getKey() + ")");
                    }
                    byId[id] = labelText(file, e.getValue());
                }
                out.addAll(java.util.Arrays.asList(byId));
            } else {
                n.forEach(v -> out.add(labelText(file, v)));
            }
        } else {
            // one name per line; blank lines count (an unnamed class) except at the end of the file
            List<String> lines = new java.util.ArrayList<>(text.lines().map(String::strip).toList());
            while (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) {
                lines.remove(lines.size() - 1);
            }
            out.addAll(lines);
        }
        if (out.size() != classes) {
            throw new SparseVitException(file + ": " + out.size() + " class names, but the classifier has " + classes
                    + " classes");
        }
        return out;
    }

    private static String labelText(Path file, com.fasterxml.jackson.databind.JsonNode v) {
        if (!v.isValueNode() || v.isNull()) {
            throw new SparseVitException(file + ": class names must be strings or numbers, found " + v);
        }
        return v.asText();
    }

    static void printTop5(HostTensor logits) {
        printTop5(logits, null);
    }

    static void printTop5(HostTensor logits, java.util.List<String> names) {
        int c = logits.dim(1);
        for (int b = 0; b < logits.dim(0); b++) {
            Integer[] idx = new Integer[c];
            for (int i = 0; i < c; i++) {
                idx[i] = i;
            }
            final int bb = b;
            java.util.Arrays.sort(idx, (p, q) -> Float.compare(logits.data()[bb * c + q], logits.data()[bb * c + p]));
            StringBuilder sb = new StringBuilder("top-5 classes (image " + b + "):");
            for (int i = 0; i < Math.min(5, c); i++) {
                float v = logits.data()[b * c + idx[i]];
                sb.append(names == null ? String.format(Locale.ROOT, " %d (%.3f)", idx[i], v)
                        : String.format(Locale.ROOT, " %d %s (%.3f)", idx[i], names.get(idx[i]), v));
            }
            System.out.println(sb);
        }
    }
}
