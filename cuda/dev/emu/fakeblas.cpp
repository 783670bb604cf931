// Stand-ins for libcublas.so.13 (built with -DFAKE_CUBLAS) and libcublasLt.so.13 (-DFAKE_CUBLASLT), for the
// emulated device of rt.cpp: the entries CudaBackend and LtGemm call, with the C ABI of cublas_api.h and
// cublasLt.h (enum values as the JavaCPP presets give them; the headers are not installed on CI machines).
// Column-major, host pointer mode, computed on the calling thread in float from the stored values, work
// enqueued on the handle's stream (recorded under graph capture). What a caller can get wrong is checked as
// cuBLAS does or stricter: sizes and leading dimensions, type combinations, dimensions that do not match
// between operands, every matrix (and the bias) lying inside one live device allocation, outputs not
// overlapping inputs, the workspace rules (cublasSetStream drops the caller's workspace, a GEMM under
// graph capture needs one, a GEMM's workspace must still be allocated when it runs), a cuBLASLt algorithm
// from the heuristic gets pointers as aligned as its preference promised (256 bytes unless lowered), the
// heuristic fails while the calling thread captures, and creating or destroying a handle invalidates other
// threads' captures (it synchronises the device). The "fast"
// compute types round the inputs as the hardware does (TF32: 10 mantissa bits; FP16; BF16), so tolerances
// are exercised; accumulation is in float.
#include "emu.h"
#include <thread>

namespace emu {
bool device_range(const void* p, size_t n);
bool stream_capturing(cudaStream_t s);
bool thread_capturing();
void device_sync_call(const char* what);
}

namespace {

const int STATUS_SUCCESS = 0, STATUS_INVALID_VALUE = 7, STATUS_INTERNAL_ERROR = 14, STATUS_NOT_SUPPORTED = 15;
const int R_32F = 0, R_16F = 2, R_16BF = 14;   // cudaDataType_t
const int OP_N = 0, OP_T = 1;
const int COMPUTE_16F = 64, COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69, COMPUTE_32F_FAST_16F = 74,
          COMPUTE_32F_FAST_16BF = 75, COMPUTE_32F_FAST_TF32 = 77;
const int TF32_TENSOR_OP_MATH = 3;

int type_bytes(int t) { return t == R_32F ? 4 : t == R_16F || t == R_16BF ? 2 : 0; }

float load(const void* p, int t, size_t i) {
    if (t == R_32F) return ((const float*)p)[i];
    if (t == R_16F) return __half2float(((const __half*)p)[i]);
    return __bfloat162float(((const __nv_bfloat16*)p)[i]);
}

void store(void* p, int t, size_t i, float v) {
    if (t == R_32F) ((float*)p)[i] = v;
    else if (t == R_16F) ((__half*)p)[i] = __float2half_rn(v);
    else ((__nv_bfloat16*)p)[i] = __float2bfloat16_rn(v);
}

float tf32(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) {   // finite: round to nearest even at 10 mantissa bits
        u += 0xfffu + ((u >> 13) & 1u);
        u &= 0xffffe000u;
    }
    memcpy(&v, &u, 4);
    return v;
}

// How a compute type rounds a float32 input (identity for 16-bit inputs, already in their type).
float input_rounding(float v, int compute) {
    switch (compute) {
        case COMPUTE_32F_FAST_TF32: return tf32(v);
        case COMPUTE_32F_FAST_16F: return __half2float(__float2half_rn(v));
        case COMPUTE_32F_FAST_16BF: return __bfloat162float(__float2bfloat16_rn(v));
        default: return v;
    }
}

// A stored column-major matrix and how it is used: op(M)(i, j) = trans ? M[j + i * ld] : M[i + j * ld].
struct Operand {
    const void* p;
    int type;
    long long rows, cols, ld;   // as stored
    bool trans;
    long long op_rows() const { return trans ? cols : rows; }
    long long op_cols() const { return trans ? rows : cols; }
    size_t bytes() const {   // from the first element to the last one's end (0 when empty)
        return rows == 0 || cols == 0 ? 0 : (size_t)((cols - 1) * ld + rows) * type_bytes(type);
    }
    bool fits() const { return emu::device_range(p, bytes()); }   // inside one live device allocation
};

