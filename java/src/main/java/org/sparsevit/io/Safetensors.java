package org.sparsevit.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Shapes;

/**
 * A safetensors file, memory-mapped: an 8-byte little-endian header length, a JSON header mapping tensor
 * names to dtype, shape and [begin, end) offsets into the data section (plus an optional
 * {@code __metadata__} of string pairs), then the little-endian data. F32, F16 and BF16 are read (widened
 * to float32 exactly). Everything is validated when the file is opened; every failure is a
 * {@link SafetensorsException} naming the file, the tensor and the problem.
 */
public final class Safetensors implements AutoCloseable {
    /** Largest header accepted (the format's own limit is 100 MB). */
    static final long MAX_HEADER = 100L << 20;

    /** Elements converted per write call. */
    private static final int WRITE_CHUNK = 1 << 16;

    /** Strict JSON: duplicate names and anything after the header object are errors. */
    private static final ObjectMapper HEADER_READER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /**
     * One tensor's entry in the header.
     *
     * @param name   tensor name as stored
     * @param dtype  storage type
     * @param shape  dimensions, outermost first
     * @param begin  first byte, relative to the start of the data section
     * @param end    one past the last byte, relative to the start of the data section
     */
    public record Entry(String name, DType dtype, String dtypeName, int[] shape, long begin, long end) {
        public Entry {
            shape = shape.clone();
        }

        @Override
        public int[] shape() {
            return shape.clone();
        }
    }

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private Safetensors(Path file, FileChannel channel, long dataStart, Map<String, Entry> entries,
                        Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Element sizes of the safetensors dtypes other than F32, F16 and BF16 (listed, never read). */
    private static final Map<String, Integer> OTHER_DTYPES = Map.ofEntries(Map.entry("F64", 8), Map.entry("I64", 8),
            Map.entry("U64", 8), Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("I16", 2), Map.entry("U16", 2),
            Map.entry("I8", 1), Map.entry("U8", 1), Map.entry("BOOL", 1), Map.entry("F8_E4M3", 1),
            Map.entry("F8_E5M2", 1));

    /** What a file starting with these 8 bytes is when it is a known non-safetensors format, else null. */
    static String otherFormat(byte[] head) {
        if (head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            return "a zip archive (a PyTorch checkpoint saved by torch.save, .pth/.pt/.bin)";
        }
        // PROTO 2..5, then LONG1 (torch's magic number, protocols 2 and 3) or FRAME (protocols 4 and 5)
        if ((head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5
                && ((head[2] & 0xff) == 0x8a || (head[2] & 0xff) == 0x95)) {
            return "a Python pickle (a PyTorch checkpoint in torch.save's legacy format)";
        }
        if ((head[0] & 0xff) == 0x89 && head[1] == 'H' && head[2] == 'D' && head[3] == 'F') {
            return "an HDF5 file (Keras weights)";
        }
        return null;
    }

    /**
     * Opens and validates a file: header length, UTF-8 JSON header, every entry's dtype, shape and offsets.
     * Tensor data is mapped lazily by {@link #read}. Close the returned reader when done.
     *
     * @throws SafetensorsException naming the file (and tensor) when anything is wrong
     */
    public static Safetensors open(Path file) {
        String f = file.toString();
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new SafetensorsException(f + ": no such file");
        } catch (IOException e) {
            throw new SafetensorsException(f + ": cannot open (" + e.getMessage() + ")", e);
        }
        try {
            long size = ch.size();
            if (size < 8) {
                throw new SafetensorsException(f + ": file is " + size + " bytes, too short for a safetensors header");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long n = lenBuf.getLong(0);
            // a header length that cannot be one, from a file that starts like another format: name the format
            String other = otherFormat(lenBuf.array());
            if (other != null && (n <= 0 || n > size - 8 || n > MAX_HEADER)) {
                throw new SafetensorsException(f + ": " + other + ", not safetensors; convert it with"
                        + " tools/to_safetensors.py (README, \"Weights from PyTorch checkpoints\")");
            }
            if (n == 0) {
                throw new SafetensorsException(f + ": header length is 0 (no JSON header)");
            }
            if (n < 0 || n > size - 8) {
                throw new SafetensorsException(f + ": header length " + Long.toUnsignedString(n)
                        + " does not fit in the file (" + size + " bytes)");
            }
            if (n > MAX_HEADER) {
                throw new SafetensorsException(f + ": header length " + n + " exceeds the 100 MB limit");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readFully(ch, hb, 8);
            String json;
            try {
                json = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(hb.flip()).toString();
            } catch (CharacterCodingException e) {
                throw new SafetensorsException(f + ": header is not valid UTF-8");
            }
            long dataSize = size - 8 - n;
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, Entry> entries = parseHeader(f, json, dataSize, meta);
            return new Safetensors(file, ch, 8 + n, entries, Collections.unmodifiableMap(meta));
        } catch (IOException e) {
            closeQuietly(ch);
            throw new SafetensorsException(f + ": cannot read (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int r = ch.read(b, pos + b.position());
            if (r < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to add to the error already being reported
        }
    }

    private static Map<String, Entry> parseHeader(String f, String json, long dataSize, Map<String, String> meta) {
        JsonNode root;
        try {
            root = HEADER_READER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(f + ": header is not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) {
            throw new SafetensorsException(f + ": header is not a JSON object");
        }
        Map<String, Entry> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) {
                    throw new SafetensorsException(f + ": __metadata__ must be an object of strings");
                }
                for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual()) {
                        throw new SafetensorsException(f + ": __metadata__ value of '" + kv.getKey() + "' is not a string");
                    }
                    meta.put(kv.getKey(), kv.getValue().asText());
                }
                continue;
            }
            String where = f + ": tensor '" + name + "'";
            if (!v.isObject()) {
                throw new SafetensorsException(where + ": entry is not an object");
            }
            JsonNode dt = v.get("dtype");
            JsonNode sh = v.get("shape");
            JsonNode off = v.get("data_offsets");
            if (dt == null || !dt.isTextual()) {
                throw new SafetensorsException(where + ": missing or non-string dtype");
            }
            DType dtype = switch (dt.asText()) {
                case "F32" -> DType.F32;
                case "F16" -> DType.F16;
                case "BF16" -> DType.BF16;
                default -> null;
            };
            // other safetensors dtypes may sit in a file beside the weights (counters, indices): they are
            // listed and validated, and refused only when read
            int elemBytes = dtype != null ? dtype.bytes() : OTHER_DTYPES.getOrDefault(dt.asText(), -1);
            if (elemBytes < 0) {
                throw new SafetensorsException(where + ": unsupported dtype " + dt.asText()
                        + " (F32, F16 and BF16 are supported)");
            }
            if (sh == null || !sh.isArray()) {
                throw new SafetensorsException(where + ": missing or non-array shape");
            }
            int[] shape = new int[sh.size()];
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = sh.get(i);
                if (!isLong(d) || d.asLong() < 0 || d.asLong() > Integer.MAX_VALUE) {
                    throw new SafetensorsException(where + ": invalid dimension " + d + " in shape " + sh);
                }
                shape[i] = (int) d.asLong();
            }
            if (off == null || !off.isArray() || off.size() != 2 || !isLong(off.get(0)) || !isLong(off.get(1))) {
                throw new SafetensorsException(where + ": data_offsets must be [begin, end] (two integers), got "
                        + (off == null ? "nothing" : off.toString()));
            }
            long begin = off.get(0).asLong();
            long end = off.get(1).asLong();
            if (begin < 0 || end < begin) {
                throw new SafetensorsException(where + ": invalid data offsets [" + begin + ", " + end + ")");
            }
            if (end > dataSize) {
                throw new SafetensorsException(where + ": data offsets [" + begin + ", " + end
                        + ") extend past the end of the data section (" + dataSize + " bytes)");
            }
            long expect = byteSize(shape, elemBytes);
            if (expect < 0) {
                throw new SafetensorsException(where + ": shape " + Shapes.str(shape) + " is too large");
            }
            if (end - begin != expect) {
                throw new SafetensorsException(where + ": data offsets [" + begin + ", " + end + ") hold " + (end - begin)
                        + " bytes but " + dt.asText() + " " + Shapes.str(shape) + " needs " + expect);
            }
            out.put(name, new Entry(name, dtype, dt.asText(), shape, begin, end));
        }
        return out;
    }

