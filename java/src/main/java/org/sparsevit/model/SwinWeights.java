package org.sparsevit.model;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.sparsevit.SparseVitException;
import org.sparsevit.io.Safetensors;
import org.sparsevit.io.SafetensorsException;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Shapes;

/**
 * Model parameters under canonical (Microsoft Swin) names, with the architecture they describe.
 *
 * <p>Loading accepts (a) the Microsoft classification release, (b) the official Swin detection backbone
 * and (c) the mmdet 2.x layout of SparseViT checkpoints, also when every key carries a prefix such as
 * {@code backbone.} (keys outside that prefix, e.g. a detector's neck and heads, are ignored and counted).
 * Derived buffers ({@code relative_position_index}, {@code attn_mask}) are ignored. The architecture
 * comes from {@code __metadata__} when present, cross-checked against the shapes, and is otherwise
 * inferred from names and shapes. Missing keys, unexpected keys and shape mismatches are reported
 * together, by name.
 *
 * <p>Canonical names: {@code patch_embed.proj.*}, {@code patch_embed.norm.*},
 * {@code layers.i.blocks.j.{norm1,attn.qkv,attn.proj,attn.relative_position_bias_table,norm2,mlp.fc1,mlp.fc2}},
 * {@code layers.i.downsample.{norm,reduction}}, then {@code norm.*} + {@code head.*} or {@code norm0..norm3}.
 */
public final class SwinWeights {
    private static final Pattern STAGE_BLOCK = Pattern.compile("^layers\\.(\\d+)\\.blocks\\.(\\d+)\\.");
    private static final Pattern STAGE = Pattern.compile("^layers\\.(\\d+)\\.");
    private static final int LIST_LIMIT = 20;

    private final SwinConfig config;
    private final Map<String, HostTensor> tensors;
    private final int ignoredKeys;

    private SwinWeights(SwinConfig config, Map<String, HostTensor> tensors, int ignoredKeys) {
        this.config = config;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.ignoredKeys = ignoredKeys;
    }

    /** Wraps canonical tensors after checking them against {@code config}. */
    public static SwinWeights of(SwinConfig config, Map<String, HostTensor> canonical) {
        check("weights", config, canonical);
        return new SwinWeights(config, new LinkedHashMap<>(canonical), 0);
    }

    public SwinConfig config() {
        return config;
    }

    /** A tensor by canonical name. */
    public HostTensor get(String name) {
        HostTensor t = tensors.get(name);
        if (t == null) {
            throw new SparseVitException("weights: no tensor '" + name + "'");
        }
        return t;
    }

    public Map<String, HostTensor> all() {
        return tensors;
    }

    /** Keys of the file that were outside the model's prefix (e.g. a detector's neck and heads). */
    public int ignoredKeys() {
        return ignoredKeys;
    }

    public long parameterCount() {
        return tensors.values().stream().mapToLong(HostTensor::numel).sum();
    }

    // ------------------------------------------------------------------------------------- loading

    public static SwinWeights load(Path file) {
        return load(file, null);
    }

    /**
     * Loads a checkpoint.
     *
     * @param expected when non-null, the architecture the file must have (checked, not inferred)
     */
    public static SwinWeights load(Path file, SwinConfig expected) {
        try (Safetensors st = Safetensors.open(file)) {
            String f = file.toString();
            List<String> names = new ArrayList<>();
            for (String n : st.names()) {
                if (!n.endsWith("relative_position_index") && !n.endsWith("attn_mask")
                        && !n.endsWith("num_batches_tracked")) {
                    names.add(n);
                }
            }
            String prefix = findPrefix(f, names);
            int ignored = 0;
            Map<String, String> canonicalToFile = new LinkedHashMap<>();
            CheckpointLayout layout = null;
            for (String n : names) {
                if (!n.startsWith(prefix)) {
                    ignored++;
                    continue;
                }
                String k = n.substring(prefix.length());
                if (k.startsWith("stages.") || k.startsWith("patch_embed.projection.")) {
                    layout = CheckpointLayout.MMDET;
                }
                canonicalToFile.put(canonical(k), n);
            }
            boolean hasHead = canonicalToFile.containsKey("head.weight");
            boolean hasNorm0 = canonicalToFile.containsKey("norm0.weight");
            if (layout == null) {
                layout = hasHead || (!hasNorm0 && canonicalToFile.containsKey("norm.weight"))
                        ? CheckpointLayout.MICROSOFT : CheckpointLayout.SWIN_DETECTION;
            }
            Map<String, int[]> shapes = new LinkedHashMap<>();
            canonicalToFile.forEach((c, n) -> shapes.put(c, st.shape(n)));
            SwinConfig cfg = expected != null ? expected : infer(f, shapes, st.metadata(), layout);
            check(f, cfg, shapes);
            Map<String, HostTensor> out = new LinkedHashMap<>();
            for (String name : expectedNames(cfg)) {
                out.put(name, st.read(canonicalToFile.get(name)));
            }
            return new SwinWeights(cfg, out, ignored);
        }
    }

