package org.sparsevit.model;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.sparsevit.io.SafetensorsException;

/**
 * The names Hugging Face transformers gives Swin's parameters ({@code SwinForImageClassification},
 * {@code SwinModel}, {@code SwinBackbone}), mapped to our canonical (Microsoft) names. Two spellings are read:
 * the one of the checkpoints on the Hub, written by transformers 4 ({@code attention.self.query},
 * {@code attention.output.dense}, {@code intermediate.dense}, {@code output.dense}), and the one transformers 5
 * uses in memory ({@code attention.q_proj}, {@code attention.o_proj}, {@code mlp.fc1}, {@code mlp.fc2},
 * {@code attention.relative_position_bias.relative_position_bias_table}). Query, key and value are separate
 * [C, C] layers there; they are the three row blocks of our {@code attn.qkv}, in that order. The head
 * ({@code classifier}) and the detection outputs' norms ({@code hidden_states_norms.stage1..4}) sit beside the
 * {@code swin.} module.
 */
final class HuggingFaceNames {
    private static final String EMBED = "embeddings.patch_embeddings.projection.";
    private static final Pattern BLOCK = Pattern.compile("^encoder\\.layers\\.(\\d{1,6})\\.blocks\\.(\\d{1,6})\\.(.+)$");
    private static final Pattern MERGE = Pattern.compile("^encoder\\.layers\\.(\\d{1,6})\\.downsample\\.(.+)$");
    private static final Pattern OUT_NORM = Pattern.compile("^hidden_states_norms\\.stage(\\d{1,6})\\.(.+)$");
    private static final Pattern CANON_BLOCK = Pattern.compile("^layers\\.(\\d{1,6})\\.blocks\\.(\\d{1,6})\\.(.+)$");
    private static final Pattern CANON_MERGE = Pattern.compile("^layers\\.(\\d{1,6})\\.downsample\\.(.+)$");
    private static final Pattern CANON_OUT_NORM = Pattern.compile("^norm(\\d{1,6})\\.(.+)$");
    private static final String[] QKV = {"query", "key", "value"};
    private static final String[] QKV5 = {"q_proj", "k_proj", "v_proj"};

    /** A file key's canonical name; {@code part} is 0, 1, 2 for query, key, value (of attn.qkv), else -1. */
    record Mapped(String canonical, int part) {
    }

    private final String model;
    private final String root;
    private final boolean legacy;

    private HuggingFaceNames(String model, String root, boolean legacy) {
        this.model = model;
        this.root = root;
        this.legacy = legacy;
    }

    /**
     * The naming of {@code names} when they are transformers' (a key ending in
     * {@code embeddings.patch_embeddings.projection.weight} or {@code .bias}), else null. The model prefix is
     * what comes before {@code embeddings.} ({@code swin.} in a classifier, nothing in a backbone); the head
     * sits beside it.
     */
    static HuggingFaceNames detect(String f, List<String> names) {
        String model = null;
        for (String n : names) {
            int i = n.indexOf(EMBED);
            if (i >= 0 && (i == 0 || n.charAt(i - 1) == '.')) {
                model = n.substring(0, i);
                break;
            }
        }
        if (model == null) {
            return null;
        }
        boolean blocks = false;
        boolean hub = false;
        boolean v5 = false;
        for (String n : names) {
            if (!n.startsWith(model)) {
                continue;
            }
            String k = n.substring(model.length());
            blocks |= k.startsWith("encoder.layers.") && k.contains(".blocks.");
            hub |= k.contains(".attention.self.");
            v5 |= k.contains(".attention.q_proj.") || k.contains(".attention.o_proj.");
            if (k.contains(".continuous_position_bias_mlp.") || k.endsWith(".logit_scale")) {
                throw new SafetensorsException(f + ": a Swin Transformer V2 checkpoint (" + n + "); only Swin V1"
                        + " is supported");
            }
        }
        if (!blocks) {
            return null;   // ViT, DeiT, BEiT, ... share the embedding names: not a Swin checkpoint
        }
        if (hub && v5) {
            throw new SafetensorsException(f + ": mixes two spellings of transformers' names (attention.self.* of the"
                    + " Hub's checkpoints and attention.q_proj/o_proj of transformers 5); save it with one of them");
        }
        String root = model.endsWith("swin.") ? model.substring(0, model.length() - "swin.".length()) : model;
        return new HuggingFaceNames(model, root, !v5);
    }

    /** Where the model's and the head's keys start: keys outside it belong to something else (ignored). */
    String root() {
        return root;
    }

    /** The spelling, for messages. */
    String spelling() {
        return legacy ? "Hugging Face transformers (the Hub's names)" : "Hugging Face transformers 5";
    }