// The emulated type combinations (float scalars only): A and B alike; C alike, or float32 for 16-bit inputs;
// compute 32F, or a FAST_* type on float32 inputs as cublasGemmEx lists them.
bool supported(int ab, int c, int compute) {
    if (type_bytes(ab) == 0 || type_bytes(c) == 0) return false;
    bool fast = compute == COMPUTE_32F_FAST_16F || compute == COMPUTE_32F_FAST_16BF || compute == COMPUTE_32F_FAST_TF32;
    if (fast) return ab == R_32F && c == R_32F;
    if (compute != COMPUTE_32F && compute != COMPUTE_32F_PEDANTIC) return false;   // COMPUTE_16F: half scalars
    return c == ab || (c == R_32F && ab != R_32F);
}

// Does the output overlap an input? (in place is not allowed: cuBLAS reads inputs while it writes)
bool overlaps(const Operand& out, const Operand& in) {
    if (out.bytes() == 0 || in.bytes() == 0) return false;
    uintptr_t a = (uintptr_t)out.p, b = (uintptr_t)in.p;
    return a < b + in.bytes() && b < a + out.bytes();
}

// op(M) as a dense row-major rows x cols float matrix (inputs rounded as the compute type does).
std::vector<float> unpack(const Operand& o, bool transpose, int compute) {
    long long r = o.op_rows(), c = o.op_cols();
    std::vector<float> v((size_t)(r * c));
    for (long long i = 0; i < r; i++)
        for (long long j = 0; j < c; j++) {
            float x = load(o.p, o.type, o.trans ? j + i * o.ld : i + j * o.ld);
            if (o.type == R_32F) x = input_rounding(x, compute);
            if (transpose) v[(size_t)(j * r + i)] = x;
            else v[(size_t)(i * c + j)] = x;
        }
    return v;
}

// D = alpha op(A) op(B) + beta C (+ bias[i] on row i); C is not read when beta is 0, as cuBLAS. Columns of D
// are shared out over a few threads (the emulated device is slow enough as it is).
void gemm(Operand a, Operand b, float alpha, float beta, const void* c, void* d, int ctype, long long ldc,
          long long ldd,
          const void* bias, int bias_type, int compute) {
    long long m = a.op_rows(), k = a.op_cols(), n = b.op_cols();
    std::vector<float> ar = unpack(a, false, compute);   // m x k
    std::vector<float> bt = unpack(b, true, compute);    // n x k: column j of op(B) is row j
    auto columns = [&](long long j0, long long j1) {
        for (long long j = j0; j < j1; j++) {
            const float* y = &bt[(size_t)(j * k)];
            for (long long i = 0; i < m; i++) {
                const float* x = &ar[(size_t)(i * k)];
                float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                long long l = 0;
                for (; l + 8 <= k; l += 8)
                    for (int u = 0; u < 8; u++) s[u] += x[l + u] * y[l + u];
                for (; l < k; l++) s[0] += x[l] * y[l];
                float acc = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
                float v = alpha * acc;
                if (beta != 0) v += beta * load(c, ctype, i + j * ldc);
                if (bias) v += load(bias, bias_type, i);
                store(d, ctype, i + j * ldd, v);
            }
        }
    };
    int threads = (int)std::min<long long>(std::max(1u, std::thread::hardware_concurrency()),
                                           std::max<long long>(1, m * n * k / (1 << 20)));
    threads = (int)std::min<long long>(threads, std::max<long long>(n, 1));
    if (threads <= 1) {
        columns(0, n);
        return;
    }
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++) pool.emplace_back(columns, n * t / threads, n * (t + 1) / threads);
    for (auto& t : pool) t.join();
}

int fail(int status, const char* what) {
    fprintf(stderr, "EMU cuBLAS: %s\n", what);
    return status;
}

}  // namespace

