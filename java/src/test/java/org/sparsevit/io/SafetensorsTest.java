package org.sparsevit.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
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

    /** PyTorch checkpoints given by mistake are named, with the way to convert them; a real header still wins. */
    @Test
    void pytorchCheckpointsAreNamed() throws IOException {
        Path zip = tmp.resolve("swin.pth");
        Files.write(zip, new byte[]{'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        assertEquals(zip + ": a zip archive (a PyTorch checkpoint saved by torch.save, .pth/.pt/.bin), not safetensors;"
                + " convert it with tools/to_safetensors.py (README, \"Weights from PyTorch checkpoints\")", error(zip));
        Path pickle = tmp.resolve("legacy.pth");
        Files.write(pickle, new byte[]{(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, 0, 0, 0, 0});
        assertTrue(error(pickle).startsWith(pickle + ": a Python pickle (a PyTorch checkpoint in torch.save's legacy"
                + " format), not safetensors"), error(pickle));
        Path pickle4 = tmp.resolve("legacy4.pth");   // pickle_protocol=4: PROTO 4, FRAME
        Files.write(pickle4, new byte[]{(byte) 0x80, 4, (byte) 0x95, 10, 0, 0, 0, 0, 0, 0, 0, 0});
        assertTrue(error(pickle4).contains("a Python pickle"), error(pickle4));
        // a safetensors file whose header length happens to start with the pickle's first bytes is read normally
        String json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        json = json + " ".repeat(0x0280 - json.length());
        Path st = file("like-pickle.safetensors", json, 4);
        try (Safetensors s = Safetensors.open(st)) {
            assertEquals(1, s.names().size());
        }
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

    /**
     * Other safetensors dtypes (a detector's counters, indices) are listed and their sizes checked, and refused
     * only when read; an unknown dtype is refused at once.
     */
    @Test
    void otherDtypesAreListedAndRefusedWhenRead() throws IOException {
        Path p = file("i64.safetensors", "{\"w\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}", 20);
        try (Safetensors st = Safetensors.open(p)) {
            assertEquals("I64", st.dtypeName("w"));
            assertEquals(1, st.read("f").data().length);
            String m = assertThrows(SafetensorsException.class, () -> st.read("w")).getMessage();
            assertEquals(p + ": tensor 'w': dtype I64 cannot be read as weights (F32, F16 and BF16 are supported)", m);
        }
        Path bad = file("i64bad.safetensors", "{\"w\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
        assertEquals(bad + ": tensor 'w': data offsets [0, 8) hold 8 bytes but I64 [2] needs 16", error(bad));
        Path unknown = file("q4.safetensors", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1);
        assertEquals(unknown + ": tensor 'w': unsupported dtype Q4 (F32, F16 and BF16 are supported)", error(unknown));
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

    @Test
    void headerLengthZeroOrHuge() throws IOException {
        Path z = tmp.resolve("zero.safetensors");
        Files.write(z, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(0).array());
        assertEquals(z + ": header length is 0 (no JSON header)", error(z));
        Path u = tmp.resolve("u64.safetensors");
        Files.write(u, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1).array());
        assertEquals(u + ": header length 18446744073709551615 does not fit in the file (16 bytes)", error(u));
        // a sparse 200 MB file whose header claims 150 MB: within the file, beyond the cap
        Path big = tmp.resolve("big.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(big.toFile(), "rw")) {
            raf.setLength(200L << 20);
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(150L << 20).array());
        }
        assertEquals(big + ": header length " + (150L << 20) + " exceeds the 100 MB limit", error(big));
    }

    @Test
    void headerNotUtf8NotObjectDuplicate() throws IOException {
        Path p = tmp.resolve("latin1.safetensors");
        byte[] h = {'{', '"', (byte) 0xff, '"', ':', '1', '}', ' '};
        Files.write(p, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(8).put(h).array());
        assertEquals(p + ": header is not valid UTF-8", error(p));
        Path a = file("array.safetensors", "[1, 2]  ", 0);
        assertEquals(a + ": header is not a JSON object", error(a));
        Path d = file("dup.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
        assertTrue(error(d).startsWith(d + ": header is not valid JSON (Duplicate field 'w')"), error(d));
        Path t = file("trail.safetensors", "{} {}", 0);
        assertTrue(error(t).startsWith(t + ": header is not valid JSON"), error(t));
    }

    @Test
    void entryFieldsOfTheWrongType() throws IOException {
        String[][] cases = {
            {"{\"w\":[1]}", "tensor 'w': entry is not an object"},
            {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'w': missing or non-string dtype"},
            {"{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'w': missing or non-string dtype"},
            {"{\"w\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                "tensor 'w': unsupported dtype C64 (F32, F16 and BF16 are supported)"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", "tensor 'w': missing or non-array shape"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "tensor 'w': invalid dimension 1.5 in shape [1.5]"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", "tensor 'w': data_offsets must be [begin, end] (two integers), got nothing"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}",
                "tensor 'w': data_offsets must be [begin, end] (two integers), got [0,\"4\"]"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}",
                "tensor 'w': data_offsets must be [begin, end] (two integers), got [0,99999999999999999999]"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}",
                "tensor 'w': shape [2147483647, 2147483647, 2147483647] is too large"},
            {"{\"__metadata__\":[\"a\"]}", "__metadata__ must be an object of strings"},
        };
        int i = 0;
        for (String[] c : cases) {
            Path p = file("e" + i++ + ".safetensors", c[0], 8);
            assertEquals(p + ": " + c[1], error(p), c[0]);
        }
    }

    @Test
    void namesInHeaderOrderShapesAndMissingTensor() {
        Map<String, HostTensor> m = new LinkedHashMap<>();
        m.put("z", HostTensor.zeros(2, 1));
        m.put("a", HostTensor.zeros(0, 3));
        m.put("m", new HostTensor(new float[]{4f}, new int[0]));
        Path p = tmp.resolve("order.safetensors");
        Safetensors.write(p, m, null, DType.F32);
        try (Safetensors st = Safetensors.open(p)) {
            assertEquals(java.util.List.of("z", "a", "m"), new java.util.ArrayList<>(st.names()));
            assertTrue(st.metadata().isEmpty());
            assertArrayEquals(new int[]{0, 3}, st.shape("a"));
            assertEquals(0, st.read("a").numel());
            assertEquals(4f, st.read("m").data()[0]);
            String msg = assertThrows(SafetensorsException.class, () -> st.read("q")).getMessage();
            assertEquals(p + ": no tensor 'q'", msg);
        }
    }

    @Test
    void headerIsPaddedToEightBytes() throws IOException {
        for (int len = 1; len < 10; len++) {
            Path p = tmp.resolve("pad" + len + ".safetensors");
            Safetensors.write(p, Map.of("x".repeat(len), HostTensor.zeros(1)), Map.of(), DType.F16);
            byte[] all = Files.readAllBytes(p);
            long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            assertEquals(0, n % 8);
            assertEquals(8 + n + 2, all.length);
        }
    }

    /** Every truncation and many corruptions of a valid file give a SafetensorsException or a valid reader, nothing else. */
    @Test
    void corruptFilesOnlyEverGiveSafetensorsExceptions() throws IOException {
        Map<String, HostTensor> m = new LinkedHashMap<>();
        m.put("layers.0.w", new HostTensor(new float[]{1, 2, 3, 4, 5, 6}, new int[]{2, 3}));
        m.put("b", new HostTensor(new float[]{7, 8}, new int[]{2}));
        Path good = tmp.resolve("good.safetensors");
        Safetensors.write(good, m, Map.of("k", "v"), DType.BF16);
        byte[] all = Files.readAllBytes(good);
        Path p = tmp.resolve("fuzz.safetensors");
        for (int len = 0; len < all.length; len++) {
            Files.write(p, java.util.Arrays.copyOf(all, len));
            openAndReadAll(p);
        }
        java.util.Random r = new java.util.Random(5);
        for (int trial = 0; trial < 3000; trial++) {
            byte[] b = all.clone();
            for (int k = 1 + r.nextInt(3); k > 0; k--) {
                b[r.nextInt(b.length)] = (byte) r.nextInt(256);
            }
            Files.write(p, b);
            openAndReadAll(p);
        }
    }

    private static void openAndReadAll(Path p) {
        try (Safetensors st = Safetensors.open(p)) {
            for (String n : st.names()) {
                st.read(n);
                st.shape(n);
                st.dtype(n);
            }
        } catch (SafetensorsException e) {
            assertTrue(e.getMessage().startsWith(p.toString() + ": "), e.getMessage());
        }
    }

    @Test
    void readAfterClose() {
        Path p = tmp.resolve("closed.safetensors");
        Safetensors.write(p, Map.of("w", HostTensor.zeros(3)), Map.of(), DType.F32);
        Safetensors st = Safetensors.open(p);
        st.close();
        String msg = assertThrows(SafetensorsException.class, () -> st.read("w")).getMessage();
        assertEquals(p + ": tensor 'w': cannot read (the file was closed)", msg);
    }

    /** Narrowing picks the nearest representable value, ties to the even one (checked against the neighbours). */
    @Test
    void narrowingIsRoundToNearestEvenOnRandomFloats() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(11);
        for (int trial = 0; trial < 200_000; trial++) {
            // exponents spread over the half subnormal range up to beyond the half maximum
            float f = (float) ((r.nextBoolean() ? 1 : -1) * r.nextDouble(1, 2) * Math.pow(2, r.nextInt(-27, 17)));
            checkNearest(f, Half.fromFloat(f), true);
            checkNearest(f, Half.floatToBf16(f), false);
        }
        // exact ties
        checkNearest(65520f, Half.fromFloat(65520f), true);
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat(Half.fromFloat(65520f)));
        assertEquals(65504f, Half.toFloat(Half.fromFloat(65519.99f)));
        assertEquals(0f, Half.toFloat(Half.fromFloat(0x1p-25f)));              // half of the smallest subnormal: to even (0)
        assertEquals(0x1p-23f, Half.toFloat(Half.fromFloat(3 * 0x1p-25f)));     // 1.5 * 2^-24: to even (2 * 2^-24)
        assertEquals(Float.NEGATIVE_INFINITY, Half.bf16ToFloat(Half.floatToBf16(-Float.MAX_VALUE)));
        assertTrue(Float.isNaN(Half.bf16ToFloat(Half.floatToBf16(Float.intBitsToFloat(0x7f800001)))));
    }

    private static void checkNearest(float f, short bits, boolean half) {
        java.util.function.IntFunction<Double> value = b -> (double) (half ? Half.toFloat((short) b) : Half.bf16ToFloat((short) b));
        int b = bits & 0xffff;
        double v = value.apply(b);
        double err = Math.abs(v - f);
        for (int nb : new int[]{b - 1, b + 1}) {
            if ((nb & 0x7fff) == (b & 0x7fff) + 1 || (nb & 0x7fff) == (b & 0x7fff) - 1) {
                double nv = value.apply(nb & 0xffff);
                if (Double.isNaN(nv) || Math.signum(nv) * Math.signum(v) < 0) {
                    continue;
                }
                double nerr = Math.abs(nv - f);
                String what = (half ? "F16" : "BF16") + " of " + f + " (bits " + Integer.toHexString(b) + ")";
                if (Double.isInfinite(v)) {
                    // overflow: only when f is at least halfway to the next power of two beyond the largest finite value
                    assertTrue(Math.abs(f) >= Math.abs(nv) + (Math.abs(nv) - Math.abs(value.apply((nb & 0xffff) - 1))) / 2, what);
                    continue;
                }
                assertTrue(err < nerr || (err == nerr && (b & 1) == 0), what + " is not the nearest-even value");
            }
        }
    }
}