    /** The canonical name of a file key, or null for a key that is not one of Swin's (reported as unexpected). */
    Mapped map(String key) {
        if (key.startsWith(root + "classifier.")) {
            return new Mapped("head." + key.substring((root + "classifier.").length()), -1);
        }
        Matcher norms = OUT_NORM.matcher(key.substring(root.length()));
        if (norms.matches()) {
            int stage = Integer.parseInt(norms.group(1));
            return stage >= 1 ? new Mapped("norm" + (stage - 1) + "." + norms.group(2), -1) : null;
        }
        if (!key.startsWith(model)) {
            return null;
        }
        String k = key.substring(model.length());
        if (k.startsWith(EMBED)) {
            return new Mapped("patch_embed.proj." + k.substring(EMBED.length()), -1);
        }
        if (k.startsWith("embeddings.norm.")) {
            return new Mapped("patch_embed.norm." + k.substring("embeddings.norm.".length()), -1);
        }
        if (k.startsWith("layernorm.")) {
            return new Mapped("norm." + k.substring("layernorm.".length()), -1);
        }
        if (model.equals(root) && k.startsWith("swin.layernorm.")) {   // SwinBackbone as save_pretrained writes it
            return new Mapped("norm." + k.substring("swin.layernorm.".length()), -1);
        }
        Matcher m = MERGE.matcher(k);
        if (m.matches()) {
            return new Mapped("layers." + m.group(1) + ".downsample." + m.group(2), -1);
        }
        m = BLOCK.matcher(k);
        if (!m.matches()) {
            return null;
        }
        String b = "layers." + m.group(1) + ".blocks." + m.group(2) + ".";
        String r = m.group(3);
        for (int p = 0; p < 3; p++) {
            String q = (legacy ? "attention.self." + QKV[p] : "attention." + QKV5[p]) + ".";
            if (r.startsWith(q)) {
                return new Mapped(b + "attn.qkv." + r.substring(q.length()), p);
            }
        }
        for (String[] pair : pairs()) {
            if (r.startsWith(pair[1])) {
                return new Mapped(b + pair[0] + r.substring(pair[1].length()), -1);
            }
        }
        return null;
    }

    /** (canonical, file) name pieces of a block, in this file's spelling; longer file pieces first. */
    private String[][] pairs() {
        return legacy ? new String[][]{
                {"norm1.", "layernorm_before."}, {"norm2.", "layernorm_after."},
                {"attn.relative_position_bias_table", "attention.self.relative_position_bias_table"},
                {"attn.proj.", "attention.output.dense."}, {"mlp.fc1.", "intermediate.dense."},
                {"mlp.fc2.", "output.dense."}}
                : new String[][]{
                {"norm1.", "layernorm_before."}, {"norm2.", "layernorm_after."},
                {"attn.relative_position_bias_table", "attention.relative_position_bias.relative_position_bias_table"},
                {"attn.proj.", "attention.o_proj."}, {"mlp.fc1.", "mlp.fc1."}, {"mlp.fc2.", "mlp.fc2."}};
    }

    /**
     * The file key(s) of a canonical name in this file's spelling: one, or three (query, key, value) for
     * {@code attn.qkv}; the inverse of {@link #map}.
     */
    List<String> fileNames(String canonical) {
        if (canonical.startsWith("head.")) {
            return List.of(root + "classifier." + canonical.substring("head.".length()));
        }
        if (canonical.startsWith("patch_embed.proj.")) {
            return List.of(model + EMBED + canonical.substring("patch_embed.proj.".length()));
        }
        if (canonical.startsWith("patch_embed.norm.")) {
            return List.of(model + "embeddings.norm." + canonical.substring("patch_embed.norm.".length()));
        }
        if (canonical.startsWith("norm.")) {
            return List.of(model + "layernorm." + canonical.substring("norm.".length()));
        }
        Matcher m = CANON_OUT_NORM.matcher(canonical);
        if (m.matches()) {
            return List.of(root + "hidden_states_norms.stage" + (Integer.parseInt(m.group(1)) + 1) + "." + m.group(2));
        }
        m = CANON_MERGE.matcher(canonical);
        if (m.matches()) {
            return List.of(model + "encoder.layers." + m.group(1) + ".downsample." + m.group(2));
        }
        m = CANON_BLOCK.matcher(canonical);
        if (!m.matches()) {
            return List.of(model + canonical);
        }
        String b = model + "encoder.layers." + m.group(1) + ".blocks." + m.group(2) + ".";
        String r = m.group(3);
        if (r.startsWith("attn.qkv.")) {
            String rest = r.substring("attn.qkv.".length());
            return List.of(0, 1, 2).stream()
                    .map(p -> b + (legacy ? "attention.self." + QKV[p] : "attention." + QKV5[p]) + "." + rest).toList();
        }
        for (String[] pair : pairs()) {
            if (r.startsWith(pair[0])) {
                return List.of(b + pair[1] + r.substring(pair[0].length()));
            }
        }
        return List.of(b + r);
    }
}
