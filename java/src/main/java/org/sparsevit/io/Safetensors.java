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
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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

    /** One tensor's entry in the header. */
    public record Entry(String name, DType dtype, int[] shape, long begin, long end) {
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

    /** Opens and validates a file. */
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
            if (n <= 0 || n > size - 8) {
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
            root = new ObjectMapper().readTree(json);
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
                default -> throw new SafetensorsException(where + ": unsupported dtype " + dt.asText()
                        + " (F32, F16 and BF16 are supported)");
            };
            if (sh == null || !sh.isArray()) {
                throw new SafetensorsException(where + ": missing or non-array shape");
            }
            int[] shape = new int[sh.size()];
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = sh.get(i);
                if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0 || d.asLong() > Integer.MAX_VALUE) {
                    throw new SafetensorsException(where + ": invalid dimension " + d + " in shape " + sh);
                }
                shape[i] = (int) d.asLong();
            }
            if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
                    || !off.get(1).isIntegralNumber()) {
                throw new SafetensorsException(where + ": data_offsets must be [begin, end]");
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
            long expect = Shapes.numel(shape) * dtype.bytes();
            if (end - begin != expect) {
                throw new SafetensorsException(where + ": data offsets [" + begin + ", " + end + ") hold " + (end - begin)
                        + " bytes but " + dt.asText() + " " + Shapes.str(shape) + " needs " + expect);
            }
            out.put(name, new Entry(name, dtype, shape, begin, end));
        }
        return out;
    }

    public Path file() {
        return file;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return Collections.unmodifiableSet(entries.keySet());
    }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new SafetensorsException(file + ": no tensor '" + name + "'");
        }
        return e;
    }

    public int[] shape(String name) {
        return entry(name).shape().clone();
    }

    public DType dtype(String name) {
        return entry(name).dtype();
    }

    /** Reads one tensor as float32 (F16/BF16 widened exactly). */
    public HostTensor read(String name) {
        Entry e = entry(name);
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
        } catch (IOException ex) {
            throw new SafetensorsException(file + ": tensor '" + name + "': cannot read (" + ex.getMessage() + ")", ex);
        }
        return new HostTensor(out, e.shape().clone());
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    /**
     * Writes tensors (in the map's order) as F32, F16 or BF16 (rounded to nearest even), with optional
     * metadata; the header is padded with spaces to a multiple of 8 bytes.
     */
    public static void write(Path file, Map<String, HostTensor> tensors, Map<String, String> metadata, DType storeAs) {
        if (storeAs != DType.F32 && storeAs != DType.F16 && storeAs != DType.BF16) {
            throw new IllegalArgumentException("safetensors: cannot store " + storeAs);
        }
        ObjectMapper om = new ObjectMapper();
        ObjectNode header = om.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
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
                for (HostTensor t : tensors.values()) {
                    ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(t.numel() * storeAs.bytes())).order(ByteOrder.LITTLE_ENDIAN);
                    for (float v : t.data()) {
                        switch (storeAs) {
                            case F32 -> b.putFloat(v);
                            case F16 -> b.putShort(Half.fromFloat(v));
                            default -> b.putShort(Half.floatToBf16(v));
                        }
                    }
                    b.flip();
                    while (b.hasRemaining()) {
                        ch.write(b);
                    }
                }
            }
        } catch (IOException ex) {
            throw new SafetensorsException(file + ": cannot write (" + ex.getMessage() + ")", ex);
        }
    }
}
