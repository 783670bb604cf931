package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.io.Half;
import org.sparsevit.model.CheckpointLayout;
import org.sparsevit.model.CompiledForward;
import org.sparsevit.model.KeptListener.BlockRecord;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinOutput;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.KeptDump;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.Frames.ChannelOrder;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The frames upload on the GPU ({@code svj_frames_to_tensor}) against its CPU twin: F32 bitwise (the kernel divides
 * as the Java expression does, in the same order), F16/BF16 bitwise the CPU's F32 values rounded to nearest even on
 * the host ({@link Half}); odd sizes, batches, both channel orders, direct buffers, other normalisations. And whole
 * models: {@code forward(Frames)} and {@code CompiledForward.run(Frames)} bitwise what the same calls on
 * {@code frames.toHostTensor()} give, eager and as graph replays. No fixtures needed; no AWT (the bundle runs it).
 */
@Tag("gpu")
class CudaFramesTest {
    static final SwinConfig MINI = new SwinConfig(16, new int[]{2, 2, 2, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 0,
            Task.BACKBONE, 224, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);
    static final SwinConfig MINI_CLS = new SwinConfig(16, new int[]{1, 1, 2, 1}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 10,
            Task.CLASSIFICATION, 64, CheckpointLayout.MICROSOFT, MergeOrder.CONCAT, 1e-5f);

    static CpuBackend cpu;
    static CudaBackend gpu;

    @BeforeAll
    static void up() {
        if (CudaBackend.unavailableReason() == null) {
            cpu = new CpuBackend();
            gpu = new CudaBackend();
        }
    }

    @BeforeEach
    void requireGpu() {
        assumeTrue(gpu != null, "no usable GPU: " + CudaBackend.unavailableReason());
    }

    @AfterAll
    static void down() {
        if (gpu != null) {
            gpu.close();
        }
        if (cpu != null) {
            cpu.close();
        }
    }

    /** Random bytes, with every byte value among the first 256 where there is room. */
    static byte[] pixels(long seed, int n) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        for (int i = 0; i < Math.min(256, n); i++) {
            b[i] = (byte) (255 - i);
        }
        return b;
    }

    static HostTensor upload(org.sparsevit.backend.Backend be, Frames f, DType dt) {
        try (Tensor t = be.uploadFrames(f, dt)) {
            assertEquals(dt, t.dtype());
            assertArrayEquals(f.tensorShape(), t.shape());
            return be.download(t);
        }
    }

    static HostTensor rounded(HostTensor h, DType dt) {
        return CudaOpsTest.rounded(h, dt);
    }

    @ParameterizedTest(name = "{0} frames of {2}x{1}")
    @CsvSource({"1, 1, 1", "1, 2, 3", "2, 7, 13", "3, 33, 17", "1, 57, 1", "4, 40, 56", "2, 224, 224", "1, 129, 257"})
    void uploadIsTheCpuTwinBitwise(int b, int h, int w) {
        byte[] px = pixels(b * 7919L + h * 31L + w, b * h * w * 3);
        for (ChannelOrder order : ChannelOrder.values()) {
            Frames f = Frames.of(px, b, h, w, order);
            HostTensor ref = upload(cpu, f, DType.F32);
            assertEquals(f.toHostTensor(), ref, "the CPU twin is the host normalisation");
            for (DType dt : CudaOpsTest.FLOATS) {
                // F32: bitwise the CPU; F16/BF16: bitwise the CPU's values rounded to nearest even on the host
                CudaOpsTest.bitwise(order + " " + dt, new HostTensor[]{rounded(ref, dt), upload(gpu, f, dt)});
            }
        }
    }

    /** Another mean and std (values whose quotients round differently from a reciprocal's product), a direct buffer. */
    @ParameterizedTest
    @EnumSource(ChannelOrder.class)
    void otherNormalisationsAndDirectBuffers(ChannelOrder order) {
        int b = 3;
        int h = 19;
        int w = 23;
        byte[] px = pixels(11, b * h * w * 3);
        float[] mean = {0.3f, -0.7f, 0.1234567f};
        float[] std = {0.1f, 3.3f, 0.017f};
        ByteBuffer direct = ByteBuffer.allocateDirect(px.length + 5);
        direct.position(5);
        direct.put(px);
        direct.position(5);
        for (Frames f : new Frames[]{Frames.of(px, b, h, w, order).withNormalization(mean, std),
                Frames.of(direct, b, h, w, order).withNormalization(mean, std)}) {
            HostTensor ref = upload(cpu, f, DType.F32);
            for (DType dt : CudaOpsTest.FLOATS) {
                CudaOpsTest.bitwise(f + " " + dt, new HostTensor[]{rounded(ref, dt), upload(gpu, f, dt)});
            }
        }
    }

