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
        Map<String, HostTensor> extra = new LinkedHashMap<>();
        try (Safetensors st = Safetensors.open(prefixed)) {
            for (String n : st.names()) {
                extra.put(n, st.read(n));
            }
        }
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
}
