package org.sparsevit.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.Fixtures;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;

/** Values and metadata a checkpoint may not hold: non-finite weights, an invalid eps or image size. */
class WeightValuesTest {
    @TempDir
    Path tmp;

    static final Path SV = Fixtures.file("sparsevit-reference", "sparsevit-mini.safetensors");

    /** The fixture's tensors and metadata, with {@code edit} applied, written to a new file. */
    Path copy(String name, Map<String, String> metaEdits, java.util.function.Consumer<Map<String, HostTensor>> edit) {
        Map<String, HostTensor> m = SwinWeightsTest.readAll(SV);
        Map<String, String> meta;
        try (Safetensors st = Safetensors.open(SV)) {
            meta = new LinkedHashMap<>(st.metadata());
        }
        meta.putAll(metaEdits);
        edit.accept(m);
        Path out = tmp.resolve(name);
        Safetensors.write(out, m, meta, DType.F32);
        return out;
    }

    static void set(Map<String, HostTensor> m, String name, int index, float v) {
        HostTensor t = m.get(name);
        float[] d = t.data().clone();
        d[index] = v;
        m.put(name, new HostTensor(d, t.shape()));
    }

    @Test
    void nonFiniteWeightsAreRefusedNamingTheTensor() {
        Path nan = copy("nan.safetensors", Map.of(), m -> set(m, "patch_embed.projection.weight", 17, Float.NaN));
        assertEquals(nan + ": tensor 'patch_embed.projection.weight' holds 1 NaN value(s)",
                assertThrows(SafetensorsException.class, () -> SwinWeights.load(nan)).getMessage());
        Path both = copy("both.safetensors", Map.of(), m -> {
            set(m, "stages.2.blocks.3.ffn.layers.1.bias", 0, Float.POSITIVE_INFINITY);
            set(m, "stages.2.blocks.3.ffn.layers.1.bias", 5, Float.NaN);
            set(m, "stages.2.blocks.3.ffn.layers.1.bias", 9, Float.NEGATIVE_INFINITY);
        });
        assertEquals(both + ": tensor 'stages.2.blocks.3.ffn.layers.1.bias' holds 1 NaN value(s) and 2 infinite value(s)",
                assertThrows(SafetensorsException.class, () -> SwinWeights.load(both)).getMessage());
        // the unchanged copy loads, with the fixture's values
        Path same = copy("same.safetensors", Map.of(), m -> { });
        assertEquals(SwinWeights.load(SV).fingerprint(), SwinWeights.load(same).fingerprint());
    }

    @Test
    void anInvalidLayerNormEpsOrImageSizeInTheMetadataIsRefused() {
        for (String bad : new String[]{"abc", "-1", "0", "NaN", "Infinity", "1e-300", ""}) {
            Path f = copy("eps.safetensors", Map.of("layer_norm_eps", bad), m -> { });
            assertEquals(f + ": __metadata__ layer_norm_eps '" + bad + "' is not a positive number",
                    assertThrows(SafetensorsException.class, () -> SwinWeights.load(f)).getMessage());
        }
        Path ok = copy("eps-ok.safetensors", Map.of("layer_norm_eps", " 1e-6 "), m -> { });
        assertEquals(1e-6f, SwinWeights.load(ok).config().eps());
        for (String bad : new String[]{"abc", "-224", "224.5"}) {
            Path f = copy("img.safetensors", Map.of("img_size", bad), m -> { });
            String msg = assertThrows(SafetensorsException.class, () -> SwinWeights.load(f)).getMessage();
            assertEquals(f + ": __metadata__ img_size '" + bad + "' is not a "
                    + (bad.equals("224.5") ? "positive integer" : "positive number"), msg);
        }
        // an image no tensor can hold (3 x s x s values beyond 2^31 - 1, as --size): refused, naming the value
        for (String big : new String[]{"100000", "26755", "1e9"}) {
            Path f = copy("big.safetensors", Map.of("img_size", big), m -> { });
            String msg = assertThrows(SafetensorsException.class, () -> SwinWeights.load(f)).getMessage();
            assertTrue(msg.startsWith(f + ": __metadata__ img_size '" + big + "' is too large: a 3-channel "), msg);
            assertTrue(msg.endsWith("more than one tensor can (2^31 - 1)"), msg);
        }
        Path largest = copy("largest.safetensors", Map.of("img_size", "26754"), m -> { });
        assertEquals(26754, SwinWeights.load(largest).config().imgSize());
    }
}