    @Test
    void badCallsAreRefused() {
        Frames f = Frames.of(new byte[12], 1, 2, 2, ChannelOrder.RGB);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.uploadFrames(null, DType.F32));
        assertEquals("uploadFrames: frames must not be null", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> gpu.uploadFrames(f, DType.I32));
        assertEquals("uploadFrames: storage must be F32, F16 or BF16, got I32", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> gpu.uploadFrames(f, null));
        assertEquals("uploadFrames: storage must be F32, F16 or BF16, got null", e.getMessage());
    }

    /** CUDA has its own frame upload (bytes to the device), not the interface's host fallback (floats). */
    @Test
    void framesAreNormalisedOnTheDevice() throws NoSuchMethodException {
        assertEquals(CudaBackend.class, CudaBackend.class.getMethod("uploadFrames", Frames.class, DType.class)
                .getDeclaringClass());
    }

    // ------------------------------------------------------------------------------------- whole models

    /** Features (or logits) of an output, for comparing. */
    static List<HostTensor> values(SwinOutput o) {
        return o.logits() != null ? List.of(o.logits()) : o.features();
    }

    static void assertSameOutputs(String what, SwinOutput want, SwinOutput got) {
        List<HostTensor> a = values(want);
        List<HostTensor> b = values(got);
        assertEquals(a.size(), b.size(), what);
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i).shape(), b.get(i).shape(), what + " output " + i);
            float[] x = a.get(i).data();
            float[] y = b.get(i).data();
            for (int j = 0; j < x.length; j++) {
                if (Float.floatToRawIntBits(x[j]) != Float.floatToRawIntBits(y[j])) {
                    throw new AssertionError(what + " output " + i + ": element " + j + " differs: from the host tensor "
                            + x[j] + ", from the frames " + y[j]);
                }
            }
        }
    }

    /**
     * forward(Frames) and forward(HostTensor of the same frames) on two models of the same weights, call for call: the
     * first calls eager, later ones compiled (graph replays), so each path is compared with itself; dense and pruned,
     * FP32 and FP16 sessions.
     */
    @ParameterizedTest
    @CsvSource({"FP32, dense", "FP32, '0.3,0.3/0.5,0.5/0.5,0.5/0,0'", "FP16, '0.3,0.3/0.5,0.5/0.5,0.5/0,0'",
            "BF16, dense"})
    void forwardOnFramesIsForwardOnTheirHostTensor(Precision p, String sparsity) {
        double[][] r = sparsity.equals("dense") ? null : SparsityConfig.parseCompact(sparsity).ratios();
        Frames f = Frames.of(pixels(21, 2 * 96 * 80 * 3), 2, 96, 80, ChannelOrder.BGR);
        HostTensor x = f.toHostTensor();
        SwinWeights w = SwinWeights.random(MINI, 3);
        try (CudaBackend be = new CudaBackend(p); SwinModel viaHost = new SwinModel(w, be);
             SwinModel viaFrames = new SwinModel(w, be)) {
            for (int call = 0; call < 3; call++) {
                SwinOutput want = viaHost.forward(x, r, PaddingMode.SWIN, null, null);
                SwinOutput got = viaFrames.forward(f, r, PaddingMode.SWIN, null, null);
                assertSameOutputs(p + " " + sparsity + " call " + call, want, got);
            }
            assertEquals(viaHost.compiledPasses(), viaFrames.compiledPasses(), "both compiled their configuration");
            assertEquals(1, viaFrames.compiledPasses());
        }
    }

    /** With a listener (eager, kept lists copied back): the same kept windows as well. */
    @Test
    void prunedForwardWithAListenerKeepsTheSameWindows() {
        double[][] r = SparsityConfig.parseCompact("0.5,0.5/0.25,0.25/0.5,0.5/0,0").ratios();
        Frames f = Frames.of(pixels(22, 96 * 112 * 3), 1, 96, 112, ChannelOrder.RGB);
        try (SwinModel m = new SwinModel(SwinWeights.random(MINI, 4), gpu)) {
            KeptDump a = new KeptDump(7, 1);
            KeptDump b = new KeptDump(7, 1);
            SwinOutput want = m.forward(f.toHostTensor(), r, PaddingMode.SPARSEVIT, a, null);
            SwinOutput got = m.forward(f, r, PaddingMode.SPARSEVIT, b, null);
            assertSameOutputs("pruned with listener", want, got);
            List<BlockRecord> ra = a.records();
            List<BlockRecord> rb = b.records();
            assertEquals(ra.size(), rb.size());
            int pruned = 0;
            for (int i = 0; i < ra.size(); i++) {
                if (ra.get(i).kept() != null) {
                    pruned++;
                    assertArrayEquals(ra.get(i).kept()[0], rb.get(i).kept()[0], "block record " + i);
                }
            }
            assertTrue(pruned > 0, "some blocks pruned");
        }
    }

    /** A compiled pass (a CUDA graph) run on frames and on their host tensor, alternately; a classifier; dense forward. */
    @Test
    void compiledPassRunsFramesAsItRunsTheirHostTensor() {
        int[] shape = {2, 3, 64, 64};
        List<Frames> inputs = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            inputs.add(Frames.of(pixels(30 + i, 2 * 64 * 64 * 3), 2, 64, 64, i == 0 ? ChannelOrder.RGB : ChannelOrder.BGR));
        }
        try (SwinModel m = new SwinModel(SwinWeights.random(MINI_CLS, 5), gpu);
             CompiledForward c = m.compile(shape, null, PaddingMode.SWIN)) {
            assertTrue(c.captured(), c.mode());
            for (int rep = 0; rep < 2; rep++) {
                for (Frames f : inputs) {
                    SwinOutput want = c.run(f.toHostTensor());
                    SwinOutput got = c.run(f);
                    assertSameOutputs("compiled, rep " + rep, want, got);
                    assertArrayEquals(new int[]{2, 10}, got.logits().shape());
                }
            }
            assertSameOutputs("dense forward(Frames)", c.run(inputs.get(1)), m.forward(inputs.get(1)));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> c.run(Frames.of(new byte[64 * 64 * 3], 1, 64, 64, ChannelOrder.RGB)));
            assertTrue(e.getMessage().startsWith("this pass was compiled for input " + Arrays.toString(shape)
                    + ", got [1, 3, 64, 64]"), e.getMessage());
        }
    }
}
