package org.sparsevit.backend.cuda;

import java.util.HashMap;
import java.util.Map;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;

/**
 * GEMMs with the bias added in cuBLASLt's epilogue (one pass over the output instead of two): row-major
 * {@code out[M, N] = x[M, K] w[N, K]^T + bias (+ out when accumulating)}, computed as the column-major
 * {@code out^T = w x^T} whose bias runs along the rows, as cuBLASLt's BIAS epilogue adds it. One instance
 * per session (it is not thread-safe); a plan (descriptors and the heuristic's algorithm) is cached per
 * shape. Every call returns a cuBLAS status, never throws for a cuBLAS failure: the session then falls
 * back to {@code cublasGemmEx} and our bias kernel.
 *
 * <p>Plans are made outside stream capture only: cuBLASLt's heuristic query can fail while the calling thread
 * captures (CUBLAS_STATUS_INTERNAL_ERROR has been reported for it on CUDA 13), so a shape first met inside a
 * capture gets {@link #NOT_PLANNED} and that call takes the fallback, without anything cached. Callers run a
 * pass eagerly before capturing it, so this does not normally happen. Only a shape that cuBLASLt refuses
 * outside capture (NOT_SUPPORTED, INVALID_VALUE, ARCH_MISMATCH) keeps the fallback for good; other failures
 * (an allocation, an internal error, a failed launch) apply to the one call.
 */
final class LtGemm implements AutoCloseable {
    private final cublasLtContext handle;
    private final cublasLtMatmulPreferenceOpaque_t preference;
    private final long workspace;
    private final long workspaceBytes;
    private final Map<Key, Plan> plans = new HashMap<>();
    private final LongPointer biasAddress = new LongPointer(1);
    private final CUstream_st stream;

    /** {@link #run}'s answer for a shape without a plan while capturing: use the fallback for this call. */
    static final int NOT_PLANNED = -1;

    private record Key(int n, int m, int k, int type, int compute, boolean accumulate) {
    }

    /** Descriptors of one shape, and the algorithm the heuristic picked for them. */
    private static final class Plan {
        cublasLtMatmulDescOpaque_t desc;
        cublasLtMatrixLayoutOpaque_t a;
        cublasLtMatrixLayoutOpaque_t b;
        cublasLtMatrixLayoutOpaque_t c;
        cublasLtMatmulHeuristicResult_t heuristic;
        int status;   // non-zero: this shape cannot run on cuBLASLt

        void close() {
            if (desc != null) {
                cublas.cublasLtMatmulDescDestroy(desc);
            }
            for (cublasLtMatrixLayoutOpaque_t l : new cublasLtMatrixLayoutOpaque_t[]{a, b, c}) {
                if (l != null) {
                    cublas.cublasLtMatrixLayoutDestroy(l);
                }
            }
            if (heuristic != null) {
                heuristic.close();
            }
        }
    }

    private LtGemm(cublasLtContext handle, cublasLtMatmulPreferenceOpaque_t preference, long workspace,
                   long workspaceBytes, CUstream_st stream) {
        this.handle = handle;
        this.preference = preference;
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
        this.stream = stream;
    }

    /**
     * A cuBLASLt context using {@code workspace} (shared with the session's cuBLAS handle: both run on the
     * session's one stream, so never at the same time).
     *
     * @return the instance, or null when cuBLASLt cannot be set up here ({@code why[0]} says why)
     */
    static LtGemm create(long workspace, long workspaceBytes, CUstream_st stream, String[] why) {
        cublasLtContext h = new cublasLtContext();
        int rc = DeviceGate.synchronising("cublasLtCreate", () -> cublas.cublasLtCreate(h));
        if (rc != 0) {
            why[0] = "cublasLtCreate failed with status " + CudaBackend.blasStatus(rc);
            return null;
        }
        PointerPointer<Pointer> pp = new PointerPointer<>(1);
        rc = cublas.cublasLtMatmulPreferenceCreate(pp);
        if (rc != 0) {
            DeviceGate.synchronising("cublasLtDestroy", () -> cublas.cublasLtDestroy(h));
            why[0] = "cublasLtMatmulPreferenceCreate failed with status " + CudaBackend.blasStatus(rc);
            return null;
        }
        cublasLtMatmulPreferenceOpaque_t pref = new cublasLtMatmulPreferenceOpaque_t(pp.get(0));
        try (LongPointer bytes = new LongPointer(1)) {
            bytes.put(workspaceBytes);
            rc = cublas.cublasLtMatmulPreferenceSetAttribute(pref, cublas.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                    bytes, 8);
        }
        if (rc != 0) {
            cublas.cublasLtMatmulPreferenceDestroy(pref);
            DeviceGate.synchronising("cublasLtDestroy", () -> cublas.cublasLtDestroy(h));
            why[0] = "setting the cuBLASLt workspace failed with status " + CudaBackend.blasStatus(rc);
            return null;
        }
        return new LtGemm(h, pref, workspace, workspaceBytes, stream);
    }

