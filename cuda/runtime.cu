// Runtime helpers: devices, memory, streams, graphs, events. Thin wrappers returning error codes.
#include "common.cuh"
#include <string.h>

extern "C" {

int svj_runtime_version(int* v) { return v ? (int)cudaRuntimeGetVersion(v) : SVJ_EINVAL; }
int svj_driver_version(int* v) { return v ? (int)cudaDriverGetVersion(v) : SVJ_EINVAL; }

int svj_device_count(int* count) {
    if (!count) return SVJ_EINVAL;
    *count = 0;
    return (int)cudaGetDeviceCount(count);
}

int svj_device_name(int device, char* name, int capacity) {
    if (!name || capacity <= 0) return SVJ_EINVAL;
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) return (int)e;
    strncpy(name, p.name, (size_t)capacity - 1);
    name[capacity - 1] = 0;
    return 0;
}

int svj_device_capability(int device, int* major, int* minor) {
    if (!major || !minor) return SVJ_EINVAL;
    cudaError_t e = cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, device);
    if (e != cudaSuccess) return (int)e;
    return (int)cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, device);
}

int svj_set_device(int device) { return (int)cudaSetDevice(device); }

const char* svj_error_string(int code) {
    if (code == SVJ_EINVAL) return "invalid argument (SparseViT-J entry check)";
    return cudaGetErrorString((cudaError_t)code);
}

int svj_malloc(void** ptr, long long bytes) {
    if (!ptr || bytes < 0) return SVJ_EINVAL;
    return (int)cudaMalloc(ptr, (size_t)(bytes > 0 ? bytes : 1));
}
int svj_free(void* ptr) { return (int)cudaFree(ptr); }

int svj_memcpy_h2d(void* dst, const void* src, long long bytes, void* stream) {
    if ((!dst || !src) && bytes > 0) return SVJ_EINVAL;
    if (bytes == 0) return 0;
    return (int)cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyHostToDevice, (cudaStream_t)stream);
}
int svj_memcpy_d2h(void* dst, const void* src, long long bytes, void* stream) {
    if ((!dst || !src) && bytes > 0) return SVJ_EINVAL;
    if (bytes == 0) return 0;
    cudaError_t e = cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyDeviceToHost, (cudaStream_t)stream);
    if (e != cudaSuccess) return (int)e;
    return (int)cudaStreamSynchronize((cudaStream_t)stream);
}
int svj_memcpy_d2d(void* dst, const void* src, long long bytes, void* stream) {
    if ((!dst || !src) && bytes > 0) return SVJ_EINVAL;
    if (bytes == 0) return 0;
    return (int)cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream);
}
int svj_memset(void* dst, int value, long long bytes, void* stream) {
    if (!dst && bytes > 0) return SVJ_EINVAL;
    if (bytes == 0) return 0;
    return (int)cudaMemsetAsync(dst, value, (size_t)bytes, (cudaStream_t)stream);
}

int svj_stream_create(void** s) {
    if (!s) return SVJ_EINVAL;
    return (int)cudaStreamCreateWithFlags((cudaStream_t*)s, cudaStreamNonBlocking);
}
int svj_stream_destroy(void* s) { return (int)cudaStreamDestroy((cudaStream_t)s); }
int svj_stream_synchronize(void* s) { return (int)cudaStreamSynchronize((cudaStream_t)s); }

int svj_graph_begin_capture(void* s) {
    return (int)cudaStreamBeginCapture((cudaStream_t)s, cudaStreamCaptureModeThreadLocal);
}
int svj_graph_end_capture(void* s, void** exec) {
    if (!exec) return SVJ_EINVAL;
    cudaGraph_t g;
    cudaError_t e = cudaStreamEndCapture((cudaStream_t)s, &g);
    if (e != cudaSuccess) return (int)e;
    e = cudaGraphInstantiate((cudaGraphExec_t*)exec, g, 0);
    cudaGraphDestroy(g);
    return (int)e;
}
int svj_graph_launch(void* exec, void* s) { return (int)cudaGraphLaunch((cudaGraphExec_t)exec, (cudaStream_t)s); }
int svj_graph_destroy(void* exec) { return (int)cudaGraphExecDestroy((cudaGraphExec_t)exec); }

int svj_event_create(void** ev) { return ev ? (int)cudaEventCreate((cudaEvent_t*)ev) : SVJ_EINVAL; }
int svj_event_destroy(void* ev) { return (int)cudaEventDestroy((cudaEvent_t)ev); }
int svj_event_record(void* ev, void* s) { return (int)cudaEventRecord((cudaEvent_t)ev, (cudaStream_t)s); }
int svj_event_elapsed_ms(void* a, void* b, float* ms) {
    if (!ms) return SVJ_EINVAL;
    cudaError_t e = cudaEventSynchronize((cudaEvent_t)b);
    if (e != cudaSuccess) return (int)e;
    return (int)cudaEventElapsedTime(ms, (cudaEvent_t)a, (cudaEvent_t)b);
}

}  // extern "C"