    private static String findPrefix(String f, List<String> names) {
        for (String n : names) {
            int i = n.indexOf("patch_embed.");
            if (i >= 0) {
                return n.substring(0, i);
            }
        }
        throw new SafetensorsException(f + ": no patch_embed tensors; this is not a Swin checkpoint (first keys: "
                + names.subList(0, Math.min(5, names.size())) + ")");
    }

    /** Maps a (prefix-free) key of any supported layout to its canonical name. */
    static String canonical(String k) {
        String c = k;
        if (c.startsWith("stages.")) {
            c = "layers." + c.substring("stages.".length());
        }
        c = c.replace("patch_embed.projection.", "patch_embed.proj.")
                .replace(".attn.w_msa.", ".attn.")
                .replace(".ffn.layers.0.0.", ".mlp.fc1.")
                .replace(".ffn.layers.1.", ".mlp.fc2.");
        return c;
    }

    private static SwinConfig infer(String f, Map<String, int[]> shapes, Map<String, String> meta,
                                    CheckpointLayout layout) {
        int[] pe = shapes.get("patch_embed.proj.weight");
        if (pe == null || pe.length != 4 || pe[2] != pe[3]) {
            throw new SafetensorsException(f + ": patch_embed weight " + (pe == null ? "missing" : Shapes.str(pe))
                    + " is not [C, Cin, p, p]");
        }
        int embed = pe[0];
        int inChans = pe[1];
        int patch = pe[2];
        TreeSet<Integer> stageIds = new TreeSet<>();
        Map<Integer, Integer> depth = new LinkedHashMap<>();
        for (String n : shapes.keySet()) {
            Matcher m = STAGE.matcher(n);
            if (m.find()) {
                stageIds.add(Integer.parseInt(m.group(1)));
            }
            Matcher b = STAGE_BLOCK.matcher(n);
            if (b.find()) {
                int s = Integer.parseInt(b.group(1));
                depth.merge(s, Integer.parseInt(b.group(2)) + 1, Math::max);
            }
        }
        int ns = stageIds.isEmpty() ? 0 : stageIds.last() + 1;
        if (ns == 0) {
            throw new SafetensorsException(f + ": no blocks found (expected keys like layers.0.blocks.0.norm1.weight)");
        }
        int[] depths = new int[ns];
        int[] heads = new int[ns];
        int window = -1;
        int mlp = -1;
        for (int s = 0; s < ns; s++) {
            depths[s] = depth.getOrDefault(s, 0);
            int[] t = shapes.get("layers." + s + ".blocks.0.attn.relative_position_bias_table");
            if (t == null || t.length != 2) {
                throw new SafetensorsException(f + ": stage " + s + " has no relative_position_bias_table in block 0");
            }
            heads[s] = t[1];
            int side = (int) Math.round(Math.sqrt(t[0]));
            if (side * side != t[0] || side % 2 == 0) {
                throw new SafetensorsException(f + ": layers." + s + ".blocks.0.attn.relative_position_bias_table has "
                        + t[0] + " rows, not (2w-1)^2 for a window w");
            }
            int w = (side + 1) / 2;
            if (s == 0) {
                window = w;
            }
            int[] fc1 = shapes.get("layers." + s + ".blocks.0.mlp.fc1.weight");
            if (fc1 != null && s == 0 && fc1.length == 2 && fc1[1] > 0) {
                mlp = fc1[0] / fc1[1];
            }
        }
        if (mlp <= 0) {
            throw new SafetensorsException(f + ": cannot infer the MLP ratio (layers.0.blocks.0.mlp.fc1.weight missing)");
        }
        boolean cls = shapes.containsKey("head.weight");
        int classes = cls ? shapes.get("head.weight")[0] : 0;
        Task task = cls ? Task.CLASSIFICATION : Task.BACKBONE;
        if (!cls && !shapes.containsKey("norm0.weight")) {
            throw new SafetensorsException(f + ": neither a classification head (head.weight) nor backbone output norms"
                    + " (norm0.weight .. norm" + (ns - 1) + ".weight) found");
        }
        int img = window == 12 ? 384 : 224;
        float eps = 1e-5f;
        MergeOrder order = layout == CheckpointLayout.MMDET ? MergeOrder.UNFOLD : MergeOrder.CONCAT;
        if (!meta.isEmpty()) {
            List<String> conflicts = new ArrayList<>();
            crossCheck(meta, "embed_dim", embed, conflicts);
            crossCheckList(meta, "depths", depths, conflicts);
            crossCheckList(meta, "num_heads", heads, conflicts);
            crossCheck(meta, "window_size", window, conflicts);
            crossCheck(meta, "patch_size", patch, conflicts);
            crossCheck(meta, "mlp_ratio", mlp, conflicts);
            if (cls) {
                crossCheck(meta, "num_classes", classes, conflicts);
            }
            if (!conflicts.isEmpty()) {
                throw new SafetensorsException(f + ": __metadata__ disagrees with the tensor shapes: "
                        + String.join("; ", conflicts));
            }
            img = (int) number(meta, "img_size", img);
            eps = (float) number(meta, "layer_norm_eps", eps);
        }
        try {
            return new SwinConfig(embed, depths, heads, window, patch, mlp, inChans, classes, task, img, layout, order, eps);
        } catch (IllegalArgumentException e) {
            throw new SafetensorsException(f + ": inconsistent architecture: " + e.getMessage());
        }
    }

