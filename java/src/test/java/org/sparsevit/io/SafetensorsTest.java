package org.sparsevit.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;

/** The safetensors reader's validation: every bad file gets a message naming the file, tensor and problem. */
class SafetensorsTest {
    @TempDir
    Path tmp;

    /** A file with the given header JSON and data bytes. */
    Path file(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = tmp.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    String error(Path p) {
        return assertThrows(SafetensorsException.class, () -> Safetensors.open(p).close()).getMessage();
    }

    @Test
    void roundTripF32F16Bf16() {
        HostTensor a = new HostTensor(new float[]{1f, -2.5f, 3.1415927f, 65504f, 1e-6f, 0f}, new int[]{2, 3});
        Map<String, HostTensor> m = new LinkedHashMap<>();
        m.put("a", a);
        for (DType d : new DType[]{DType.F32, DType.F16, DType.BF16}) {
            Path p = tmp.resolve("rt-" + d + ".safetensors");
            Safetensors.write(p, m, Map.of("k", "v"), d);
            try (Safetensors st = Safetensors.open(p)) {
                assertEquals(d, st.dtype("a"));
                assertEquals("v", st.metadata().get("k"));
                HostTensor back = st.read("a");
                assertArrayEquals(new int[]{2, 3}, back.shape());
                for (int i = 0; i < 6; i++) {
                    float v = a.data()[i];
                    float expect = d == DType.F32 ? v : d == DType.F16 ? Half.toFloat(Half.fromFloat(v))
                            : Half.bf16ToFloat(Half.floatToBf16(v));
                    assertEquals(Float.floatToIntBits(expect), Float.floatToIntBits(back.data()[i]));
                }
            }
        }
    }

    @Test
    void halfConversionsRoundToNearestEven() {
        assertEquals(1.0f, Half.toFloat(Half.fromFloat(1.0f)));
        assertEquals(65504f, Half.toFloat(Half.fromFloat(65504f)));
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat(Half.fromFloat(70000f)));
        assertEquals(0x1p-24f, Half.toFloat((short) 1));                       // smallest subnormal
        assertEquals(1.0f + 0x1p-10f, Half.toFloat(Half.fromFloat(1.0f + 0x1p-10f)));
        assertEquals(1.0f, Half.toFloat(Half.fromFloat(1.0f + 0x1p-11f)));      // tie to even (down)
        assertEquals(1.0f + 0x1p-9f, Half.toFloat(Half.fromFloat(1.0f + 3 * 0x1p-11f))); // tie to even (up)
        assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(Float.NaN))));
        assertEquals(1.0f, Half.bf16ToFloat(Half.floatToBf16(1.0f)));
        assertEquals(1.0f, Half.bf16ToFloat(Half.floatToBf16(1.0f + 0x1p-8f)));  // tie to even
        assertEquals(1.0f + 0x1p-7f, Half.bf16ToFloat(Half.floatToBf16(1.0f + 0x1p-7f)));
        // exhaustive: every half value widens and narrows back to itself
        for (int bits = 0; bits < 0x10000; bits++) {
            float f = Half.toFloat((short) bits);
            if (!Float.isNaN(f)) {
                assertEquals(bits, Half.fromFloat(f) & 0xffff, "half bits " + Integer.toHexString(bits));
            }
        }
    }

    @Test
    void tooShort() throws IOException {
        Path p = tmp.resolve("short.safetensors");
        Files.write(p, new byte[]{1, 2, 3});
        assertEquals(p + ": file is 3 bytes, too short for a safetensors header", error(p));
    }

    @Test
    void headerLongerThanFile() throws IOException {
        Path p = tmp.resolve("long.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).putLong(0);
        Files.write(p, b.array());
        assertEquals(p + ": header length 1000 does not fit in the file (16 bytes)", error(p));
    }

    @Test
    void headerNotJson() throws IOException {
        Path p = file("nojson.safetensors", "{not json", 0);
        assertTrue(error(p).startsWith(p + ": header is not valid JSON"), error(p));
    }

    @Test
    void offsetsOutOfRange() throws IOException {
        Path p = file("oob.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[250],\"data_offsets\":[0,1000]}}", 512);
        assertEquals(p + ": tensor 'w': data offsets [0, 1000) extend past the end of the data section (512 bytes)", error(p));
    }

    @Test
    void offsetsDoNotMatchShape() throws IOException {
        Path p = file("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,40]}}", 64);
        assertEquals(p + ": tensor 'w': data offsets [0, 40) hold 40 bytes but F32 [3, 4] needs 48", error(p));
    }

    @Test
    void unsupportedDtype() throws IOException {
        Path p = file("i64.safetensors", "{\"w\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
        assertEquals(p + ": tensor 'w': unsupported dtype I64 (F32, F16 and BF16 are supported)", error(p));
    }

    @Test
    void negativeDimensionAndBadOffsets() throws IOException {
        Path p = file("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
        assertEquals(p + ": tensor 'w': invalid dimension -2 in shape [-2]", error(p));
        Path q = file("rev.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8);
        assertEquals(q + ": tensor 'w': invalid data offsets [8, 0)", error(q));
        Path r = file("meta.safetensors", "{\"__metadata__\":{\"a\":1}}", 0);
        assertEquals(r + ": __metadata__ value of 'a' is not a string", error(r));
    }

    @Test
    void missingFile() {
        Path p = tmp.resolve("nope.safetensors");
        assertEquals(p + ": no such file", error(p));
    }
}
