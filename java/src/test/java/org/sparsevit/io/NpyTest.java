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

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.tensor.HostTensor;

class NpyTest {
    @TempDir
    Path tmp;

    Path npy(String name, String dict, int dataBytes) throws IOException {
        String header = dict + " ".repeat((64 - (10 + dict.length() + 1) % 64) % 64) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + header.length() + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length());
        b.put(header.getBytes(StandardCharsets.ISO_8859_1));
        Path p = tmp.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    String error(Path p) {
        return assertThrows(NpyException.class, () -> Npy.read(p)).getMessage();
    }

    @Test
    void roundTrip() {
        HostTensor t = new HostTensor(new float[]{1, 2, 3, 4, 5, 6}, new int[]{1, 2, 3});
        Path p = tmp.resolve("a.npy");
        Npy.write(p, t);
        assertEquals(t, Npy.read(p));
        HostTensor v = new HostTensor(new float[]{7, 8}, new int[]{2});
        Npy.write(p, v);
        assertEquals(v, Npy.read(p));
    }

    @Test
    void readsFloat16() throws IOException {
        Path p = npy("h.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 4);
        byte[] all = Files.readAllBytes(p);
        ByteBuffer.wrap(all, all.length - 4, 4).order(ByteOrder.LITTLE_ENDIAN).putShort(Half.fromFloat(1.5f))
                .putShort(Half.fromFloat(-2f));
        Files.write(p, all);
        assertArrayEquals(new float[]{1.5f, -2f}, Npy.read(p).data());
    }

    @Test
    void badMagic() throws IOException {
        Path p = tmp.resolve("bad.npy");
        Files.write(p, "not numpy at all".getBytes(StandardCharsets.UTF_8));
        assertEquals(p + ": not a .npy file (bad magic string)", error(p));
    }

    @Test
    void fortranOrder() throws IOException {
        Path p = npy("f.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
        assertEquals(p + ": Fortran-order arrays are not supported; save it with np.ascontiguousarray", error(p));
    }

    @Test
    void otherDtype() throws IOException {
        Path p = npy("d.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
        assertEquals(p + ": unsupported dtype '<f8' (float32 or float16 expected; convert with arr.astype(np.float32))", error(p));
    }

    @Test
    void truncatedData() throws IOException {
        Path p = npy("t.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 8);
        assertEquals(p + ": truncated data: shape [2, 3] needs 24 bytes, found 8", error(p));
    }

    @Test
    void malformedHeader() throws IOException {
        Path p = npy("m.npy", "{'descr': '<f4'}", 0);
        assertTrue(error(p).startsWith(p + ": malformed header"), error(p));
    }

    /** A header edited to a shorter length than it declares runs into the data: the message stays one printable line. */
    @Test
    void corruptedHeaderGivesOnePrintableLine() throws IOException {
        Path p = tmp.resolve("c.npy");
        Npy.write(p, new HostTensor(new float[]{1.5f, -2f, 1e-30f, 3e38f, 7, 8, 9, 10}, new int[]{2, 4}));
        String text = new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1);
        Files.write(p, text.replace("'descr': '<f4'", "'descr': 5").getBytes(StandardCharsets.ISO_8859_1));
        String m = error(p);
        assertTrue(m.startsWith(p + ": malformed header {'descr': 5, 'fortran_order': False, 'shape': (2, 4), }"), m);
        assertTrue(m.contains("\\x0a"), "the header's newline, escaped: " + m);
        assertTrue(m.chars().allMatch(c -> c >= 0x20 && c < 0x7f), m);
        // a descr or shape of binary bytes, and a long header, are escaped and cut short too
        p = npy("b.npy", "{'descr': '\u0001\u0093\n\u00ff', 'fortran_order': False, 'shape': (2,), }", 8);
        assertEquals(p + ": unsupported dtype '\\x01\\x93\\x0a\\xff' (float32 or float16 expected; convert with"
                + " arr.astype(np.float32))", error(p));
        p = npy("s.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2\u0000\n,), }", 8);
        assertEquals(p + ": malformed shape (2\\x00\\x0a,)", error(p));
        p = npy("l.npy", "{'descr': '<f4', " + "\u0002".repeat(500) + "}", 0);
        m = error(p);
        assertTrue(m.contains("\\x02\\x02...") && m.length() < p.toString().length() + 1100, m);
        assertTrue(m.chars().allMatch(c -> c >= 0x20 && c < 0x7f), m);
    }

    @Test
    void version2BigEndianAndScalar() throws IOException {
        // format 2.0: 4-byte header length
        String dict = "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }";
        String header = dict + " ".repeat((64 - (12 + dict.length() + 1) % 64) % 64) + "\n";
        ByteBuffer b = ByteBuffer.allocate(12 + header.length() + 12).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0}).putInt(header.length());
        b.put(header.getBytes(StandardCharsets.ISO_8859_1));
        b.order(ByteOrder.BIG_ENDIAN).putFloat(1.25f).putFloat(-3f).putFloat(Float.POSITIVE_INFINITY);
        Path p = tmp.resolve("v2.npy");
        Files.write(p, b.array());
        HostTensor t = Npy.read(p);
        assertArrayEquals(new int[]{3}, t.shape());
        assertArrayEquals(new float[]{1.25f, -3f, Float.POSITIVE_INFINITY}, t.data());

        Path s = npy("scalar.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4);
        HostTensor sc = Npy.read(s);
        assertEquals(0, sc.rank());
        assertEquals(1, sc.numel());
    }

    @Test
    void writeF16RoundTripsToTheRoundedValues() {
        float[] v = {0f, 1f / 3, -65504f, 1e-7f, 70000f, 2.5f};
        HostTensor t = new HostTensor(v, new int[]{2, 3});
        Path p = tmp.resolve("h16.npy");
        Npy.writeF16(p, t);
        HostTensor back = Npy.read(p);
        assertArrayEquals(new int[]{2, 3}, back.shape());
        for (int i = 0; i < v.length; i++) {
            assertEquals(Half.toFloat(Half.fromFloat(v[i])), back.data()[i], "element " + i);
        }
        assertEquals(Float.POSITIVE_INFINITY, back.data()[4]);
    }

    @Test
    void writtenHeaderIsAlignedTo64() throws IOException {
        for (int[] shape : new int[][]{{}, {5}, {2, 3}, {1, 2, 3, 4, 5, 6, 7, 8}}) {
            Path p = tmp.resolve("al.npy");
            Npy.write(p, HostTensor.zeros(shape));
            byte[] all = Files.readAllBytes(p);
            int hl = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getShort(8) & 0xffff;
            assertEquals(0, (10 + hl) % 64);
            assertEquals('\n', all[10 + hl - 1]);
            assertArrayEquals(shape, Npy.read(p).shape());
        }
    }

    @Test
    void tooShortAndUnknownVersion() throws IOException {
        Path p = tmp.resolve("tiny.npy");
        Files.write(p, new byte[]{(byte) 0x93, 'N', 'U'});
        assertEquals(p + ": not a .npy file (only 3 bytes)", error(p));
        Path v = tmp.resolve("v9.npy");
        Files.write(v, new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 9, 0, 0, 0, 0, 0});
        assertEquals(v + ": unsupported .npy format version 9", error(v));
        Path m = tmp.resolve("missing.npy");
        assertEquals(m + ": no such file", error(m));
    }

    @Test
    void hugeShapeIsRejectedBeforeAllocating() throws IOException {
        Path p = npy("huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0);
        assertTrue(error(p).startsWith(p + ": malformed shape"), error(p));
        Path q = npy("huge2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2000000000, 2000000000, 8), }", 0);
        assertEquals(q + ": shape [2000000000, 2000000000, 8] is too large (more than 2^31 elements)", error(q));
    }

    /** Truncations and random corruptions never escape as anything but an NpyException. */
    @Test
    void corruptFilesOnlyEverGiveNpyExceptions() throws IOException {
        Path good = tmp.resolve("good.npy");
        Npy.write(good, new HostTensor(new float[]{1, 2, 3, 4, 5, 6}, new int[]{2, 3}));
        byte[] all = Files.readAllBytes(good);
        Path p = tmp.resolve("fuzz.npy");
        java.util.Random r = new java.util.Random(3);
        for (int trial = 0; trial < all.length + 3000; trial++) {
            byte[] b;
            if (trial < all.length) {
                b = java.util.Arrays.copyOf(all, trial);
            } else {
                b = all.clone();
                for (int k = 1 + r.nextInt(3); k > 0; k--) {
                    b[r.nextInt(80)] = (byte) r.nextInt(256);
                }
            }
            Files.write(p, b);
            try {
                Npy.read(p);
            } catch (NpyException e) {
                assertTrue(e.getMessage().startsWith(p + ": "), e.getMessage());
            }
        }
    }
}
