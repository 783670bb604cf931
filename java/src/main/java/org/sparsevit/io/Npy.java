package org.sparsevit.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Shapes;

/**
 * NumPy {@code .npy} files (format versions 1.0, 2.0 and 3.0): float32 and float16 (little- or big-endian)
 * in C order are read into float32; float32 (and, with {@link #writeF16}, float16) is written.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("['\"]descr['\"]\\s*:\\s*['\"]([^'\"]*)['\"]");
    private static final Pattern FORTRAN = Pattern.compile("['\"]fortran_order['\"]\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("['\"]shape['\"]\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {
    }

    /**
     * Reads a float32 or float16 array ({@code <f4}, {@code >f4}, {@code <f2}, {@code >f2}) in C order
     * into a float32 tensor of the stored shape. Every problem is an {@link NpyException} naming the file:
     * bad magic, unknown version, malformed header, Fortran order, other dtypes, truncated data.
     */
    public static HostTensor read(Path file) {
        byte[] all;
        try {
            all = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new NpyException(file + ": no such file");
        } catch (IOException e) {
            throw new NpyException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        return parse(file.toString(), all);
    }

    static HostTensor parse(String name, byte[] all) {
        if (all.length < 10) {
            throw new NpyException(name + ": not a .npy file (only " + all.length + " bytes)");
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (all[i] != MAGIC[i]) {
                throw new NpyException(name + ": not a .npy file (bad magic string)");
            }
        }
        int major = all[6] & 0xff;
        ByteBuffer bb = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        long headerLen;
        int headerStart;
        if (major == 1) {
            headerLen = bb.getShort(8) & 0xffff;
            headerStart = 10;
        } else if (major == 2 || major == 3) {
            if (all.length < 12) {
                throw new NpyException(name + ": truncated header");
            }
            headerLen = bb.getInt(8) & 0xffffffffL;
            headerStart = 12;
        } else {
            throw new NpyException(name + ": unsupported .npy format version " + major);
        }
        if (headerStart + headerLen > all.length) {
            throw new NpyException(name + ": truncated header (needs " + headerLen + " bytes, file has "
                    + (all.length - headerStart) + ")");
        }
        String header = new String(all, headerStart, (int) headerLen,
                major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(header);
        Matcher f = FORTRAN.matcher(header);
        Matcher s = SHAPE.matcher(header);
        if (!d.find() || !f.find() || !s.find()) {
            throw new NpyException(name + ": malformed header " + printable(header.strip(), 200)
                    + " (expected a dict with 'descr', 'fortran_order' and 'shape')");
        }
        String descr = d.group(1);
        if (f.group(1).equals("True")) {
            throw new NpyException(name + ": Fortran-order arrays are not supported; save it with np.ascontiguousarray");
        }
        int[] shape = parseShape(name, s.group(1));
        int elem;
        boolean half;
        ByteOrder order;
        switch (descr) {
            case "<f4", "=f4" -> { elem = 4; half = false; order = ByteOrder.LITTLE_ENDIAN; }
            case ">f4" -> { elem = 4; half = false; order = ByteOrder.BIG_ENDIAN; }
            case "<f2", "=f2" -> { elem = 2; half = true; order = ByteOrder.LITTLE_ENDIAN; }
            case ">f2" -> { elem = 2; half = true; order = ByteOrder.BIG_ENDIAN; }
            default -> throw new NpyException(name + ": unsupported dtype '" + printable(descr, 40)
                    + "' (float32 or float16 expected; convert with arr.astype(np.float32))");
        }
        long n = 1;
        for (int dim : shape) {
            n *= dim;
            if (n > Integer.MAX_VALUE - 8) {
                throw new NpyException(name + ": shape " + Shapes.str(shape) + " is too large (more than 2^31 elements)");
            }
        }
        long need = n * elem;
        long have = all.length - headerStart - headerLen;
        if (have < need) {
            throw new NpyException(name + ": truncated data: shape " + Shapes.str(shape) + " needs " + need
                    + " bytes, found " + have);
        }
        ByteBuffer data = ByteBuffer.wrap(all, (int) (headerStart + headerLen), (int) need).slice().order(order);
        float[] out = new float[(int) n];
        if (half) {
            for (int i = 0; i < n; i++) {
                out[i] = Half.toFloat(data.getShort(2 * i));
            }
        } else {
            data.asFloatBuffer().get(out);
        }
        return new HostTensor(out, shape);
    }

    private static int[] parseShape(String name, String s) {
        List<Integer> dims = new ArrayList<>();
        for (String part : s.split(",")) {
            String p = part.strip();
            if (p.isEmpty()) {
                continue;
            }
            try {
                long v = Long.parseLong(p.endsWith("L") ? p.substring(0, p.length() - 1) : p);
                if (v < 0 || v > Integer.MAX_VALUE) {
                    throw new NumberFormatException();
                }
                dims.add((int) v);
            } catch (NumberFormatException e) {
                throw new NpyException(name + ": malformed shape (" + printable(s, 80) + ")");
            }
        }
        return dims.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Header text as it can stand in a one-line message: characters outside printable ASCII (a newline, the binary
     * data a header of the wrong length runs into) escaped ({@code \x0a}, or a Unicode escape beyond Latin-1), at
     * most {@code max} characters of the text kept.
     */
    static String printable(String text, int max) {
        StringBuilder sb = new StringBuilder();
        int n = Math.min(text.length(), max);
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c >= 0x20 && c < 0x7f) {
                sb.append(c);
            } else if (c <= 0xff) {
                sb.append(String.format(java.util.Locale.ROOT, "\\x%02x", (int) c));
            } else {
                sb.append(String.format(java.util.Locale.ROOT, "\\u%04x", (int) c));
            }
        }
        return text.length() > max ? sb + "..." : sb.toString();
    }

    /** Writes float32, little-endian, C order, format 1.0 (header padded to a multiple of 64 bytes, as NumPy does). */
    public static void write(Path file, HostTensor t) {
        writeRaw(file, "<f4", t.shape(), t.data(), 4);
    }

    /**
     * Writes float16 (values narrowed with round-to-nearest-even; beyond the half range they become
     * infinities), little-endian, C order, format 1.0.
     */
    public static void writeF16(Path file, HostTensor t) {
        writeRaw(file, "<f2", t.shape(), t.data(), 2);
    }

    /** The data is converted and written in chunks, so that arrays of more than 2 GiB of bytes can be written. */
    private static void writeRaw(Path file, String descr, int[] shape, float[] data, int elem) {
        StringBuilder dims = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            dims.append(shape[i]).append(shape.length == 1 ? "," : (i + 1 < shape.length ? ", " : ""));
        }
        dims.append(')');
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + dims + ", }";
        int total = 10 + dict.length() + 1;
        int pad = (64 - total % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteBuffer head = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        head.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length());
        head.put(header.getBytes(StandardCharsets.ISO_8859_1));
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            try (OutputStream os = Files.newOutputStream(file)) {
                os.write(head.array());
                ByteBuffer chunk = ByteBuffer.allocate(elem << 16).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < data.length; ) {
                    chunk.clear();
                    for (int end = Math.min(data.length, i + (1 << 16)); i < end; i++) {
                        if (elem == 4) {
                            chunk.putFloat(data[i]);
                        } else {
                            chunk.putShort(Half.fromFloat(data[i]));
                        }
                    }
                    os.write(chunk.array(), 0, chunk.position());
                }
            }
        } catch (IOException e) {
            throw new NpyException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }
}
