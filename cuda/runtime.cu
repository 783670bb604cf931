// Runtime helpers: error details, devices, memory, streams, graphs, events. Thin wrappers returning codes.
#include "common.cuh"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// ------------------------------------------------------------------ errors

static thread_local char g_last_error[512];

int svj_fail(int code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    return code;
}

int svj_rt(cudaError_t e, const char* op) {
    if (e == cudaSuccess) return 0;
    cudaGetLastError();   // clear the non-sticky error so the next launch check does not see it again
    return svj_fail((int)e, "%s: %s (%s)", op, cudaGetErrorString(e), cudaGetErrorName(e));
}

int svj_launch(const char* op) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return 0;
    return svj_fail((int)e, "%s: kernel launch failed: %s (%s)", op, cudaGetErrorString(e), cudaGetErrorName(e));
}

int svj_smem_optin(const void* kernel, size_t bytes, SvjSmemRaised* raised, const char* op) {
    if (bytes <= 48 * 1024) return 0;
    int dev = 0, optin = 0;
    int rc = svj_rt(cudaGetDevice(&dev), op);
    if (rc) return rc;
    // beyond SVJ_MAX_DEVICES the attribute is set on every launch
    int* raised_to = dev >= 0 && dev < SVJ_MAX_DEVICES ? &raised->bytes[dev] : nullptr;
    if (raised_to && (int)bytes <= __atomic_load_n(raised_to, __ATOMIC_RELAXED)) return 0;
    rc = svj_rt(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), op);
    if (rc) return rc;
    cudaFuncAttributes fa;
    rc = svj_rt(cudaFuncGetAttributes(&fa, kernel), op);
    if (rc) return rc;
    int limit = optin - (int)fa.sharedSizeBytes;   // dynamic shared memory beside the kernel's static arrays
    if ((long long)bytes > limit)
        return svj_fail(SVJ_EINVAL, "%s: needs %lld bytes of shared memory, the device allows %d", op,
                        (long long)bytes, limit);
    // always the device's whole limit, never the size at hand: threads raising it for different sizes at once
    // then all set the same value, and none can lower it under another's launch
    rc = svj_rt(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, limit), op);
    if (rc) return rc;
    if (raised_to) __atomic_store_n(raised_to, limit, __ATOMIC_RELAXED);
    return 0;
}