    private static double number(Map<String, String> meta, String key, double dflt) {
        String v = meta.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            return Double.parseDouble(v.strip());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    private static void crossCheck(Map<String, String> meta, String key, int actual, List<String> conflicts) {
        String v = meta.get(key);
        if (v == null) {
            return;
        }
        try {
            double d = Double.parseDouble(v.strip());
            if (d != actual) {
                conflicts.add(key + " is " + v + " in the metadata but " + actual + " from the shapes");
            }
        } catch (NumberFormatException e) {
            conflicts.add(key + " '" + v + "' in the metadata is not a number");
        }
    }

    private static void crossCheckList(Map<String, String> meta, String key, int[] actual, List<String> conflicts) {
        String v = meta.get(key);
        if (v == null) {
            return;
        }
        String s = v.replaceAll("[\\[\\]()\\s]", "");
        try {
            int[] m = s.isEmpty() ? new int[0] : Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
            if (!Arrays.equals(m, actual)) {
                conflicts.add(key + " is " + v + " in the metadata but " + Arrays.toString(actual) + " from the shapes");
            }
        } catch (NumberFormatException e) {
            conflicts.add(key + " '" + v + "' in the metadata is not a list of integers");
        }
    }

    // ------------------------------------------------------------------------------------- expected layout

    /** Canonical names and shapes of every parameter of {@code cfg}, in model order. */
    public static Map<String, int[]> expectedShapes(SwinConfig cfg) {
        Map<String, int[]> m = new LinkedHashMap<>();
        int c0 = cfg.embedDim();
        int p = cfg.patchSize();
        m.put("patch_embed.proj.weight", new int[]{c0, cfg.inChans(), p, p});
        m.put("patch_embed.proj.bias", new int[]{c0});
        m.put("patch_embed.norm.weight", new int[]{c0});
        m.put("patch_embed.norm.bias", new int[]{c0});
        int tw = 2 * cfg.window() - 1;
        for (int s = 0; s < cfg.numStages(); s++) {
            int c = cfg.dim(s);
            int hid = c * cfg.mlpRatio();
            for (int j = 0; j < cfg.depth(s); j++) {
                String b = "layers." + s + ".blocks." + j + ".";
                m.put(b + "norm1.weight", new int[]{c});
                m.put(b + "norm1.bias", new int[]{c});
                m.put(b + "attn.relative_position_bias_table", new int[]{tw * tw, cfg.heads(s)});
                m.put(b + "attn.qkv.weight", new int[]{3 * c, c});
                m.put(b + "attn.qkv.bias", new int[]{3 * c});
                m.put(b + "attn.proj.weight", new int[]{c, c});
                m.put(b + "attn.proj.bias", new int[]{c});
                m.put(b + "norm2.weight", new int[]{c});
                m.put(b + "norm2.bias", new int[]{c});
                m.put(b + "mlp.fc1.weight", new int[]{hid, c});
                m.put(b + "mlp.fc1.bias", new int[]{hid});
                m.put(b + "mlp.fc2.weight", new int[]{c, hid});
                m.put(b + "mlp.fc2.bias", new int[]{c});
            }
            if (s < cfg.numStages() - 1) {
                m.put("layers." + s + ".downsample.norm.weight", new int[]{4 * c});
                m.put("layers." + s + ".downsample.norm.bias", new int[]{4 * c});
                m.put("layers." + s + ".downsample.reduction.weight", new int[]{2 * c, 4 * c});
            }
        }
        if (cfg.isBackbone()) {
            for (int s = 0; s < cfg.numStages(); s++) {
                m.put("norm" + s + ".weight", new int[]{cfg.dim(s)});
                m.put("norm" + s + ".bias", new int[]{cfg.dim(s)});
            }
        } else {
            int cf = cfg.numFeatures();
            m.put("norm.weight", new int[]{cf});
            m.put("norm.bias", new int[]{cf});
            m.put("head.weight", new int[]{cfg.numClasses(), cf});
            m.put("head.bias", new int[]{cfg.numClasses()});
        }
        return m;
    }

    public static List<String> expectedNames(SwinConfig cfg) {
        return new ArrayList<>(expectedShapes(cfg).keySet());
    }

    private static void check(String f, SwinConfig cfg, Map<String, ?> present) {
        Map<String, int[]> exp = expectedShapes(cfg);
        List<String> missing = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        List<String> mismatched = new ArrayList<>();
        for (Map.Entry<String, int[]> e : exp.entrySet()) {
            Object v = present.get(e.getKey());
            if (v == null) {
                missing.add(e.getKey());
                continue;
            }
            int[] got = v instanceof HostTensor h ? h.shape() : (int[]) v;
            if (!Arrays.equals(got, e.getValue())) {
                mismatched.add(e.getKey() + " is " + Shapes.str(got) + ", expected " + Shapes.str(e.getValue()));
            }
        }
        for (String k : present.keySet()) {
            if (!exp.containsKey(k)) {
                unexpected.add(k);
            }
        }
        if (missing.isEmpty() && unexpected.isEmpty() && mismatched.isEmpty()) {
            return;
        }
        StringBuilder sb = new StringBuilder(f + ": weights do not match " + describe(cfg) + ":");
        list(sb, "missing keys", missing);
        list(sb, "unexpected keys", unexpected);
        list(sb, "shape mismatches", mismatched);
        throw new SafetensorsException(sb.toString());
    }

    private static String describe(SwinConfig c) {
        return "Swin C=" + c.embedDim() + " depths=" + Arrays.toString(c.depths()) + " heads="
                + Arrays.toString(c.heads()) + " window=" + c.window()
                + (c.isBackbone() ? " backbone" : " classifier(" + c.numClasses() + ")");
    }

    private static void list(StringBuilder sb, String what, List<String> items) {
        if (items.isEmpty()) {
            return;
        }
        sb.append(' ').append(items.size()).append(' ').append(what).append(" (");
        sb.append(String.join(", ", items.subList(0, Math.min(LIST_LIMIT, items.size()))));
        if (items.size() > LIST_LIMIT) {
            sb.append(", ... and ").append(items.size() - LIST_LIMIT).append(" more");
        }
        sb.append(");");
    }

    // ------------------------------------------------------------------------------------- random

    /**
     * Seeded random weights for any architecture (deterministic for a seed): LayerNorm weights
     * 1 + 0.2 N(0,1), biases 0.075 N, bias tables 0.5 N, other weights N * sqrt(1 / fan_in).
     */
    public static SwinWeights random(SwinConfig cfg, long seed) {
        Map<String, int[]> exp = expectedShapes(cfg);
        List<String> names = new ArrayList<>(exp.keySet());
        HostTensor[] made = new HostTensor[names.size()];
        java.util.stream.IntStream.range(0, names.size()).parallel().forEach(i -> {
            String n = names.get(i);
            int[] shape = exp.get(n);
            SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + n.hashCode());
            float[] d = new float[Math.toIntExact(Shapes.numel(shape))];
            boolean norm = n.contains("norm") && n.endsWith(".weight");
            boolean bias = n.endsWith(".bias");
            boolean table = n.endsWith("relative_position_bias_table");
            double fanIn = shape.length >= 2 ? Shapes.numel(shape) / (double) shape[0] : 1;
            double scale = table ? 0.5 : bias ? 0.075 : norm ? 0.2 : Math.sqrt(1.0 / fanIn);
            double offset = norm ? 1 : 0;
            for (int q = 0; q < d.length; q += 2) {
                // Box-Muller pair from the split generator
                double u1 = 1.0 - r.nextDouble();
                double u2 = r.nextDouble();
                double rad = Math.sqrt(-2 * Math.log(u1));
                d[q] = (float) (offset + scale * rad * Math.cos(2 * Math.PI * u2));
                if (q + 1 < d.length) {
                    d[q + 1] = (float) (offset + scale * rad * Math.sin(2 * Math.PI * u2));
                }
            }
            made[i] = new HostTensor(d, shape);
        });
        Map<String, HostTensor> m = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            m.put(names.get(i), made[i]);
        }
        return new SwinWeights(cfg, m, 0);
    }
}