#ifdef FAKE_CUBLAS
namespace {
struct Handle {
    cudaStream_t stream = nullptr;
    int math = 0;
    void* workspace = nullptr;   // the user's (cublasSetWorkspace); null: cuBLAS's own pool
    size_t workspace_bytes = 0;
};
}

extern "C" {
// creating and destroying a handle synchronise the device (cublasDestroy is documented to): they break
// captures on other threads
int cublasCreate_v2(Handle** h) {
    emu::device_sync_call("cublasCreate");
    *h = new Handle();
    return STATUS_SUCCESS;
}
int cublasDestroy_v2(Handle* h) {
    emu::device_sync_call("cublasDestroy");
    delete h;
    return STATUS_SUCCESS;
}
int cublasSetStream_v2(Handle* h, cudaStream_t s) {
    h->stream = s;
    h->workspace = nullptr;   // as cuBLAS: setting the stream puts the handle back on its default workspace pool
    h->workspace_bytes = 0;
    return STATUS_SUCCESS;
}
int cublasSetMathMode(Handle* h, int mode) {
    h->math = mode;
    return STATUS_SUCCESS;
}
int cublasSetWorkspace_v2(Handle* h, void* ws, size_t bytes) {
    if ((uintptr_t)ws % 256 != 0) return fail(STATUS_INVALID_VALUE, "cublasSetWorkspace: pointer not 256-byte aligned");
    if (bytes > 0 && !emu::device_range(ws, bytes))
        return fail(STATUS_INVALID_VALUE, "workspace outside an allocation");
    h->workspace = ws;
    h->workspace_bytes = bytes;
    return STATUS_SUCCESS;
}
int cublasGemmEx(Handle* h, int transa, int transb, int m, int n, int k, const void* alpha, const void* A, int atype,
                 int lda, const void* B, int btype, int ldb, const void* beta, void* C, int ctype, int ldc, int compute,
                 int /*algo*/) {
    if (m < 0 || n < 0 || k < 0 || (transa != OP_N && transa != OP_T) || (transb != OP_N && transb != OP_T))
        return fail(STATUS_INVALID_VALUE, "cublasGemmEx: negative size or bad operation");
    Operand a{A, atype, transa == OP_N ? m : k, transa == OP_N ? k : m, lda, transa == OP_T};
    Operand b{B, btype, transb == OP_N ? k : n, transb == OP_N ? n : k, ldb, transb == OP_T};
    if (lda < std::max<long long>(1, a.rows) || ldb < std::max<long long>(1, b.rows) || ldc < std::max(1, m))
        return fail(STATUS_INVALID_VALUE, "cublasGemmEx: a leading dimension is smaller than its matrix");
    if (atype != btype || !supported(atype, ctype, compute))
        return fail(STATUS_NOT_SUPPORTED, "cublasGemmEx: unsupported type combination");
    Operand c{C, ctype, m, n, ldc, false};
    if (!a.fits() || !b.fits() || !c.fits())
        return fail(STATUS_INVALID_VALUE, "cublasGemmEx: a matrix lies outside a live device allocation");
    if (overlaps(c, a) || overlaps(c, b)) return fail(STATUS_INVALID_VALUE, "cublasGemmEx: C overlaps A or B");
    if (!h->workspace && emu::stream_capturing(h->stream))
        return fail(STATUS_NOT_SUPPORTED, "cublasGemmEx under graph capture without a workspace of the caller's "
                                          "(cublasSetWorkspace after cublasSetStream)");
    if (h->workspace && !emu::device_range(h->workspace, h->workspace_bytes))
        return fail(STATUS_INVALID_VALUE, "cublasGemmEx: the handle's workspace was freed");
    if (compute == COMPUTE_32F && (h->math & 0xf) == TF32_TENSOR_OP_MATH) compute = COMPUTE_32F_FAST_TF32;
    float al = *(const float*)alpha, be = *(const float*)beta;   // host pointer mode: read when enqueued
    void* ws = h->workspace;
    size_t ws_bytes = std::min<size_t>(h->workspace_bytes, 256);
    cudaError_t rc = emu::enqueue(h->stream, [=] {
        if (ws) memset(ws, 0xCD, ws_bytes);   // uses its workspace, as cuBLAS may: faults if it was freed meanwhile
        gemm(a, b, al, be, C, C, ctype, ldc, ldc, nullptr, 0, compute);
    });
    return rc ? fail(STATUS_INVALID_VALUE, "cublasGemmEx: the handle's stream is not live") : STATUS_SUCCESS;
}
}  // extern "C"
#endif

