package org.sparsevit.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.Fixtures;
import org.sparsevit.Golden;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.model.CheckpointLayout;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinOutput;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;

/** Checkpoint layouts, architecture inference, converted copies, and the report of mismatched weights. */
class SwinWeightsTest {
    @TempDir
    Path tmp;

    static Path fx(String dir, String name) {
        return Fixtures.file(dir, name);
    }

    /** Every tensor of a file under its own name, in file order. */
    static Map<String, HostTensor> readAll(Path file) {
        Map<String, HostTensor> m = new LinkedHashMap<>();
        try (Safetensors st = Safetensors.open(file)) {
            for (String n : st.names()) {
                m.put(n, st.read(n));
            }
        }
        return m;
    }

    /** Copies a fixture's raw tensors under new names (a function of the old), without metadata, as dtype. */
    Path convert(Path src, String name, java.util.function.UnaryOperator<String> rename, DType dtype,
                 Map<String, String> meta) {
        Map<String, HostTensor> m = new LinkedHashMap<>();
        try (Safetensors st = Safetensors.open(src)) {
            for (String n : st.names()) {
                String k = rename.apply(n);
                if (k != null) {
                    m.put(k, st.read(n));
                }
            }
        }
        Path out = tmp.resolve(name);
        Safetensors.write(out, m, meta, dtype);
        return out;
    }

    @Test
    void infersTheThreeLayouts() {
        SwinConfig cls = SwinWeights.load(fx("swin-reference", "swin-mini-cls.safetensors")).config();
        assertEquals(Task.CLASSIFICATION, cls.task());
        assertEquals(CheckpointLayout.MICROSOFT, cls.layout());
        assertEquals(32, cls.embedDim());
        assertArrayEquals(new int[]{2, 2, 4, 2}, cls.depths());
        assertArrayEquals(new int[]{1, 2, 4, 8}, cls.heads());
        assertEquals(7, cls.window());
        assertEquals(10, cls.numClasses());
        SwinConfig bb = SwinWeights.load(fx("swin-reference", "swin-mini-backbone.safetensors")).config();
        assertEquals(Task.BACKBONE, bb.task());
        assertEquals(CheckpointLayout.SWIN_DETECTION, bb.layout());
        SwinConfig sv = SwinWeights.load(fx("sparsevit-reference", "sparsevit-mini.safetensors")).config();
        assertEquals(CheckpointLayout.MMDET, sv.layout());
        assertEquals(MergeOrder.UNFOLD, sv.mergeOrder());
        assertEquals(sv.parameterCount(), SwinWeights.load(fx("sparsevit-reference", "sparsevit-mini.safetensors")).parameterCount());
    }

    @Test
    void noMetadataAndBackbonePrefixGiveTheSameModel() {
        Path src = fx("swin-reference", "swin-mini-backbone.safetensors");
        SwinWeights ref = SwinWeights.load(src);
        Path plain = convert(src, "plain.safetensors", n -> n, DType.F32, Map.of());
        Path prefixed = convert(src, "prefixed.safetensors", n -> "backbone." + n, DType.F32, Map.of());
        // a detector checkpoint also holds neck/head tensors outside the backbone prefix
        Map<String, HostTensor> extra = readAll(prefixed);
        extra.put("neck.lateral_convs.0.conv.weight", HostTensor.zeros(4, 4));
        Path detector = tmp.resolve("detector.safetensors");
        Safetensors.write(detector, extra, Map.of(), DType.F32);
        for (Path p : new Path[]{plain, prefixed, detector}) {
            SwinWeights w = SwinWeights.load(p);
            assertEquals(ref.config(), w.config(), p.toString());
            for (String n : ref.all().keySet()) {
                assertEquals(ref.get(n), w.get(n), n);
            }
        }
        assertEquals(1, SwinWeights.load(detector).ignoredKeys());
    }

