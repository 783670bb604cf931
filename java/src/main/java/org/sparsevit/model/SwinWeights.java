package org.sparsevit.model;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.BiFunction;
import java.util.function.IntFunction;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

import org.sparsevit.SparseVitException;
import org.sparsevit.io.Safetensors;
import org.sparsevit.io.SafetensorsException;
import org.sparsevit.tensor.Fingerprint;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Shapes;

/**
 * Model parameters under canonical (Microsoft Swin) names, with the architecture they describe.
 *
 * <p>Loading accepts (a) the Microsoft classification release ({@link CheckpointLayout#MICROSOFT},
 * {@code norm.*} + {@code head.*}), (b) the official Swin detection backbone
 * ({@link CheckpointLayout#SWIN_DETECTION}, {@code norm0..norm3}) and (c) the mmdet 2.x layout of SparseViT
 * checkpoints ({@link CheckpointLayout#MMDET}: {@code stages.i}, {@code patch_embed.projection},
 * {@code attn.w_msa}, {@code ffn.layers.0.0} / {@code ffn.layers.1}, always a backbone with
 * {@link MergeOrder#UNFOLD}), timm's spelling of (a) ({@code head.fc}, the merging that ends stage i
 * stored as {@code layers.(i+1).downsample}), and Hugging Face transformers' names of (a) and (b)
 * ({@link HuggingFaceNames}), also when every key carries a prefix such as {@code backbone.},
 * {@code module.} or {@code model.} (everything before the first {@code patch_embed.}; keys outside that
 * prefix, e.g. a detector's neck and heads, are ignored and counted by {@link #ignoredKeys()}).
 * Derived buffers ({@code relative_position_index}, {@code attn_mask}, {@code num_batches_tracked}) are
 * ignored. The architecture is inferred from names and shapes and, when the file has {@code __metadata__}
 * (embed_dim, depths, num_heads, window_size, patch_size, mlp_ratio, num_classes, ...), cross-checked
 * against it; the metadata also supplies what shapes cannot tell (img_size, layer_norm_eps). Missing keys,
 * unexpected keys and shape mismatches are reported together in one message, by the names the file uses.
 *
 * <p>Canonical names and shapes (C_i = C * 2^i, h_i heads, w window, p patch, r MLP ratio):
 * <ul>
 *   <li>{@code patch_embed.proj.weight} [C, inChans, p, p], {@code patch_embed.proj.bias} [C],
 *       {@code patch_embed.norm.{weight,bias}} [C]</li>
 *   <li>{@code layers.i.blocks.j.norm1.*}, {@code norm2.*} [C_i];
 *       {@code attn.qkv.weight} [3C_i, C_i], {@code attn.qkv.bias} [3C_i];
 *       {@code attn.proj.weight} [C_i, C_i], {@code attn.proj.bias} [C_i];
 *       {@code attn.relative_position_bias_table} [(2w-1)^2, h_i];
 *       {@code mlp.fc1.weight} [rC_i, C_i], {@code mlp.fc1.bias} [rC_i];
 *       {@code mlp.fc2.weight} [C_i, rC_i], {@code mlp.fc2.bias} [C_i]</li>
 *   <li>{@code layers.i.downsample.norm.*} [4C_i], {@code layers.i.downsample.reduction.weight} [2C_i, 4C_i]
 *       (all stages but the last)</li>
 *   <li>classification: {@code norm.*} [C_last], {@code head.weight} [classes, C_last], {@code head.bias}
 *       [classes]; backbone: {@code norm0..norm3.*} [C_i]</li>
 * </ul>
 * Linear weights are [out, in].
 */
public final class SwinWeights {
    private static final Pattern STAGE_BLOCK = Pattern.compile("^layers\\.(\\d{1,6})\\.blocks\\.(\\d{1,6})\\.");
    private static final Pattern STAGE = Pattern.compile("^layers\\.(\\d{1,6})\\.");
    private static final Pattern STAGE_MERGE = Pattern.compile("^layers\\.(\\d{1,6})\\.downsample\\.");
    /** Names per category in an error message before "... and N more". */
    private static final int LIST_LIMIT = 20;
    /** More stages than any Swin model has (official ones have 4); stage widths C * 2^i must stay small. */
    private static final int MAX_STAGES = 8;

    private final SwinConfig config;
    private final Map<String, HostTensor> tensors;
    private final int ignoredKeys;
    private final String naming;

    private SwinWeights(SwinConfig config, Map<String, HostTensor> tensors, int ignoredKeys) {
        this(config, tensors, ignoredKeys, "");
    }

    private SwinWeights(SwinConfig config, Map<String, HostTensor> tensors, int ignoredKeys, String naming) {
        this.config = config;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.ignoredKeys = ignoredKeys;
        this.naming = naming;
    }

    /** Whose parameter names the loaded file used (e.g. "timm", "Hugging Face transformers ..."); "" when made here. */
    public String naming() {
        return naming;
    }

    /**
     * Wraps canonical tensors after checking them against {@code config} (all names present, none extra,
     * shapes as listed in the class comment).
     */
    public static SwinWeights of(SwinConfig config, Map<String, HostTensor> canonical) {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        canonical.forEach((k, v) -> shapes.put(k, v.shape()));
        check("weights", config, shapes, UnaryOperator.identity(), List.of());
        return new SwinWeights(config, new LinkedHashMap<>(canonical), 0);
    }