extern "C" {

const char* svj_error_string(int code) {
    if (code == 0) return "no error";
    if (code == SVJ_EINVAL) return "invalid argument (SparseViT-J entry check)";
    return cudaGetErrorString((cudaError_t)code);
}

const char* svj_last_error_string(void) { return g_last_error; }

// ------------------------------------------------------------------ devices

int svj_runtime_version(int* v) {
    SVJ_REQUIRE(v, "svj_runtime_version: null output");
    return svj_rt(cudaRuntimeGetVersion(v), "cudaRuntimeGetVersion");
}

int svj_driver_version(int* v) {
    SVJ_REQUIRE(v, "svj_driver_version: null output");
    *v = 0;
    return svj_rt(cudaDriverGetVersion(v), "cudaDriverGetVersion");
}

int svj_device_count(int* count) {
    SVJ_REQUIRE(count, "svj_device_count: null output");
    *count = 0;
    int rc = svj_rt(cudaGetDeviceCount(count), "cudaGetDeviceCount");
    if (rc) *count = 0;
    return rc;
}

int svj_device_name(int device, char* name, int capacity) {
    SVJ_REQUIRE(name && capacity > 0, "svj_device_name: null or empty output buffer");
    name[0] = 0;
    cudaDeviceProp p;
    int rc = svj_rt(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
    if (rc) return rc;
    strncpy(name, p.name, (size_t)capacity - 1);
    name[capacity - 1] = 0;
    return 0;
}

int svj_device_capability(int device, int* major, int* minor) {
    SVJ_REQUIRE(major && minor, "svj_device_capability: null output");
    int rc = svj_rt(cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
    if (rc) return rc;
    return svj_rt(cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute");
}

// A kernel that does nothing: whether the current device can run this library's kernels (a binary for its
// architecture, or PTX it can compile) shows in its attributes. Every kernel file is built for the same targets.
__global__ void svj_probe_kernel() {}

int svj_device_sm_count(int device, int* count) {
    SVJ_REQUIRE(count, "svj_device_sm_count: null output");
    return svj_rt(cudaDeviceGetAttribute(count, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
}

int svj_kernel_image_check(void) {
    cudaFuncAttributes a;
    return svj_rt(cudaFuncGetAttributes(&a, (const void*)svj_probe_kernel), "cudaFuncGetAttributes (kernel image)");
}

int svj_device_smem_optin(int device, int* bytes) {
    SVJ_REQUIRE(bytes, "svj_device_smem_optin: null output");
    return svj_rt(cudaDeviceGetAttribute(bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
                  "cudaDeviceGetAttribute");
}

int svj_device_memory(long long* free_bytes, long long* total_bytes) {
    SVJ_REQUIRE(free_bytes && total_bytes, "svj_device_memory: null output");
    size_t f = 0, t = 0;
    int rc = svj_rt(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
    *free_bytes = (long long)f;
    *total_bytes = (long long)t;
    return rc;
}

int svj_set_device(int device) { return svj_rt(cudaSetDevice(device), "cudaSetDevice"); }

// ------------------------------------------------------------------ memory

int svj_malloc(void** ptr, long long bytes) {
    SVJ_REQUIRE(ptr && bytes >= 0, "svj_malloc: null output or negative size %lld", bytes);
    *ptr = nullptr;
    // While this thread captures a graph (begun in thread-local mode, see svj_graph_begin_capture), cudaMalloc
    // counts as "potentially unsafe": it would fail with cudaErrorStreamCaptureUnsupported and invalidate the
    // capture. The session does allocate during a capture (a pool miss) and keeps such memory for the graph's
    // lifetime, so this one call runs with the thread's capture mode relaxed, then the mode is put back.
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    int rc = svj_rt(cudaThreadExchangeStreamCaptureMode(&mode), "cudaThreadExchangeStreamCaptureMode");
    if (rc) return rc;
    cudaError_t e = cudaMalloc(ptr, (size_t)(bytes > 0 ? bytes : 1));
    cudaThreadExchangeStreamCaptureMode(&mode);
    return svj_rt(e, "cudaMalloc");
}

int svj_free(void* ptr) { return ptr ? svj_rt(cudaFree(ptr), "cudaFree") : 0; }

static int copy(void* dst, const void* src, long long bytes, cudaMemcpyKind kind, void* stream, bool sync,
                const char* op) {
    SVJ_REQUIRE(bytes >= 0 && ((dst && src) || bytes == 0), "%s: null pointer or negative size %lld", op, bytes);
    if (bytes == 0) return 0;
    int rc = svj_rt(cudaMemcpyAsync(dst, src, (size_t)bytes, kind, (cudaStream_t)stream), op);
    if (rc || !sync) return rc;
    return svj_rt(cudaStreamSynchronize((cudaStream_t)stream), op);
}

int svj_memcpy_h2d(void* dst, const void* src, long long bytes, void* stream) {
    return copy(dst, src, bytes, cudaMemcpyHostToDevice, stream, true, "svj_memcpy_h2d");
}
int svj_memcpy_d2h(void* dst, const void* src, long long bytes, void* stream) {
    return copy(dst, src, bytes, cudaMemcpyDeviceToHost, stream, true, "svj_memcpy_d2h");
}
int svj_memcpy_h2d_part(void* dst, const void* host_base, long long host_offset, long long bytes, void* stream) {
    SVJ_REQUIRE(host_offset >= 0, "svj_memcpy_h2d_part: negative host offset %lld", host_offset);
    const char* src = host_base ? (const char*)host_base + host_offset : nullptr;
    return copy(dst, src, bytes, cudaMemcpyHostToDevice, stream, true, "svj_memcpy_h2d_part");
}
int svj_memcpy_d2h_part(void* host_base, long long host_offset, const void* src, long long bytes, void* stream) {
    SVJ_REQUIRE(host_offset >= 0, "svj_memcpy_d2h_part: negative host offset %lld", host_offset);
    char* dst = host_base ? (char*)host_base + host_offset : nullptr;
    return copy(dst, src, bytes, cudaMemcpyDeviceToHost, stream, true, "svj_memcpy_d2h_part");
}
int svj_memcpy_h2d_async(void* dst, const void* src, long long bytes, void* stream) {
    return copy(dst, src, bytes, cudaMemcpyHostToDevice, stream, false, "svj_memcpy_h2d_async");
}
int svj_memcpy_d2h_async(void* dst, const void* src, long long bytes, void* stream) {
    return copy(dst, src, bytes, cudaMemcpyDeviceToHost, stream, false, "svj_memcpy_d2h_async");
}
int svj_memcpy_d2d(void* dst, const void* src, long long bytes, void* stream) {
    return copy(dst, src, bytes, cudaMemcpyDeviceToDevice, stream, false, "svj_memcpy_d2d");
}

int svj_memset(void* dst, int value, long long bytes, void* stream) {
    SVJ_REQUIRE(bytes >= 0 && (dst || bytes == 0), "svj_memset: null pointer or negative size %lld", bytes);
    if (bytes == 0) return 0;
    return svj_rt(cudaMemsetAsync(dst, value, (size_t)bytes, (cudaStream_t)stream), "cudaMemsetAsync");
}

// ------------------------------------------------------------------ streams

int svj_stream_create(void** s) {
    SVJ_REQUIRE(s, "svj_stream_create: null output");
    *s = nullptr;
    return svj_rt(cudaStreamCreateWithFlags((cudaStream_t*)s, cudaStreamNonBlocking), "cudaStreamCreate");
}
int svj_stream_destroy(void* s) { return s ? svj_rt(cudaStreamDestroy((cudaStream_t)s), "cudaStreamDestroy") : 0; }
int svj_stream_synchronize(void* s) {
    return svj_rt(cudaStreamSynchronize((cudaStream_t)s), "cudaStreamSynchronize");
}

// ------------------------------------------------------------------ graphs

int svj_graph_begin_capture(void* s) {
    SVJ_REQUIRE(s, "svj_graph_begin_capture: the legacy default stream cannot be captured");
    return svj_rt(cudaStreamBeginCapture((cudaStream_t)s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
}

int svj_graph_end_capture(void* s, void** exec) {
    SVJ_REQUIRE(s && exec, "svj_graph_end_capture: null stream or output");
    *exec = nullptr;
    cudaGraph_t g = nullptr;
    int rc = svj_rt(cudaStreamEndCapture((cudaStream_t)s, &g), "cudaStreamEndCapture");
    if (rc) {
        if (g) cudaGraphDestroy(g);
        return rc;
    }
    rc = svj_rt(cudaGraphInstantiate((cudaGraphExec_t*)exec, g, 0), "cudaGraphInstantiate");
    cudaGraphDestroy(g);
    return rc;
}

int svj_graph_launch(void* exec, void* s) {
    SVJ_REQUIRE(exec, "svj_graph_launch: null graph");
    return svj_rt(cudaGraphLaunch((cudaGraphExec_t)exec, (cudaStream_t)s), "cudaGraphLaunch");
}

int svj_graph_destroy(void* exec) {
    return exec ? svj_rt(cudaGraphExecDestroy((cudaGraphExec_t)exec), "cudaGraphExecDestroy") : 0;
}

// ------------------------------------------------------------------ events

int svj_event_create(void** ev) {
    SVJ_REQUIRE(ev, "svj_event_create: null output");
    *ev = nullptr;
    return svj_rt(cudaEventCreate((cudaEvent_t*)ev), "cudaEventCreate");
}
int svj_event_destroy(void* ev) { return ev ? svj_rt(cudaEventDestroy((cudaEvent_t)ev), "cudaEventDestroy") : 0; }
int svj_event_record(void* ev, void* s) {
    SVJ_REQUIRE(ev, "svj_event_record: null event");
    return svj_rt(cudaEventRecord((cudaEvent_t)ev, (cudaStream_t)s), "cudaEventRecord");
}
int svj_event_elapsed_ms(void* a, void* b, float* ms) {
    SVJ_REQUIRE(a && b && ms, "svj_event_elapsed_ms: null event or output");
    int rc = svj_rt(cudaEventSynchronize((cudaEvent_t)b), "cudaEventSynchronize");
    if (rc) return rc;
    return svj_rt(cudaEventElapsedTime(ms, (cudaEvent_t)a, (cudaEvent_t)b), "cudaEventElapsedTime");
}

}  // extern "C"