    @Test
    void halfPrecisionCopiesLoadToTheRoundedValuesAndStillRun() {
        Path src = fx("swin-reference", "swin-mini-cls.safetensors");
        SwinWeights ref = SwinWeights.load(src);
        for (DType d : new DType[]{DType.F16, DType.BF16}) {
            SwinWeights w = SwinWeights.load(convert(src, d + ".safetensors", n -> n, d, Map.of()));
            for (Map.Entry<String, HostTensor> e : ref.all().entrySet()) {
                float[] got = w.get(e.getKey()).data();
                float[] exp = e.getValue().data();
                for (int i = 0; i < exp.length; i++) {
                    float r = d == DType.F16 ? Half.toFloat(Half.fromFloat(exp[i])) : Half.bf16ToFloat(Half.floatToBf16(exp[i]));
                    assertEquals(Float.floatToIntBits(r), Float.floatToIntBits(got[i]), e.getKey() + "[" + i + "]");
                }
            }
        }
        // an F16 model still computes nearly the same logits
        SwinWeights h = SwinWeights.load(tmp.resolve("F16.safetensors"));
        HostTensor x = Npy.read(fx("swin-reference", "swin-mini-cls.input.npy"));
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(h, be)) {
            SwinOutput out = m.forward(x);
            Golden.assertClose("F16 logits", Npy.read(fx("swin-reference", "swin-mini-cls.logits.npy")), out.logits(), 2e-2);
        }
    }

    @Test
    void mismatchesAreReportedTogetherByName() {
        Path src = fx("swin-reference", "swin-mini-cls.safetensors");
        Map<String, String> meta = Map.of();
        Path broken = convert(src, "broken.safetensors", n -> n.equals("layers.0.blocks.1.norm2.bias") ? null
                : n.equals("head.bias") ? "head.extra" : n, DType.F32, meta);
        String msg = assertThrows(SafetensorsException.class, () -> SwinWeights.load(broken)).getMessage();
        assertTrue(msg.contains("missing keys (layers.0.blocks.1.norm2.bias, head.bias)"), msg);
        assertTrue(msg.contains("unexpected keys (head.extra)"), msg);

        Map<String, HostTensor> m = new LinkedHashMap<>(SwinWeights.load(src).all());
        m.put("layers.1.blocks.0.mlp.fc2.bias", HostTensor.zeros(63));
        Path shape = tmp.resolve("shape.safetensors");
        Safetensors.write(shape, m, Map.of(), DType.F32);
        String s = assertThrows(SafetensorsException.class, () -> SwinWeights.load(shape)).getMessage();
        assertTrue(s.contains("shape mismatches (layers.1.blocks.0.mlp.fc2.bias is [63], expected [64])"), s);

        Path lying = convert(src, "lying.safetensors", n -> n, DType.F32, Map.of("embed_dim", "64"));
        String l = assertThrows(SafetensorsException.class, () -> SwinWeights.load(lying)).getMessage();
        assertTrue(l.contains("__metadata__ disagrees with the tensor shapes: embed_dim is 64 in the metadata but 32"), l);

        Path notSwin = tmp.resolve("other.safetensors");
        Safetensors.write(notSwin, Map.of("encoder.weight", HostTensor.zeros(2, 2)), Map.of(), DType.F32);
        String o = assertThrows(SafetensorsException.class, () -> SwinWeights.load(notSwin)).getMessage();
        assertTrue(o.contains("this is not a Swin checkpoint"), o);
    }

    /** A golden file made by another implementation (bench/peers/make_*_fixture.py), from the test resources. */
    static Path resource(String dir, String name) {
        return Fixtures.resource(dir, name);
    }

    /** A copy of {@code src} (as {@code file} in the test's folder) with tensor {@code key} set to {@code t}. */
    private Path withTensor(Path src, String file, String key, HostTensor t) {
        Map<String, HostTensor> all = readAll(src);
        all.put(key, t);
        Path out = tmp.resolve(file);
        Safetensors.write(out, all, Map.of(), DType.F32);
        return out;
    }

    static Path timmFixture(String name) {
        return resource("timm", name);
    }

    /**
     * Hugging Face transformers' Swin (bench/peers/make_hf_fixture.py, transformers 5.18): a classifier in the
     * Hub's names and in transformers 5's, and a backbone; query, key and value become attn.qkv. Padded grids
     * and an odd merge included.
     */
    @Test
    void huggingFaceCheckpointsLoadAndComputeWhatTransformersComputes() {
        HostTensor logits = Npy.read(resource("hf", "hf-cls.logits.npy"));
        SwinConfig first = null;
        for (String file : new String[]{"hf-cls.safetensors", "hf-cls-v5.safetensors"}) {
            SwinWeights w = SwinWeights.load(resource("hf", file));
            SwinConfig c = w.config();
            assertEquals(Task.CLASSIFICATION, c.task(), file);
            assertEquals(10, c.numClasses(), file);
            assertEquals(file.contains("v5") ? "Hugging Face transformers 5" : "Hugging Face transformers (the Hub's names)",
                    w.naming());
            assertEquals(8, c.embedDim(), file);
            assertArrayEquals(new int[]{1, 2}, c.heads(), file);
            assertEquals(4, c.window(), file);
            if (first != null) {
                assertEquals(first, c, "both spellings give one model");
            }
            first = c;
            try (CpuBackend cpu = new CpuBackend(); SwinModel m = new SwinModel(w, cpu)) {
                SwinOutput out = m.forward(Npy.read(resource("hf", "hf-cls.input.npy")));
                Golden.assertClose(file + " logits", logits, out.logits(), 1e-4);
            }
        }
        SwinWeights bb = SwinWeights.load(resource("hf", "hf-bb.safetensors"));
        assertEquals(Task.BACKBONE, bb.config().task());
        assertEquals(2, bb.ignoredKeys(), "SwinBackbone's unused swin.layernorm");
        try (CpuBackend cpu = new CpuBackend(); SwinModel m = new SwinModel(bb, cpu)) {
            SwinOutput out = m.forward(Npy.read(resource("hf", "hf-bb.input.npy")));
            assertEquals(2, out.features().size());
            for (int s = 0; s < 2; s++) {
                Golden.assertClose("out" + s, Npy.read(resource("hf", "hf-bb.out" + s + ".npy")), out.features().get(s), 1e-4);
            }
        }
    }

    /** Problems in a transformers checkpoint are named as the file names them (query, key and value apart). */
    @Test
    void huggingFaceProblemsUseTheFilesNames() {
        Path src = resource("hf", "hf-cls.safetensors");
        String b = "swin.encoder.layers.0.blocks.1.attention.";
        Path noKey = convert(src, "nokey.safetensors", n -> n.equals(b + "self.key.weight") || n.equals("classifier.bias")
                ? null : n.equals("swin.layernorm.bias") ? "swin.extra.bias" : n, DType.F32, Map.of());
        String m = assertThrows(SafetensorsException.class, () -> SwinWeights.load(noKey)).getMessage();
        assertTrue(m.contains("missing keys (" + b + "self.key.weight, swin.layernorm.bias, classifier.bias)"), m);
        assertTrue(m.contains("unexpected keys (swin.extra.bias)"), m);

        Path odd = withTensor(src, "odd.safetensors", b + "self.value.bias", HostTensor.zeros(7));
        String o = assertThrows(SafetensorsException.class, () -> SwinWeights.load(odd)).getMessage();
        assertTrue(o.contains("query, key and value must have one shape: " + b + "self.query.bias is [8], " + b
                + "self.key.bias is [8], " + b + "self.value.bias is [7]"), o);

        // a SwinBackbone saved with fewer out_features is still a backbone: the missing norms are named
        Path bbSrc = resource("hf", "hf-bb.safetensors");
        Path stage2 = convert(bbSrc, "stage2.safetensors", n -> n.startsWith("hidden_states_norms.stage1.") ? null : n,
                DType.F32, Map.of());
        String s2 = assertThrows(SafetensorsException.class, () -> SwinWeights.load(stage2)).getMessage();
        assertTrue(s2.contains("missing keys (hidden_states_norms.stage1.weight, hidden_states_norms.stage1.bias)"), s2);

        // one file in two spellings, Swin V2, and another model with the same embedding names
        Path mixed = convert(src, "mixed.safetensors", n -> n.equals(b + "output.dense.bias") ? b + "o_proj.bias" : n,
                DType.F32, Map.of());
        String mx = assertThrows(SafetensorsException.class, () -> SwinWeights.load(mixed)).getMessage();
        assertTrue(mx.contains("mixes two spellings of transformers' names"), mx);
        Path v2 = convert(src, "v2.safetensors", n -> n.equals(b + "self.relative_position_bias_table")
                ? b + "self.continuous_position_bias_mlp.0.weight" : n, DType.F32, Map.of());
        String v = assertThrows(SafetensorsException.class, () -> SwinWeights.load(v2)).getMessage();
        assertTrue(v.contains("a Swin Transformer V2 checkpoint"), v);
        Path vit = convert(src, "vit.safetensors", n -> n.contains(".blocks.") ? null : n, DType.F32, Map.of());
        String vt = assertThrows(SafetensorsException.class, () -> SwinWeights.load(vit)).getMessage();
        assertTrue(vt.contains("this is not a Swin checkpoint"), vt);

        // what the architecture is inferred from, named as transformers names it
        String b0 = "swin.encoder.layers.0.blocks.0.";
        Path table = withTensor(src, "table.safetensors", b0 + "attention.self.relative_position_bias_table",
                HostTensor.zeros(5, 1));
        String tb = assertThrows(SafetensorsException.class, () -> SwinWeights.load(table)).getMessage();
        assertTrue(tb.contains(": " + b0 + "attention.self.relative_position_bias_table is [5, 1], not [(2w-1)^2, heads]"), tb);
        Path fc1 = withTensor(src, "fc1.safetensors", b0 + "intermediate.dense.weight", HostTensor.zeros(12, 8));
        String fc = assertThrows(SafetensorsException.class, () -> SwinWeights.load(fc1)).getMessage();
        assertTrue(fc.contains("cannot infer the MLP ratio: " + b0 + "intermediate.dense.weight is [12, 8]"), fc);
        Path noTables = convert(src, "notables.safetensors", n -> n.startsWith("swin.encoder.layers.1.")
                && n.endsWith("relative_position_bias_table") ? null : n, DType.F32, Map.of());
        String nt = assertThrows(SafetensorsException.class, () -> SwinWeights.load(noTables)).getMessage();
        assertTrue(nt.contains("cannot infer the heads of stage 1: no "
                + "swin.encoder.layers.1.blocks.*.attention.self.relative_position_bias_table (and no num_heads metadata)"), nt);
        Path noNorms = convert(resource("hf", "hf-bb.safetensors"), "nonorms.safetensors",
                n -> n.startsWith("hidden_states_norms.") ? null : n, DType.F32, Map.of());
        String nn = assertThrows(SafetensorsException.class, () -> SwinWeights.load(noNorms)).getMessage();
        assertTrue(nn.contains("backbone output norms (hidden_states_norms.stage1.weight .. "
                + "hidden_states_norms.stage2.weight) found"), nn);

        Path headless = convert(src, "headless.safetensors", n -> n.startsWith("classifier.") ? null : n, DType.F32, Map.of());
        SwinConfig cls = SwinWeights.load(src).config();
        String h = assertThrows(SafetensorsException.class, () -> SwinWeights.load(headless, cls)).getMessage();
        assertTrue(h.contains("missing keys (classifier.weight, classifier.bias)"), h);
    }

    /**
     * A checkpoint saved by timm (head.fc, patch merging at the start of the next stage; made by
     * bench/peers/make_timm_fixture.py with timm 1.0.29) loads under its own names and gives timm's logits.
     */
    @Test
    void timmCheckpointsLoadAndComputeWhatTimmComputes() {
        SwinWeights w = SwinWeights.load(timmFixture("timm-mini.safetensors"));
        SwinConfig c = w.config();
        assertEquals(Task.CLASSIFICATION, c.task());
        assertEquals(CheckpointLayout.MICROSOFT, c.layout());
        assertEquals("timm", w.naming());
        assertEquals(10, c.numClasses());
        assertEquals(16, c.embedDim());
        assertArrayEquals(new int[]{2, 2}, c.depths());
        assertArrayEquals(new int[]{1, 2}, c.heads());
        assertEquals(4, c.window());
        HostTensor input = Npy.read(timmFixture("timm-mini.input.npy"));
        try (CpuBackend cpu = new CpuBackend(); SwinModel m = new SwinModel(w, cpu)) {
            SwinOutput out = m.forward(input);
            Golden.assertClose("timm logits", Npy.read(timmFixture("timm-mini.logits.npy")), out.logits(), 1e-4);
        }
    }

    /** Microsoft names and timm names of the same weights load to the same tensors; problems use the file's names. */
    @Test
    void timmNamesAreAnotherSpellingOfTheMicrosoftLayout() {
        Path src = fx("swin-reference", "swin-mini-cls.safetensors");
        java.util.function.UnaryOperator<String> toTimm = n -> {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("^layers\\.(\\d+)\\.downsample\\.(.*)$").matcher(n);
            if (m.matches()) {
                return "layers." + (Integer.parseInt(m.group(1)) + 1) + ".downsample." + m.group(2);
            }
            return n.startsWith("head.") ? "head.fc." + n.substring(5) : n;
        };
        SwinWeights ms = SwinWeights.load(src);
        Path timm = convert(src, "timm.safetensors", toTimm, DType.F32, Map.of("format", "pt"));
        SwinWeights tw = SwinWeights.load(timm);
        assertEquals(ms.config(), tw.config());
        assertEquals(ms.all().keySet(), tw.all().keySet());
        ms.all().forEach((k, v) -> assertArrayEquals(v.data(), tw.all().get(k).data(), k));

        // the same names without head.fc (merging in stages 1..3 only still says timm)
        Path broken = convert(src, "timm-broken.safetensors", n -> n.equals("layers.2.downsample.norm.bias")
                || n.equals("head.bias") ? null : toTimm.apply(n), DType.F32, Map.of());
        String msg = assertThrows(SafetensorsException.class, () -> SwinWeights.load(broken, ms.config())).getMessage();
        assertTrue(msg.contains("missing keys (layers.3.downsample.norm.bias, head.fc.bias)"), msg);

        // timm's num_classes=0 saves no head: named as timm names it
        Path headless = convert(src, "timm-headless.safetensors", n -> n.startsWith("head.") ? null : toTimm.apply(n),
                DType.F32, Map.of());
        String h = assertThrows(SafetensorsException.class, () -> SwinWeights.load(headless)).getMessage();
        assertTrue(h.contains("neither a classification head (head.fc.weight [classes, C]) nor backbone output norms"), h);

        // a merge whose reduction does not fit either layout's stage is reported, not silently mapped
        Map<String, HostTensor> t = readAll(timm);
        t.put("layers.1.downsample.reduction.weight", HostTensor.zeros(3, 128));
        Path odd = tmp.resolve("odd.safetensors");
        Safetensors.write(odd, t, Map.of(), DType.F32);
        String o = assertThrows(SafetensorsException.class, () -> SwinWeights.load(odd)).getMessage();
        assertTrue(o.contains("layers.1.downsample.reduction.weight is [3, 128], expected [64, 128]"), o);
    }

    @Test
    void randomWeightsAreSeededAndComplete() {
        SwinConfig t = SwinConfig.preset("swin-t");
        SwinWeights a = SwinWeights.random(t, 1);
        SwinWeights b = SwinWeights.random(t, 1);
        assertEquals(SwinWeights.expectedNames(t), new java.util.ArrayList<>(a.all().keySet()));
        assertEquals(a.get("layers.2.blocks.3.mlp.fc1.weight"), b.get("layers.2.blocks.3.mlp.fc1.weight"));
        assertEquals(t.parameterCount(), a.parameterCount());
        assertEquals(28_288_354, a.parameterCount()); // Swin-T, as published (28.3 M)
    }

    /** Every fixture, copied without metadata (and with assorted prefixes), infers the same configuration. */
    @Test
    void savedWeightsLoadBackWithTheirArchitectureAndValues() {
        // a non-default eps and image size: only the metadata can carry them
        SwinConfig cls = new SwinConfig(16, new int[]{2, 1, 3}, new int[]{1, 2, 4}, 5, 2, 3, 3, 7,
                Task.CLASSIFICATION, 160, CheckpointLayout.MICROSOFT, MergeOrder.CONCAT, 1e-6f);
        SwinConfig backbone = SwinConfig.preset("swin-t").withTask(Task.BACKBONE, 0);
        for (SwinConfig cfg : new SwinConfig[]{cls, backbone}) {
            SwinWeights w = SwinWeights.random(cfg, 3);
            Path f = tmp.resolve((cfg.isBackbone() ? "bb" : "cls") + ".safetensors");
            w.save(f);
            SwinWeights back = SwinWeights.load(f);
            assertEquals(cfg, back.config());
            assertEquals(cfg.imgSize(), back.config().imgSize());
            assertEquals(w.all().keySet(), back.all().keySet());
            w.all().forEach((k, v) -> assertEquals(v, back.get(k), k));
        }
        // mmdet weights keep the nn.Unfold merge order, which the Microsoft names cannot say
        SwinWeights mm = SwinWeights.random(backbone.withLayout(CheckpointLayout.MMDET, MergeOrder.UNFOLD), 3);
        Exception e = assertThrows(org.sparsevit.SparseVitException.class, () -> mm.save(tmp.resolve("mm.safetensors")));
        assertTrue(e.getMessage().contains("UNFOLD"), e.getMessage());
    }

    @Test
    void everyFixtureInfersTheSameConfigWithoutMetadata() {
        String[][] fixtures = {{"swin-reference", "swin-mini-cls.safetensors"},
            {"swin-reference", "swin-mini-backbone.safetensors"}, {"sparsevit-reference", "sparsevit-mini.safetensors"}};
        for (String[] fxt : fixtures) {
            Path src = fx(fxt[0], fxt[1]);
            SwinWeights ref = SwinWeights.load(src);
            for (String prefix : new String[]{"", "backbone.", "module.", "model.encoder."}) {
                Path copy = convert(src, prefix.replace('.', '_') + fxt[1], n -> prefix + n, DType.F32, Map.of());
                SwinWeights w = SwinWeights.load(copy);
                assertEquals(ref.config(), w.config(), prefix + fxt[1]);
                assertEquals(ref.all().keySet(), w.all().keySet());
                assertEquals(ref.get("layers.2.blocks.3.mlp.fc2.weight"), w.get("layers.2.blocks.3.mlp.fc2.weight"));
            }
        }
        SwinConfig sv = SwinWeights.load(fx("sparsevit-reference", "sparsevit-mini.safetensors")).config();
        assertEquals(Task.BACKBONE, sv.task());
        assertEquals(32, sv.embedDim());
        assertArrayEquals(new int[]{2, 2, 4, 2}, sv.depths());
        assertArrayEquals(new int[]{1, 2, 4, 8}, sv.heads());
        assertEquals(7, sv.window());
        assertEquals(4, sv.patchSize());
        assertEquals(4, sv.mlpRatio());
        assertEquals(3, sv.inChans());
        assertEquals(0, sv.numClasses());
        assertEquals(1e-5f, sv.eps());
        assertEquals(MergeOrder.CONCAT, SwinWeights.load(fx("swin-reference", "swin-mini-backbone.safetensors"))
                .config().mergeOrder());
    }

    @Test
    void mmdetNamesMapToCanonicalNames() {
        Path src = fx("sparsevit-reference", "sparsevit-mini.safetensors");
        SwinWeights w = SwinWeights.load(src);
        try (Safetensors st = Safetensors.open(src)) {
            assertEquals(st.read("patch_embed.projection.weight"), w.get("patch_embed.proj.weight"));
            assertEquals(st.read("stages.1.blocks.1.attn.w_msa.qkv.bias"), w.get("layers.1.blocks.1.attn.qkv.bias"));
            assertEquals(st.read("stages.2.blocks.3.attn.w_msa.relative_position_bias_table"),
                    w.get("layers.2.blocks.3.attn.relative_position_bias_table"));
            assertEquals(st.read("stages.3.blocks.0.ffn.layers.0.0.weight"), w.get("layers.3.blocks.0.mlp.fc1.weight"));
            assertEquals(st.read("stages.0.blocks.1.ffn.layers.1.bias"), w.get("layers.0.blocks.1.mlp.fc2.bias"));
            assertEquals(st.read("stages.2.downsample.reduction.weight"), w.get("layers.2.downsample.reduction.weight"));
            assertEquals(st.read("norm3.weight"), w.get("norm3.weight"));
        }
        assertEquals(SwinWeights.expectedNames(w.config()), new java.util.ArrayList<>(w.all().keySet()));
        String msg = assertThrows(org.sparsevit.SparseVitException.class, () -> w.get("stages.0.blocks.0.norm1.weight"))
                .getMessage();
        assertTrue(msg.startsWith("weights: no tensor 'stages.0.blocks.0.norm1.weight'"), msg);
    }

    @Test
    void mmdetProblemsAreReportedUnderTheFilesOwnNames() {
        Path src = fx("sparsevit-reference", "sparsevit-mini.safetensors");
        // prefixed, one FFN bias dropped, one Microsoft-style name mixed in, and norm2/norm3 missing
        Path broken = convert(src, "mmdet-broken.safetensors", n -> n.equals("stages.1.blocks.0.ffn.layers.1.bias")
                || n.startsWith("norm2.") || n.startsWith("norm3.") ? null
                : n.equals("stages.0.blocks.0.attn.w_msa.proj.bias") ? "backbone.layers.0.blocks.0.attn.proj.bias"
                : "backbone." + n, DType.F32, Map.of());
        String msg = assertThrows(SafetensorsException.class, () -> SwinWeights.load(broken)).getMessage();
        assertTrue(msg.startsWith(broken + ": weights do not match Swin C=32 depths=[2, 2, 4, 2] heads=[1, 2, 4, 8]"
                + " window=7 backbone:"), msg);
        assertTrue(msg.contains(" 6 missing keys (backbone.stages.0.blocks.0.attn.w_msa.proj.bias,"
                + " backbone.stages.1.blocks.0.ffn.layers.1.bias, backbone.norm2.weight, backbone.norm2.bias,"
                + " backbone.norm3.weight, backbone.norm3.bias);"), msg);
        assertTrue(msg.contains(" 1 unexpected keys (backbone.layers.0.blocks.0.attn.proj.bias);"), msg);
    }

    @Test
    void longListsAreCut() {
        Path src = fx("swin-reference", "swin-mini-cls.safetensors");
        Map<String, String> meta;
        try (Safetensors st = Safetensors.open(src)) {
            meta = st.metadata();
        }
        // a whole stage missing: with metadata the report lists every missing key
        Path half = convert(src, "half.safetensors", n -> n.startsWith("layers.2.") ? null : n, DType.F32, meta);
        String msg = assertThrows(SafetensorsException.class, () -> SwinWeights.load(half)).getMessage();
        // stage 2 has 4 blocks of 13 tensors and a 3-tensor downsample: 55 missing, 20 listed
        assertTrue(msg.startsWith(half + ": weights do not match Swin C=32 depths=[2, 2, 4, 2] heads=[1, 2, 4, 8]"
                + " window=7 classifier(10): 55 missing keys (layers.2.blocks.0.norm1.weight, "), msg);
        assertTrue(msg.endsWith(", ... and 35 more);"), msg);
        // without metadata nothing says how many blocks stage 2 should have
        Path bare = convert(src, "half-bare.safetensors", n -> n.startsWith("layers.2.") ? null : n, DType.F32, Map.of());
        String b = assertThrows(SafetensorsException.class, () -> SwinWeights.load(bare)).getMessage();
        assertEquals(bare + ": stage 2 has no blocks (no layers.2.blocks.* keys) and no depths metadata says how many"
                + " it should have", b);
    }

    @Test
    void expectedArchitectureIsCheckedNotInferred() {
        Path cls = fx("swin-reference", "swin-mini-cls.safetensors");
        SwinConfig inferred = SwinWeights.load(cls).config();
        assertEquals(inferred, SwinWeights.load(cls, inferred).config());
        String msg = assertThrows(SafetensorsException.class, () -> SwinWeights.load(cls, SwinConfig.preset("swin-t")))
                .getMessage();
        assertTrue(msg.startsWith(cls + ": weights do not match Swin C=96 depths=[2, 2, 6, 2] heads=[3, 6, 12, 24]"
                + " window=7 classifier(1000):"), msg);
        assertTrue(msg.contains("missing keys (layers.2.blocks.4.norm1.weight"), msg);
        assertTrue(msg.contains("shape mismatches (patch_embed.proj.weight is [32, 3, 4, 4], expected [96, 3, 4, 4]"), msg);
        Path sv = fx("sparsevit-reference", "sparsevit-mini.safetensors");
        String l = assertThrows(SafetensorsException.class, () -> SwinWeights.load(sv, inferred)).getMessage();
        assertTrue(l.startsWith(sv + ": is a mmdet/SparseViT backbone (stages.*, attn.w_msa, ffn.layers) checkpoint,"
                + " but a Microsoft classification (layers.*, norm, head) model was expected"), l);
    }

    @Test
    void metadataMustAgreeAndDescribeASupportedModel() {
        Path src = fx("sparsevit-reference", "sparsevit-mini.safetensors");
        Map<String, String> meta;
        try (Safetensors st = Safetensors.open(src)) {
            meta = new LinkedHashMap<>(st.metadata());
        }
        meta.put("depths", "[2, 2, 6, 2]");
        meta.put("format", "swin-classification");
        Path lying = convert(src, "lying-sv.safetensors", n -> n, DType.F32, meta);
        String l = assertThrows(SafetensorsException.class, () -> SwinWeights.load(lying)).getMessage();
        assertEquals(lying + ": __metadata__ disagrees with the tensor shapes: depths is [2, 2, 6, 2] in the metadata"
                + " but [2, 2, 4, 2] from the shapes; format is swin-classification in the metadata but the names are"
                + " those of a mmdet/SparseViT backbone (stages.*, attn.w_msa, ffn.layers) checkpoint", l);

        Map<String, String> partial = new LinkedHashMap<>();
        partial.put("out_indices", "[1, 2, 3]");
        Path outs = convert(src, "outs.safetensors", n -> n, DType.F32, partial);
        String o = assertThrows(SafetensorsException.class, () -> SwinWeights.load(outs)).getMessage();
        assertEquals(outs + ": __metadata__ describes an unsupported model (only every stage as output, qkv bias,"
                + " patch norm and no absolute position embedding are supported): out_indices is [1, 2, 3], not every"
                + " stage [0, 1, 2, 3]", o);

        // generic converter metadata says nothing about the architecture
        Path pt = convert(src, "pt.safetensors", n -> n, DType.F32, Map.of("format", "pt"));
        assertEquals(SwinWeights.load(src).config(), SwinWeights.load(pt).config());
    }

    @Test
    void derivedBuffersAreIgnoredAndNeitherHeadNorNormsIsAnError() {
        Path src = fx("swin-reference", "swin-mini-cls.safetensors");
        Map<String, HostTensor> m = new LinkedHashMap<>(SwinWeights.load(src).all());
        m.put("layers.0.blocks.0.attn.relative_position_index", HostTensor.zeros(49, 49));
        m.put("layers.0.blocks.1.attn_mask", HostTensor.zeros(64, 49, 49));
        Path extra = tmp.resolve("buffers.safetensors");
        Safetensors.write(extra, m, Map.of(), DType.F32);
        assertEquals(SwinWeights.load(src).config(), SwinWeights.load(extra).config());

        m.keySet().removeIf(k -> k.startsWith("head.") || k.startsWith("norm."));
        Path bare = tmp.resolve("bare.safetensors");
        Safetensors.write(bare, m, Map.of(), DType.F32);
        String msg = assertThrows(SafetensorsException.class, () -> SwinWeights.load(bare)).getMessage();
        assertEquals(bare + ": neither a classification head (head.weight [classes, C]) nor backbone output norms"
                + " (norm0.weight .. norm3.weight) found", msg);
    }

    @Test
    void randomWeightsFollowTheRecipe() {
        SwinConfig bb = SwinConfig.preset("swin-t").withTask(Task.BACKBONE, 0);
        SwinWeights a = SwinWeights.random(bb, 3);
        assertEquals(SwinWeights.expectedNames(bb), new java.util.ArrayList<>(a.all().keySet()));
        assertEquals(bb.parameterCount(), a.parameterCount());
        assertTrue(!a.get("layers.0.blocks.0.attn.qkv.weight").equals(SwinWeights.random(bb, 4)
                .get("layers.0.blocks.0.attn.qkv.weight")), "different seeds give different weights");
        // moments: fc1 of stage 2 (fan_in 384) has std 1/sqrt(384); norm weights mean 1, std 0.2
        assertStd(a.get("layers.2.blocks.0.mlp.fc1.weight").data(), 0, Math.sqrt(1.0 / 384));
        assertStd(a.get("layers.2.blocks.0.mlp.fc2.weight").data(), 0, Math.sqrt(1.0 / 1536));
        assertStd(a.get("layers.2.blocks.0.attn.relative_position_bias_table").data(), 0, 0.5);
        assertStd(a.get("layers.2.blocks.0.mlp.fc1.bias").data(), 0, 0.075);
        float[] norms = new float[0];
        for (int j = 0; j < 6; j++) {
            float[] n = a.get("layers.2.blocks." + j + ".norm1.weight").data();
            float[] cat = java.util.Arrays.copyOf(norms, norms.length + n.length);
            System.arraycopy(n, 0, cat, norms.length, n.length);
            norms = cat;
        }
        assertStd(norms, 1, 0.2);
        // the loader accepts what random() makes, written out and read back
        Path p = tmp.resolve("random.safetensors");
        Safetensors.write(p, a.all(), Map.of(), DType.F32);
        SwinWeights back = SwinWeights.load(p);
        assertEquals(bb, back.config());
        assertEquals(a.get("norm3.bias"), back.get("norm3.bias"));
    }

    private static void assertStd(float[] d, double mean, double std) {
        double s = 0;
        double s2 = 0;
        for (float v : d) {
            s += v;
            s2 += (v - mean) * (v - mean);
        }
        double m = s / d.length;
        double sd = Math.sqrt(s2 / d.length);
        assertEquals(mean, m, 5 * std / Math.sqrt(d.length), "mean");
        assertEquals(std, sd, 0.05 * std, "std");
    }
}