    /** The architecture these weights belong to. */
    public SwinConfig config() {
        return config;
    }

    /**
     * A tensor by canonical name (shapes in the class comment).
     *
     * @throws SparseVitException naming the key when there is no such tensor
     */
    public HostTensor get(String name) {
        HostTensor t = tensors.get(name);
        if (t == null) {
            throw new SparseVitException("weights: no tensor '" + name + "' in " + config
                    + (name.contains("stages.") || name.contains("w_msa") || name.contains("ffn.")
                    ? " (use the canonical Microsoft names, e.g. layers.0.blocks.0.attn.qkv.weight)" : ""));
        }
        return t;
    }

    /** Every tensor, by canonical name, in model order ({@link #expectedNames}); unmodifiable. */
    public Map<String, HostTensor> all() {
        return tensors;
    }

    /** Keys of the file that were outside the model's prefix (e.g. a detector's neck and heads). */
    public int ignoredKeys() {
        return ignoredKeys;
    }

    private volatile String fingerprint;

    /**
     * A short identity of these weights (16 hex digits, {@link Fingerprint}: names, shapes and sampled values), for
     * search logs and latency tables: weights of another file or seed give another one. Computed once.
     */
    public String fingerprint() {
        String f = fingerprint;
        if (f == null) {
            f = Fingerprint.of(tensors);
            fingerprint = f;
        }
        return f;
    }

    /** Number of parameters held (the sum of the tensor sizes). */
    public long parameterCount() {
        return tensors.values().stream().mapToLong(HostTensor::numel).sum();
    }

    // ------------------------------------------------------------------------------------- loading

    /** Loads a checkpoint of any supported layout, inferring its architecture. See the class comment. */
    public static SwinWeights load(Path file) {
        return load(file, null);
    }

    /**
     * Loads a checkpoint.
     *
     * @param file      a safetensors file (F32, F16 or BF16 tensors)
     * @param expected  when non-null, the architecture the file must have: names and shapes are checked
     *                  against it (nothing is inferred), and its layout must be the file's
     * @throws SafetensorsException naming the file and everything that does not fit
     */
    public static SwinWeights load(Path file, SwinConfig expected) {
        try (Safetensors st = Safetensors.open(file)) {
            String f = file.toString();
            List<String> names = new ArrayList<>();
            for (String n : st.names()) {
                if (!isDerived(n)) {
                    names.add(n);
                }
            }
            HuggingFaceNames hf = HuggingFaceNames.detect(f, names);
            if (hf != null) {
                return loadHuggingFace(st, f, names, hf, expected);
            }
            String prefix = findPrefix(f, names);
            List<String> own = new ArrayList<>();
            int ignored = 0;
            for (String n : names) {
                if (n.startsWith(prefix)) {
                    own.add(n.substring(prefix.length()));
                } else {
                    ignored++;
                }
            }
            CheckpointLayout layout = detectLayout(own);
            boolean timm = timmNames(own, n -> st.shape(prefix + n), layout);
            // keys of the detected layout, by canonical name; the others are reported as unexpected
            Map<String, String> canonicalToFile = new LinkedHashMap<>();
            List<String> foreign = new ArrayList<>();
            for (String k : own) {
                String c = canonical(k, timm);
                if (fileName(c, layout, timm).equals(k)) {
                    canonicalToFile.put(c, prefix + k);
                } else {
                    foreign.add(prefix + k);
                }
            }
            Map<String, int[]> shapes = new LinkedHashMap<>();
            canonicalToFile.forEach((c, n) -> shapes.put(c, st.shape(n)));
            SwinConfig cfg;
            if (expected != null) {
                if (expected.layout() != layout) {
                    throw new SafetensorsException(f + ": is a " + describe(layout, timm) + " checkpoint, but a "
                            + describe(expected.layout()) + " model was expected (" + expected + ")");
                }
                cfg = expected;
            } else {
                cfg = infer(f, shapes, st.metadata(), layout, c -> prefix + fileName(c, layout, timm));
            }
            check(f, cfg, shapes, c -> prefix + fileName(c, layout, timm), foreign);
            Map<String, HostTensor> out = new LinkedHashMap<>();
            for (String name : expectedNames(cfg)) {
                out.put(name, readFinite(st, f, canonicalToFile.get(name)));
            }
            return new SwinWeights(cfg, out, ignored, timm ? "timm" : describe(layout));
        }
    }

