package org.sparsevit.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparsevit.Fixtures;
import org.sparsevit.Golden;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.io.Npy;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/** Dense Swin on the CPU backend against the official implementations' golden outputs. */
class SwinGoldenTest {
    static final double TOL = 1e-4;
    static CpuBackend cpu;

    @BeforeAll
    static void setUp() {
        cpu = new CpuBackend();
    }

    @AfterAll
    static void tearDown() {
        cpu.close();
    }

    static Path swin(String name) {
        return Fixtures.file("swin-reference", name);
    }

    @Test
    void classificationLogitsAndStagesMatchMicrosoftSwin() throws Exception {
        SwinWeights w = SwinWeights.load(swin("swin-mini-cls.safetensors"));
        assertEquals(Task.CLASSIFICATION, w.config().task());
        HostTensor input = Npy.read(swin("swin-mini-cls.input.npy"));
        Map<Integer, HostTensor> stages = new HashMap<>();
        try (SwinModel m = new SwinModel(w, cpu)) {
            try (Tensor img = cpu.upload(input); FeatureMap pe = m.patchEmbed().forward(img)) {
                Golden.assertClose("patch_embed", Npy.read(swin("swin-mini-cls.patch_embed.npy")), cpu.download(pe.tokens()), TOL);
            }
            SwinOutput out = m.forward(input, null, PaddingMode.SWIN, null,
                    (s, x) -> stages.put(s, cpu.download(x.tokens())));
            for (int s = 0; s < 4; s++) {
                Golden.assertClose("stage" + s, Npy.read(swin("swin-mini-cls.stage" + s + ".npy")), stages.get(s), TOL);
            }
            Golden.assertClose("logits", Npy.read(swin("swin-mini-cls.logits.npy")), out.logits(), TOL);
        }
    }

    @Test
    void backboneOutputsMatchOfficialDetectionBackbone() throws Exception {
        SwinWeights w = SwinWeights.load(swin("swin-mini-backbone.safetensors"));
        assertEquals(Task.BACKBONE, w.config().task());
        HostTensor input = Npy.read(swin("swin-mini-backbone.input.npy"));
        try (SwinModel m = new SwinModel(w, cpu)) {
            SwinOutput out = m.forward(input);
            assertEquals(4, out.features().size());
            for (int s = 0; s < 4; s++) {
                Golden.assertClose("out" + s, Npy.read(swin("swin-mini-backbone.out" + s + ".npy")), out.features().get(s), TOL);
            }
        }
    }
}