#ifdef FAKE_CUBLASLT
namespace {
const int DESC_COMPUTE_TYPE = 0, DESC_SCALE_TYPE = 1, DESC_POINTER_MODE = 2, DESC_TRANSA = 3, DESC_TRANSB = 4,
          DESC_EPILOGUE = 7, DESC_BIAS_POINTER = 8, DESC_BIAS_DATA_TYPE = 26;
const int EPILOGUE_DEFAULT = 1, EPILOGUE_BIAS = 4;
const int PREF_MAX_WORKSPACE_BYTES = 1, PREF_MIN_ALIGNMENT_A_BYTES = 5, PREF_MIN_ALIGNMENT_D_BYTES = 8;
// marks an algorithm of the fake heuristic, which records in it the alignments it was chosen for
const uint64_t ALGO_MAGIC = 0x53564a2d414c474full;

struct LtHandle {};
struct Desc {
    int compute, scale, transa = OP_N, transb = OP_N, epilogue = EPILOGUE_DEFAULT, bias_type = -1;
    const void* bias = nullptr;
};
struct Layout {
    int type;
    long long rows, cols, ld;
};
struct Pref {
    size_t workspace = 0;
    uint32_t align[4] = {256, 256, 256, 256};   // A, B, C, D: cuBLASLt's defaults
};
// cublasLtMatmulHeuristicResult_t
struct Heuristic {
    uint64_t algo[8];
    size_t workspace;
    int state;
    float waves;
    int reserved[4];
};
static_assert(sizeof(Heuristic) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");

template <class T> int set(T& field, const void* buf, size_t size) {
    if (size != sizeof(T)) return fail(STATUS_INVALID_VALUE, "attribute of the wrong size");
    memcpy(&field, buf, sizeof(T));
    return STATUS_SUCCESS;
}

// The problem's shape check, shared by the heuristic and the matmul: op(A) m x k, op(B) k x n, C = D m x n.
int check(const Desc* d, const Layout* a, const Layout* b, const Layout* c, const Layout* dd) {
    long long m = d->transa == OP_T ? a->cols : a->rows, k = d->transa == OP_T ? a->rows : a->cols;
    long long kb = d->transb == OP_T ? b->cols : b->rows, n = d->transb == OP_T ? b->rows : b->cols;
    if (k != kb || c->rows != m || c->cols != n || dd->rows != m || dd->cols != n)
        return fail(STATUS_INVALID_VALUE, "cublasLt: operand dimensions do not match");
    for (const Layout* l : {a, b, c, dd})
        if (l->ld < std::max<long long>(1, l->rows))
            return fail(STATUS_INVALID_VALUE, "cublasLt: a leading dimension is smaller than its matrix");
    if (a->type != b->type || c->type != dd->type || !supported(a->type, c->type, d->compute) || d->scale != R_32F)
        return fail(STATUS_NOT_SUPPORTED, "cublasLt: unsupported type combination");
    if (d->epilogue != EPILOGUE_DEFAULT && d->epilogue != EPILOGUE_BIAS)
        return fail(STATUS_NOT_SUPPORTED, "cublasLt: only the DEFAULT and BIAS epilogues are emulated");
    return STATUS_SUCCESS;
}
}  // namespace

extern "C" {
int cublasLtCreate(LtHandle** h) {
    emu::device_sync_call("cublasLtCreate");
    *h = new LtHandle();
    return STATUS_SUCCESS;
}
int cublasLtDestroy(LtHandle* h) {
    emu::device_sync_call("cublasLtDestroy");
    delete h;
    return STATUS_SUCCESS;
}
int cublasLtMatmulDescCreate(Desc** d, int compute, int scale) {
    *d = new Desc();
    (*d)->compute = compute;
    (*d)->scale = scale;
    return STATUS_SUCCESS;
}
int cublasLtMatmulDescDestroy(Desc* d) {
    delete d;
    return STATUS_SUCCESS;
}
int cublasLtMatmulDescSetAttribute(Desc* d, int attr, const void* buf, size_t size) {
    switch (attr) {
        case DESC_COMPUTE_TYPE: return set(d->compute, buf, size);
        case DESC_SCALE_TYPE: return set(d->scale, buf, size);
        case DESC_POINTER_MODE: {
            int mode;
            int rc = set(mode, buf, size);
            return rc ? rc : mode == 0 ? STATUS_SUCCESS : fail(STATUS_NOT_SUPPORTED, "only host pointer mode");
        }
        case DESC_TRANSA: return set(d->transa, buf, size);
        case DESC_TRANSB: return set(d->transb, buf, size);
        case DESC_EPILOGUE: return set(d->epilogue, buf, size);
        case DESC_BIAS_POINTER: return set(d->bias, buf, size);
        case DESC_BIAS_DATA_TYPE: return set(d->bias_type, buf, size);
        default: return fail(STATUS_NOT_SUPPORTED, "matmul descriptor attribute not emulated");
    }
}
int cublasLtMatrixLayoutCreate(Layout** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (type_bytes(type) == 0) return fail(STATUS_NOT_SUPPORTED, "layout type not emulated");
    *l = new Layout{type, (long long)rows, (long long)cols, (long long)ld};
    return STATUS_SUCCESS;
}
int cublasLtMatrixLayoutDestroy(Layout* l) {
    delete l;
    return STATUS_SUCCESS;
}
int cublasLtMatmulPreferenceCreate(Pref** p) {
    *p = new Pref();
    return STATUS_SUCCESS;
}
int cublasLtMatmulPreferenceDestroy(Pref* p) {
    delete p;
    return STATUS_SUCCESS;
}
int cublasLtMatmulPreferenceSetAttribute(Pref* p, int attr, const void* buf, size_t size) {
    if (attr >= PREF_MIN_ALIGNMENT_A_BYTES && attr <= PREF_MIN_ALIGNMENT_D_BYTES) {
        uint32_t v;
        int rc = set(v, buf, size);
        if (rc == STATUS_SUCCESS) p->align[attr - PREF_MIN_ALIGNMENT_A_BYTES] = v;
        return rc;
    }
    if (attr != PREF_MAX_WORKSPACE_BYTES) return fail(STATUS_NOT_SUPPORTED, "preference attribute not emulated");
    uint64_t v;
    int rc = set(v, buf, size);
    if (rc == STATUS_SUCCESS) p->workspace = v;
    return rc;
}
int cublasLtMatmulAlgoGetHeuristic(LtHandle*, Desc* d, Layout* a, Layout* b, Layout* c, Layout* dd, Pref* pref,
                                   int requested,
                                   Heuristic* results, int* returned) {
    *returned = 0;
    if (requested < 1) return fail(STATUS_INVALID_VALUE, "cublasLtMatmulAlgoGetHeuristic: no result requested");
    if (!pref) return fail(STATUS_INVALID_VALUE, "cublasLtMatmulAlgoGetHeuristic: no preference");
    // CUDA 13's cuBLASLt has been seen to fail the query so ("Could not obtain green context information")
    if (emu::thread_capturing())
        return fail(STATUS_INTERNAL_ERROR, "cublasLtMatmulAlgoGetHeuristic while this thread captures a stream");
    int rc = check(d, a, b, c, dd);
    if (rc) return rc;
    memset(&results[0], 0, sizeof(Heuristic));
    // the algorithm may rely on the alignments the preference promised (256 bytes unless lowered): the matmul
    // checks the pointers it gets against them
    results[0].algo[0] = ALGO_MAGIC;
    for (int i = 0; i < 4; i++) results[0].algo[1 + i] = pref->align[i];
    results[0].waves = 1;
    *returned = 1;
    return STATUS_SUCCESS;
}
int cublasLtMatmul(LtHandle*, Desc* d, const void* alpha, const void* A, Layout* al, const void* B, Layout* bl,
                   const void* beta, const void* C, Layout* cl, void* D, Layout* dl, const void* algo, void* ws,
                   size_t ws_bytes, cudaStream_t stream) {
    int rc = check(d, al, bl, cl, dl);
    if (rc) return rc;
    // null: cuBLASLt runs its own heuristic, for these pointers. An algorithm from the heuristic was chosen for
    // pointers aligned as the preference promised; a GPU given less aligned ones may fault (misaligned address,
    // which ends the CUDA context) or refuse, so the emulated device stops here rather than let a caller's
    // fallback hide it. Our arena gives 256-byte aligned tensors; the bias and the workspace are held to the
    // same (stricter than cuBLASLt documents, and what cudaMalloc gives).
    if (algo) {
        const uint64_t* al64 = (const uint64_t*)algo;
        if (al64[0] != ALGO_MAGIC) return fail(STATUS_INVALID_VALUE, "cublasLtMatmul: algorithm not from the heuristic");
        const void* ptrs[] = {A, B, C, D, d->epilogue == EPILOGUE_BIAS ? d->bias : nullptr, ws};
        const char* names[] = {"A", "B", "C", "D", "bias", "workspace"};
        for (int i = 0; i < 6; i++) {
            uint64_t need = i < 4 ? al64[1 + i] : 256;
            if (ptrs[i] && need && (uintptr_t)ptrs[i] % need != 0) {
                fprintf(stderr, "EMU ERROR: cublasLtMatmul: %s at %p is not %llu-byte aligned, as the algorithm "
                        "from the heuristic assumes (raise the alignment or lower the preference's)\n",
                        names[i], ptrs[i], (unsigned long long)need);
                abort();
            }
        }
    }
    if (ws_bytes > 0 && !emu::device_range(ws, ws_bytes))
        return fail(STATUS_INVALID_VALUE, "workspace outside an allocation");
    Operand a{A, al->type, al->rows, al->cols, al->ld, d->transa == OP_T};
    Operand b{B, bl->type, bl->rows, bl->cols, bl->ld, d->transb == OP_T};
    Operand c{C, cl->type, cl->rows, cl->cols, cl->ld, false};
    Operand dd{D, dl->type, dl->rows, dl->cols, dl->ld, false};
    if (C == D && (cl->ld != dl->ld || cl->type != dl->type))
        return fail(STATUS_INVALID_VALUE, "cublasLtMatmul: in-place C = D with different layouts");
    if (!a.fits() || !b.fits() || !c.fits() || !dd.fits())
        return fail(STATUS_INVALID_VALUE, "cublasLtMatmul: a matrix lies outside a live device allocation");
    if (overlaps(dd, a) || overlaps(dd, b)) return fail(STATUS_INVALID_VALUE, "cublasLtMatmul: D overlaps A or B");
    const void* bias = nullptr;
    int bias_type = d->bias_type < 0 ? dl->type : d->bias_type;
    if (d->epilogue == EPILOGUE_BIAS) {
        bias = d->bias;
        if (!bias || !emu::device_range(bias, (size_t)dl->rows * type_bytes(bias_type)))
            return fail(STATUS_INVALID_VALUE, "cublasLtMatmul: the bias lies outside a live device allocation");
    }
    float alv = *(const float*)alpha, bev = *(const float*)beta;   // host pointer mode: read when enqueued
    int compute = d->compute;
    long long ldc = cl->ld, ldd = dl->ld;
    int ctype = dl->type;
    size_t scribble = std::min<size_t>(ws_bytes, 256);
    cudaError_t queued = emu::enqueue(stream, [=] {
        if (ws) memset(ws, 0xCD, scribble);   // uses its workspace: faults if it was freed meanwhile
        gemm(a, b, alv, bev, C, D, ctype, ldc, ldd, bias, bias_type, compute);
    });
    return queued ? fail(STATUS_INVALID_VALUE, "cublasLtMatmul: the stream is not live") : STATUS_SUCCESS;
}
}  // extern "C"
#endif