    /** An integral JSON number that fits in a long. */
    private static boolean isLong(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.canConvertToLong();
    }

    /** Bytes of a tensor, or -1 when the count overflows a long. */
    private static long byteSize(int[] shape, int elemBytes) {
        for (int d : shape) {
            if (d == 0) {
                return 0;
            }
        }
        long n = elemBytes;
        try {
            for (int d : shape) {
                n = Math.multiplyExact(n, (long) d);
            }
        } catch (ArithmeticException e) {
            return -1;
        }
        return n;
    }

    /** The file this reader was opened on. */
    public Path file() {
        return file;
    }

    /** The {@code __metadata__} string pairs, in header order (empty when the file has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return Collections.unmodifiableSet(entries.keySet());
    }

    /** Whether the file holds a tensor of this name. */
    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    /** The header entry of a tensor; a {@link SafetensorsException} naming it when absent. */
    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new SafetensorsException(file + ": no tensor '" + name + "'");
        }
        return e;
    }

    /** A copy of a tensor's shape, outermost dimension first. */
    public int[] shape(String name) {
        return entry(name).shape().clone();
    }

    /** A tensor's storage type (F32, F16 or BF16), or null for another safetensors dtype (see {@link #dtypeName}). */
    public DType dtype(String name) {
        return entry(name).dtype();
    }

    /** A tensor's dtype as the file names it (F32, I64, ...). */
    public String dtypeName(String name) {
        return entry(name).dtypeName();
    }

    /**
     * Reads one tensor as a float32 copy of shape {@link #shape(String)} (F16/BF16 widened exactly).
     *
     * @throws SafetensorsException when there is no such tensor or the file cannot be read
     */
    public HostTensor read(String name) {
        Entry e = entry(name);
        if (e.dtype() == null) {
            throw new SafetensorsException(file + ": tensor '" + name + "': dtype " + e.dtypeName()
                    + " cannot be read as weights (F32, F16 and BF16 are supported)");
        }
        long bytes = e.end() - e.begin();
        if (bytes > Integer.MAX_VALUE) {
            throw new SafetensorsException(file + ": tensor '" + name + "' is larger than 2 GiB");
        }
        float[] out = new float[Math.toIntExact(Shapes.numel(e.shape()))];
        try {
            MappedByteBuffer m = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), bytes);
            m.order(ByteOrder.LITTLE_ENDIAN);
            switch (e.dtype()) {
                case F32 -> m.asFloatBuffer().get(out);
                case F16 -> {
                    for (int i = 0; i < out.length; i++) {
                        out[i] = Half.toFloat(m.getShort(2 * i));
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < out.length; i++) {
                        out[i] = Half.bf16ToFloat(m.getShort(2 * i));
                    }
                }
                default -> throw new SafetensorsException(file + ": tensor '" + name + "': unsupported dtype " + e.dtype());
            }
        } catch (java.nio.channels.ClosedChannelException ex) {
            throw new SafetensorsException(file + ": tensor '" + name + "': cannot read (the file was closed)", ex);
        } catch (IOException ex) {
            throw new SafetensorsException(file + ": tensor '" + name + "': cannot read (" + ex + ")", ex);
        }
        return new HostTensor(out, e.shape().clone());
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    /**
     * Writes tensors (in the map's order, stored contiguously) as F32, F16 or BF16 (narrowed with
     * round-to-nearest-even; values beyond the F16 range become infinities), with optional metadata; the
     * header is padded with spaces to a multiple of 8 bytes.
     *
     * @param tensors   name to tensor, written in iteration order
     * @param metadata  string pairs for {@code __metadata__}; null or empty for none
     * @param storeAs   F32, F16 or BF16
     * @throws SafetensorsException when the file cannot be written
     */
    public static void write(Path file, Map<String, HostTensor> tensors, Map<String, String> metadata, DType storeAs) {
        if (storeAs != DType.F32 && storeAs != DType.F16 && storeAs != DType.BF16) {
            throw new IllegalArgumentException("safetensors: cannot store " + storeAs);
        }
        if (tensors.containsKey("__metadata__")) {
            throw new IllegalArgumentException("safetensors: '__metadata__' is reserved and cannot name a tensor");
        }
        ObjectMapper om = new ObjectMapper();
        ObjectNode header = om.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach((k, v) -> m.put(k, java.util.Objects.requireNonNull(v, "metadata value of " + k)));
        }
        long off = 0;
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", storeAs == DType.F32 ? "F32" : storeAs == DType.F16 ? "F16" : "BF16");
            ArrayNode sh = t.putArray("shape");
            for (int d : e.getValue().shape()) {
                sh.add(d);
            }
            long len = e.getValue().numel() * storeAs.bytes();
            t.putArray("data_offsets").add(off).add(off + len);
            off += len;
        }
        byte[] hjson;
        try {
            hjson = om.writeValueAsBytes(header);
        } catch (JsonProcessingException ex) {
            throw new SafetensorsException(file + ": cannot encode header", ex);
        }
        int padded = (hjson.length + 7) / 8 * 8;
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
                head.putLong(padded).put(hjson);
                while (head.hasRemaining()) {
                    head.put((byte) ' ');
                }
                head.flip();
                while (head.hasRemaining()) {
                    ch.write(head);
                }
                // data in chunks, so that a tensor of any size needs only a small buffer
                ByteBuffer b = ByteBuffer.allocate(WRITE_CHUNK * storeAs.bytes()).order(ByteOrder.LITTLE_ENDIAN);
                for (HostTensor t : tensors.values()) {
                    float[] d = t.data();
                    for (int from = 0; from < d.length; from += WRITE_CHUNK) {
                        int to = Math.min(d.length, from + WRITE_CHUNK);
                        b.clear();
                        for (int i = from; i < to; i++) {
                            switch (storeAs) {
                                case F32 -> b.putFloat(d[i]);
                                case F16 -> b.putShort(Half.fromFloat(d[i]));
                                default -> b.putShort(Half.floatToBf16(d[i]));
                            }
                        }
                        b.flip();
                        while (b.hasRemaining()) {
                            ch.write(b);
                        }
                    }
                }
            }
        } catch (IOException ex) {
            throw new SafetensorsException(file + ": cannot write (" + ex.getMessage() + ")", ex);
        }
    }
}