    /**
     * Enqueues {@code out = x w^T + bias + beta * out} (beta 0 or 1; out is both C and D when accumulating).
     *
     * @param type      cuBLAS data type of x, w, bias and out
     * @param compute   cuBLAS compute type
     * @param capturing whether the session's stream is being captured (no plans are made then)
     * @return 0; {@link #NOT_PLANNED} (capturing, and no plan for this shape yet); or the cuBLAS status of the
     *         step that failed (nothing was enqueued then). A shape that cuBLASLt refused outside capture fails
     *         at once from then on (see {@link #refuses}), so the caller's fallback serves all its calls alike
     */
    int run(int n, int m, int k, int type, int compute, long w, long x, long bias, long out, FloatPointer alpha,
            FloatPointer beta, boolean accumulate, boolean capturing) {
        Key key = new Key(n, m, k, type, compute, accumulate);
        Plan p = plans.get(key);
        if (p == null) {
            if (capturing) {
                return NOT_PLANNED;
            }
            p = plan(key);
            if (p.status != 0 && !refuses(p.status)) {
                int rc = p.status; // a failure of the moment: no plan kept, the next call tries again
                p.close();
                return rc;
            }
            plans.put(key, p);
        }
        if (p.status != 0) {
            return p.status;
        }
        biasAddress.put(0, bias);
        int rc = cublas.cublasLtMatmulDescSetAttribute(p.desc, cublas.CUBLASLT_MATMUL_DESC_BIAS_POINTER, biasAddress, 8);
        if (rc != 0) {
            return rc;
        }
        Address wa = new Address(w);
        Address xa = new Address(x);
        Address oa = new Address(out);
        rc = cublas.cublasLtMatmul(handle, p.desc, alpha, wa, p.a, xa, p.b, beta, oa, p.c, oa, p.c, p.heuristic.algo(),
                new Address(workspace), workspaceBytes, stream);
        if (rc != 0 && !capturing && refuses(rc)) {
            p.status = rc; // this shape takes the caller's other path from now on, in every pass alike
        }
        return rc;
    }

    /**
     * Whether a status says cuBLASLt will not run this problem at all (rather than failing this once):
     * NOT_SUPPORTED, INVALID_VALUE or ARCH_MISMATCH.
     */
    static boolean refuses(int status) {
        return status == cublas.CUBLAS_STATUS_NOT_SUPPORTED || status == cublas.CUBLAS_STATUS_INVALID_VALUE
                || status == cublas.CUBLAS_STATUS_ARCH_MISMATCH;
    }

    private Plan plan(Key key) {
        Plan p = new Plan();
        PointerPointer<Pointer> pp = new PointerPointer<>(1);
        int rc = cublas.cublasLtMatmulDescCreate(pp, key.compute(), cudart.CUDA_R_32F);
        if (rc != 0) {
            p.status = rc;
            return p;
        }
        p.desc = new cublasLtMatmulDescOpaque_t(pp.get(0));
        RowMajorGemm.Lt args = RowMajorGemm.lt(key.m(), key.n(), key.k());
        try (IntPointer v = new IntPointer(1)) {
            v.put(args.transa());
            rc = cublas.cublasLtMatmulDescSetAttribute(p.desc, cublas.CUBLASLT_MATMUL_DESC_TRANSA, v, 4);
            if (rc == 0) {
                v.put(args.transb());
                rc = cublas.cublasLtMatmulDescSetAttribute(p.desc, cublas.CUBLASLT_MATMUL_DESC_TRANSB, v, 4);
            }
            if (rc == 0) {
                v.put(cublas.CUBLASLT_EPILOGUE_BIAS);
                rc = cublas.cublasLtMatmulDescSetAttribute(p.desc, cublas.CUBLASLT_MATMUL_DESC_EPILOGUE, v, 4);
            }
        }
        // column-major: A = w as K x N (used transposed), B = x as K x M, C = D = out^T as N x M
        if (rc == 0) {
            rc = cublas.cublasLtMatrixLayoutCreate(pp, key.type(), args.a().rows(), args.a().cols(), args.a().ld());
            p.a = rc == 0 ? new cublasLtMatrixLayoutOpaque_t(pp.get(0)) : null;
        }
        if (rc == 0) {
            rc = cublas.cublasLtMatrixLayoutCreate(pp, key.type(), args.b().rows(), args.b().cols(), args.b().ld());
            p.b = rc == 0 ? new cublasLtMatrixLayoutOpaque_t(pp.get(0)) : null;
        }
        if (rc == 0) {
            rc = cublas.cublasLtMatrixLayoutCreate(pp, key.type(), args.c().rows(), args.c().cols(), args.c().ld());
            p.c = rc == 0 ? new cublasLtMatrixLayoutOpaque_t(pp.get(0)) : null;
        }
        if (rc == 0) {
            p.heuristic = new cublasLtMatmulHeuristicResult_t();
            try (IntPointer found = new IntPointer(1)) {
                found.put(0);
                rc = cublas.cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.a, p.b, p.c, p.c, preference, 1, p.heuristic,
                        found);
                if (rc == 0 && found.get() == 0) {
                    rc = cublas.CUBLAS_STATUS_NOT_SUPPORTED;
                }
                if (rc == 0 && p.heuristic.state() != 0) {
                    rc = p.heuristic.state(); // the algorithm found cannot run this problem
                }
            }
        }
        p.status = rc;
        return p;
    }

    @Override
    public void close() {
        plans.values().forEach(Plan::close);
        plans.clear();
        cublas.cublasLtMatmulPreferenceDestroy(preference);
        DeviceGate.synchronising("cublasLtDestroy", () -> cublas.cublasLtDestroy(handle));
        biasAddress.close();
    }

    /** Wraps a raw device address (no ownership). */
    private static final class Address extends Pointer {
        Address(long a) {
            address = a;
        }
    }
}
