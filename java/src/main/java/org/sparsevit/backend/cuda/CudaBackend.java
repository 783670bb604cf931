package org.sparsevit.backend.cuda;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Captured;
import org.sparsevit.backend.MemoryStats;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.backend.Workspace;
import org.sparsevit.backend.WorkspaceArena;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Shapes;
import org.sparsevit.tensor.Tensor;

/**
 * The CUDA backend: our kernels (cuda/, through {@link CudaNative}) for everything but GEMMs, cuBLAS (through
 * the JavaCPP presets, loaded only by this class) for the GEMMs.
 *
 * <p><b>One instance is one session</b>: it owns a CUDA stream, a cuBLAS handle with its own workspace, a
 * workspace arena ({@link #workspace}: per key, one slab planned from the first run's allocations, see
 * {@link WorkspaceArena}) and a size-bucketed pool of device memory for everything allocated outside a
 * workspace scope or escaping it (weights, inputs, outputs). Every op is enqueued on the session's stream
 * without host synchronisation; only {@link #download}, {@link #downloadInts}, uploads and
 * {@link #synchronize} wait. A steady-state forward pass therefore allocates nothing (its temporaries come
 * from its slab, closed outputs go back to the pool, and stream order makes reuse safe; see
 * {@link #memoryStats()}) and can be captured as a CUDA graph ({@link #capture}). Use one instance per
 * thread for passes in parallel; tensors of one session (e.g. shared, immutable weights) may be read by another.
 * Threads that share one session through a model ({@code SwinModel.forward}, {@code CompiledForward.run}) take
 * turns ({@link #exclusive}); its ops called directly must not run on two threads at once.
 *
 * <p>Storage types: F32, F16, BF16 and I32 tensors. All floating tensors of one op share one dtype; math
 * is float32 inside the kernels. The session's {@link Precision} decides what a model stores
 * ({@link #storage()}): F32 for FP32 and TF32, F16 for FP16, BF16 for BF16. GEMMs on F16/BF16 tensors run
 * on tensor cores in their own type with float32 accumulation; on F32 tensors the precision selects the
 * cuBLAS compute type (FP32 exact, or the TF32/FP16/BF16 "fast" modes that round the inputs inside cuBLAS).
 */
public final class CudaBackend implements Backend {
    private static volatile String cachedReason;
    private static volatile boolean probed;

    private static final long CUBLAS_WORKSPACE = 32L << 20;

    private final long stream;
    private final long workspace;
    /** Held by {@link #exclusive}: one caller's whole pass at a time on this session's stream. */
    private final java.util.concurrent.locks.ReentrantLock exclusive = new java.util.concurrent.locks.ReentrantLock();
    private final cublasContext handle;
    private final FloatPointer one;
    private final FloatPointer zero;
    private final Precision precision;
    private final String deviceName;
    /**
     * The system property choosing where linearGelu (the MLP's first layer) runs for F16/BF16: {@code auto} (the
     * default) fuses GEMM, bias and GELU into one kernel for K up to {@link #FUSED_GELU_AUTO_MAX_K}, {@code all} for
     * every K, {@code off} never (cuBLAS, then the bias + GELU pass). See {@link #mlpPath}.
     */
    public static final String FUSED_GELU_PROPERTY = "sparsevit.fusedGelu";
    /**
     * The largest K (the layer's input channels) {@code auto} fuses. An estimate, not yet measured: the fused kernel
     * (mma.sync on 128 x 128 tiles, likely well under the tensor-core throughput cuBLAS reaches on an H100/H200)
     * saves a read and a write of the [M, 4K] output, which is worth more than the slower products while the GEMM is
     * memory-bound (Swin-T's stages 0 and 1, K = 96 and 192). The GPU session's bench compares the settings
     * (bench/bundle/run-gpu.sh).
     */
    static final int FUSED_GELU_AUTO_MAX_K = 256;
    /** The largest K fused by linearGelu (0: never), from {@link #FUSED_GELU_PROPERTY}. */
    private final int fusedGeluMaxK;
    private final java.util.concurrent.atomic.AtomicLong fusedGeluLaunches = new java.util.concurrent.atomic.AtomicLong();
    /** Why the fused fc1 kernel is off for this session after a failed launch, or null. */
    private volatile String fusedGeluFailure;
    /**
     * The system property choosing where {@link #mlpResidual} (a Swin block's norm2 + MLP + residual) runs for
     * F16/BF16 as one kernel: {@code auto} (the default) for C up to {@link #FUSED_MLP_AUTO_MAX_C}, {@code all} for
     * every C the kernel takes (multiples of 32 up to 256, within the device's shared memory), {@code off} never
     * (LayerNorm, linearGelu and linearResidual). See {@link #mlpBlockPath}.
     */
    public static final String FUSED_MLP_PROPERTY = "sparsevit.fusedMlp";
    /**
     * The largest C {@code auto} fuses. An estimate, not yet measured: a review put the first (WMMA) version of the
     * kernel, bound by shared-memory bandwidth (fragment reloads, its epilogue's round trip), ~1.3-1.6x ahead of the
     * unfused path at Swin-T's stage 0 (C = 96) on an H100/H200 but no faster at stage 1 (C = 192). The kernels now
     * run on mma.sync without that round trip (for C <= 96 with the hidden chunk in registers: mlp.cu). The GPU
     * session's bench compares the settings (bench/bundle/run-gpu.sh).
     */
    static final int FUSED_MLP_AUTO_MAX_C = 96;
    /** The largest C fused by mlpResidual (0: never), from {@link #FUSED_MLP_PROPERTY}. */
    private final int fusedMlpMaxC;
    /**
     * The system property setting the fewest CTAs (blocks of 128 rows for C <= 96, 64 above) a fused mlpResidual
     * must have; default: the device's multiprocessor count. Each CTA streams the whole hidden dimension through
     * in turn, so on fewer rows (Swin-T at batch 1: 25 CTAs at stage 0, 13 at stage 1) most of the GPU idles and
     * the three ops, each spread over the whole GPU, are expected to be faster.
     */
    public static final String FUSED_MLP_MIN_CTAS_PROPERTY = "sparsevit.fusedMlpMinCtas";
    private final int fusedMlpMinCtas;
    /** The shared memory a block may opt in to on this session's device (the fused MLP's limit). */
    private final int smemOptin;
    /** svj_mlp_block's shared memory by C / 32 (0: not asked yet). */
    private final long[] mlpSmem = new long[9];
    private final java.util.concurrent.atomic.AtomicLong fusedMlpLaunches = new java.util.concurrent.atomic.AtomicLong();
    /** Why the fused MLP kernel is off for this session after a failed launch, or null. */
    private volatile String fusedMlpFailure;
    /** Bias-epilogue GEMMs; null when off ({@code sparsevit.cublaslt=false}) or not set up here (see ltOff). */
    private LtGemm lt;
    private String ltOff;
    /** Linear-layer shapes cuBLASLt cannot run here (shape -> status): cublasGemmEx + the bias kernel for those. */
    private final Map<String, String> ltUnsupported = new LinkedHashMap<>();
    /** Shapes first met inside a capture: that graph runs them on cublasGemmEx + the bias kernel. */
    private final List<String> ltCapturedUnplanned = new ArrayList<>();
    /** Shapes on which cuBLASLt failed once without refusing the shape (logged once each). */
    private final Map<String, String> ltFailedOnce = new LinkedHashMap<>();
    private final Map<Integer, ArrayDeque<Long>> pool = new HashMap<>();
    private long pooledBytes;
    private boolean closed;
    /** close() has begun (the arena is being closed outside this session's lock). */
    private boolean closing;
    /** While a graph is being captured: blocks released during capture stay with the graph. */
    private List<long[]> captureHeld;
    /** The thread capturing a graph on this session's stream, or null: other threads' work is refused meanwhile. */
    private volatile Thread capturing;
    /** Workspace slabs (device addresses) planned per key; it also keeps the session's memory counters. */
    private final WorkspaceArena<Long> arena = new WorkspaceArena<>("cuda", new WorkspaceArena.SlabMemory<>() {
        @Override
        public Long allocate(long bytes) {
            return mallocSlab(bytes);
        }

        @Override
        public void free(Long slab, long bytes) {
            freeSlab(slab);
        }
    });
    /** Slabs given up while a capture was running (freeing synchronises): freed when the capture ends. */
    private final List<long[]> deferredFrees = new ArrayList<>();

    /** Wraps a raw device address for the presets' pointer-typed parameters (no ownership, no deallocator). */
    private static final class Address extends Pointer {
        Address(long a) {
            address = a;
        }
    }

    // ------------------------------------------------------------------------------------- availability

    /**
     * Why the CUDA backend cannot be used here, or null when it can: e.g. "native library not built (nvcc was
     * not available at build time)", "no NVIDIA driver (...)", "no CUDA device". Never throws; cached.
     */
    public static String unavailableReason() {
        if (!probed) {
            synchronized (CudaBackend.class) {
                if (!probed) {
                    cachedReason = probe();
                    probed = true;
                }
            }
        }
        return cachedReason;
    }

    private static String probe() {
        try {
            if (CudaNative.class.getResource("linux-x86_64/libjniCudaNative.so") == null
                    && CudaNative.loadError() != null) {
                return "native library not built (nvcc was not available at build time)";
            }
            Throwable err = CudaNative.loadError();
            if (err != null) {
                return "native library failed to load: " + err;
            }
            int[] n = new int[1];
            int rc = CudaNative.svj_device_count(n);
            // cudaErrorInsufficientDriver (35), cudaErrorStubLibrary (34), cudaErrorCallRequiresNewerDriver (36)
            if (rc == 35 || rc == 34 || rc == 36) {
                int[] drv = new int[1];
                CudaNative.svj_driver_version(drv);
                return drv[0] == 0
                        ? "no NVIDIA driver (libcuda.so.1 not found: " + errorString(rc) + ")"
                        : "no usable NVIDIA driver (it supports CUDA " + drv[0] / 1000 + "." + drv[0] % 1000 / 10
                        + ", the CUDA 13 runtime needs a newer one: " + errorString(rc) + ")";
            }
            if (rc == 100) {
                return "no CUDA device (" + errorString(rc) + ")";
            }
            if (rc != 0) {
                return "no usable NVIDIA driver or device (" + errorString(rc) + ")";
            }
            if (n[0] == 0) {
                return "no CUDA device";
            }
            int set = CudaNative.svj_set_device(0);
            if (set != 0) {
                return "CUDA device 0 cannot be used (" + errorString(set) + ")";
            }
            int image = CudaNative.svj_kernel_image_check();
            if (image != 0) {
                int[] major = new int[1];
                int[] minor = new int[1];
                byte[] name = new byte[256];
                boolean known = CudaNative.svj_device_capability(0, major, minor) == 0;
                CudaNative.svj_device_name(0, name, name.length);
                return deviceUnsupported(cString(name), known ? major[0] : -1, minor[0], errorString(image));
            }
            try {
                Loader.load(cublas.class);
            } catch (Throwable t) {
                return "cuBLAS could not be loaded (libcublas.so.13 from the CUDA 13 libraries is needed): " + t;
            }
            return null;
        } catch (Throwable t) {
            return "native library failed to load (CUDA initialisation failed: " + t + ")";
        }
    }

