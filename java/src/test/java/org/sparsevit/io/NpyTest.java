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
}