    /**
     * Loads a checkpoint in Hugging Face transformers' names ({@link HuggingFaceNames}): query, key and value
     * are read as the three row blocks of {@code attn.qkv}; everything else maps one to one.
     */
    private static SwinWeights loadHuggingFace(Safetensors st, String f, List<String> names, HuggingFaceNames hf,
                                               SwinConfig expected) {
        Map<String, String[]> files = new LinkedHashMap<>();
        List<String> foreign = new ArrayList<>();
        int ignored = 0;
        for (String n : names) {
            if (!n.startsWith(hf.root())) {
                ignored++;
                continue;
            }
            HuggingFaceNames.Mapped m = hf.map(n);
            if (m == null) {
                foreign.add(n);
                continue;
            }
            files.computeIfAbsent(m.canonical(), c -> new String[m.part() < 0 ? 1 : 3])[Math.max(0, m.part())] = n;
        }
        Map<String, int[]> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, String[]> e : files.entrySet()) {
            String[] parts = e.getValue();
            if (parts.length == 1) {
                shapes.put(e.getKey(), st.shape(parts[0]));
            } else if (Arrays.stream(parts).allMatch(java.util.Objects::nonNull)) {
                int[] s0 = st.shape(parts[0]);
                for (String p : parts) {
                    if (!Arrays.equals(st.shape(p), s0)) {
                        throw new SafetensorsException(f + ": query, key and value must have one shape: "
                                + Arrays.stream(parts).map(q -> q + " is " + Shapes.str(st.shape(q)))
                                .collect(java.util.stream.Collectors.joining(", ")));
                    }
                }
                int[] qkv = s0.clone();
                if (qkv.length > 0) {
                    qkv[0] *= 3;
                }
                shapes.put(e.getKey(), qkv);
            }
            // else: a part is missing; the canonical tensor is reported missing, by the parts' names
        }
        java.util.Set<String> present = new java.util.HashSet<>(names);
        UnaryOperator<String> fileName = c -> {
            List<String> all = hf.fileNames(c);
            List<String> absent = all.stream().filter(n -> !present.contains(n)).toList();
            return String.join(", ", absent.isEmpty() ? all : absent);
        };
        // SwinBackbone names norms only for its out_features: any of them makes a backbone (the check then
        // reports the stages without one)
        boolean outNorms = shapes.keySet().stream().anyMatch(c -> c.matches("norm\\d+\\..*"));
        CheckpointLayout layout = !outNorms && (shapes.containsKey("head.weight") || shapes.containsKey("head.bias")
                || shapes.containsKey("norm.weight")) ? CheckpointLayout.MICROSOFT : CheckpointLayout.SWIN_DETECTION;
        if (layout == CheckpointLayout.SWIN_DETECTION) {
            // SwinBackbone keeps SwinModel's final layernorm, which its outputs do not use
            for (String c : new String[]{"norm.weight", "norm.bias"}) {
                if (shapes.remove(c) != null) {
                    files.remove(c);
                    ignored++;
                }
            }
        }
        SwinConfig cfg;
        if (expected != null) {
            if (expected.layout() != layout) {
                throw new SafetensorsException(f + ": is a " + describe(layout) + " checkpoint in " + hf.spelling()
                        + " names, but a " + describe(expected.layout()) + " model was expected (" + expected + ")");
            }
            cfg = expected;
        } else {
            cfg = infer(f, shapes, st.metadata(), layout, fileName);
        }
        check(f, cfg, shapes, fileName, foreign);
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (String name : expectedNames(cfg)) {
            String[] parts = files.get(name);
            if (parts.length == 1) {
                out.put(name, readFinite(st, f, parts[0]));
            } else {
                HostTensor q = readFinite(st, f, parts[0]);
                int n = q.data().length;
                float[] d = new float[3 * n];
                for (int p = 0; p < 3; p++) {
                    System.arraycopy(p == 0 ? q.data() : readFinite(st, f, parts[p]).data(), 0, d, p * n, n);
                }
                int[] shape = q.shape().clone();
                shape[0] *= 3;
                out.put(name, new HostTensor(d, shape));
            }
        }
        return new SwinWeights(cfg, out, ignored, hf.spelling());
    }

    /**
     * Reads one tensor and refuses NaN and infinite values (they would make every output NaN), naming the
     * tensor as the file spells it and how many there are.
     */
    private static HostTensor readFinite(Safetensors st, String f, String name) {
        HostTensor t = st.read(name);
        int nan = 0;
        int inf = 0;
        for (float v : t.data()) {
            if (v != v) {
                nan++;
            } else if (v == Float.POSITIVE_INFINITY || v == Float.NEGATIVE_INFINITY) {
                inf++;
            }
        }
        if (nan > 0 || inf > 0) {
            throw new SafetensorsException(f + ": tensor '" + name + "' holds "
                    + (nan > 0 ? nan + " NaN value(s)" : "") + (nan > 0 && inf > 0 ? " and " : "")
                    + (inf > 0 ? inf + " infinite value(s)" : ""));
        }
        return t;
    }

    /** Buffers that the model derives itself and that checkpoints sometimes carry. */
    private static boolean isDerived(String n) {
        return n.endsWith("relative_position_index") || n.endsWith("attn_mask") || n.endsWith("num_batches_tracked");
    }

    /** Everything before the first {@code patch_embed.} that starts a name segment ("" for none). */
    private static String findPrefix(String f, List<String> names) {
        for (String n : names) {
            for (int i = n.indexOf("patch_embed."); i >= 0; i = n.indexOf("patch_embed.", i + 1)) {
                if (i == 0 || n.charAt(i - 1) == '.') {
                    return n.substring(0, i);
                }
            }
        }
        throw new SafetensorsException(f + ": no patch_embed tensors; this is not a Swin checkpoint (first keys: "
                + names.subList(0, Math.min(5, names.size())) + ")");
    }

    /** The layout of prefix-free keys: mmdet names win; else a head or lone final norm means classification. */
    private static CheckpointLayout detectLayout(List<String> keys) {
        boolean head = false;
        boolean norm = false;
        boolean norm0 = false;
        for (String k : keys) {
            if (k.startsWith("stages.") || k.startsWith("patch_embed.projection.")) {
                return CheckpointLayout.MMDET;
            }
            head |= k.startsWith("head.");
            norm |= k.startsWith("norm.");
            norm0 |= k.startsWith("norm0.");
        }
        return head || (norm && !norm0) ? CheckpointLayout.MICROSOFT : CheckpointLayout.SWIN_DETECTION;
    }

    /**
     * Whether the keys are timm's (0.9 and later) names of a Swin classifier: the head is {@code head.fc}, and
     * the patch merging that ends stage i in the Microsoft layout starts stage i+1 ({@code layers.(i+1).downsample},
     * where its reduction has as many rows as that stage's channels, not twice as many). Decided by the shapes
     * where a stage has both tensors, else by the names ({@code head.fc}; merging in no stage 0).
     */
    private static boolean timmNames(List<String> keys, java.util.function.Function<String, int[]> shape,
                                     CheckpointLayout layout) {
        if (layout == CheckpointLayout.MMDET) {
            return false;
        }
        boolean headFc = false;
        boolean merge0 = false;
        boolean laterMerge = false;
        for (String k : keys) {
            headFc |= k.startsWith("head.fc.");
            Matcher m = STAGE_MERGE.matcher(k);
            if (m.find()) {
                merge0 |= m.group(1).equals("0");
                laterMerge |= !m.group(1).equals("0");
                if (k.endsWith(".downsample.reduction.weight") && keys.contains("layers." + m.group(1)
                        + ".blocks.0.norm1.weight")) {
                    int[] red = shape.apply(k);
                    int[] norm = shape.apply("layers." + m.group(1) + ".blocks.0.norm1.weight");
                    if (red.length == 2 && norm.length == 1 && (red[0] == norm[0] || red[0] == 2 * norm[0])) {
                        return red[0] == norm[0];
                    }
                }
            }
        }
        return headFc || (laterMerge && !merge0);
    }

    private static String describe(CheckpointLayout l, boolean timm) {
        if (!timm) {
            return describe(l);
        }
        return l == CheckpointLayout.SWIN_DETECTION
                ? "Swin detection backbone in timm's names (layers.*, patch merging at the start of the next stage, norm0..norm3)"
                : "timm classification (layers.*, patch merging at the start of the next stage, head.fc)";
    }

    private static String describe(CheckpointLayout l) {
        return switch (l) {
            case MICROSOFT -> "Microsoft classification (layers.*, norm, head)";
            case SWIN_DETECTION -> "Swin detection backbone (layers.*, norm0..norm3)";
            case MMDET -> "mmdet/SparseViT backbone (stages.*, attn.w_msa, ffn.layers)";
        };
    }

    /** Maps a (prefix-free) key of any supported layout to its canonical name (timm names: see below). */
    static String canonical(String k) {
        return canonical(k, false);
    }

    /** As {@link #canonical(String)}; with {@code timm}, {@code head.fc.*} is the head and merging i+1 ends stage i. */
    static String canonical(String k, boolean timm) {
        if (timm) {
            if (k.startsWith("head.fc.")) {
                return "head." + k.substring("head.fc.".length());
            }
            Matcher m = STAGE_MERGE.matcher(k);
            if (m.find() && !m.group(1).equals("0")) {
                return "layers." + (Integer.parseInt(m.group(1)) - 1) + k.substring(m.end(1));
            }
            return k;
        }
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

    /** The (prefix-free) name a canonical parameter has in {@code layout}: the inverse of {@link #canonical}. */
    static String fileName(String canonical, CheckpointLayout layout) {
        return fileName(canonical, layout, false);
    }

    /** As {@link #fileName(String, CheckpointLayout)}, in timm's names when {@code timm}. */
    static String fileName(String canonical, CheckpointLayout layout, boolean timm) {
        if (timm && layout != CheckpointLayout.MMDET) {
            if (canonical.startsWith("head.")) {
                return "head.fc." + canonical.substring("head.".length());
            }
            Matcher m = STAGE_MERGE.matcher(canonical);
            if (m.find()) {
                return "layers." + (Integer.parseInt(m.group(1)) + 1) + canonical.substring(m.end(1));
            }
            return canonical;
        }
        if (layout != CheckpointLayout.MMDET) {
            return canonical;
        }
        String k = canonical;
        if (k.startsWith("layers.")) {
            k = "stages." + k.substring("layers.".length());
        }
        return k.replace("patch_embed.proj.", "patch_embed.projection.")
                .replace(".attn.", ".attn.w_msa.")
                .replace(".mlp.fc1.", ".ffn.layers.0.0.")
                .replace(".mlp.fc2.", ".ffn.layers.1.");
    }

    /**
     * The architecture from canonical names and shapes: C, inChans and p from patch_embed.proj.weight
     * [C, inChans, p, p], depths by counting blocks, heads from the bias tables' columns, window from their
     * rows (2w-1)^2, MLP ratio from fc1 rows / C_i, classes from head rows. Metadata, when present, is
     * cross-checked against every value the shapes give and fills in what they cannot (a stage, table or
     * head whose tensors are all missing, so that the report of missing keys is complete), plus img_size and
     * layer_norm_eps.
     */
    private static SwinConfig infer(String f, Map<String, int[]> shapes, Map<String, String> meta,
                                    CheckpointLayout layout, UnaryOperator<String> fileName) {
        boolean mm = layout == CheckpointLayout.MMDET;
        // keys named in messages as the file spells them (its prefix; Microsoft, timm, mmdet or transformers names)
        String table = "attn.relative_position_bias_table";
        String fc1 = "mlp.fc1.weight";
        BiFunction<Integer, String, String> anyBlock = (st, leaf) ->
                fileName.apply("layers." + st + ".blocks.0." + leaf).replace(".blocks.0.", ".blocks.*.");
        IntFunction<String> stageKey = st -> {
            String k = fileName.apply("layers." + st + ".blocks.0.norm1.weight");
            int at = k.indexOf(".blocks.0.");
            return at < 0 ? k : k.substring(0, at);
        };
        List<String> conflicts = new ArrayList<>();
        Double mEmbed = metaNumber(meta, "embed_dim", conflicts);
        Double mPatch = metaNumber(meta, "patch_size", conflicts);
        Double mIn = metaNumber(meta, "in_chans", conflicts);
        Double mWindow = metaNumber(meta, "window_size", conflicts);
        Double mMlp = metaNumber(meta, "mlp_ratio", conflicts);
        Double mClasses = metaNumber(meta, "num_classes", conflicts);
        int[] mDepths = metaList(meta, "depths", conflicts);
        int[] mHeads = metaList(meta, "num_heads", conflicts);

        // patch embedding: C, in_chans, patch
        int embed;
        int inChans;
        int patch;
        int[] pe = shapes.get("patch_embed.proj.weight");
        String pek = fileName.apply("patch_embed.proj.weight");
        if (pe != null) {
            if (pe.length != 4 || pe[2] != pe[3] || pe[0] <= 0 || pe[1] <= 0 || pe[2] <= 0) {
                throw new SafetensorsException(f + ": " + pek + " is " + Shapes.str(pe)
                        + "; expected [C, in_chans, patch, patch]");
            }
            embed = pe[0];
            inChans = pe[1];
            patch = pe[2];
            agree("embed_dim", mEmbed, embed, conflicts);
            agree("patch_size", mPatch, patch, conflicts);
            agree("in_chans", mIn, inChans, conflicts);
        } else if (positiveInt(mEmbed) && positiveInt(mPatch) && (mIn == null || positiveInt(mIn))) {
            embed = mEmbed.intValue();
            patch = mPatch.intValue();
            inChans = mIn == null ? 3 : mIn.intValue();
        } else {
            throw new SafetensorsException(f + ": " + pek + " is missing; cannot infer the embedding width and"
                    + " patch size (no embed_dim / patch_size metadata either)");
        }

        // stages and blocks
        TreeSet<Integer> stageIds = new TreeSet<>();
        Map<Integer, Integer> blocks = new LinkedHashMap<>();
        for (String n : shapes.keySet()) {
            Matcher m = STAGE.matcher(n);
            if (m.find()) {
                stageIds.add(Integer.parseInt(m.group(1)));
            }
            Matcher b = STAGE_BLOCK.matcher(n);
            if (b.find()) {
                blocks.merge(Integer.parseInt(b.group(1)), Integer.parseInt(b.group(2)) + 1, Math::max);
            }
        }
        int nsShapes = stageIds.isEmpty() ? 0 : stageIds.last() + 1;
        int nsMeta = Math.max(mDepths == null ? 0 : mDepths.length, mHeads == null ? 0 : mHeads.length);
        int ns = Math.max(nsShapes, nsMeta);
        if (ns == 0) {
            throw new SafetensorsException(f + ": no blocks found (expected keys like "
                    + fileName.apply("layers.0.blocks.0.norm1.weight") + ")");
        }
        if (ns > MAX_STAGES) {
            throw new SafetensorsException(f + ": " + ns + " stages (" + stageKey.apply(0) + " .. "
                    + stageKey.apply(ns - 1) + "); at most " + MAX_STAGES + " are supported");
        }
        int[] fromShapes = new int[ns];
        int[] depths = new int[ns];
        int[] heads = new int[ns];
        int[] tableHeads = new int[ns];
        int window = -1;
        int mlp = -1;
        for (int s = 0; s < ns; s++) {
            fromShapes[s] = blocks.getOrDefault(s, 0);
            depths[s] = fromShapes[s] > 0 ? fromShapes[s]
                    : mDepths != null && s < mDepths.length ? mDepths[s] : 0;
            if (depths[s] <= 0) {
                throw new SafetensorsException(f + ": stage " + s + " has no blocks (no " + stageKey.apply(s)
                        + ".blocks.* keys) and no depths metadata says how many it should have");
            }
            int dim = embed << s;
            for (int j = 0; j < fromShapes[s]; j++) {
                String b = "layers." + s + ".blocks." + j + ".";
                int[] t = shapes.get(b + table);
                if (t != null && tableHeads[s] == 0) {
                    int side = t.length == 2 ? (int) Math.round(Math.sqrt(t[0])) : 0;
                    if (t.length != 2 || t[1] <= 0 || side * side != t[0] || side % 2 == 0) {
                        throw new SafetensorsException(f + ": " + fileName.apply(b + table) + " is "
                                + Shapes.str(t) + ", not [(2w-1)^2, heads] for a window w");
                    }
                    tableHeads[s] = t[1];
                    if (window < 0) {
                        window = (side + 1) / 2;
                    }
                }
                int[] w1 = shapes.get(b + fc1);
                if (w1 != null && mlp < 0) {
                    if (w1.length != 2 || w1[1] != dim || w1[0] <= 0 || w1[0] % dim != 0) {
                        throw new SafetensorsException(f + ": cannot infer the MLP ratio: " + fileName.apply(b + fc1)
                                + " is " + Shapes.str(w1) + ", expected [ratio * " + dim + ", " + dim
                                + "] with an integer ratio");
                    }
                    mlp = w1[0] / dim;
                }
            }
            if (tableHeads[s] > 0) {
                heads[s] = tableHeads[s];
            } else if (mHeads != null && s < mHeads.length && mHeads[s] > 0) {
                heads[s] = mHeads[s];
            } else {
                throw new SafetensorsException(f + ": cannot infer the heads of stage " + s + ": no "
                        + anyBlock.apply(s, table) + " (and no num_heads metadata)");
            }
        }
        if (mDepths != null && (nsShapes > mDepths.length || mismatch(mDepths, fromShapes))) {
            conflicts.add("depths is " + meta.get("depths") + " in the metadata but " + Arrays.toString(fromShapes)
                    + " from the shapes");
        }
        if (mHeads != null && (nsShapes > mHeads.length || mismatch(mHeads, tableHeads))) {
            conflicts.add("num_heads is " + meta.get("num_heads") + " in the metadata but "
                    + Arrays.toString(tableHeads) + " from the shapes");
        }
        if (window > 0) {
            agree("window_size", mWindow, window, conflicts);
        } else if (positiveInt(mWindow)) {
            window = mWindow.intValue();
        } else {
            throw new SafetensorsException(f + ": cannot infer the window size: no " + anyBlock.apply(0, table)
                    + " in any stage (and no window_size metadata)");
        }
        if (mlp > 0) {
            agree("mlp_ratio", mMlp, mlp, conflicts);
        } else if (positiveInt(mMlp)) {
            mlp = mMlp.intValue();
        } else {
            throw new SafetensorsException(f + ": cannot infer the MLP ratio: no " + anyBlock.apply(0, fc1)
                    + " in any stage (and no integer mlp_ratio metadata)");
        }

        // head or output norms
        boolean cls = layout == CheckpointLayout.MICROSOFT;
        int classes = 0;
        if (cls) {
            int[] head = shapes.get("head.weight");
            String headName = fileName.apply("head.weight");
            if (head != null && head.length == 2 && head[0] > 0) {
                classes = head[0];
                agree("num_classes", mClasses, classes, conflicts);
            } else if (head != null) {
                throw new SafetensorsException(f + ": " + headName + " is " + Shapes.str(head) + ", not [classes, C]");
            } else if (positiveInt(mClasses)) {
                classes = mClasses.intValue();
            } else {
                throw new SafetensorsException(f + ": neither a classification head (" + headName + " [classes, C]) nor"
                        + " backbone output norms (" + fileName.apply("norm0.weight") + " .. "
                        + fileName.apply("norm" + (ns - 1) + ".weight") + ") found");
            }
        } else if (IntStream.range(0, ns).noneMatch(s -> shapes.containsKey("norm" + s + ".weight")
                || shapes.containsKey("norm" + s + ".bias"))) {
            throw new SafetensorsException(f + ": neither a classification head (" + fileName.apply("head.weight")
                    + " [classes, C]) nor backbone output norms (" + fileName.apply("norm0.weight") + " .. "
                    + fileName.apply("norm" + (ns - 1) + ".weight") + ") found");
        }

        // the rest of the metadata
        int[] strides = new int[ns];
        Arrays.fill(strides, 2);
        strides[0] = patch;
        crossCheckList(meta, "strides", strides, conflicts);
        String format = meta.get("format");
        CheckpointLayout named = format == null ? null : switch (format.strip().toLowerCase(Locale.ROOT)) {
            case "swin-classification" -> CheckpointLayout.MICROSOFT;
            case "swin-backbone" -> CheckpointLayout.SWIN_DETECTION;
            case "sparsevit-mmdet" -> CheckpointLayout.MMDET;
            default -> null; // e.g. "pt" from generic converters: says nothing about the layout
        };
        if (named != null && named != layout) {
            conflicts.add("format is " + format + " in the metadata but the names are those of a "
                    + describe(layout) + " checkpoint");
        }
        if (!conflicts.isEmpty()) {
            throw new SafetensorsException(f + ": __metadata__ disagrees with the tensor shapes: "
                    + String.join("; ", conflicts));
        }
        List<String> unsupported = new ArrayList<>();
        String outs = meta.get("out_indices");
        int[] every = IntStream.range(0, ns).toArray();
        if (!cls && outs != null && !Arrays.equals(parseList(outs), every)) {
            unsupported.add("out_indices is " + outs + ", not every stage " + Arrays.toString(every));
        }
        flag(meta, "qkv_bias", true, unsupported);
        flag(meta, "patch_norm", true, unsupported);
        flag(meta, "ape", false, unsupported);
        if (!unsupported.isEmpty()) {
            throw new SafetensorsException(f + ": __metadata__ describes an unsupported model (only every stage"
                    + " as output, qkv bias, patch norm and no absolute position embedding are supported): "
                    + String.join("; ", unsupported));
        }
        double imgSize = positive(f, meta, "img_size", window == 12 ? 384 : 224);
        if (imgSize != Math.rint(imgSize) || imgSize > Integer.MAX_VALUE) {
            throw new SafetensorsException(f + ": __metadata__ img_size '" + meta.get("img_size")
                    + "' is not a positive integer");
        }
        // the default input is an image of that size: one no tensor can hold (int indices) is refused here, as
        // --size is (a run or info would otherwise fail or report on an image that cannot exist)
        double values = 3 * imgSize * imgSize;
        if (values > Integer.MAX_VALUE - 8) {
            throw new SafetensorsException(String.format(Locale.ROOT, "%s: __metadata__ img_size '%s' is too large:"
                    + " a 3-channel %.0fx%.0f image would hold %.4g values, more than one tensor can (2^31 - 1)", f,
                    meta.get("img_size"), imgSize, imgSize, values));
        }
        int img = (int) imgSize;
        float eps = (float) positive(f, meta, "layer_norm_eps", 1e-5);
        MergeOrder order = mm ? MergeOrder.UNFOLD : MergeOrder.CONCAT;
        try {
            return new SwinConfig(embed, depths, heads, window, patch, mlp, inChans, classes,
                    cls ? Task.CLASSIFICATION : Task.BACKBONE, img, layout, order, eps);
        } catch (IllegalArgumentException e) {
            throw new SafetensorsException(f + ": inconsistent architecture: " + e.getMessage());
        }
    }

    /** Whether metadata and shapes differ in a stage where the shapes say something (non-zero). */
    private static boolean mismatch(int[] meta, int[] shapes) {
        for (int s = 0; s < shapes.length; s++) {
            if (shapes[s] != 0 && (s >= meta.length || meta[s] != shapes[s])) {
                return true;
            }
        }
        return false;
    }

    private static boolean positiveInt(Double d) {
        return d != null && d > 0 && d == Math.rint(d) && d <= Integer.MAX_VALUE;
    }

    /** Adds a conflict when the metadata value exists and differs from the one the shapes give. */
    private static void agree(String key, Double meta, int shapes, List<String> conflicts) {
        if (meta != null && meta != shapes) {
            String v = meta == Math.rint(meta) && Math.abs(meta) < 1e15 ? Long.toString(meta.longValue()) : meta.toString();
            conflicts.add(key + " is " + v + " in the metadata but " + shapes + " from the shapes");
        }
    }

    /** A numeric metadata value; null when absent, and a conflict (and null) when not a number. */
    private static Double metaNumber(Map<String, String> meta, String key, List<String> conflicts) {
        String v = meta.get(key);
        if (v == null) {
            return null;
        }
        try {
            double d = Double.parseDouble(v.strip());
            if (Double.isFinite(d)) {
                return d;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        conflicts.add(key + " '" + v + "' in the metadata is not a number");
        return null;
    }

    /** An integer-list metadata value such as "[2, 2, 6, 2]"; null when absent, a conflict when malformed. */
    private static int[] metaList(Map<String, String> meta, String key, List<String> conflicts) {
        String v = meta.get(key);
        if (v == null) {
            return null;
        }
        int[] m = parseList(v);
        if (m == null) {
            conflicts.add(key + " '" + v + "' in the metadata is not a list of integers");
        }
        return m;
    }

    private static int[] parseList(String v) {
        String s = v.replaceAll("[\\[\\]()\\s]", "");
        try {
            return s.isEmpty() ? new int[0] : Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /**
     * A metadata value that must be a positive number (and stay one as a float), {@code dflt} when absent;
     * anything else is refused naming the key and the value.
     */
    private static double positive(String f, Map<String, String> meta, String key, double dflt) {
        String v = meta.get(key);
        if (v == null) {
            return dflt;
        }
        double d;
        try {
            d = Double.parseDouble(v.strip());
        } catch (NumberFormatException e) {
            d = Double.NaN;
        }
        if (!(d > 0) || !Float.isFinite((float) d) || (float) d == 0) {
            throw new SafetensorsException(f + ": __metadata__ " + key + " '" + v + "' is not a positive number");
        }
        return d;
    }

    /** Adds a conflict unless the boolean metadata {@code key} is absent or has the value {@code required}. */
    private static void flag(Map<String, String> meta, String key, boolean required, List<String> conflicts) {
        String v = meta.get(key);
        if (v == null) {
            return;
        }
        String s = v.strip().toLowerCase(Locale.ROOT);
        boolean value = s.equals("true") || s.equals("1");
        boolean known = value || s.equals("false") || s.equals("0");
        if (known && value != required) {
            conflicts.add(key + " is " + v);
        }
    }

    private static void crossCheckList(Map<String, String> meta, String key, int[] actual, List<String> conflicts) {
        String v = meta.get(key);
        if (v == null) {
            return;
        }
        int[] m = parseList(v);
        if (m == null) {
            conflicts.add(key + " '" + v + "' in the metadata is not a list of integers");
        } else if (!Arrays.equals(m, actual)) {
            conflicts.add(key + " is " + v + " in the metadata but " + Arrays.toString(actual) + " from the shapes");
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

    /** Canonical names of every parameter of {@code cfg}, in model order. */
    public static List<String> expectedNames(SwinConfig cfg) {
        return new ArrayList<>(expectedShapes(cfg).keySet());
    }

    /**
     * Compares canonical names/shapes with those {@code cfg} needs and throws one message listing every
     * missing key, unexpected key and shape mismatch (named as the file names them, via {@code fileName}).
     *
     * @param foreign  file keys that are not names of the file's layout at all (reported as unexpected)
     */
    private static void check(String f, SwinConfig cfg, Map<String, int[]> present, UnaryOperator<String> fileName,
                              List<String> foreign) {
        Map<String, int[]> exp = expectedShapes(cfg);
        List<String> missing = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        List<String> mismatched = new ArrayList<>();
        for (Map.Entry<String, int[]> e : exp.entrySet()) {
            int[] got = present.get(e.getKey());
            if (got == null) {
                missing.add(fileName.apply(e.getKey()));
            } else if (!Arrays.equals(got, e.getValue())) {
                mismatched.add(fileName.apply(e.getKey()) + " is " + Shapes.str(got) + ", expected "
                        + Shapes.str(e.getValue()));
            }
        }
        for (String k : present.keySet()) {
            if (!exp.containsKey(k)) {
                unexpected.add(fileName.apply(k));
            }
        }
        unexpected.addAll(foreign);
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

    // ------------------------------------------------------------------------------------- saving

    /**
     * The {@code __metadata__} {@link #save} writes: format (swin-classification or swin-backbone),
     * embed_dim, depths, num_heads, window_size, patch_size, mlp_ratio, in_chans, num_classes, img_size,
     * layer_norm_eps, qkv_bias, patch_norm, ape; everything {@link #load} cross-checks or reads.
     */
    public static Map<String, String> metadata(SwinConfig cfg) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", cfg.isBackbone() ? "swin-backbone" : "swin-classification");
        m.put("embed_dim", Integer.toString(cfg.embedDim()));
        m.put("depths", Arrays.toString(cfg.depths()));
        m.put("num_heads", Arrays.toString(cfg.heads()));
        m.put("window_size", Integer.toString(cfg.window()));
        m.put("patch_size", Integer.toString(cfg.patchSize()));
        m.put("mlp_ratio", Integer.toString(cfg.mlpRatio()));
        m.put("in_chans", Integer.toString(cfg.inChans()));
        m.put("num_classes", Integer.toString(cfg.numClasses()));
        m.put("img_size", Integer.toString(cfg.imgSize()));
        m.put("layer_norm_eps", Float.toString(cfg.eps()));
        m.put("qkv_bias", "true");
        m.put("patch_norm", "true");
        m.put("ape", "false");
        return m;
    }

    /**
     * Writes these weights as F32 safetensors under the canonical names, with {@link #metadata}, so that
     * {@link #load} gives back the same architecture and values (the Microsoft classification layout, or
     * the Swin detection layout for a backbone).
     *
     * @throws SparseVitException for mmdet-layout weights, whose patch-merging channel order the canonical
     *                            names cannot carry
     * @throws SafetensorsException when the file cannot be written
     */
    public void save(Path file) {
        if (config.layout() == CheckpointLayout.MMDET || config.mergeOrder() != MergeOrder.CONCAT) {
            throw new SparseVitException("weights: cannot save " + describe(config) + " with " + config.mergeOrder()
                    + " patch merging under the Microsoft names (only the concat order is theirs)");
        }
        Safetensors.write(file, tensors, metadata(config), org.sparsevit.tensor.DType.F32);
    }

    // ------------------------------------------------------------------------------------- random

    /**
     * Seeded random weights for any architecture (deterministic for a seed, whatever the thread count):
     * LayerNorm weights 1 + 0.2 N(0,1), biases 0.075 N, bias tables 0.5 N, other weights
     * N * sqrt(1 / fan_in) (fan_in = product of all but the first dimension). Every tensor has its own
     * generator (seeded from the seed and its name) and tensors are filled in parallel, so Swin-L
     * (~200M parameters) takes a few seconds.
     */
    public static SwinWeights random(SwinConfig cfg, long seed) {
        Map<String, int[]> exp = expectedShapes(cfg);
        List<String> names = new ArrayList<>(exp.keySet());
        HostTensor[] made = new HostTensor[names.size()];
        IntStream.range(0, names.size()).parallel().forEach(i -> {
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
                // Box-Muller pair from the tensor's generator
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