    /**
     * Why device 0 cannot run the kernels: they are built for compute capability 8.0 to 9.0 (sm_80, 86, 89, 90) and,
     * as PTX, for newer devices; older ones (Turing, e.g. a T4, is 7.5) have no binary to run. major is -1 when the
     * capability could not be read.
     */
    static String deviceUnsupported(String name, int major, int minor, String error) {
        String cc = major < 0 ? "" : ", compute capability " + major + "." + minor;
        return "CUDA device 0 (" + (name.isEmpty() ? "unnamed" : name) + cc + ") cannot run this library's kernels ("
                + error + "): they are built for compute capability 8.0 and newer (Ampere, Ada, Hopper and later)";
    }

    /** A NUL-terminated byte string from the native side. */
    static String cString(byte[] b) {
        int len = 0;
        while (len < b.length && b[len] != 0) {
            len++;
        }
        return new String(b, 0, len, StandardCharsets.UTF_8);
    }

    static String errorString(int rc) {
        try {
            return CudaNative.svj_error_string(rc).getString() + " (code " + rc + ")";
        } catch (Throwable t) {
            return "error code " + rc;
        }
    }

    /** Throws the failure of {@code op} with the native detail (which entry, which argument) and CUDA's text. */
    /** The native side's detail line of this thread's last failure, or "" (also when it cannot be read). */
    private static String lastErrorDetail() {
        try {
            return CudaNative.svj_last_error_string().getString();
        } catch (Throwable t) {
            return "";
        }
    }

    private static void check(int rc, String op) {
        if (rc != 0) {
            String detail = lastErrorDetail();
            throw new SparseVitException(failure(rc, "CUDA " + op + " failed: " + errorString(rc)
                    + (detail.isEmpty() ? "" : " [" + detail + "]")));
        }
    }

    private static void checkBlas(int rc, String op) {
        if (rc != 0) {
            String fault = firstFault;
            throw new SparseVitException("cuBLAS " + op + " failed with status " + blasStatus(rc)
                    + (fault == null ? "" : "; the device faulted earlier in this process (" + fault + ")"));
        }
    }

    /**
     * cudaError_t codes that leave the process's CUDA context unusable (driver_types.h: "any further CUDA work will
     * return the same error"): an illegal or misaligned address, an illegal instruction or program counter, a
     * hardware stack error, a device assert, a timeout or other failure of a running kernel.
     */
    private static final Set<Integer> STICKY = Set.of(700, 702, 710, 714, 715, 716, 717, 718, 719);

    /** The message of the first sticky error this process met, or null. */
    private static volatile String firstFault;

    /**
     * The message for a failed CUDA call. A sticky error is reported by whichever call comes after the faulting
     * kernel, usually not that kernel's own op, and every later call in the process fails the same way; the message
     * says so, names the first call that reported it, and how to find the kernel.
     */
    static String failure(int rc, String message) {
        if (!isSticky(rc)) {
            return message;
        }
        String first;
        synchronized (CudaBackend.class) {
            if (firstFault == null) {
                firstFault = message;
            }
            first = firstFault;
        }
        return stickyFailure(message, first);
    }

    static boolean isSticky(int rc) {
        return STICKY.contains(rc);
    }

    /** {@code message} of a sticky error, with the process's first one ({@code first}, maybe the same). */
    static String stickyFailure(String message, String first) {
        return message + "; the device faulted in a kernel enqueued before this call (this error is sticky: every"
                + " later CUDA call in this process fails with it"
                + (first.equals(message) ? "" : "; first reported as: " + first)
                + "); CUDA_LAUNCH_BLOCKING=1 or compute-sanitizer names the kernel";
    }

    /** A cuBLAS status as "number (CUBLAS_STATUS_NAME)", the names of cublas_api.h. */
    static String blasStatus(int rc) {
        String name = switch (rc) {
            case 0 -> "SUCCESS";
            case 1 -> "NOT_INITIALIZED";
            case 3 -> "ALLOC_FAILED";
            case 7 -> "INVALID_VALUE";
            case 8 -> "ARCH_MISMATCH";
            case 11 -> "MAPPING_ERROR";
            case 13 -> "EXECUTION_FAILED";
            case 14 -> "INTERNAL_ERROR";
            case 15 -> "NOT_SUPPORTED";
            case 16 -> "LICENSE_ERROR";
            default -> null;
        };
        return name == null ? Integer.toString(rc) : rc + " (CUBLAS_STATUS_" + name + ")";
    }

    // ------------------------------------------------------------------------------------- lifecycle

    /** A session on device 0 computing GEMMs in FP32. */
    public CudaBackend() {
        this(Precision.FP32);
    }

