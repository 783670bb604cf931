// Model input from 8-bit frames: interleaved HWC bytes (RGB or BGR) -> normalised NCHW RGB float, stored as
// F32/F16/BF16. The value is (v / 255 - mean[c]) / std[c] in float32 in exactly that order, as the Java twin
// (Frames.normalise, Images.toTensor) computes it: two IEEE divisions and a subtraction, nothing nvcc may
// contract into an FMA or replace by a reciprocal (the build uses neither fast-math nor -prec-div=false), so
// F32 is bitwise the CPU's, and F16/BF16 are its values rounded to nearest even.
#include "common.cuh"
#include <cmath>

struct FramesParams {
    const unsigned char* pixels;   // [B, H, W, 3] bytes
    void* out;                     // [B, 3, H, W] of T
    long long pixels_per_image;    // H * W
    long long n;                   // B * H * W pixels
    int src[3];                    // byte offset within a pixel of RGB channel c (BGR: 2 - c)
    float mean[3];                 // per RGB channel
    float std[3];                  // per RGB channel
};

// One thread per pixel: it reads the pixel's 3 bytes and writes one value to each of the 3 channel planes of its
// image (consecutive threads write consecutive addresses of each plane).
template <typename T>
__global__ void frames_to_tensor_kernel(FramesParams p) {
    T* out = (T*)p.out;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x) {
        long long b = i / p.pixels_per_image;
        long long q = i - b * p.pixels_per_image;
        const unsigned char* px = p.pixels + i * 3;
        T* o = out + b * 3 * p.pixels_per_image + q;
#pragma unroll
        for (int c = 0; c < 3; c++) {
            float v = (float)px[p.src[c]];
            float r = (v / 255.0f - p.mean[c]) / p.std[c];
            o[c * p.pixels_per_image] = from_float<T>(r);
        }
    }
}

template <typename T>
static int launch_frames(const unsigned char* pixels, void* out, long long per_image, long long n, int bgr,
                         const float* mean, const float* stdv, cudaStream_t s) {
    FramesParams p;
    p.pixels = pixels;
    p.out = out;
    p.pixels_per_image = per_image;
    p.n = n;
    for (int c = 0; c < 3; c++) {
        p.src[c] = bgr ? 2 - c : c;
        p.mean[c] = mean[c];
        p.std[c] = stdv[c];
    }
    frames_to_tensor_kernel<T><<<blocks_for(n, 256), 256, 0, s>>>(p);
    return svj_launch("svj_frames_to_tensor");
}

extern "C" {

int svj_frames_to_tensor(const void* pixels, void* out, int dtype, int batch, int height, int width,
                         int channel_order, float mean_r, float mean_g, float mean_b, float std_r, float std_g,
                         float std_b, void* stream) {
    const char* op = "svj_frames_to_tensor";
    SVJ_REQUIRE(pixels && out, "%s: null pointer", op);
    SVJ_REQUIRE(batch > 0 && height > 0 && width > 0, "%s: %d frames of %dx%d", op, batch, width, height);
    SVJ_REQUIRE(svj_is_float(dtype), "%s: dtype %d is not F32, F16 or BF16", op, dtype);
    SVJ_REQUIRE(channel_order == 0 || channel_order == 1, "%s: channel order %d (0 = RGB, 1 = BGR)", op,
                channel_order);
    const float mean[3] = {mean_r, mean_g, mean_b};
    const float stdv[3] = {std_r, std_g, std_b};
    for (int c = 0; c < 3; c++) {
        SVJ_REQUIRE(std::isfinite(mean[c]), "%s: mean[%d] = %g is not finite", op, c, (double)mean[c]);
        SVJ_REQUIRE(std::isfinite(stdv[c]) && stdv[c] > 0.f, "%s: std[%d] = %g must be finite and positive", op, c,
                    (double)stdv[c]);
    }
    long long per_image = (long long)height * width;
    long long n = per_image * batch;
    // the NCHW output's offsets (and the bytes' offsets, 3 per pixel) stay far inside 64 bits
    SVJ_REQUIRE(n <= (1LL << 40), "%s: %lld pixels", op, n);
    const unsigned char* px = (const unsigned char*)pixels;
    const unsigned char* end = px + 3 * n;
    SVJ_REQUIRE((const char*)out >= (const char*)end
                    || (const char*)out + 3 * n * svj_dtype_bytes(dtype) <= (const char*)pixels,
                "%s: the output overlaps the pixels", op);
    SVJ_DISPATCH_FLOAT(dtype, op, launch_frames, px, out, per_image, n, channel_order, mean, stdv,
                       (cudaStream_t)stream)
}

}  // extern "C"