    /** A session on device 0 with the given GEMM precision (see the class comment). */
    public CudaBackend(Precision precision) {
        String why = unavailableReason();
        if (why != null) {
            throw new SparseVitException("CUDA backend unavailable: " + why);
        }
        this.precision = precision;
        this.fusedGeluMaxK = fusedGeluMaxK(System.getProperty(FUSED_GELU_PROPERTY));
        this.fusedMlpMaxC = fusedMlpMaxC(System.getProperty(FUSED_MLP_PROPERTY));
        check(CudaNative.svj_set_device(0), "cudaSetDevice");
        int[] optin = new int[1];
        check(CudaNative.svj_device_smem_optin(0, optin), "cudaDeviceGetAttribute (shared memory per block)");
        this.smemOptin = optin[0];
        int[] sms = new int[1];
        check(CudaNative.svj_device_sm_count(0, sms), "cudaDeviceGetAttribute (multiprocessors)");
        this.fusedMlpMinCtas = positiveInt(FUSED_MLP_MIN_CTAS_PROPERTY, sms[0]);
        byte[] name = new byte[256];
        check(CudaNative.svj_device_name(0, name, name.length), "cudaGetDeviceProperties");
        this.deviceName = cString(name);
        long[] s = new long[1];
        check(CudaNative.svj_stream_create(s), "cudaStreamCreate");
        this.stream = s[0];
        long[] ws = new long[1];
        cublasContext h = new cublasContext();
        try {
            // creating and destroying a handle may synchronise the device: not during another thread's capture
            checkBlas(DeviceGate.synchronising("cublasCreate", () -> cublas.cublasCreate_v2(h)), "cublasCreate");
            // the stream first: cublasSetStream puts the handle back on cuBLAS's default workspace
            checkBlas(cublas.cublasSetStream_v2(h, new CUstream_st(new Address(stream))), "cublasSetStream");
            checkBlas(cublas.cublasSetMathMode(h, cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            // a workspace of our own, so cuBLAS never allocates (required inside CUDA-graph capture)
            check(CudaNative.svj_malloc(ws, CUBLAS_WORKSPACE), "cuBLAS workspace");
            checkBlas(cublas.cublasSetWorkspace_v2(h, new Address(ws[0]), CUBLAS_WORKSPACE), "cublasSetWorkspace");
        } catch (RuntimeException | LinkageError e) {
            DeviceGate.synchronising("closing a failed CUDA session", () -> {
                if (!h.isNull()) {
                    cublas.cublasDestroy_v2(h);
                }
                return ws[0] == 0 ? 0 : CudaNative.svj_free(ws[0]);
            });
            CudaNative.svj_stream_destroy(stream);
            throw e;
        }
        this.handle = h;
        this.workspace = ws[0];
        // host scalars for the GEMMs, allocated once (cuBLAS reads them when the call is enqueued)
        this.one = new FloatPointer(1f);
        this.zero = new FloatPointer(0f);
        if ("false".equalsIgnoreCase(System.getProperty("sparsevit.cublaslt", "true"))) {
            ltOff = "off (sparsevit.cublaslt=false)";
        } else {
            String[] ltWhy = new String[1];
            try {
                lt = LtGemm.create(workspace, CUBLAS_WORKSPACE, new CUstream_st(new Address(stream)), ltWhy);
            } catch (Throwable t) {
                ltWhy[0] = "cuBLASLt could not be loaded: " + t;
            }
            if (lt == null) {
                ltOff = ltWhy[0];
            }
        }
    }

    /** {@link #FUSED_GELU_PROPERTY}'s value (null: auto) as the largest K to fuse; anything else is an error. */
    static int fusedGeluMaxK(String value) {
        String v = value == null ? "auto" : value.trim().toLowerCase(java.util.Locale.ROOT);
        return switch (v) {
            case "auto" -> FUSED_GELU_AUTO_MAX_K;
            case "all" -> Integer.MAX_VALUE;
            case "off" -> 0;
            default -> throw new IllegalArgumentException("system property " + FUSED_GELU_PROPERTY + "='" + value
                    + "' is not auto, all or off");
        };
    }

    /** A system property's positive integer value, or the default when it is unset; anything else is an error. */
    static int positiveInt(String property, int otherwise) {
        String v = System.getProperty(property);
        if (v == null) {
            return otherwise;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("system property " + property + "='" + v + "' is not a positive integer");
    }

    /** {@link #FUSED_MLP_PROPERTY}'s value (null: auto) as the largest C to fuse; anything else is an error. */
    static int fusedMlpMaxC(String value) {
        String v = value == null ? "auto" : value.trim().toLowerCase(java.util.Locale.ROOT);
        return switch (v) {
            case "auto" -> FUSED_MLP_AUTO_MAX_C;
            case "all" -> Integer.MAX_VALUE;
            case "off" -> 0;
            default -> throw new IllegalArgumentException("system property " + FUSED_MLP_PROPERTY + "='" + value
                    + "' is not auto, all or off");
        };
    }

    /**
     * How a block's norm2 + MLP + residual ({@link #mlpResidual}) runs for F16/BF16 tensors: "fused LayerNorm + MLP
     * kernel for C <= 96 (multiples of 32) on at least 132 CTAs of rows, LayerNorm, linearGelu, linearResidual
     * otherwise (sparsevit.fusedMlp=auto)" (with =all, up to the largest C the kernel and the device take),
     * "LayerNorm, linearGelu, linearResidual (sparsevit.fusedMlp=off)", or the reason the kernel failed to launch.
     * Where it is not fused, fc1 runs as {@link #mlpPath} says.
     */
    public String mlpBlockPath() {
        String unfused = "LayerNorm, linearGelu, linearResidual";
        if (fusedMlpFailure != null) {
            return unfused + " (the fused kernel failed to launch: " + fusedMlpFailure + ")";
        }
        String setting = " (" + FUSED_MLP_PROPERTY + "=" + (fusedMlpMaxC == 0 ? "off"
                : fusedMlpMaxC == FUSED_MLP_AUTO_MAX_C ? "auto" : "all") + ")";
        if (fusedMlpMaxC == 0) {
            return unfused + setting;
        }
        int max = 0;
        for (int c = 32; c <= 256; c += 32) {
            if (mlpResidualFused(DType.F16, (long) fusedMlpMinCtas * 128, c, 4 * c)) {
                max = c;
            }
        }
        return (max == 0 ? unfused + " (the fused kernel needs more shared memory than the device's " + smemOptin
                + " bytes)" : "fused LayerNorm + MLP kernel for C <= " + max + " (multiples of 32) on at least "
                + fusedMlpMinCtas + " CTAs of rows, " + unfused + " otherwise") + setting;
    }

    /**
     * How the MLP's first layer (linear + bias + GELU) runs for F16/BF16 tensors: "fused GEMM + bias + GELU kernel
     * for K <= 256, cuBLAS + bias/GELU pass above (sparsevit.fusedGelu=auto)", "... for every K (...=all)" or
     * "cuBLAS + bias/GELU pass (...=off)", or the reason the kernel failed to launch. FP32 tensors always take
     * cuBLAS; so do shapes the kernel cannot take (N or K not a multiple of 8, tensors not 16-byte aligned).
     */
    public String mlpPath() {
        String fused = "fused GEMM + bias + GELU kernel";
        if (fusedGeluFailure != null) {
            return "cuBLAS + bias/GELU pass (the fused kernel failed to launch: " + fusedGeluFailure + ")";
        }
        if (fusedGeluMaxK == 0) {
            return "cuBLAS + bias/GELU pass (" + FUSED_GELU_PROPERTY + "=off)";
        }
        if (fusedGeluMaxK == Integer.MAX_VALUE) {
            return fused + " for every K (" + FUSED_GELU_PROPERTY + "=all)";
        }
        return fused + " for K <= " + fusedGeluMaxK + ", cuBLAS + bias/GELU pass above (" + FUSED_GELU_PROPERTY
                + "=auto)";
    }

    /**
     * How linear layers with a bias run: "cuBLASLt bias epilogue", "cublasGemmEx + bias kernel (reason)" when
     * cuBLASLt is off or could not be set up, or the former with the shapes cuBLASLt could not run, which take
     * the GemmEx path (from their first call on, so every pass of one shape runs the same kernels), the shapes first
     * met inside a capture (that graph runs them on the GemmEx path), and the shapes on which it failed once
     * without refusing them (those calls took the GemmEx path).
     */
    public synchronized String gemmPath() {
        if (lt == null) {
            return "cublasGemmEx + bias kernel (" + ltOff + ")";
        }
        StringBuilder sb = new StringBuilder("cuBLASLt bias epilogue");
        if (!ltUnsupported.isEmpty()) {
            Map.Entry<String, String> first = ltUnsupported.entrySet().iterator().next();
            sb.append("; cublasGemmEx + bias kernel for ").append(ltUnsupported.size()).append(" shape(s) cuBLASLt")
                    .append(" cannot run (first: ").append(first.getKey()).append(", ").append(first.getValue())
                    .append(")");
        }
        if (!ltCapturedUnplanned.isEmpty()) {
            sb.append("; cublasGemmEx + bias kernel in the graphs that captured ").append(ltCapturedUnplanned.size())
                    .append(" shape(s) before any eager call had planned them (first: ")
                    .append(ltCapturedUnplanned.get(0)).append(")");
        }
        if (!ltFailedOnce.isEmpty()) {
            Map.Entry<String, String> first = ltFailedOnce.entrySet().iterator().next();
            sb.append("; cuBLASLt failed on calls of ").append(ltFailedOnce.size()).append(" shape(s), which took")
                    .append(" cublasGemmEx + bias kernel (first: ").append(first.getKey()).append(", ")
                    .append(first.getValue()).append(")");
        }
        return sb.toString();
    }

    /** Notes a shape first met inside a capture (the captured graph runs it on cublasGemmEx + the bias kernel). */
    private synchronized void ltCapturedUnplanned(String shape) {
        if (!ltCapturedUnplanned.contains(shape)) {
            ltCapturedUnplanned.add(shape);
        }
    }

    /**
     * Notes a cuBLASLt failure: a shape it refuses ({@code forGood}) runs on cublasGemmEx + the bias kernel from
     * now on, and {@link #gemmPath} lists it; another failure (of the moment) sends only this call there. Each is
     * logged once per shape.
     */
    private synchronized void ltCannotRun(String shape, int status, boolean forGood) {
        if (ltUnsupported.containsKey(shape)) {
            return; // refused before (the plan keeps the refusal): nothing new, in capture or not
        }
        if (forGood) {
            if (ltUnsupported.put(shape, "cuBLASLt status " + blasStatus(status)) == null) {
                System.err.println("sparsevit: cuBLASLt cannot run " + shape + " (status " + blasStatus(status)
                        + "): cublasGemmEx + the bias kernel for this shape");
            }
        } else if (ltFailedOnce.putIfAbsent(shape, "cuBLASLt status " + blasStatus(status)) == null) {
            System.err.println("sparsevit: cuBLASLt failed on " + shape + " (status " + blasStatus(status)
                    + "): cublasGemmEx + the bias kernel for this call; cuBLASLt is tried again on the next");
        }
    }

    @Override
    public Precision precision() {
        return precision;
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String device() {
        return deviceName;
    }

    /** Driver and runtime versions, e.g. "driver 13000, runtime 13000". Never throws. */
    public static String versions() {
        try {
            int[] d = new int[1];
            int[] r = new int[1];
            CudaNative.svj_driver_version(d);
            CudaNative.svj_runtime_version(r);
            return "driver " + d[0] + ", runtime " + r[0];
        } catch (Throwable t) {
            return "unknown (" + t + ")";
        }
    }

    /** Free and total device memory in bytes. */
    public long[] deviceMemory() {
        long[] f = new long[1];
        long[] t = new long[1];
        check(CudaNative.svj_device_memory(f, t), "cudaMemGetInfo");
        return new long[]{f[0], t[0]};
    }

    /** Bytes of device memory parked in this session's pool (free for reuse). */
    public synchronized long pooledBytes() {
        return pooledBytes;
    }

    @Override
    public boolean supports(DType dtype) {
        return true;
    }

    /** F16 for {@link Precision#FP16}, BF16 for {@link Precision#BF16}, else F32 (TF32 stores F32). */
    @Override
    public DType storage() {
        return switch (precision) {
            case FP16 -> DType.F16;
            case BF16 -> DType.BF16;
            default -> DType.F32;
        };
    }

    @Override
    public void close() {
        // a pass another thread runs on this session (in exclusive) ends before the session goes
        exclusive.lock();
        try {
            closeSession();
        } finally {
            exclusive.unlock();
        }
    }

    private void closeSession() {
        synchronized (this) {
            if (closed || closing) {
                return;
            }
            closing = true;
            CudaNative.svj_stream_synchronize(stream);
            trim();
        }
        // outside this session's lock: the arena takes its own lock and then calls into the session to free slabs,
        // as a tensor closed on another thread does; holding ours here would take the two in the opposite order.
        // Slabs still held by graphs are freed when the graphs close.
        arena.close();
        synchronized (this) {
            closed = true;
            if (lt != null) {
                lt.close();
            }
            lt = null;
            DeviceGate.synchronising("closing a CUDA session", () -> {
                int rc = cublas.cublasDestroy_v2(handle);
                if (rc != 0) {
                    System.err.println("sparsevit: cublasDestroy failed with status " + blasStatus(rc));
                }
                freed(CudaNative.svj_free(workspace), "cudaFree of the cuBLAS workspace");
                return 0;
            });
            one.close();
            zero.close();
            CudaNative.svj_stream_destroy(stream);
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("CUDA backend session is closed");
        }
    }

    // ------------------------------------------------------------------------------------- memory pool

    /** Power-of-two bucket (log2 of the block size) for a request, at least 256 bytes. */
    private static int bucket(long bytes) {
        return Math.max(8, 64 - Long.numberOfLeadingZeros(Math.max(1, bytes - 1)));
    }

    synchronized long acquire(long bytes, int bucket) {
        ensureOpen();
        ArrayDeque<Long> q = pool.get(bucket);
        if (q != null && !q.isEmpty()) {
            pooledBytes -= 1L << bucket;
            return q.pop();
        }
        long p = malloc(1L << bucket, "allocation of " + bytes + " bytes");
        arena.deviceAllocated(1L << bucket);
        return p;
    }

    /** cudaMalloc, retried once after emptying the pool (not while capturing: that would synchronise). */
    private synchronized long malloc(long bytes, String what) {
        long[] p = new long[1];
        int rc = CudaNative.svj_malloc(p, bytes);
        if (rc != 0 && captureHeld == null) {
            trim();
            rc = CudaNative.svj_malloc(p, bytes);
        }
        if (rc != 0) {
            check(rc, what + " (out of device memory?)");
        }
        return p[0];
    }

    private synchronized long mallocSlab(long bytes) {
        ensureOpen();
        return malloc(bytes, "workspace slab of " + bytes + " bytes");
    }

    private synchronized void freeSlab(long address) {
        if (closed) {
            free(address);
        } else if (captureHeld != null) {
            deferredFrees.add(new long[]{address});
        } else {
            CudaNative.svj_stream_synchronize(stream); // queued work may still use it
            free(address);
        }
    }

    /** cudaFree, which synchronises the device: never during a capture on another thread (see DeviceGate). */
    private static void free(long address) {
        if (address != 0) {
            freed(DeviceGate.synchronising("cudaFree", () -> CudaNative.svj_free(address)), "cudaFree");
        }
    }

    /** Logs a failed free or teardown (nothing else can be done about it; the memory may be lost). */
    private static void freed(int rc, String what) {
        if (rc != 0) {
            System.err.println("sparsevit: " + what + " failed: " + errorString(rc) + " (device memory may be lost)");
        }
    }

    synchronized void release(long address, int bucket) {
        if (closed) {
            free(address);
            arena.deviceFreed(1L << bucket);
            return;
        }
        if (captureHeld != null) {
            // the captured graph keeps using this memory on every replay: it must not be handed out again
            captureHeld.add(new long[]{address, bucket});
            return;
        }
        pool.computeIfAbsent(bucket, k -> new ArrayDeque<>()).push(address);
        pooledBytes += 1L << bucket;
    }

    private synchronized void trim() {
        CudaNative.svj_stream_synchronize(stream);
        DeviceGate.synchronising("freeing the pool", () -> {
            for (ArrayDeque<Long> q : pool.values()) {
                for (long a : q) {
                    freed(CudaNative.svj_free(a), "cudaFree");
                }
            }
            return 0;
        });
        pool.clear();
        arena.deviceFreed(pooledBytes);
        pooledBytes = 0;
    }

    // ------------------------------------------------------------------------------------- workspaces

    /**
     * A workspace scope for {@code key} (with this session's precision added to it): the first run records its
     * allocations and plans one slab, later runs take their temporaries from it with no cudaMalloc; tensors that
     * escape the scope come from the pool. See {@link WorkspaceArena} for the rules.
     */
    @Override
    public Workspace workspace(Object key) {
        ensureOpen();
        return arena.open(List.of(precision, key));
    }

    /** The session's arena: its plans, capacity and where its notes go. */
    public WorkspaceArena<Long> workspaces() {
        return arena;
    }

    /** Device allocations, bytes in use and in slabs, peak (cumulative for this session). */
    @Override
    public MemoryStats memoryStats() {
        return arena.stats();
    }

    // ------------------------------------------------------------------------------------- tensors

    @Override
    public Tensor empty(DType dtype, int... shape) {
        notCapturedElsewhere("allocate");
        long bytes = Math.max(4, Shapes.numel(shape) * dtype.bytes());
        WorkspaceArena<Long>.Grant g = arena.request(bytes);
        if (g != null && g.slab() != null) {
            return new CudaTensor(this, g.slab() + g.offset(), -1, g, dtype, shape);
        }
        int b = bucket(bytes);
        return new CudaTensor(this, acquire(bytes, b), b, g, dtype, shape);
    }

    @Override
    public Tensor zeros(DType dtype, int... shape) {
        CudaTensor t = (CudaTensor) empty(dtype, shape);
        check(CudaNative.svj_memset(t.ptr(), 0, t.bytes(), stream), "memset");
        return t;
    }

    @Override
    public Tensor upload(HostTensor host) {
        return upload(host, DType.F32);
    }

    /**
     * Uploads host values into a tensor of the storage dtype. F16/BF16 are copied as float32 and rounded to
     * nearest even on the device (a cast kernel on this stream): converting on the host cost tens of
     * milliseconds per batch of images (57 ms for 64x3x224x224 on a 2-core host), more than the pass itself.
     */
    @Override
    public Tensor upload(HostTensor host, DType storage) {
        if (storage == DType.I32) {
            throw new IllegalArgumentException("upload: use uploadInts for I32 tensors");
        }
        CudaTensor t = (CudaTensor) empty(storage, host.shape());
        float[] v = host.data();
        try {
            if (storage == DType.F32) {
                toDevice(t.ptr(), v, 0, t.bytes(), "upload");
            } else {
                // float32 pieces through a small scratch, each rounded into place by the cast kernel
                withScratch("upload", (scratch, chunk) -> {
                    for (long e = 0; e < v.length; e += chunk) {
                        long n = Math.min(chunk, v.length - e);
                        toDevice(scratch, v, 4 * e, 4 * n, "upload"); // (waits for the previous piece's cast)
                        check(CudaNative.svj_cast(scratch, CudaNative.F32, t.ptr() + e * storage.bytes(),
                                code(storage), n, stream), "upload");
                    }
                    // complete on return, as an F32 upload is: other sessions' streams may read it at once (weights)
                    check(CudaNative.svj_stream_synchronize(stream), "upload");
                });
            }
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    @Override
    public Tensor uploadInts(int[] values, int... shape) {
        if (Shapes.numel(shape) != values.length) {
            throw new IllegalArgumentException("uploadInts: " + values.length + " values for shape " + Arrays.toString(shape));
        }
        CudaTensor t = (CudaTensor) empty(DType.I32, shape);
        try {
            inPieces("upload", t.bytes(), (off, n) -> CudaNative.svj_memcpy_h2d_part(t.ptr() + off, values, off, n,
                    stream));
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    /**
     * Bytes per copy between a Java array and the device. Each piece runs in a JNI critical region (the array used
     * in place, no native copy of it), during which the JVM cannot collect garbage: pieces keep that wait short
     * (about a millisecond) for the other threads of a busy server. F16/BF16 transfers also convert through a
     * scratch of this size, so they need no float32 copy of the whole tensor on the device.
     */
    static final long COPY_CHUNK = 8L << 20;

    /**
     * Java array bytes [hostOffset, hostOffset + bytes) to the device at {@code dst}, in pieces, after the work
     * queued on the stream (outside the critical region, so the region lasts as long as the transfer only).
     */
    private void toDevice(long dst, float[] src, long hostOffset, long bytes, String op) {
        inPieces(op, bytes, (off, n) -> CudaNative.svj_memcpy_h2d_part(dst + off, src, hostOffset + off, n, stream));
    }

    /** The device's bytes at {@code src} into Java array bytes [hostOffset, hostOffset + bytes), as toDevice. */
    private void toHost(float[] dst, long hostOffset, long src, long bytes, String op) {
        inPieces(op, bytes, (off, n) -> CudaNative.svj_memcpy_d2h_part(dst, hostOffset + off, src + off, n, stream));
    }

    @FunctionalInterface
    private interface Piece {
        /** Copies bytes [off, off + n) of a transfer; a CUDA status. */
        int copy(long off, long n);
    }

    /**
     * A transfer of {@code bytes} between a Java array and the device in {@link #COPY_CHUNK} pieces, after the work
     * queued on the stream (waited for outside the critical regions the pieces run in).
     */
    private void inPieces(String op, long bytes, Piece piece) {
        check(CudaNative.svj_stream_synchronize(stream), op);
        for (long off = 0; off < bytes; off += COPY_CHUNK) {
            check(piece.copy(off, Math.min(COPY_CHUNK, bytes - off)), op);
        }
    }

    @FunctionalInterface
    private interface ScratchUse {
        /** Works with a device scratch of {@code chunk} float32 values. */
        void run(long scratch, long chunk);
    }

    /**
     * A float32 scratch of {@link #COPY_CHUNK} bytes from the session's pool, not from a workspace plan (a transfer
     * during a pass, e.g. an observer's download, is not part of the pass), returned when {@code use} ends (after
     * a stream synchronisation in every use, so it is free again).
     */
    private void withScratch(String op, ScratchUse use) {
        int b = bucket(COPY_CHUNK);
        long scratch;
        try {
            scratch = acquire(COPY_CHUNK, b);
        } catch (SparseVitException e) { // (a closed session says so itself)
            throw new SparseVitException(op + ": no device memory for the " + (COPY_CHUNK >> 20)
                    + " MiB scratch that converts to or from F16/BF16: " + e.getMessage(), e);
        }
        try {
            use.run(scratch, COPY_CHUNK / 4);
        } finally {
            release(scratch, b);
        }
    }

    /**
     * Copies the frames' bytes to the device (a quarter of the float32 input's bytes, into pool memory of that size:
     * not part of a pass's workspace plan) and normalises them there ({@code svj_frames_to_tensor}): F32 bitwise
     * what the CPU computes, F16/BF16 its values rounded to nearest even. A byte[] is copied in place, in pieces
     * ({@link #COPY_CHUNK}), as {@link #upload}'s arrays are. Complete on return, as {@link #upload} is.
     */
    @Override
    public Tensor uploadFrames(Frames frames, DType storage) {
        if (frames == null) {
            throw new IllegalArgumentException("uploadFrames: frames must not be null");
        }
        if (storage == null || storage == DType.I32) {
            throw new IllegalArgumentException("uploadFrames: storage must be F32, F16 or BF16, got " + storage);
        }
        notCapturedElsewhere("uploadFrames");
        long bytes = frames.byteCount();
        CudaTensor out = (CudaTensor) empty(storage, frames.tensorShape());
        int b = bucket(bytes);
        long raw;
        try {
            raw = acquire(bytes, b);
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        try {
            java.nio.ByteBuffer px = frames.pixels();
            if (px.hasArray()) {
                // the whole array (Frames keeps only whole arrays), used in place piece by piece
                byte[] a = px.array();
                inPieces("uploadFrames (copy)", bytes, (off, n) -> CudaNative.svj_memcpy_h2d_part(raw + off, a, off, n,
                        stream));
            } else {
                try (org.bytedeco.javacpp.BytePointer p = new org.bytedeco.javacpp.BytePointer(px)) {
                    check(CudaNative.svj_memcpy_h2d(raw, p.address() + p.position(), bytes, stream),
                            "uploadFrames (copy)");
                } finally {
                    java.lang.ref.Reference.reachabilityFence(px);
                }
            }
            float[] m = frames.mean();
            float[] sd = frames.std();
            check(CudaNative.svj_frames_to_tensor(raw, out.ptr(), code(storage), frames.batch(), frames.height(),
                    frames.width(), frames.channelOrder() == Frames.ChannelOrder.RGB ? 0 : 1, m[0], m[1], m[2], sd[0],
                    sd[1], sd[2], stream), "uploadFrames");
            // complete on return (the pixels' memory goes back to the pool only after the kernel has read it)
            check(CudaNative.svj_stream_synchronize(stream), "uploadFrames");
        } catch (RuntimeException e) {
            out.close();
            throw e;
        } finally {
            release(raw, b);
        }
        return out;
    }

    @Override
    public HostTensor download(Tensor t) {
        CudaTensor c = cuda(t, "download");
        float[] out = new float[Math.toIntExact(c.numel())];
        switch (c.dtype()) {
            case F32, I32 -> toHost(out, 0, c.ptr(), c.bytes(), "download");
            case F16, BF16 -> {
                // widened on the device (exact) piece by piece into a float32 scratch: no per-value loop on the host
                int from = code(c.dtype());
                withScratch("download", (scratch, chunk) -> {
                    for (long e = 0; e < out.length; e += chunk) {
                        long n = Math.min(chunk, out.length - e);
                        check(CudaNative.svj_cast(c.ptr() + e * c.dtype().bytes(), from, scratch, CudaNative.F32, n,
                                stream), "download");
                        toHost(out, 4 * e, scratch, 4 * n, "download"); // (waits for the cast; then the copy)
                    }
                });
            }
        }
        return new HostTensor(out, c.shape());
    }

    @Override
    public int[] downloadInts(Tensor t) {
        CudaTensor c = cuda(t, "downloadInts");
        if (c.dtype().bytes() != 4) {
            throw new IllegalArgumentException("downloadInts: " + c + " is not a 4-byte tensor");
        }
        int[] out = new int[Math.toIntExact(c.numel())];
        inPieces("download", c.bytes(), (off, n) -> CudaNative.svj_memcpy_d2h_part(out, off, c.ptr() + off, n, stream));
        return out;
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaTensor s = cuda(src, "copy");
        CudaTensor d = cuda(dst, "copy");
        if (s.numel() != d.numel() || s.dtype() != d.dtype()) {
            throw new IllegalArgumentException("copy: " + s + " into " + d);
        }
        check(CudaNative.svj_memcpy_d2d(d.ptr(), s.ptr(), s.bytes(), stream), "copy");
    }

    /** dst = src converted between floating dtypes (same element count; rounding to nearest even). */
    public void cast(Tensor src, Tensor dst) {
        CudaTensor s = cuda(src, "cast");
        CudaTensor d = cuda(dst, "cast");
        if (s.numel() != d.numel()) {
            throw new IllegalArgumentException("cast: " + s + " into " + d);
        }
        check(CudaNative.svj_cast(s.ptr(), floatCode(s, "cast"), d.ptr(), floatCode(d, "cast"), s.numel(), stream),
                "cast");
    }

    @Override
    public void synchronize() {
        notCapturedElsewhere("synchronize");
        check(CudaNative.svj_stream_synchronize(stream), "stream synchronize");
    }

    private CudaTensor cuda(Tensor t, String op) {
        notCapturedElsewhere(op);
        if (t instanceof CudaTensor c) {
            return c;
        }
        throw new IllegalArgumentException(op + ": tensor " + t + " does not belong to the CUDA backend");
    }

    /**
     * Refuses work from a thread other than the one capturing a graph on this session: on the session's one stream
     * it would be recorded into that graph instead of running (or, for copies, break the capture). Best effort (a
     * call that passes this check just before a capture begins still lands in it): the guarantee is
     * {@link #exclusive}, which the model's entry points hold; this check names the misuse where it can.
     */
    private void notCapturedElsewhere(String op) {
        Thread c = capturing;
        if (c != null && c != Thread.currentThread()) {
            throw new IllegalStateException(op + ": thread '" + Thread.currentThread().getName() + "' used a CUDA session"
                    + " while thread '" + c.getName() + "' captures a graph on it; give each thread its own session"
                    + " (SwinModel.session), or share one through SwinModel.forward / CompiledForward.run or inside"
                    + " Backend.exclusive");
        }
    }

    private long ptr(Tensor t, String op) {
        return t == null ? 0 : cuda(t, op).ptr();
    }

    private static int code(DType d) {
        return switch (d) {
            case F32 -> CudaNative.F32;
            case F16 -> CudaNative.F16;
            case BF16 -> CudaNative.BF16;
            case I32 -> CudaNative.I32;
        };
    }

    private static int floatCode(Tensor t, String op) {
        if (t.dtype() == DType.I32) {
            throw new IllegalArgumentException(op + ": " + t + " must be a floating tensor (F32, F16 or BF16)");
        }
        return code(t.dtype());
    }

    /** The one floating dtype code shared by all (non-null) tensors of an op. */
    private static int sameFloat(String op, Tensor first, Tensor... rest) {
        int c = floatCode(first, op);
        for (Tensor t : rest) {
            if (t != null && t.dtype() != first.dtype()) {
                throw new IllegalArgumentException(op + ": " + t + " must have the dtype of " + first);
            }
        }
        return c;
    }

    private static void requireDtype(String op, String what, Tensor t, DType d) {
        if (t.dtype() != d) {
            throw new IllegalArgumentException(op + ": " + what + " must be " + d + ", got " + t);
        }
    }

    // ------------------------------------------------------------------------------------- dense math

    /** cuBLAS data type of a storage dtype. */
    private static int blasType(DType d) {
        return switch (d) {
            case F32 -> cudart.CUDA_R_32F;
            case F16 -> cudart.CUDA_R_16F;
            case BF16 -> cudart.CUDA_R_16BF;
            case I32 -> throw new IllegalArgumentException("linear: I32 tensors");
        };
    }

    /** cuBLAS compute type for a storage dtype under this session's precision. */
    private int computeType(DType d) {
        if (d != DType.F32) {
            return cublas.CUBLAS_COMPUTE_32F; // F16/BF16 inputs: tensor cores, float32 accumulation
        }
        return switch (precision) {
            case FP32 -> cublas.CUBLAS_COMPUTE_32F;
            case TF32 -> cublas.CUBLAS_COMPUTE_32F_FAST_TF32;
            case FP16 -> cublas.CUBLAS_COMPUTE_32F_FAST_16F;
            case BF16 -> cublas.CUBLAS_COMPUTE_32F_FAST_16BF;
        };
    }

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        gemm(x, w, bias, out, "linear", zero, true);
    }

    /** The GEMM accumulates into the residual (beta = 1); the bias comes with it (see {@link #gemmPath}). */
    @Override
    public void linearResidual(Tensor x, Tensor w, Tensor bias, Tensor residual) {
        if (x == residual) {
            throw new IllegalArgumentException("linearResidual: the input cannot be the residual it accumulates into");
        }
        gemm(x, w, bias, residual, "linearResidual", one, true);
    }

    @Override
    public void linearGelu(Tensor x, Tensor w, Tensor bias, Tensor out) {
        if (fusedGelu(x, w, bias, out)) {
            return;
        }
        long m = gemm(x, w, bias, out, "linearGelu", zero, false);
        if (m == 0) {
            return;
        }
        int n = w.dim(0);
        if (bias == null) {
            check(CudaNative.svj_gelu(ptr(out, "linearGelu"), code(out.dtype()), m * n, stream), "linearGelu (GELU)");
        } else {
            check(CudaNative.svj_bias_gelu(ptr(out, "linearGelu"), ptr(bias, "linearGelu"), code(out.dtype()), m, n,
                    stream), "linearGelu (bias + GELU)");
        }
    }

    @Override
    public void mlpResidual(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor w1, Tensor b1, Tensor w2,
                            Tensor b2, Tensor scratch) {
        if (!fusedMlp(x, gamma, beta, eps, w1, b1, w2, b2)) {
            Backend.super.mlpResidual(x, gamma, beta, eps, w1, b1, w2, b2, scratch);
        }
    }

    /**
     * F16/BF16, C a multiple of 32 from 32 to 256 and within {@link #FUSED_MLP_PROPERTY}'s bound, H a multiple of 64,
     * rows for at least {@link #FUSED_MLP_MIN_CTAS_PROPERTY} CTAs, the kernel's shared memory within the device's,
     * and the kernel not turned off by a failed launch.
     */
    @Override
    public boolean mlpResidualFused(DType dtype, long rows, int channels, int hidden) {
        int ctaRows = channels <= 96 ? 128 : 64;   // mlp.cu's
        long ctas = (rows + ctaRows - 1) / ctaRows;
        if (channels > fusedMlpMaxC || ctas < fusedMlpMinCtas || fusedMlpFailure != null
                || (dtype != DType.F16 && dtype != DType.BF16) || channels % 32 != 0 || channels < 32 || channels > 256
                || hidden <= 0 || hidden % 64 != 0) {
            return false;
        }
        int i = channels / 32;
        long need = mlpSmem[i];
        if (need == 0) {
            long[] bytes = new long[1];
            check(CudaNative.svj_mlp_block_smem(channels, CudaNative.F16, bytes), "mlpResidual (shared memory)");
            need = bytes[0];
            mlpSmem[i] = need;
        }
        return need <= smemOptin;
    }

    /**
     * Runs mlpResidual as one kernel (svj_mlp_block) when {@link #mlpResidualFused} admits it, the tensors are of
     * x's dtype and shapes and 16-byte aligned; false leaves it to the unfused ops, which also report bad shapes.
     */
    private boolean fusedMlp(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor w1, Tensor b1, Tensor w2,
                             Tensor b2) {
        String op = "mlpResidual";
        if (x.rank() < 1 || w1.rank() != 2 || w2.rank() != 2) {
            return false;
        }
        int c = x.dim(x.rank() - 1);
        int h = w1.dim(0);
        if (c == 0 || !mlpResidualFused(x.dtype(), x.numel() / c, c, h)) {
            return false;
        }
        DType dt = x.dtype();
        if (w1.dim(1) != c || w2.dim(0) != c || w2.dim(1) != h || gamma.numel() != c || beta.numel() != c
                || (b1 != null && (b1.numel() != h || b1.dtype() != dt)) || (b2 != null && (b2.numel() != c
                || b2.dtype() != dt)) || gamma.dtype() != dt || beta.dtype() != dt || w1.dtype() != dt
                || w2.dtype() != dt || !(eps >= 0) || Float.isInfinite(eps)) {
            return false;
        }
        long xp = ptr(x, op), gp = ptr(gamma, op), bp = ptr(beta, op), w1p = ptr(w1, op), b1p = ptr(b1, op),
                w2p = ptr(w2, op), b2p = ptr(b2, op);
        if (((xp | gp | bp | w1p | b1p | w2p | b2p) & 15) != 0) {
            return false;
        }
        long rows = x.numel() / c;
        if (rows > 0) {
            int rc = CudaNative.svj_mlp_block(xp, gp, bp, w1p, b1p, w2p, b2p, code(dt), rows, c, h, eps, stream);
            String unlaunched = unlaunched(rc);
            if (unlaunched != null) {
                fusedMlpUnavailable(unlaunched);   // this and every later call take the unfused ops
                return false;
            }
            check(rc, op + " (fused LayerNorm + MLP, " + rows + " rows, C " + c + ", hidden " + h + ")");
            fusedMlpLaunches.incrementAndGet();
        }
        return true;
    }

    /** Turns the fused MLP kernel off for this session after it failed to launch (logged once). */
    synchronized void fusedMlpUnavailable(String why) {
        if (fusedMlpFailure == null) {
            fusedMlpFailure = why;
            System.err.println("sparsevit: the fused MLP kernel (LayerNorm + fc1 + GELU + fc2) failed to launch: " + why
                    + "; LayerNorm, linearGelu and linearResidual from now on");
        }
    }

    /** How many mlpResidual calls this session ran on the fused kernel (for tests). */
    long fusedMlpLaunches() {
        return fusedMlpLaunches.get();
    }

    /**
     * Runs linearGelu as one kernel (svj_linear_gelu: the GEMM with bias and exact GELU in its epilogue) when
     * {@link #fusedGeluMaxK} admits the shape and the kernel's rules hold (F16/BF16, N and K multiples of 8, 16-byte
     * aligned tensors); false leaves the call to cuBLAS + the bias/GELU pass. Shapes are validated as by gemm.
     */
    private boolean fusedGelu(Tensor x, Tensor w, Tensor bias, Tensor out) {
        String op = "linearGelu";
        // the cheap refusals first, so that a shape left to cuBLAS is validated once (by gemm), not twice
        if (fusedGeluMaxK == 0 || fusedGeluFailure != null || x.dtype() == DType.F32 || w.rank() < 2) {
            return false;
        }
        int n = w.dim(0);
        if (n == 0) {
            return false;
        }
        long kl = w.numel() / n;
        if (kl > fusedGeluMaxK || n % 8 != 0 || kl % 8 != 0) {
            return false;
        }
        long m = gemmRows(x, w, bias, out, op);
        int k = (int) kl;
        long xp = ptr(x, op), wp = ptr(w, op), bp = ptr(bias, op), outp = ptr(out, op);
        if (((xp | wp | bp | outp) & 15) != 0) {
            return false;
        }
        if (m > 0) {
            int rc = CudaNative.svj_linear_gelu(xp, wp, bp, outp, code(out.dtype()), m, n, k, stream);
            String unlaunched = unlaunched(rc);
            if (unlaunched != null) {
                fusedGeluUnavailable(unlaunched);   // this and every later call take cuBLAS + the pass
                return false;
            }
            check(rc, op + " (fused GEMM + bias + GELU, " + n + "x" + m + "x" + k + ")");
            fusedGeluLaunches.incrementAndGet();
        }
        return true;
    }

    /**
     * Why a fused kernel did not launch, when it failed in a way that ran nothing and poisoned nothing (no kernel image
     * for this device, too few resources: non-sticky errors), so that the caller may take the unfused ops instead;
     * null on success, on a refused argument and on a sticky error (which {@link #check} reports).
     */
    private String unlaunched(int rc) {
        if (rc == 0 || rc == CudaNative.EINVAL || isSticky(rc)) {
            return null;
        }
        String detail = lastErrorDetail();
        return errorString(rc) + (detail.isEmpty() ? "" : " [" + detail + "]");
    }

    /**
     * Turns the fused fc1 kernel off for this session after it failed to launch (logged once; {@link #mlpPath} says
     * why): linearGelu then runs on cuBLAS + the bias/GELU pass, as with {@code sparsevit.fusedGelu=off}.
     */
    synchronized void fusedGeluUnavailable(String why) {
        if (fusedGeluFailure == null) {
            fusedGeluFailure = why;
            System.err.println("sparsevit: the fused fc1 kernel (GEMM + bias + GELU) failed to launch: " + why
                    + "; cuBLAS + the bias/GELU pass from now on");
        }
    }

    /** How many linearGelu calls this session ran on the fused kernel (for tests). */
    long fusedGeluLaunches() {
        return fusedGeluLaunches.get();
    }

    /**
     * Checks the four tensors of a linear layer (CUDA tensors of one float dtype; weight [N, K...]; input [..., K],
     * output [..., N] with as many rows; bias null or N values) and returns the row count M (at most 2^31 - 1).
     */
    private long gemmRows(Tensor x, Tensor w, Tensor bias, Tensor out, String op) {
        CudaTensor xt = cuda(x, op);
        CudaTensor wt = cuda(w, op);
        CudaTensor ot = cuda(out, op);
        sameFloat(op, xt, wt, ot, bias);
        if (out == x || out == w) {
            throw new IllegalArgumentException(op + ": the output cannot be the " + (out == x ? "input" : "weight")
                    + " (a GEMM does not run in place)");
        }
        if (wt.rank() < 2 || wt.dim(0) == 0) {
            throw new IllegalArgumentException(op + ": weight must be [N, K] with N > 0, got "
                    + Arrays.toString(wt.shape()));
        }
        int n = wt.dim(0);
        long kl = wt.numel() / n; // [N, K...] flattened, e.g. a [C, Cin, p, p] convolution weight
        if (xt.rank() == 0 || xt.dim(-1) != kl || ot.rank() == 0 || ot.dim(-1) != n || xt.numel() / kl != ot.numel() / n) {
            throw new IllegalArgumentException(op + ": input " + Arrays.toString(xt.shape()) + ", weight "
                    + Arrays.toString(wt.shape()) + " and output " + Arrays.toString(ot.shape()) + " do not match");
        }
        if (bias != null && bias.numel() != n) {
            throw new IllegalArgumentException(op + ": bias " + Arrays.toString(bias.shape()) + " must have " + n + " values");
        }
        long m = xt.numel() / kl;
        if (m > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": " + m + " rows exceed one GEMM");
        }
        return m;
    }

    /**
     * out = x w^T + beta * out, plus the bias when {@code addBias} (in cuBLASLt's epilogue when it is on, else
     * by our bias kernel after cublasGemmEx); validates all four tensors; returns the row count M.
     */
    private long gemm(Tensor x, Tensor w, Tensor bias, Tensor out, String op, FloatPointer beta, boolean addBias) {
        long m = gemmRows(x, w, bias, out, op);
        if (m == 0) {
            return 0;
        }
        CudaTensor xt = cuda(x, op);
        CudaTensor wt = cuda(w, op);
        CudaTensor ot = cuda(out, op);
        int n = wt.dim(0);
        int k = (int) (wt.numel() / n);
        int type = blasType(xt.dtype());
        if (addBias && bias != null && lt != null) {
            // (captureHeld is only set and cleared by the capturing thread, the one that calls this during capture)
            boolean capturing = captureHeld != null;
            int rc = lt.run(n, (int) m, k, type, computeType(xt.dtype()), wt.ptr(), xt.ptr(), ptr(bias, op), ot.ptr(), one,
                    beta, beta == one, capturing);
            if (rc == 0) {
                return m;
            }
            String shape = op + " " + n + "x" + m + "x" + k + " " + xt.dtype() + (beta == one ? " accumulating" : "");
            if (rc == LtGemm.NOT_PLANNED) {
                ltCapturedUnplanned(shape);
            } else {
                ltCannotRun(shape, rc, !capturing && LtGemm.refuses(rc));
            }
        }
        // row-major out[M, N] = x[M, K] w[N, K]^T is column-major out^T[N, M] = (w^T)^T[N, K] x^T[K, M]
        RowMajorGemm.GemmEx g = RowMajorGemm.gemmEx((int) m, n, k);
        checkBlas(cublas.cublasGemmEx(handle, g.transa(), g.transb(), g.m(), g.n(), g.k(), one,
                new Address(wt.ptr()), type, g.lda(), new Address(xt.ptr()), type, g.ldb(), beta, new Address(ot.ptr()),
                type, g.ldc(), computeType(xt.dtype()), cublas.CUBLAS_GEMM_DEFAULT), op + " GEMM (cublasGemmEx " + n
                + "x" + m + "x" + k + ", " + xt.dtype() + ", " + precision + ")");
        if (addBias && bias != null) {
            check(CudaNative.svj_bias_add(ot.ptr(), ptr(bias, op), code(ot.dtype()), m, n, stream), op + " (bias)");
        }
        return m;
    }

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out) {
        String op = "layerNorm";
        CudaTensor xt = cuda(x, op);
        int dt = sameFloat(op, xt, gamma, beta, out);
        int c = xt.dim(-1);
        if (out.numel() != xt.numel() || out.dim(-1) != c || gamma.numel() != c || beta.numel() != c) {
            throw new IllegalArgumentException("layerNorm: input " + Arrays.toString(xt.shape()) + ", output "
                    + Arrays.toString(out.shape()) + ", gamma/beta " + gamma.numel() + "/" + beta.numel() + " do not match");
        }
        check(CudaNative.svj_layer_norm(xt.ptr(), ptr(gamma, op), ptr(beta, op), ptr(out, op), dt, xt.numel() / c, c,
                eps, stream), op);
    }

    @Override
    public void addLayerNorm(Tensor a, Tensor b, Tensor gamma, Tensor beta, float eps, Tensor out) {
        String op = "addLayerNorm";
        int dt = sameFloat(op, cuda(a, op), b, gamma, beta, out);
        int c = a.dim(-1);
        if (b.numel() != a.numel() || out.numel() != a.numel() || out.dim(-1) != c || gamma.numel() != c
                || beta.numel() != c) {
            throw new IllegalArgumentException("addLayerNorm: shapes " + Arrays.toString(a.shape()) + ", "
                    + Arrays.toString(b.shape()) + ", " + Arrays.toString(out.shape()) + " do not match");
        }
        if (out == a) {
            // the fused kernel needs a separate output: fall back to the two passes
            add(a, b);
            layerNorm(a, gamma, beta, eps, out);
            return;
        }
        check(CudaNative.svj_add_layer_norm(ptr(a, op), ptr(b, op), ptr(gamma, op), ptr(beta, op), ptr(out, op), dt,
                a.numel() / c, c, eps, stream), op);
    }

    @Override
    public void gelu(Tensor x) {
        check(CudaNative.svj_gelu(ptr(x, "gelu"), floatCode(x, "gelu"), x.numel(), stream), "gelu");
    }

    @Override
    public void add(Tensor a, Tensor b) {
        int dt = sameFloat("add", cuda(a, "add"), b);
        if (a.numel() != b.numel()) {
            throw new IllegalArgumentException("add: shapes " + Arrays.toString(a.shape()) + " and "
                    + Arrays.toString(b.shape()) + " differ");
        }
        check(CudaNative.svj_add(ptr(a, "add"), ptr(b, "add"), dt, a.numel(), stream), "add");
    }

    // ------------------------------------------------------------------------------------- structure

    @Override
    public void patchEmbed(Tensor img, Tensor w, Tensor bias, int patch, Tensor out) {
        String op = "patchEmbed";
        CudaTensor it = cuda(img, op);
        CudaTensor wt = cuda(w, op);
        sameFloat(op, it, wt, bias, out);
        if (it.rank() != 4 || wt.rank() != 4 || wt.dim(1) != it.dim(1) || wt.dim(2) != patch || wt.dim(3) != patch) {
            throw new IllegalArgumentException("patchEmbed: image " + Arrays.toString(it.shape()) + " and weight "
                    + Arrays.toString(wt.shape()) + " do not match (expected [B, Cin, H, W] and [C, Cin, "
                    + patch + ", " + patch + "])");
        }
        int b = it.dim(0);
        int cin = it.dim(1);
        int ho = (it.dim(2) + patch - 1) / patch;
        int wo = (it.dim(3) + patch - 1) / patch;
        int c = wt.dim(0);
        Shapes.check("patchEmbed: output", out.shape(), b, ho * wo, c);
        int kk = cin * patch * patch;
        try (Tensor cols = empty(it.dtype(), b * ho * wo, kk)) {
            check(CudaNative.svj_im2col_patches(it.ptr(), ptr(cols, op), code(it.dtype()), b, cin, it.dim(2), it.dim(3),
                    patch, stream), "patchEmbed (im2col)");
            linear(cols, wt, bias, out); // the [C, Cin, p, p] weight is the [C, Cin * p * p] matrix
        }
    }

    @Override
    public void patchMerge(Tensor x, int height, int width, MergeOrder order, Tensor out) {
        String op = "patchMerge";
        CudaTensor xt = cuda(x, op);
        requireDtype(op, "output", out, xt.dtype());
        int b = xt.dim(0);
        int c = xt.dim(-1);
        if (xt.numel() != (long) b * height * width * c) {
            throw new IllegalArgumentException("patchMerge: input " + Arrays.toString(xt.shape()) + " is not [B, "
                    + height + "*" + width + ", C]");
        }
        Shapes.check("patchMerge: output", out.shape(), b, ((height + 1) / 2) * ((width + 1) / 2), 4 * c);
        check(CudaNative.svj_patch_merge(xt.ptr(), ptr(out, op), code(xt.dtype()), b, height, width, c,
                order == MergeOrder.CONCAT ? 0 : 1, stream), op);
    }

    @Override
    public void meanPool(Tensor x, Tensor out) {
        String op = "meanPool";
        int dt = sameFloat(op, cuda(x, op), out);
        if (x.rank() != 3) {
            throw new IllegalArgumentException("meanPool: input must be [B, L, C], got " + Arrays.toString(x.shape()));
        }
        Shapes.check("meanPool: output", out.shape(), x.dim(0), x.dim(2));
        check(CudaNative.svj_mean_pool(ptr(x, op), ptr(out, op), dt, x.dim(0), x.dim(1), x.dim(2), stream), op);
    }

    @Override
    public void toChannelsFirst(Tensor x, int height, int width, Tensor out) {
        String op = "toChannelsFirst";
        CudaTensor xt = cuda(x, op);
        requireDtype(op, "output", out, xt.dtype());
        int b = xt.dim(0);
        int c = xt.dim(-1);
        if (xt.numel() != (long) b * height * width * c) {
            throw new IllegalArgumentException("toChannelsFirst: input " + Arrays.toString(xt.shape()) + " is not [B, "
                    + height + "*" + width + ", C]");
        }
        Shapes.check("toChannelsFirst: output", out.shape(), b, c, height, width);
        check(CudaNative.svj_to_channels_first(xt.ptr(), ptr(out, op), code(xt.dtype()), b, height * width, c, stream),
                op);
    }

    // ------------------------------------------------------------------------------------- windows

    private static void checkMap(Tensor map, WindowGrid g, String op) {
        if (map.rank() != 3 || map.dim(1) != g.height() * g.width()) {
            throw new IllegalArgumentException(op + ": token map must be [B, " + g.height() + "*" + g.width()
                    + ", C], got " + Arrays.toString(map.shape()));
        }
    }

    /** Validates k and the order list as the CPU backend does (except the window numbers, which stay on the device). */
    private long orderPtr(Tensor order, int b, WindowGrid g, int k, String op) {
        int nW = g.numWindows();
        if (k < 0 || k > nW) {
            throw new IllegalArgumentException(op + ": k = " + k + " outside [0, " + nW + "]");
        }
        if (order == null) {
            if (k != nW) {
                throw new IllegalArgumentException(op + ": without an order list k must be nW = " + nW + ", got " + k);
            }
            return 0;
        }
        if (order.dtype() != DType.I32 || order.numel() != (long) b * nW) {
            throw new IllegalArgumentException(op + ": order must be I32 [" + b + ", " + nW + "], got " + order.dtype()
                    + Arrays.toString(order.shape()));
        }
        return cuda(order, op).ptr();
    }

    @Override
    public void gatherWindows(Tensor x, WindowGrid g, Tensor order, int k, Tensor out) {
        String op = "gatherWindows";
        CudaTensor xt = cuda(x, op);
        checkMap(xt, g, op);
        requireDtype(op, "tile", out, xt.dtype());
        int b = xt.dim(0);
        long ord = orderPtr(order, b, g, k, op);
        Shapes.check(op + ": tile", out.shape(), b, k, g.windowTokens(), xt.dim(2));
        check(CudaNative.svj_gather_windows(xt.ptr(), ptr(out, op), ord, code(xt.dtype()), b, g.height(), g.width(),
                xt.dim(2), g.window(), g.shift(), k, stream), op);
    }

    @Override
    public void gatherLayerNorm(Tensor x, WindowGrid g, Tensor order, int k, Tensor gamma, Tensor beta, float eps,
                                boolean zeroPadded, Tensor tile, Tensor out) {
        String op = "gatherLayerNorm";
        CudaTensor xt = cuda(x, op);
        checkMap(xt, g, op);
        int dt = sameFloat(op, xt, gamma, beta, tile, out);
        int b = xt.dim(0);
        int c = xt.dim(2);
        long ord = orderPtr(order, b, g, k, op);
        Shapes.check(op + ": tile", tile.shape(), b, k, g.windowTokens(), c);
        Shapes.check(op + ": output", out.shape(), b, k, g.windowTokens(), c);
        if (gamma.numel() != c || beta.numel() != c) {
            throw new IllegalArgumentException(op + ": gamma/beta must have " + c + " values");
        }
        check(CudaNative.svj_gather_layer_norm(xt.ptr(), ptr(gamma, op), ptr(beta, op), ptr(tile, op), ptr(out, op), ord,
                dt, b, g.height(), g.width(), c, g.window(), g.shift(), k, eps, zeroPadded ? 1 : 0, stream), op);
    }

    @Override
    public void rewindowWindows(Tensor from, WindowGrid fromGrid, WindowGrid g, Tensor tile) {
        String op = "rewindowWindows";
        CudaTensor ft = cuda(from, op);
        fromGrid.checkRewindow(g, ft.shape(), op);
        requireDtype(op, "tile", tile, ft.dtype());
        int b = ft.dim(0);
        int c = ft.dim(3);
        Shapes.check(op + ": tile", tile.shape(), b, g.numWindows(), g.windowTokens(), c);
        if (from == tile) {
            throw new IllegalArgumentException(op + ": the tile cannot be the tile it is made from");
        }
        check(CudaNative.svj_rewindow_windows(ft.ptr(), ptr(tile, op), code(ft.dtype()), b, g.height(), g.width(), c,
                g.window(), fromGrid.shift(), g.shift(), stream), op);
    }

    @Override
    public void scatterWindows(Tensor tile, WindowGrid g, Tensor order, int k, Tensor x) {
        String op = "scatterWindows";
        CudaTensor xt = cuda(x, op);
        checkMap(xt, g, op);
        requireDtype(op, "tile", tile, xt.dtype());
        int b = xt.dim(0);
        long ord = orderPtr(order, b, g, k, op);
        Shapes.check(op + ": tile", tile.shape(), b, k, g.windowTokens(), xt.dim(2));
        check(CudaNative.svj_scatter_windows(ptr(tile, op), xt.ptr(), ord, code(xt.dtype()), b, g.height(), g.width(),
                xt.dim(2), g.window(), g.shift(), k, stream), op);
    }

    @Override
    public void zeroPadding(Tensor tile, WindowGrid g, Tensor order, int k) {
        String op = "zeroPadding";
        CudaTensor tt = cuda(tile, op);
        int b = tt.dim(0);
        int c = tt.dim(-1);
        Shapes.check(op + ": tile", tt.shape(), b, k, g.windowTokens(), c);
        long ord = orderPtr(order, b, g, k, op);
        check(CudaNative.svj_zero_padding(tt.ptr(), ord, code(tt.dtype()), b, g.height(), g.width(), c, g.window(),
                g.shift(), k, stream), op);
    }

    @Override
    public void windowAttention(Tensor qkv, Tensor biasTable, int heads, WindowGrid g, Tensor order, int k,
                                Tensor out) {
        String op = "windowAttention";
        CudaTensor qt = cuda(qkv, op);
        int dt = sameFloat(op, qt, biasTable, out);
        int b = qt.dim(0);
        int c3 = qt.dim(-1);
        if (heads <= 0 || c3 % 3 != 0 || (c3 / 3) % heads != 0) {
            throw new IllegalArgumentException("windowAttention: qkv width " + c3 + " is not 3 * heads * headDim (heads "
                    + heads + ")");
        }
        int c = c3 / 3;
        Shapes.check(op + ": tile", qt.shape(), b, k, g.windowTokens(), c3);
        Shapes.check(op + ": tile", out.shape(), b, k, g.windowTokens(), c);
        int tw = 2 * g.biasWindow() - 1;
        Shapes.check("windowAttention: bias table", biasTable.shape(), tw * tw, heads);
        long ord = orderPtr(order, b, g, k, op);
        check(CudaNative.svj_window_attention(qt.ptr(), ptr(biasTable, op), ptr(out, op), ord, dt, b, g.height(),
                g.width(), c, heads, g.window(), g.shift(), g.biasWindow(), k, stream), op);
    }

    // ------------------------------------------------------------------------------------- importance

    @Override
    public void tokenImportance(Tensor x, Tensor out) {
        String op = "tokenImportance";
        CudaTensor xt = cuda(x, op);
        if (xt.rank() != 3) {
            throw new IllegalArgumentException("tokenImportance: input must be [B, L, C], got " + Arrays.toString(xt.shape()));
        }
        requireDtype(op, "output", out, DType.F32);
        Shapes.check("tokenImportance: output", out.shape(), xt.dim(0), xt.dim(1));
        check(CudaNative.svj_token_importance(xt.ptr(), ptr(out, op), floatCode(xt, op), (long) xt.dim(0) * xt.dim(1),
                xt.dim(2), stream), op);
    }

    @Override
    public void windowScores(Tensor a, WindowGrid g, Tensor out) {
        String op = "windowScores";
        CudaTensor at = cuda(a, op);
        int l = g.height() * g.width();
        if (at.rank() != 2 || at.dim(1) != l) {
            throw new IllegalArgumentException("windowScores: importance map must be [B, " + l + "], got "
                    + Arrays.toString(at.shape()));
        }
        requireDtype(op, "importance map", at, DType.F32);
        requireDtype(op, "output", out, DType.F32);
        Shapes.check("windowScores: output", out.shape(), at.dim(0), g.numWindows());
        check(CudaNative.svj_window_scores(at.ptr(), ptr(out, op), at.dim(0), g.height(), g.width(), g.window(),
                g.shift(), stream), op);
    }

    @Override
    public void sortWindows(Tensor scores, Tensor order) {
        String op = "sortWindows";
        CudaTensor st = cuda(scores, op);
        if (st.rank() != 2 || st.dtype() != DType.F32 || order.dtype() != DType.I32) {
            throw new IllegalArgumentException("sortWindows: scores must be F32 [B, nW] and order I32 [B, nW]");
        }
        Shapes.check("sortWindows: order", order.shape(), st.shape());
        int b = st.dim(0);
        int nW = st.dim(1);
        if (b == 0 || nW == 0) {
            return;
        }
        long[] bytes = new long[1];
        check(CudaNative.svj_sort_windows_scratch(b, nW, bytes), op + " (scratch size)");
        if (bytes[0] == 0) {
            check(CudaNative.svj_sort_windows(st.ptr(), ptr(order, op), b, nW, 0, 0, stream), op);
            return;
        }
        // the scratch is a workspace allocation like any tensor (from the slab in a planned run)
        WorkspaceArena<Long>.Grant g = arena.request(bytes[0]);
        int bucket = -1;
        long scratch;
        if (g != null && g.slab() != null) {
            scratch = g.slab() + g.offset();
        } else {
            bucket = bucket(bytes[0]);
            scratch = acquire(bytes[0], bucket);
        }
        try {
            check(CudaNative.svj_sort_windows(st.ptr(), ptr(order, op), b, nW, scratch, bytes[0], stream), op);
        } finally {
            // stream order: the next user of the memory runs after the sort
            if (bucket >= 0) {
                release(scratch, bucket);
            }
            if (g != null) {
                g.release();
            }
        }
    }

    // ------------------------------------------------------------------------------------- graphs

    /**
     * A captured sequence of launches on this session's stream, replayable without host work. It owns the
     * memory its launches used: every pool block the captured work released, and the workspace slabs of the
     * scoped runs it captured (kept allocated while the graph lives, even if their keys are evicted). Pool
     * blocks are the graph's alone, so replays never race with other work of the session; a slab is shared
     * only with runs of its own key, which hold nothing in it between runs (a replay checks that). Closing the
     * graph returns the blocks to the pool and lets the slabs go.
     */
    public final class Graph implements Captured {
        private long exec;
        private final List<long[]> held;
        private final WorkspaceArena<Long>.Hold slabs;
        private final List<Tensor> outputs;

        private Graph(long exec, List<long[]> held, WorkspaceArena<Long>.Hold slabs, List<Tensor> outputs) {
            this.exec = exec;
            this.held = held;
            this.slabs = slabs;
            this.outputs = outputs;
        }

        /**
         * Enqueues the whole captured sequence (no host synchronisation). Throws IllegalStateException when a
         * slab of the graph holds live data (a run of its key is open, or one of its tensors is).
         */
        @Override
        public void replay() {
            if (exec == 0) {
                throw new IllegalStateException("graph is closed");
            }
            notCapturedElsewhere("replay");
            synchronized (CudaBackend.this) {
                // its stream is gone and its nodes point at freed memory (the cuBLAS workspace among it)
                if (closed || closing) {
                    throw new IllegalStateException("the CUDA session of this graph is closed");
                }
            }
            slabs.checkIdle();
            check(CudaNative.svj_graph_launch(exec, stream), "graph launch");
        }

        /** Bytes of the workspace slabs this graph keeps. */
        public long slabBytes() {
            return slabs.bytes();
        }

        /** The tensors the captured work returned; every replay rewrites them. */
        @Override
        public List<Tensor> outputs() {
            return outputs;
        }

        @Override
        public void close() {
            if (exec != 0) {
                synchronized (CudaBackend.this) {
                    if (!closed) {
                        synchronize(); // a replay may still be running
                    }
                }
                long e = exec;
                DeviceGate.synchronising("cudaGraphExecDestroy", () -> CudaNative.svj_graph_destroy(e));
                exec = 0;
                outputs.forEach(Tensor::close);
                synchronized (CudaBackend.this) {
                    for (long[] b : held) {
                        release(b[0], (int) b[1]);
                    }
                }
                slabs.close();
            }
        }
    }

    /**
     * Captures the launches {@code work} enqueues. It must not synchronise or copy to or from the host, and
     * should have run once uncaptured so the pool already holds every buffer it needs (and every kernel is
     * loaded).
     */
    public Graph capture(Runnable work) {
        return capture(() -> {
            work.run();
            return List.of();
        });
    }

    @Override
    public boolean capturesGraphs() {
        return true;
    }

    /**
     * Runs {@code work} holding this session's pass lock (see {@link Backend#exclusive}): other threads' passes on
     * this session wait, so one caller's launches, capture or replay and downloads never interleave with theirs.
     */
    @Override
    public <T> T exclusive(Supplier<T> work) {
        exclusive.lock();
        try {
            return work.get();
        } finally {
            exclusive.unlock();
        }
    }

    /** Captures {@code work}, keeping the tensors it returns as the graph's outputs. */
    @Override
    public Graph capture(Supplier<List<Tensor>> work) {
        synchronize();
        List<long[]> held = new ArrayList<>();
        synchronized (this) {
            ensureOpen();
            if (captureHeld != null) {
                throw new IllegalStateException("a capture is already in progress on this session");
            }
            captureHeld = held;
            capturing = Thread.currentThread();
        }
        arena.beginCapture(); // (outside this session's lock: the arena calls into it, never the reverse)
        // no other thread's free or handle teardown (which synchronise the device) while this capture runs
        DeviceGate.beginCapture();
        boolean gateHeld = true; // DeviceGate.endCapture exactly once, on every path
        long[] exec = new long[1];
        List<Tensor> outs;
        int rc;
        try {
            int begin = CudaNative.svj_graph_begin_capture(stream);
            if (begin != 0) {
                gateHeld = false;
                DeviceGate.endCapture();
                endCapture().close();
                check(begin, "begin capture");
            }
            try {
                outs = work.get();
            } catch (Throwable e) {
                CudaNative.svj_graph_end_capture(stream, exec);
                gateHeld = false;
                DeviceGate.endCapture();
                long made = exec[0];
                if (made != 0) {
                    DeviceGate.synchronising("cudaGraphExecDestroy", () -> CudaNative.svj_graph_destroy(made));
                }
                WorkspaceArena<Long>.Hold slabs = endCapture();
                synchronized (this) {
                    for (long[] b : held) {
                        release(b[0], (int) b[1]);
                    }
                }
                slabs.close();
                throw e;
            }
            rc = CudaNative.svj_graph_end_capture(stream, exec);
            gateHeld = false;
            DeviceGate.endCapture();
        } finally {
            if (gateHeld) {
                DeviceGate.endCapture();
            }
        }
        WorkspaceArena<Long>.Hold slabs = endCapture();
        if (rc != 0) {
            if (outs != null) {
                outs.forEach(Tensor::close); // no graph owns them: back to the pool (capture has ended)
            }
            synchronized (this) {
                for (long[] b : held) {
                    release(b[0], (int) b[1]);
                }
            }
            slabs.close();
        }
        check(rc, "end capture (did the captured work synchronise or copy to the host?)");
        return new Graph(exec[0], held, slabs, outs == null ? List.of() : outs);
    }

    /** Leaves capture mode: the slabs the captured runs used, and the slab frees deferred meanwhile done now. */
    private WorkspaceArena<Long>.Hold endCapture() {
        WorkspaceArena<Long>.Hold slabs = arena.endCapture();
        synchronized (this) {
            captureHeld = null;
            capturing = null;
            if (!deferredFrees.isEmpty()) {
                CudaNative.svj_stream_synchronize(stream);
                for (long[] a : deferredFrees) {
                    free(a[0]);
                }
                deferredFrees.clear();
            }
        }
        return slabs;
    }

    /** Milliseconds of device time {@code work} takes, measured with CUDA events on this stream. */
    public float timeMs(Runnable work) {
        notCapturedElsewhere("timeMs");
        long[] a = new long[1];
        long[] b = new long[1];
        check(CudaNative.svj_event_create(a), "event create");
        try {
            check(CudaNative.svj_event_create(b), "event create");
            check(CudaNative.svj_event_record(a[0], stream), "event record");
            work.run();
            check(CudaNative.svj_event_record(b[0], stream), "event record");
            float[] ms = new float[1];
            check(CudaNative.svj_event_elapsed_ms(a[0], b[0], ms), "event elapsed");
            return ms[0];
        } finally {
            CudaNative.svj_event_destroy(a[0]);
            CudaNative.svj_event_destroy(b[0]);
        }
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "CudaBackend(%s, %s)", deviceName, precision);
    }
}
