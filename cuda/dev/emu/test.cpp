// The extern "C" entries of cuda/*.cu, run on the emulator, against straightforward host references written
// from the Java CPU backend's semantics (WindowGrid, CpuBackend): data movement and the importance/sort
// chain bitwise, FP32 math within 1e-5, F16/BF16 within 1e-2 of max|ref| (F16 attention: 2e-3).
#include "emu.h"
#include "sparsevit_cuda.h"
#include <random>
#include <numeric>
#include <string>
#include <csignal>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>
namespace emu { extern long launches; extern long cub_calls; }

static int failures = 0;
#define CHECK(c, ...) do { if (!(c)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)
#define RC(x) do { int _rc = (x); if (_rc) { failures++; fprintf(stderr, "FAIL %s:%d rc=%d %s\n", __FILE__, __LINE__, _rc, svj_last_error_string()); } } while (0)

static std::mt19937 rng(42);
static std::vector<float> randn(size_t n) {
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// storage emulation
static float round_to(float v, int dt) {
    if (dt == SVJ_F16) return __half2float(__float2half_rn(v));
    if (dt == SVJ_BF16) return __bfloat162float(__float2bfloat16_rn(v));
    return v;
}
struct Buf {   // device buffer of a dtype built from floats; `off` elements before it shift its base (misalignment)
    int dt; std::vector<char> b; size_t off = 0;
    Buf(const std::vector<float>& v, int dt_, size_t off_ = 0) : dt(dt_), off(off_) {
        b.assign((v.size() + off) * (dt == SVJ_F32 ? 4 : 2), (char)0x5A);
        for (size_t i = 0; i < v.size(); i++) set(i, v[i]);
    }
    Buf(size_t n, int dt_, size_t off_ = 0) : dt(dt_), off(off_) { b.assign((n + off) * (dt == SVJ_F32 ? 4 : 2), (char)0x5A); }
    size_t es() const { return dt == SVJ_F32 ? 4 : 2; }
    void set(size_t i, float v) {
        i += off;
        if (dt == SVJ_F32) memcpy(&b[i * 4], &v, 4);
        else if (dt == SVJ_F16) { __half h = __float2half_rn(v); memcpy(&b[i * 2], &h, 2); }
        else { __nv_bfloat16 h = __float2bfloat16_rn(v); memcpy(&b[i * 2], &h, 2); }
    }
    float get(size_t i) const {
        i += off;
        if (dt == SVJ_F32) { float v; memcpy(&v, &b[i * 4], 4); return v; }
        if (dt == SVJ_F16) { __half h; memcpy(&h, &b[i * 2], 2); return __half2float(h); }
        __nv_bfloat16 h; memcpy(&h, &b[i * 2], 2); return __bfloat162float(h);
    }
    size_t n() const { return b.size() / es() - off; }
    std::vector<float> f() const { std::vector<float> v(n()); for (size_t i = 0; i < n(); i++) v[i] = get(i); return v; }
    void* p() { return b.data() + off * es(); }
};
static std::vector<float> rounded(std::vector<float> v, int dt) { for (auto& x : v) x = round_to(x, dt); return v; }

static bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    return a.empty() || memcmp(a.data(), b.data(), a.size() * 4) == 0;
}
static double rel_err(const std::vector<float>& ref, const std::vector<float>& got) {
    double m = 0, d = 0;
    for (size_t i = 0; i < ref.size(); i++) { m = std::max(m, (double)fabs(ref[i])); d = std::max(d, (double)fabs(ref[i] - got[i])); if (got[i] != got[i]) return 1e30; }
    return m == 0 ? d : d / m;
}

// ---------------------------------------------------------------- reference window grid (WindowGrid.java)
struct G { int h, w, win, shift, bw;
    int Hp() const { return (h + win - 1) / win * win; } int Wp() const { return (w + win - 1) / win * win; }
    int nWw() const { return Wp() / win; } int nW() const { return Hp() / win * nWw(); } int N() const { return win * win; }
    int src(int wi, int t) const { int r = wi / nWw(), c = wi % nWw(); int i = r * win + t / win, j = c * win + t % win;
        int pi = shift == 0 ? i : (i + shift) % Hp(); int pj = shift == 0 ? j : (j + shift) % Wp();
        return pi < h && pj < w ? pi * w + pj : -1; }
    int band(int i, int p) const { return i < p - win ? 0 : (i < p - shift ? 1 : 2); }
    int region(int wi, int t) const { if (!shift) return 0; int i = (wi / nWw()) * win + t / win, j = (wi % nWw()) * win + t % win; return band(i, Hp()) * 3 + band(j, Wp()); }
    int biasRow(int q, int k) const { int dy = q / win - k / win, dx = q % win - k % win; return (dy + bw - 1) * (2 * bw - 1) + (dx + bw - 1); }
};

static std::vector<int> perm_order(int b, int nW) {
    std::vector<int> o(b * nW);
    for (int bb = 0; bb < b; bb++) { std::vector<int> p(nW); std::iota(p.begin(), p.end(), 0); std::shuffle(p.begin(), p.end(), rng); std::copy(p.begin(), p.end(), o.begin() + bb * nW); }
    return o;
}

static void test_windows(G g, int c, int dt) {
    int b = 2, nW = g.nW(), N = g.N();
    auto ord = perm_order(b, nW);
    auto xs = randn((size_t)b * g.h * g.w * c);
    int ks[] = {0, 1, nW / 3, nW - 1, nW};
    for (int k : ks) {
        for (int natural = 0; natural < 2; natural++) {
            if (natural && k != nW) continue;
            const int* op = natural ? nullptr : ord.data();
            auto win = [&](int bb, int j) { return natural ? j : ord[bb * nW + j]; };
            // gather
            Buf x(xs, dt), tile((size_t)b * k * N * c, dt);
            RC(svj_gather_windows(x.p(), tile.p(), op, dt, b, g.h, g.w, c, g.win, g.shift, k, 0));
            auto xr = rounded(xs, dt);
            std::vector<float> ref((size_t)b * k * N * c);
            for (int bb = 0; bb < b; bb++) for (int j = 0; j < k; j++) for (int t = 0; t < N; t++) {
                int s = g.src(win(bb, j), t);
                for (int e = 0; e < c; e++) ref[(((size_t)bb * k + j) * N + t) * c + e] = s < 0 ? 0.f : xr[((size_t)bb * g.h * g.w + s) * c + e];
            }
            CHECK(same_bits(ref, tile.f()), "gather %dx%d w%d s%d c%d dt%d k%d nat%d", g.h, g.w, g.win, g.shift, c, dt, k, natural);
            // scatter
            auto ts = randn((size_t)b * k * N * c);
            Buf t2(ts, dt), x2(xs, dt);
            RC(svj_scatter_windows(t2.p(), x2.p(), op, dt, b, g.h, g.w, c, g.win, g.shift, k, 0));
            auto sref = xr; auto tr = rounded(ts, dt);
            for (int bb = 0; bb < b; bb++) for (int j = 0; j < k; j++) for (int t = 0; t < N; t++) {
                int s = g.src(win(bb, j), t);
                if (s >= 0) for (int e = 0; e < c; e++) sref[((size_t)bb * g.h * g.w + s) * c + e] = tr[(((size_t)bb * k + j) * N + t) * c + e];
            }
            CHECK(same_bits(sref, x2.f()), "scatter %dx%d w%d s%d c%d dt%d k%d", g.h, g.w, g.win, g.shift, c, dt, k);
            // zero padding
            Buf t3(ts, dt);
            RC(svj_zero_padding(t3.p(), op, dt, b, g.h, g.w, c, g.win, g.shift, k, 0));
            auto zref = tr;
            for (int bb = 0; bb < b; bb++) for (int j = 0; j < k; j++) for (int t = 0; t < N; t++)
                if (g.src(win(bb, j), t) < 0) for (int e = 0; e < c; e++) zref[(((size_t)bb * k + j) * N + t) * c + e] = 0.f;
            CHECK(same_bits(zref, t3.f()), "zeroPadding %dx%d w%d s%d c%d dt%d k%d", g.h, g.w, g.win, g.shift, c, dt, k);
        }
    }
}

// shift_in / shift_out: qkv / out one element past a 16-byte boundary (the kernels' element-wise fallbacks);
// natural: no order list (k = nW)
static void test_attention(G g, int c, int heads, int dt, int kk, bool shift_in = false, bool shift_out = false,
                           bool natural = false) {
    int b = 2, nW = g.nW(), N = g.N(), d = c / heads, tw = 2 * g.bw - 1;
    int k = natural || kk < 0 ? nW : std::min(kk, nW);
    auto ord = perm_order(b, nW);
    if (natural) for (int i = 0; i < b * nW; i++) ord[i] = i % nW;   // the reference's window numbers
    auto qs = randn((size_t)b * k * N * 3 * c), tbs = randn((size_t)tw * tw * heads);
    std::vector<float> qpad = qs;
    if (shift_in) qpad.insert(qpad.begin(), 0.f);
    const int eb = dt == SVJ_F32 ? 4 : 2;
    Buf qkv(qpad, dt), tb(tbs, dt), outb((size_t)b * k * N * c + 1, dt);
    char* qp = (char*)qkv.p() + (shift_in ? eb : 0);
    char* op = (char*)outb.p() + (shift_out ? eb : 0);
    CHECK((uintptr_t)qkv.p() % 16 == 0 && (uintptr_t)outb.p() % 16 == 0, "attention: test buffers not 16-byte aligned");
    RC(svj_window_attention(qp, tb.p(), op, natural ? nullptr : ord.data(), dt, b, g.h, g.w, c, heads, g.win, g.shift,
                            g.bw, k, 0));
    std::vector<float> got((size_t)b * k * N * c);
    for (size_t i = 0; i < got.size(); i++) got[i] = outb.get(i + (shift_out ? 1 : 0));
    CHECK(shift_out || outb.b[got.size() * eb] == (char)0x5A, "attention: wrote past the output");
    auto q = rounded(qs, dt), t = rounded(tbs, dt);
    std::vector<float> ref((size_t)b * k * N * c);
    float scale = 1.0f / sqrtf((float)d);
    for (int bb = 0; bb < b; bb++) for (int j = 0; j < k; j++) {
        int w = ord[bb * nW + j];
        const float* base = &q[((size_t)bb * k + j) * N * 3 * c];
        for (int h = 0; h < heads; h++) for (int qi = 0; qi < N; qi++) {
            std::vector<double> s(N);
            double mx = -1e300;
            for (int ki = 0; ki < N; ki++) {
                double a = 0;
                for (int e = 0; e < d; e++) a += (double)(base[qi * 3 * c + h * d + e] * scale) * base[ki * 3 * c + c + h * d + e];
                a += t[g.biasRow(qi, ki) * heads + h];
                if (g.region(w, qi) != g.region(w, ki)) a -= 100;
                s[ki] = a; mx = std::max(mx, a);
            }
            double sum = 0; for (auto& v : s) { v = exp(v - mx); sum += v; }
            for (int e = 0; e < d; e++) { double o = 0; for (int ki = 0; ki < N; ki++) o += s[ki] / sum * base[ki * 3 * c + 2 * c + h * d + e];
                ref[(((size_t)bb * k + j) * N + qi) * c + h * d + e] = (float)o; }
        }
    }
    double err = rel_err(ref, got);
    CHECK(err < (dt == SVJ_F32 ? 1e-5 : dt == SVJ_F16 ? 2e-3 : 1e-2), "attention %dx%d w%d s%d bw%d c%d h%d dt%d k%d in%d out%d nat%d: rel err %g", g.h, g.w, g.win, g.shift, g.bw, c, heads, dt, k, shift_in, shift_out, natural, err);
}

// LayerNorm (plain, or after the residual add) against the CPU-like reference (double), in place bitwise equal to
// out of place. `skip` elements before x, b and out and `gskip` before gamma and beta misalign those bases (the
// kernels then read elements instead of 16-byte pieces). The data depends on (rows, c, dt, add) only, so the
// callers can compare the layouts bitwise. Returns out.
static std::vector<float> test_layernorm(long long rows, int c, int dt, bool add, int skip = 0, int gskip = 0) {
    std::mt19937 r(1000003u * (unsigned)c + 7919u * (unsigned)rows + 31u * dt + add);
    std::normal_distribution<float> nd;
    auto gen = [&](size_t n) { std::vector<float> v(n); for (auto& x : v) x = nd(r); return v; };
    auto xs = gen(rows * c), bs = gen(rows * c), gs = gen(c), be = gen(c);
    for (long long q = 0; q < rows; q += 3) for (int j = 0; j < c; j++) xs[q * c + j] += 4.f;   // some rows off-centre
    Buf x(xs, dt, skip), bb(bs, dt, skip), ga(gs, dt, gskip), bt(be, dt, gskip), out(rows * c, dt, skip);
    if (add) RC(svj_add_layer_norm(x.p(), bb.p(), ga.p(), bt.p(), out.p(), dt, rows, c, 1e-5f, 0));
    else RC(svj_layer_norm(x.p(), ga.p(), bt.p(), out.p(), dt, rows, c, 1e-5f, 0));
    auto xr = rounded(xs, dt), br = rounded(bs, dt), gr = rounded(gs, dt), er = rounded(be, dt);
    if (add) for (size_t i = 0; i < xr.size(); i++) xr[i] = round_to(xr[i] + br[i], dt);
    std::vector<float> ref(rows * c);
    for (long long r = 0; r < rows; r++) {
        double s = 0; for (int j = 0; j < c; j++) s += xr[r * c + j];
        double mean = s / c, v = 0; for (int j = 0; j < c; j++) v += (xr[r * c + j] - mean) * (xr[r * c + j] - mean);
        double inv = 1 / sqrt(v / c + 1e-5);
        for (int j = 0; j < c; j++) ref[r * c + j] = (float)((xr[r * c + j] - mean) * inv * gr[j] + er[j]);
    }
    double err = rel_err(ref, out.f());
    CHECK(err < (dt == SVJ_F32 ? 1e-5 : 1e-2), "layernorm add%d rows%lld c%d dt%d skip%d/%d err %g", add, rows, c, dt, skip,
          gskip, err);
    if (add) CHECK(same_bits(xr, x.f()), "add_layer_norm residual c%d dt%d skip%d", c, dt, skip);
    // in place
    if (!add) {
        Buf y(xs, dt, skip);
        RC(svj_layer_norm(y.p(), ga.p(), bt.p(), y.p(), dt, rows, c, 1e-5f, 0));
        CHECK(same_bits(out.f(), y.f()), "layernorm in place c%d dt%d skip%d", c, dt, skip);
    }
    return out.f();
}

// The layouts give the same bits: 16-byte pieces where C * element bytes is a multiple of 16 (aligned bases), and
// elements where a base is misaligned (rows, or gamma and beta), whatever the rows per lane (C = 1536, 3072: rows
// that stream through in chunks).
static void test_layernorm_layouts(long long rows, int c, int dt, bool add) {
    auto v = test_layernorm(rows, c, dt, add);
    auto e = test_layernorm(rows, c, dt, add, 1, 0);
    auto g = test_layernorm(rows, c, dt, add, 0, 3);
    CHECK(same_bits(v, e) && same_bits(v, g), "layernorm add%d rows%lld c%d dt%d: layouts differ", add, rows, c, dt);
}

// gather + LayerNorm: the tile bitwise equal to svj_gather_windows, out as LayerNorm of the tile (padding
// tokens: zeros, or beta). `skip` misaligns x, tile, out, gamma and beta. Returns out.
static std::vector<float> test_gather_layer_norm(G g, int c, int dt, int kk, int zero_padded, int skip = 0) {
    int b = 2, nW = g.nW(), N = g.N();
    int k = kk < 0 ? nW : std::min(kk, nW);
    std::mt19937 r(1000003u * (unsigned)c + 7919u * (unsigned)(g.h * 64 + g.w) + 31u * dt + 2u * zero_padded + g.shift);
    std::normal_distribution<float> nd;
    auto gen = [&](size_t n) { std::vector<float> v(n); for (auto& x : v) x = nd(r); return v; };
    std::vector<int> ord(b * nW);
    for (int bb = 0; bb < b; bb++) { std::vector<int> q(nW); std::iota(q.begin(), q.end(), 0); std::shuffle(q.begin(), q.end(), r); std::copy(q.begin(), q.end(), ord.begin() + bb * nW); }
    auto xs = gen((size_t)b * g.h * g.w * c), gs = gen(c), be = gen(c);
    Buf x(xs, dt, skip), ga(gs, dt, skip), bt(be, dt, skip), tile((size_t)b * k * N * c, dt, skip),
        out((size_t)b * k * N * c, dt, skip), want_tile((size_t)b * k * N * c, dt);
    RC(svj_gather_layer_norm(x.p(), ga.p(), bt.p(), tile.p(), out.p(), ord.data(), dt, b, g.h, g.w, c, g.win, g.shift, k,
                             1e-5f, zero_padded, 0));
    Buf xa(xs, dt);
    RC(svj_gather_windows(xa.p(), want_tile.p(), ord.data(), dt, b, g.h, g.w, c, g.win, g.shift, k, 0));
    CHECK(same_bits(want_tile.f(), tile.f()), "gather_layer_norm tile %dx%d w%d s%d c%d dt%d k%d skip%d", g.h, g.w, g.win,
          g.shift, c, dt, k, skip);
    auto tr = want_tile.f(), gr = rounded(gs, dt), er = rounded(be, dt);
    std::vector<float> ref(tr.size());
    for (int bb = 0; bb < b; bb++) for (int j = 0; j < k; j++) for (int t = 0; t < N; t++) {
        size_t r = (((size_t)bb * k + j) * N + t) * c;
        bool pad = g.src(ord[bb * nW + j], t) < 0;
        double s = 0; for (int e = 0; e < c; e++) s += tr[r + e];
        double mean = s / c, v = 0; for (int e = 0; e < c; e++) v += (tr[r + e] - mean) * (tr[r + e] - mean);
        double inv = 1 / sqrt(v / c + 1e-5);
        for (int e = 0; e < c; e++) ref[r + e] = pad && zero_padded ? 0.f : (float)((tr[r + e] - mean) * inv * gr[e] + er[e]);
    }
    double err = rel_err(ref, out.f());
    CHECK(err < (dt == SVJ_F32 ? 1e-5 : 1e-2), "gather_layer_norm %dx%d w%d s%d c%d dt%d k%d zp%d skip%d err %g", g.h, g.w,
          g.win, g.shift, c, dt, k, zero_padded, skip, err);
    return out.f();
}

// 16-byte pieces (aligned) and elements (misaligned bases) give the same bits
static void test_gather_layer_norm_layouts(G g, int c, int dt, int kk, int zero_padded) {
    auto v = test_gather_layer_norm(g, c, dt, kk, zero_padded);
    auto e = test_gather_layer_norm(g, c, dt, kk, zero_padded, 1);
    CHECK(same_bits(v, e), "gather_layer_norm %dx%d w%d s%d c%d dt%d: layouts differ", g.h, g.w, g.win, g.shift, c, dt);
}

static double gelu(double v) { return 0.5 * v * (1 + erf(v / sqrt(2.0))); }
// the kernel's float expression (elementwise.cu gelu_exact): with the host's erff, as the emulated kernel uses
static float gelu_f(float v) { return 0.5f * v * (1.f + erff(v * 0.70710678118654752f)); }

// Bitwise, except that any NaN equals any NaN: x86 gives a NaN sum the payload of whichever operand the compiler
// put first (a GPU returns the canonical NaN), so an F32 NaN + NaN may differ in payload only.
static bool same_values(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++) {
        uint32_t u, v;
        memcpy(&u, &a[i], 4);
        memcpy(&v, &b[i], 4);
        if (u != v && !(a[i] != a[i] && b[i] != b[i])) return false;
    }
    return true;
}

// A device tensor `off` elements past a 256-byte boundary (0: the 16-byte vector paths; odd: the element
// fallbacks), with 64 guard bytes on both sides that no kernel may touch.
struct At {
    int dt; size_t n, off; std::vector<char> raw; char* base;
    At(const std::vector<float>& v, int dt_, size_t off_) : dt(dt_), n(v.size()), off(off_), raw(v.size() * 4 + 512) {
        for (size_t i = 0; i < raw.size(); i++) raw[i] = (char)(0xA5 ^ i);
        base = (char*)(((uintptr_t)raw.data() + 64 + 255) & ~(uintptr_t)255);
        Buf b(v, dt);
        memcpy(p(), b.p(), b.b.size());
    }
    size_t eb() const { return dt == SVJ_F32 ? 4 : 2; }
    void* p() { return base + off * eb(); }
    std::vector<float> f() {
        Buf b(n, dt);
        memcpy(b.p(), p(), b.b.size());
        return b.f();
    }
    bool guards_intact() const {   // the bytes before p() and after its n elements
        const char* q = base + off * eb();
        for (size_t i = 0; i < raw.size(); i++) {
            const char* c = raw.data() + i;
            if ((c < q || c >= q + n * eb()) && *c != (char)(0xA5 ^ i)) return false;
        }
        return true;
    }
};

// Values where GELU and the conversions have edges: signed zeros, infinities, NaN, float and half subnormals,
// the largest half and floats far beyond it, the erf saturation region.
static std::vector<float> with_specials(std::vector<float> v) {
    const float sp[] = {0.f, -0.f, INFINITY, -INFINITY, NAN, -NAN, 1e-40f, -1e-40f, 6e-8f, -3e-5f, 65504.f, -65504.f,
                        1e30f, -3e38f, 5.5f, -5.5f, 10.f, -10.f, -4.f, 3.4e38f, 1e-45f, -6e-5f};
    for (size_t i = 0; i < v.size(); i += 3) v[i] = sp[(i / 3) % (sizeof(sp) / sizeof(sp[0]))];
    return v;
}

static void test_elementwise(int dt) {
    int rows = 37, c = 51; size_t n = rows * c;
    auto xs = randn(n), ys = randn(n), bs = randn(c);
    auto xr = rounded(xs, dt), yr = rounded(ys, dt), br = rounded(bs, dt);
    double tol = dt == SVJ_F32 ? 1e-6 : 1e-2;
    { Buf x(xs, dt), b(bs, dt); RC(svj_bias_add(x.p(), b.p(), dt, rows, c, 0)); std::vector<float> r(n); for (size_t i = 0; i < n; i++) r[i] = round_to(xr[i] + br[i % c], dt); CHECK(same_bits(r, x.f()), "bias add dt%d", dt); }
    { Buf x(xs, dt), y(ys, dt); RC(svj_add(x.p(), y.p(), dt, n, 0)); std::vector<float> r(n); for (size_t i = 0; i < n; i++) r[i] = round_to(xr[i] + yr[i], dt); CHECK(same_bits(r, x.f()), "add dt%d", dt); }
    { Buf x(xs, dt); RC(svj_gelu(x.p(), dt, n, 0)); std::vector<float> r(n); for (size_t i = 0; i < n; i++) r[i] = gelu(xr[i]); CHECK(rel_err(r, x.f()) < tol, "gelu dt%d %g", dt, rel_err(r, x.f())); }
    { Buf x(xs, dt), b(bs, dt); RC(svj_bias_gelu(x.p(), b.p(), dt, rows, c, 0)); std::vector<float> r(n); for (size_t i = 0; i < n; i++) r[i] = gelu(xr[i] + br[i % c]); CHECK(rel_err(r, x.f()) < tol, "bias gelu dt%d", dt); }
    for (int to = 0; to < 3; to++) { Buf x(xs, dt), y(n, to); RC(svj_cast(x.p(), dt, y.p(), to, n, 0)); CHECK(same_bits(rounded(xr, to), y.f()), "cast %d->%d", dt, to); }
}

// Every path of the elementwise kernels (16-byte pieces with and without a tail, the element fallback for rows
// whose bytes are not a multiple of 16 and for unaligned bases) against the per-element float expression: the
// same bits (NaN = NaN), special values included, nothing written outside the tensor.
static void test_elementwise_paths(int dt) {
    const int E = dt == SVJ_F32 ? 4 : 8;   // elements per 16 bytes
    for (auto [rows, c] : std::vector<std::pair<int, int>>{{37, 51}, {16, 64}, {5, 8}, {3, 4}, {9, 96}, {2, 12}, {7, 1}, {130, 24}, {100, 96}})
        for (int xo : {0, 1, E}) for (int bo : {0, 3}) {
            size_t n = (size_t)rows * c;
            auto xr = rounded(with_specials(randn(n)), dt), br = rounded(with_specials(randn(c)), dt);
            At b(br, dt, bo);
            for (int fused = 0; fused < 2; fused++) {
                At x(xr, dt, xo);
                if (fused) RC(svj_bias_gelu(x.p(), b.p(), dt, rows, c, 0));
                else RC(svj_bias_add(x.p(), b.p(), dt, rows, c, 0));
                std::vector<float> r(n);
                for (size_t i = 0; i < n; i++) { float v = xr[i] + br[i % c]; r[i] = round_to(fused ? gelu_f(v) : v, dt); }
                CHECK(same_values(r, x.f()) && x.guards_intact(), "bias %s %dx%d dt%d x+%d bias+%d",
                      fused ? "gelu" : "add", rows, c, dt, xo, bo);
            }
        }
    for (size_t n : {1, 7, 8, 9, 64, 1003}) for (int xo : {0, 1, E}) for (int yo : {0, 2}) {
        auto xr = rounded(with_specials(randn(n)), dt), yr = rounded(with_specials(randn(n)), dt);
        At y(yr, dt, yo);
        { At x(xr, dt, xo); RC(svj_add(x.p(), y.p(), dt, n, 0)); std::vector<float> r(n); for (size_t i = 0; i < n; i++) r[i] = round_to(xr[i] + yr[i], dt);
          CHECK(same_values(r, x.f()) && x.guards_intact(), "add n%zu dt%d a+%d b+%d", n, dt, xo, yo); }
        { At x(xr, dt, xo); RC(svj_add(x.p(), x.p(), dt, n, 0)); std::vector<float> r(n); for (size_t i = 0; i < n; i++) r[i] = round_to(xr[i] + xr[i], dt);
          CHECK(same_values(r, x.f()) && x.guards_intact(), "add in place n%zu dt%d a+%d", n, dt, xo); }
        if (yo == 0) { At x(xr, dt, xo); RC(svj_gelu(x.p(), dt, n, 0)); std::vector<float> r(n); for (size_t i = 0; i < n; i++) r[i] = round_to(gelu_f(xr[i]), dt);
          CHECK(same_values(r, x.f()) && x.guards_intact(), "gelu n%zu dt%d x+%d", n, dt, xo); }
        for (int to = 0; to < 3; to++) {   // casts: bitwise, NaN payloads included (no arithmetic)
            At x(xr, dt, xo), d(std::vector<float>(n, 0.f), to, yo);
            RC(svj_cast(x.p(), dt, d.p(), to, n, 0));
            CHECK(same_bits(rounded(xr, to), d.f()) && d.guards_intact(), "cast n%zu %d->%d src+%d dst+%d", n, dt, to, xo, yo);
        }
    }
}

// The movers on every piece width they pick (16, 8, 4 bytes or one element: row and patch sizes, base offsets),
// bitwise against the reference layout, nothing written outside the output.
static void test_layout(int dt) {
    const int E = dt == SVJ_F32 ? 4 : 8;   // elements per 16 bytes
    // im2col: (h, w, p, cin), image and cols offsets
    for (auto [h, w, p, cin] : std::vector<std::tuple<int,int,int,int>>{{13, 6, 4, 3}, {8, 8, 4, 3}, {9, 11, 3, 3}, {16, 12, 4, 3},
             {8, 12, 2, 2}, {7, 10, 2, 1}, {16, 16, 8, 1}, {9, 9, 16, 2}, {6, 4, 4, 3}})
        for (auto [io, co] : std::vector<std::pair<int,int>>{{0, 0}, {1, 0}, {0, 1}, {2, 2}}) {
            int b = 2, ho = (h + p - 1) / p, wo = (w + p - 1) / p;
            auto ir = rounded(randn((size_t)b * cin * h * w), dt);
            At ib(ir, dt, io), cols(std::vector<float>((size_t)b * ho * wo * cin * p * p, -1.f), dt, co);
            RC(svj_im2col_patches(ib.p(), cols.p(), dt, b, cin, h, w, p, 0));
            std::vector<float> r(cols.n);
            size_t q = 0;
            for (int bb = 0; bb < b; bb++) for (int oy = 0; oy < ho; oy++) for (int ox = 0; ox < wo; ox++)
                for (int ci = 0; ci < cin; ci++) for (int py = 0; py < p; py++) for (int px = 0; px < p; px++) {
                    int y = oy * p + py, x = ox * p + px; r[q++] = y < h && x < w ? ir[(((size_t)bb * cin + ci) * h + y) * w + x] : 0.f; }
            CHECK(same_bits(r, cols.f()) && cols.guards_intact(), "im2col %dx%d p%d cin%d dt%d img+%d cols+%d", h, w, p, cin, dt, io, co);
        }
    // patch merge: both orders, channel counts giving every piece width, x and out offsets
    for (auto [h, w] : std::vector<std::pair<int,int>>{{25, 38}, {7, 10}, {1, 1}, {3, 1}, {8, 6}})
        for (int c : {5, 8, 2, 6, 16}) for (int un = 0; un < 2; un++)
            for (auto [xo, oo] : std::vector<std::pair<int,int>>{{0, 0}, {1, 1}, {2, E}, {0, 2}}) {
                int b = 2, h2 = (h + 1) / 2, w2 = (w + 1) / 2;
                auto xr = rounded(randn((size_t)b * h * w * c), dt);
                At x(xr, dt, xo), out(std::vector<float>((size_t)b * h2 * w2 * 4 * c, -1.f), dt, oo);
                RC(svj_patch_merge(x.p(), out.p(), dt, b, h, w, c, un, 0));
                std::vector<float> r(out.n);
                for (int bb = 0; bb < b; bb++) for (int i = 0; i < h2; i++) for (int j = 0; j < w2; j++) for (int t = 0; t < 4; t++) {
                    int dy = t & 1, dx = t >> 1, y = 2 * i + dy, xx = 2 * j + dx;
                    for (int ch = 0; ch < c; ch++) { float v = y < h && xx < w ? xr[(((size_t)bb * h + y) * w + xx) * c + ch] : 0.f;
                        size_t base = (((size_t)bb * h2 + i) * w2 + j) * 4 * c;
                        if (!un) r[base + t * c + ch] = v; else r[base + ch * 4 + dy * 2 + dx] = v; }
                }
                CHECK(same_bits(r, out.f()) && out.guards_intact(), "patch merge %dx%d c%d unfold%d dt%d x+%d out+%d", h, w, c, un, dt, xo, oo);
            }
    // mean pool, channels first (2-byte types with even L and C take the pair kernel)
    for (auto [l, c] : std::vector<std::pair<int,int>>{{150, 96}, {49, 77}, {1, 1}, {33, 65}, {64, 64}, {130, 130}, {2, 2}, {66, 62}, {100, 2}})
        for (auto [xo, oo] : std::vector<std::pair<int,int>>{{0, 0}, {1, 0}, {0, 1}}) {
            int b = 3; auto xr = rounded(randn((size_t)b * l * c), dt);
            At x(xr, dt, xo), mp(std::vector<float>((size_t)b * c), dt, oo), cf(std::vector<float>((size_t)b * l * c, -1.f), dt, oo);
            RC(svj_mean_pool(x.p(), mp.p(), dt, b, l, c, 0));
            RC(svj_to_channels_first(x.p(), cf.p(), dt, b, l, c, 0));
            std::vector<float> r1(b * c), r2(cf.n);
            for (int bb = 0; bb < b; bb++) for (int ch = 0; ch < c; ch++) { double s = 0; for (int t = 0; t < l; t++) s += xr[((size_t)bb * l + t) * c + ch]; r1[bb * c + ch] = round_to((float)(s / l), dt); }
            for (int bb = 0; bb < b; bb++) for (int ch = 0; ch < c; ch++) for (int t = 0; t < l; t++) r2[((size_t)bb * c + ch) * l + t] = xr[((size_t)bb * l + t) * c + ch];
            CHECK(same_bits(r1, mp.f()), "mean pool l%d c%d dt%d", l, c, dt);
            CHECK(same_bits(r2, cf.f()) && cf.guards_intact(), "channels first l%d c%d dt%d x+%d out+%d", l, c, dt, xo, oo);
        }
}

// 8-bit HWC frames -> normalised NCHW: bitwise the Java expression (v / 255f - mean) / std, then rounded
static void test_frames(int b, int h, int w, int bgr, int dt) {
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    size_t n = (size_t)b * h * w;
    std::vector<unsigned char> px(n * 3);
    std::uniform_int_distribution<int> d(0, 255);
    for (auto& v : px) v = (unsigned char)d(rng);
    if (n * 3 >= 2) { px[0] = 0; px[1] = 255; }   // both ends of the range
    Buf out(n * 3, dt);
    RC(svj_frames_to_tensor(px.data(), out.p(), dt, b, h, w, bgr, mean[0], mean[1], mean[2], sd[0], sd[1], sd[2], 0));
    std::vector<float> r(n * 3);
    for (int bb = 0; bb < b; bb++) for (int c = 0; c < 3; c++) for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) {
        volatile float v = (float)px[(((size_t)bb * h + y) * w + x) * 3 + (bgr ? 2 - c : c)];
        volatile float q = v / 255.0f;
        volatile float s = q - mean[c];
        r[(((size_t)bb * 3 + c) * h + y) * w + x] = round_to(s / sd[c], dt);
    }
    CHECK(same_bits(r, out.f()), "frames %dx%dx%d bgr%d dt%d", b, h, w, bgr, dt);
}

// the entry refuses a grid of batch x k CTAs past a launch's limit before touching memory
static void test_attention_checks() {
    char dummy[64];
    CHECK(svj_window_attention(dummy, dummy, dummy, nullptr, SVJ_F16, 1 << 29, 14, 14, 64, 2, 7, 3, 7, 4, 0) == SVJ_EINVAL,
          "attention grid of 2^31 CTAs");
}

// svj_rewindow_windows against scatter-then-gather of the reference grids: bitwise, padding rows of the source never
// read (they hold values), c = 3 for the narrow copy units; and its argument checks.
static void test_rewindow(int h, int w, int win, int c, int dt) {
    const int b = 2;
    for (int from_shift : {0, win / 2}) {
        for (int shift : {0, win / 2}) {
            G gf{h, w, win, from_shift, win}, gt{h, w, win, shift, win};
            const int N = gf.N(), nWf = gf.nW(), nWt = gt.nW();
            auto src = rounded(randn((size_t)b * nWf * N * c), dt);
            std::vector<float> map((size_t)b * h * w * c, 0.f), ref((size_t)b * nWt * N * c, 0.f);
            for (int bb = 0; bb < b; bb++)
                for (int wi = 0; wi < nWf; wi++)
                    for (int t = 0; t < N; t++) {
                        int s = gf.src(wi, t);
                        if (s >= 0) for (int e = 0; e < c; e++) map[((size_t)bb * h * w + s) * c + e] = src[(((size_t)bb * nWf + wi) * N + t) * c + e];
                    }
            for (int bb = 0; bb < b; bb++)
                for (int wi = 0; wi < nWt; wi++)
                    for (int t = 0; t < N; t++) {
                        int s = gt.src(wi, t);
                        if (s >= 0) for (int e = 0; e < c; e++) ref[(((size_t)bb * nWt + wi) * N + t) * c + e] = map[((size_t)bb * h * w + s) * c + e];
                    }
            Buf sb(src, dt), tile(ref.size(), dt);
            RC(svj_rewindow_windows(sb.p(), tile.p(), dt, b, h, w, c, win, from_shift, shift, 0));
            CHECK(same_bits(ref, tile.f()), "rewindow %dx%d w%d %d->%d c%d dt%d", h, w, win, from_shift, shift, c, dt);
        }
    }
}

static void test_rewindow_checks() {
    Buf a(64, SVJ_F32), t(64, SVJ_F32);
    CHECK(svj_rewindow_windows(a.p(), t.p(), SVJ_F32, 1, 7, 7, 1, 7, 7, 3, 0) == SVJ_EINVAL, "rewindow source shift 7");
    CHECK(svj_rewindow_windows(a.p(), t.p(), SVJ_F32, 1, 7, 7, 1, 0, 0, 0, 0) == SVJ_EINVAL, "rewindow window 0");
    CHECK(svj_rewindow_windows(a.p(), a.p(), SVJ_F32, 1, 7, 7, 1, 7, 0, 3, 0) == SVJ_EINVAL, "rewindow in place");
    CHECK(svj_rewindow_windows(a.p(), t.p(), 9, 1, 7, 7, 1, 7, 0, 3, 0) == SVJ_EINVAL, "rewindow dtype 9");
}

// svj_linear_gelu against a double-precision reference of the rounded inputs: within one unit in the last place of
// dtype (the kernel sums in float and rounds once), nothing written past M x N, and bias NULL as no bias.
static void test_linear_gelu(long long m, int n, int k, int dt, bool with_bias) {
    auto xs = randn((size_t)m * k), ws = randn((size_t)n * k), bs = randn(n);
    for (auto& v : ws) v *= 1.f / sqrtf((float)k);   // pre-activations of order 1, where GELU bends
    auto xr = rounded(xs, dt), wr = rounded(ws, dt), br = rounded(bs, dt);
    const size_t guard = 40;
    Buf x(xs, dt), w(ws, dt), b(bs, dt), out((size_t)m * n + guard, dt);
    RC(svj_linear_gelu(x.p(), w.p(), with_bias ? b.p() : nullptr, out.p(), dt, m, n, k, 0));
    const double ulp = dt == SVJ_F16 ? 1.0 / 1024 : 1.0 / 128;
    int bad = 0;
    double worst = 0;
    for (long long r = 0; r < m; r++)
        for (int c = 0; c < n; c++) {
            double v = with_bias ? br[c] : 0, mag = fabs(v);
            for (int e = 0; e < k; e++) {
                double t = (double)xr[r * k + e] * wr[(size_t)c * k + e];
                v += t;
                mag += fabs(t);
            }
            const double ref = 0.5 * v * (1 + erf(v / sqrt(2.0)));
            const double got = out.get((size_t)r * n + c);
            const double err = fabs(got - ref), tol = fabs(ref) * ulp + 1e-6 * mag + 1e-7;
            worst = std::max(worst, err / tol);
            if (!(err <= tol) && bad++ < 3)
                fprintf(stderr, "  linear_gelu %lldx%dx%d dt%d [%lld, %d]: %g, expected %g\n", m, n, k, dt, r, c, got, ref);
        }
    CHECK(bad == 0, "linear_gelu %lldx%dx%d dt%d bias%d: %d elements off (worst %.2f of the tolerance)", m, n, k, dt,
          with_bias, bad, worst);
    for (size_t i = (size_t)m * n; i < (size_t)m * n + guard; i++) {
        unsigned short bits;
        memcpy(&bits, (char*)out.p() + i * 2, 2);
        if (bits != 0x5A5A) { CHECK(false, "linear_gelu %lldx%dx%d dt%d wrote past the output", m, n, k, dt); break; }
    }
}

static void test_linear_gelu_checks() {
    Buf x((size_t)64 * 16 + 8, SVJ_F16), w((size_t)16 * 16 + 8, SVJ_F16), b(24, SVJ_F16), out((size_t)64 * 16 + 8, SVJ_F16);
    CHECK(svj_linear_gelu(x.p(), w.p(), b.p(), out.p(), SVJ_F32, 64, 16, 16, 0) == SVJ_EINVAL, "linear_gelu F32");
    CHECK(svj_linear_gelu(x.p(), w.p(), b.p(), out.p(), SVJ_F16, 64, 12, 16, 0) == SVJ_EINVAL, "linear_gelu N = 12");
    CHECK(svj_linear_gelu(x.p(), w.p(), b.p(), out.p(), SVJ_F16, 64, 16, 20, 0) == SVJ_EINVAL, "linear_gelu K = 20");
    CHECK(svj_linear_gelu((char*)x.p() + 2, w.p(), b.p(), out.p(), SVJ_F16, 64, 16, 16, 0) == SVJ_EINVAL,
          "linear_gelu x misaligned");
    CHECK(svj_linear_gelu(x.p(), w.p(), (char*)b.p() + 2, out.p(), SVJ_F16, 64, 16, 16, 0) == SVJ_EINVAL,
          "linear_gelu bias misaligned");
    CHECK(svj_linear_gelu(x.p(), w.p(), b.p(), (char*)out.p() + 8, SVJ_F16, 64, 16, 16, 0) == SVJ_EINVAL,
          "linear_gelu out misaligned");
    CHECK(svj_linear_gelu(x.p(), nullptr, b.p(), out.p(), SVJ_F16, 64, 16, 16, 0) == SVJ_EINVAL, "linear_gelu null w");
    CHECK(svj_linear_gelu(x.p(), w.p(), b.p(), out.p(), SVJ_F16, -1, 16, 16, 0) == SVJ_EINVAL, "linear_gelu rows -1");
    CHECK(svj_linear_gelu(x.p(), w.p(), b.p(), out.p(), SVJ_F16, 1LL << 40, 1 << 20, 16, 0) == SVJ_EINVAL,
          "linear_gelu grid of 2^31 CTAs");
    RC(svj_linear_gelu(x.p(), w.p(), b.p(), out.p(), SVJ_F16, 0, 16, 16, 0));   // no rows: nothing to do
}

// svj_mlp_block against its unfused parts: t = svj_layer_norm(x), h = svj_linear_gelu(t, w1, b1) (bits the fused
// kernel claims to reproduce), then fc2 and the residual (1) in double over those rounded values: within one unit
// in the last place plus float accumulation over the terms' magnitudes; (2) in float in the order the kernel adds
// them here (the emulator's tensor cores add a fragment's products one by one, in k order, chunk after chunk):
// then acc + b2, then + x, rounded once: bitwise. (2) catches a hidden value off by one unit in the last place (a
// LayerNorm or fc1 that is not the unfused kernels'), which (1) can miss. Rows past a CTA's and a guard zone after x
// must stay untouched; without biases both are null. hd: the hidden width (0: 4C).
static void test_mlp_block(long long m, int c, int dt, bool with_bias, int hd = 0) {
    if (hd == 0) hd = 4 * c;
    auto xs = randn((size_t)m * c), gs = randn(c), bts = randn(c), w1s = randn((size_t)hd * c), b1s = randn(hd),
         w2s = randn((size_t)c * hd), b2s = randn(c);
    for (auto& v : w1s) v *= 1.f / sqrtf((float)c);
    for (auto& v : w2s) v *= 1.f / sqrtf((float)hd);
    for (auto& v : xs) v = v * 2.f + 0.5f;   // a mean and a scale for the LayerNorm to remove
    const size_t guard = 40;
    std::vector<float> xg(xs);
    xg.resize(xs.size() + guard, 0.f);
    Buf x(xg, dt), gamma(gs, dt), beta(bts, dt), w1(w1s, dt), b1(b1s, dt), w2(w2s, dt), b2(b2s, dt);
    for (size_t i = xs.size(); i < xs.size() + guard; i++) memset((char*)x.p() + i * 2, 0x5A, 2);
    Buf t((size_t)m * c, dt), h((size_t)m * hd, dt);
    RC(svj_layer_norm(x.p(), gamma.p(), beta.p(), t.p(), dt, m, c, 1e-5f, 0));
    RC(svj_linear_gelu(t.p(), w1.p(), with_bias ? b1.p() : nullptr, h.p(), dt, m, hd, c, 0));
    auto hv = h.f(), xr = rounded(xs, dt), w2r = rounded(w2s, dt), b2r = rounded(b2s, dt);
    RC(svj_mlp_block(x.p(), gamma.p(), beta.p(), w1.p(), with_bias ? b1.p() : nullptr, w2.p(),
                     with_bias ? b2.p() : nullptr, dt, m, c, hd, 1e-5f, 0));
    const double ulp = dt == SVJ_F16 ? 1.0 / 1024 : 1.0 / 128;
    int bad = 0, unequal = 0;
    double worst = 0;
    for (long long r = 0; r < m; r++)
        for (int o = 0; o < c; o++) {
            float acc = 0.f;
            for (int e = 0; e < hd; e++) acc += hv[(size_t)r * hd + e] * w2r[(size_t)o * hd + e];
            const float exact = round_to(acc + (with_bias ? b2r[o] : 0.f) + xr[(size_t)r * c + o], dt);
            if (exact != x.get((size_t)r * c + o) && unequal++ < 3)
                fprintf(stderr, "  mlp_block %lldx%d dt%d [%lld, %d]: %.9g, the unfused kernels' bits give %.9g\n", m, c, dt,
                        r, o, x.get((size_t)r * c + o), exact);
            double v = xr[(size_t)r * c + o] + (with_bias ? b2r[o] : 0.0), mag = fabs(v);
            for (int e = 0; e < hd; e++) {
                const double tv = (double)hv[(size_t)r * hd + e] * w2r[(size_t)o * hd + e];
                v += tv;
                mag += fabs(tv);
            }
            const double got = x.get((size_t)r * c + o);
            const double err = fabs(got - v), tol = fabs(v) * ulp + 2e-6 * mag + 1e-7;
            worst = std::max(worst, err / tol);
            if (!(err <= tol) && bad++ < 3)
                fprintf(stderr, "  mlp_block %lldx%d dt%d [%lld, %d]: %g, expected %g\n", m, c, dt, r, o, got, v);
        }
    CHECK(bad == 0, "mlp_block %lldx%d dt%d bias%d: %d elements off (worst %.2f of the tolerance)", m, c, dt, with_bias,
          bad, worst);
    CHECK(unequal == 0, "mlp_block %lldx%d h%d dt%d bias%d: %d elements not bitwise those of the unfused kernels", m, c,
          hd, dt, with_bias, unequal);
    for (size_t i = xs.size(); i < xs.size() + guard; i++) {
        unsigned short bits;
        memcpy(&bits, (char*)x.p() + i * 2, 2);
        if (bits != 0x5A5A) { CHECK(false, "mlp_block %lldx%d dt%d wrote past x", m, c, dt); break; }
    }
}

static void test_mlp_block_checks() {
    const int c = 64, hd = 256;
    Buf x((size_t)64 * c + 8, SVJ_F16), g(c + 8, SVJ_F16), w1((size_t)hd * c + 8, SVJ_F16), b1(hd + 8, SVJ_F16),
        w2((size_t)c * hd + 8, SVJ_F16);
    auto call = [&](void* xp, int dt, long long m, int ch, int h, float eps, const void* w1p) {
        return svj_mlp_block(xp, g.p(), g.p(), w1p, b1.p(), w2.p(), g.p(), dt, m, ch, h, eps, 0);
    };
    CHECK(call(x.p(), SVJ_F32, 64, c, hd, 1e-5f, w1.p()) == SVJ_EINVAL, "mlp_block F32");
    CHECK(call(x.p(), SVJ_F16, 64, 48, 192, 1e-5f, w1.p()) == SVJ_EINVAL, "mlp_block C = 48");
    CHECK(call(x.p(), SVJ_F16, 4, 288, 1152, 1e-5f, w1.p()) == SVJ_EINVAL, "mlp_block C = 288");
    CHECK(call(x.p(), SVJ_F16, 64, c, 96, 1e-5f, w1.p()) == SVJ_EINVAL, "mlp_block hidden 96");
    CHECK(call(x.p(), SVJ_F16, 64, c, 0, 1e-5f, w1.p()) == SVJ_EINVAL, "mlp_block hidden 0");
    CHECK(call(x.p(), SVJ_F16, -1, c, hd, 1e-5f, w1.p()) == SVJ_EINVAL, "mlp_block rows -1");
    CHECK(call(x.p(), SVJ_F16, 64, c, hd, NAN, w1.p()) == SVJ_EINVAL, "mlp_block eps NaN");
    CHECK(call(x.p(), SVJ_F16, 64, c, hd, -1.f, w1.p()) == SVJ_EINVAL, "mlp_block eps -1");
    CHECK(call((char*)x.p() + 2, SVJ_F16, 64, c, hd, 1e-5f, w1.p()) == SVJ_EINVAL, "mlp_block x misaligned");
    CHECK(call(x.p(), SVJ_F16, 64, c, hd, 1e-5f, (char*)w1.p() + 8) == SVJ_EINVAL, "mlp_block w1 misaligned");
    CHECK(call(x.p(), SVJ_F16, 64, c, hd, 1e-5f, nullptr) == SVJ_EINVAL, "mlp_block null w1");
    CHECK(call(x.p(), SVJ_F16, 64, c, hd, 1e-5f, (char*)x.p() + 64 * 2) == SVJ_EINVAL, "mlp_block x overlapping w1");
    CHECK(call(x.p(), SVJ_F16, 1LL << 40, c, hd, 1e-5f, w1.p()) == SVJ_EINVAL, "mlp_block grid of 2^33 CTAs");
    RC(call(x.p(), SVJ_F16, 0, c, hd, 1e-5f, w1.p()));   // no rows: nothing to do
    long long bytes = 0;
    RC(svj_mlp_block_smem(96, SVJ_F16, &bytes));
    CHECK(bytes == 53760, "mlp_block shared memory at C = 96: %lld bytes", bytes);   // the mma.sync kernel
    CHECK(svj_mlp_block_smem(100, SVJ_F16, &bytes) == SVJ_EINVAL, "mlp_block_smem C = 100");
    // more shared memory than the device allows (sm_86's limit, C = 256: 119 KB; BF16, whose kernel no test has
    // raised the limit for yet): an error, nothing written
    auto xs = randn((size_t)3 * 256);
    Buf xb(xs, SVJ_BF16), gb(randn(256), SVJ_BF16), w1b(randn(1024 * 256), SVJ_BF16), w2b(randn(256 * 1024), SVJ_BF16);
    auto before = xb.f();
    CHECK(svj_mlp_block(xb.p(), gb.p(), gb.p(), w1b.p(), nullptr, w2b.p(), nullptr, SVJ_BF16, 3, 256, 1024, 1e-5f, 0) ==
              SVJ_EINVAL, "mlp_block C = 256 within sm_86's shared memory");
    CHECK(same_bits(before, xb.f()), "mlp_block wrote x after refusing to launch");
}

static void test_frames_checks() {
    unsigned char px[12] = {0};
    float out[12];
    CHECK(svj_frames_to_tensor(px, out, SVJ_F32, 1, 2, 2, 2, 0, 0, 0, 1, 1, 1, 0) == SVJ_EINVAL, "channel order 2");
    CHECK(svj_frames_to_tensor(px, out, SVJ_I32, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0) == SVJ_EINVAL, "I32 output");
    CHECK(svj_frames_to_tensor(px, out, SVJ_F32, 0, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0) == SVJ_EINVAL, "batch 0");
    CHECK(svj_frames_to_tensor(px, out, SVJ_F32, 1, 2, 2, 0, 0, 0, 0, 1, 0, 1, 0) == SVJ_EINVAL, "std 0");
    CHECK(svj_frames_to_tensor(px, out, SVJ_F32, 1, 2, 2, 0, NAN, 0, 0, 1, 1, 1, 0) == SVJ_EINVAL, "mean NaN");
    CHECK(svj_frames_to_tensor(px, px, SVJ_F32, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0) == SVJ_EINVAL, "aliased");
    float big[16];
    CHECK(svj_frames_to_tensor((unsigned char*)big + 4, big, SVJ_F32, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0) == SVJ_EINVAL,
          "output overlapping the pixels in part");
    CHECK(svj_frames_to_tensor(px, out, SVJ_F32, 1, 2, 2, 0, 0, 0, 0, 1, NAN, 1, 0) == SVJ_EINVAL, "std NaN");
    CHECK(svj_frames_to_tensor(px, out, SVJ_F32, 1, 2, 2, 0, 0, 0, 0, 1, 1, INFINITY, 0) == SVJ_EINVAL, "std inf");
    CHECK(svj_frames_to_tensor(px, out, SVJ_F32, 1, 2, 2, 0, 0, 0, 0, -1, 1, 1, 0) == SVJ_EINVAL, "std negative");
    CHECK(svj_frames_to_tensor(px, out, SVJ_F32, 1, 2, 2, 0, 0, -INFINITY, 0, 1, 1, 1, 0) == SVJ_EINVAL, "mean inf");
    CHECK(svj_frames_to_tensor(nullptr, out, SVJ_F32, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0) == SVJ_EINVAL, "null pixels");
}

// c: channels; skip: elements before the map in its buffer (a base that is not 16-byte aligned takes the
// per-element path, as does a row whose bytes are not a multiple of 16)
static void test_importance(G g, int dt, int c = 96, int skip = 0) {
    int b = 2, L = g.h * g.w;
    auto xs = randn((size_t)b * L * c + skip); auto xr = rounded(xs, dt);
    Buf x(xs, dt); std::vector<float> imp(b * L), sc(b * g.nW());
    const char* base = (const char*)x.p() + (size_t)skip * (dt == SVJ_F32 ? 4 : 2);
    RC(svj_token_importance(base, imp.data(), dt, (long long)b * L, c, 0));
    std::vector<float> r(b * L);
    for (int t = 0; t < b * L; t++) { double s = 0; for (int j = 0; j < c; j++) s += fabsf(xr[(size_t)t * c + j + skip]); r[t] = (float)(s / c); }
    CHECK(same_bits(r, imp), "token importance dt%d c%d skip%d", dt, c, skip);
    RC(svj_window_scores(imp.data(), sc.data(), b, g.h, g.w, g.win, g.shift, 0));
    std::vector<float> r2(b * g.nW());
    for (int bb = 0; bb < b; bb++) for (int w = 0; w < g.nW(); w++) { double s = 0; for (int t = 0; t < g.N(); t++) { int p = g.src(w, t); if (p >= 0) { double v = imp[bb * L + p]; s += v * v; } } r2[bb * g.nW() + w] = (float)sqrt(s); }
    CHECK(same_bits(r2, sc), "window scores %dx%d w%d s%d", g.h, g.w, g.win, g.shift);
}

// Window scores against the CPU's sequential sum in token order: image 0 of magnitudes over 2^-60 .. 2^60, zeros
// of both signs, the odd infinity and NaN; image 1 built so that any other order of the additions changes the
// float result.
static void test_window_scores(G g, int b) {
    int L = g.h * g.w;
    std::uniform_real_distribution<float> e(-60.0f, 60.0f);
    std::vector<float> a((size_t)b * L), sc((size_t)b * g.nW(), -7.0f);
    for (auto& v : a) v = std::ldexp(1.0f + e(rng) / 120.0f, (int)e(rng));
    for (size_t i = 0; i < a.size(); i += 11) a[i] = (i / 11) % 2 ? 0.0f : -0.0f;
    if (a.size() > 300) { a[17] = INFINITY; a[255] = NAN; }
    // image 1: in every window 1, 2^-12, 2^-12, then squares under half an ulp of the running sum: lost one by
    // one in token order (the score rounds to 1), not when added up first (any other order rounds above 1)
    const float tiny = 0.65f * std::ldexp(1.0f, -26);
    if (b > 1)
        for (int w = 0; w < g.nW(); w++)
            for (int t = 0; t < g.N(); t++) {
                int p = g.src(w, t);
                if (p >= 0) a[(size_t)L + p] = t == 0 ? 1.0f : t <= 2 ? std::ldexp(1.0f, -12) : tiny;
            }
    RC(svj_window_scores(a.data(), sc.data(), b, g.h, g.w, g.win, g.shift, 0));
    std::vector<float> r((size_t)b * g.nW());
    for (int bb = 0; bb < b; bb++)
        for (int w = 0; w < g.nW(); w++) {
            double s = 0;
            for (int t = 0; t < g.N(); t++) { int p = g.src(w, t); if (p >= 0) { double v = a[(size_t)bb * L + p]; s += v * v; } }
            r[(size_t)bb * g.nW() + w] = (float)sqrt(s);
        }
    CHECK(same_bits(r, sc), "window scores b%d %dx%d w%d s%d", b, g.h, g.w, g.win, g.shift);
}

// Java Float.compare
static int fcmp(float a, float b) { if (a < b) return -1; if (a > b) return 1; int x, y; if (a != a) x = 0x7fc00000; else memcpy(&x, &a, 4); if (b != b) y = 0x7fc00000; else memcpy(&y, &b, 4); return x == y ? 0 : (x < y ? -1 : 1); }

// ties: 0 random scores with a tie every 7th and the special values; 1 few distinct values (most keys tie, the
// window number decides); 2 all equal
static void test_sort(int b, int nW, int ties = 0) {
    auto s = randn((size_t)b * nW);
    for (size_t i = 0; i < s.size(); i += 7) s[i] = 0.5f;
    const float few[] = {0.5f, -1.0f, 0.0f, -0.0f, NAN, INFINITY, 2.0f};
    if (ties == 1) for (size_t i = 0; i < s.size(); i++) s[i] = few[(i * 2654435761u >> 7) % 7];
    if (ties == 2) for (auto& v : s) v = 0.25f;
    float sp[] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, -0.0f, 0.0f, NAN, 1e-45f, -1e-45f};
    for (int i = 0; i < 10 && 3 * i + 1 < (int)s.size(); i++) s[3 * i + 1] = sp[i];
    std::vector<int> order(b * nW, -7);
    long long bytes = -1;
    RC(svj_sort_windows_scratch(b, nW, &bytes));
    std::vector<char> scratch(bytes > 0 ? bytes : 1, (char)0x77);
    RC(svj_sort_windows(s.data(), order.data(), b, nW, bytes > 0 ? scratch.data() : nullptr, bytes, 0));
    for (int bb = 0; bb < b; bb++) {
        std::vector<int> idx(nW); std::iota(idx.begin(), idx.end(), 0);
        const float* v = &s[(size_t)bb * nW];
        std::stable_sort(idx.begin(), idx.end(), [&](int p, int q) { return fcmp(v[q], v[p]) < 0; });
        bool ok = std::equal(idx.begin(), idx.end(), order.begin() + (size_t)bb * nW);
        CHECK(ok, "sort b%d nW%d ties%d image %d", b, nW, ties, bb);
    }
}

// rt.cpp's rules, which the Java tests on the emulated device rely on (cuda/dev/emu/jni.sh): device memory, graph
// capture and replay through the svj_* runtime entries, and what a capture forbids.
static void test_runtime() {
    // the backend's probe of whether the device can run the kernels at all (CudaBackend.unavailableReason)
    RC(svj_kernel_image_check());
    emu::no_kernel_image = true;
    CHECK(svj_kernel_image_check() == cudaErrorNoKernelImageForDevice, "a device without a kernel image must say so");
    emu::no_kernel_image = false;
    void* s = nullptr;
    RC(svj_stream_create(&s));
    void* d = nullptr;
    RC(svj_malloc(&d, 1000));
    std::vector<float> host(250, 1.5f), back(250, 0.f);
    RC(svj_memcpy_h2d(d, host.data(), 1000, s));
    CHECK(svj_memcpy_h2d(d, host.data(), 1004, s) != 0, "a copy past the end of an allocation must fail");
    CHECK(svj_memcpy_d2d((char*)d + 8, d, 1000, s) != 0, "a copy ending past an allocation must fail");
    // capture: the kernel is recorded, not run; replays run it each time
    RC(svj_graph_begin_capture(s));
    RC(svj_add(d, d, SVJ_F32, 250, s));
    void* scratch = nullptr;
    RC(svj_malloc(&scratch, 64));   // relaxed for the call: allowed
    void* exec = nullptr;
    RC(svj_graph_end_capture(s, &exec));
    RC(svj_memcpy_d2h(back.data(), d, 1000, s));
    CHECK(back[0] == 1.5f, "a captured kernel ran at capture: %g", back[0]);
    RC(svj_graph_launch(exec, s));
    RC(svj_graph_launch(exec, s));
    RC(svj_memcpy_d2h(back.data(), d, 1000, s));
    CHECK(back[0] == 6.f && back[249] == 6.f, "two replays of x += x: %g %g", back[0], back[249]);
    // what a capture forbids invalidates it, and its end fails
    const char* what[] = {"synchronize", "host copy", "free"};
    for (int i = 0; i < 3; i++) {
        RC(svj_graph_begin_capture(s));
        int rc = i == 0 ? svj_stream_synchronize(s) : i == 1 ? svj_memcpy_h2d(d, host.data(), 4, s) : svj_free(scratch);
        CHECK(rc != 0, "%s during capture must fail", what[i]);
        void* g = nullptr;
        CHECK(svj_graph_end_capture(s, &g) != 0 && g == nullptr, "a capture broken by %s must not end in a graph", what[i]);
    }
    // deferred: work on a created stream runs when something waits for it (device memory is host memory here)
    RC(svj_add(d, d, SVJ_F32, 250, s));
    CHECK(((float*)d)[0] == 6.f, "the add ran before anything waited for it: %g", ((float*)d)[0]);
    RC(svj_stream_synchronize(s));
    CHECK(((float*)d)[0] == 12.f, "synchronising the stream did not run its work: %g", ((float*)d)[0]);
    RC(svj_free(scratch));
    CHECK(svj_free(scratch) != 0, "freeing twice must fail");
    // device memory starts as NaN bytes (cudaMalloc's memory is garbage, not zeros)
    void* fresh = nullptr;
    RC(svj_malloc(&fresh, 8));
    CHECK(((float*)fresh)[0] != ((float*)fresh)[0], "fresh device memory should read as NaN");
    RC(svj_free(fresh));
    RC(svj_graph_destroy(exec));
    RC(svj_free(d));
    RC(svj_stream_destroy(s));
}

// The scheduler's orders (SVJ_EMU_SCHEDULE) are real: a kernel that reads its neighbour's shared-memory slot
// without a barrier gets it or a stale value depending on the thread order, and a block sees whether the next
// block has run depending on the block order; with the barrier every order reads the neighbour's slot.
struct RacyGrid { int right; std::vector<int> next_ran; };
static RacyGrid racy_grid(const char* schedule, bool barrier) {
    static int launch = 0;
    int salt = 1000 * ++launch;   // no slot left by an earlier launch holds a value this one expects
    emu::set_schedule(schedule);
    std::vector<int> got(4 * 64, -2), flags(4, 0), next_ran(4, -2);
    int* g = got.data();
    int* f = flags.data();
    int* n = next_ran.data();
    emu::launch(nullptr, dim3(4), dim3(64), 0, nullptr, [g, f, n, salt, barrier] {
        __shared__ int slot[64];
        int t = threadIdx.x, b = blockIdx.x;
        slot[t] = salt + 100 * b + t;
        if (barrier) __syncthreads();
        g[b * 64 + t] = slot[(t + 1) % 64];   // without the barrier: the neighbour's value, or a stale one
        if (t == 0) {
            f[b] = 1;
            n[b] = b < 3 ? f[b + 1] : 0;      // has block b + 1 run yet?
        }
    });
    RacyGrid r{0, next_ran};
    for (int i = 0; i < 4 * 64; i++) r.right += got[i] == salt + 100 * (i / 64) + (i % 64 + 1) % 64;
    return r;
}

static void test_schedule() {
    for (bool barrier : {false, true}) {
        RacyGrid fwd = racy_grid("forward", barrier), rev = racy_grid("reverse", barrier);
        RacyGrid rnd = racy_grid("random:3", barrier);
        if (barrier) {
            CHECK(fwd.right == 256 && rev.right == 256 && rnd.right == 256,
                  "with the barrier every order reads the neighbour's slot: %d %d %d of 256", fwd.right, rev.right,
                  rnd.right);
        } else {
            // forward: only thread 63 (reading thread 0's slot) sees its neighbour's value; reverse: all but 63
            CHECK(fwd.right == 4 && rev.right == 4 * 63, "without the barrier: forward %d, reverse %d of 256",
                  fwd.right, rev.right);
        }
        CHECK(fwd.next_ran == std::vector<int>({0, 0, 0, 0}) && rev.next_ran == std::vector<int>({1, 1, 1, 0}),
              "forward and reverse block orders must differ in what a block sees of the next one");
    }
    emu::set_schedule(getenv("SVJ_EMU_SCHEDULE"));
}

// fakeblas.cpp's cuBLASLt (the emulated device's): a matmul with the heuristic's algorithm computes D = A B +
// bias; given a pointer less aligned than the algorithm was chosen for, it stops the process (on a GPU that
// can be a misaligned-address fault), unless the preference lowered the alignment.
extern "C" {
int cublasLtCreate(void** h);
int cublasLtDestroy(void* h);
int cublasLtMatmulDescCreate(void** d, int compute, int scale);
int cublasLtMatmulDescDestroy(void* d);
int cublasLtMatmulDescSetAttribute(void* d, int attr, const void* buf, size_t size);
int cublasLtMatrixLayoutCreate(void** l, int type, uint64_t rows, uint64_t cols, int64_t ld);
int cublasLtMatrixLayoutDestroy(void* l);
int cublasLtMatmulPreferenceCreate(void** p);
int cublasLtMatmulPreferenceDestroy(void* p);
int cublasLtMatmulPreferenceSetAttribute(void* p, int attr, const void* buf, size_t size);
int cublasLtMatmulAlgoGetHeuristic(void* h, void* d, void* a, void* b, void* c, void* dd, void* pref, int requested,
                                   void* results, int* returned);
int cublasLtMatmul(void* h, void* d, const void* alpha, const void* A, void* al, const void* B, void* bl,
                   const void* beta, const void* C, void* cl, void* D, void* dl, const void* algo, void* ws,
                   size_t ws_bytes, cudaStream_t stream);
}

// D (2 x 2) = A (2 x 3) B (3 x 2) + bias, all F32 column-major at byte offset `shift` into 256-aligned
// allocations; `pref_align` > 0 lowers the preference's minimum alignments to it. Returns the matmul's status
// and D.
static int lt_matmul(size_t shift, uint32_t pref_align, std::vector<float>& d_out) {
    void *h, *desc, *pref, *la, *lb, *lc;
    RC(cublasLtCreate(&h));
    RC(cublasLtMatmulDescCreate(&desc, 68 /* COMPUTE_32F */, 0 /* R_32F */));
    int epilogue = 4;   // BIAS
    RC(cublasLtMatmulDescSetAttribute(desc, 7, &epilogue, 4));
    RC(cublasLtMatrixLayoutCreate(&la, 0, 2, 3, 2));
    RC(cublasLtMatrixLayoutCreate(&lb, 0, 3, 2, 3));
    RC(cublasLtMatrixLayoutCreate(&lc, 0, 2, 2, 2));
    RC(cublasLtMatmulPreferenceCreate(&pref));
    if (pref_align) for (int attr = 5; attr <= 8; attr++) RC(cublasLtMatmulPreferenceSetAttribute(pref, attr, &pref_align, 4));
    void *a, *b, *c, *bias;
    RC(svj_malloc(&a, 256 + 6 * 4)); RC(svj_malloc(&b, 256 + 6 * 4)); RC(svj_malloc(&c, 256 + 4 * 4));
    RC(svj_malloc(&bias, 2 * 4));
    float* A = (float*)((char*)a + shift);
    float* B = (float*)((char*)b + shift);
    float* D = (float*)((char*)c + shift);
    for (int i = 0; i < 6; i++) { A[i] = (float)(i + 1); B[i] = (float)(i % 3 - 1); }
    ((float*)bias)[0] = 10; ((float*)bias)[1] = 20;
    RC(cublasLtMatmulDescSetAttribute(desc, 8, &bias, sizeof(void*)));
    uint64_t heuristic[12];
    int found = 0;
    RC(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, heuristic, &found));
    CHECK(found == 1, "the heuristic found %d algorithms", found);
    float one = 1, zero = 0;
    int rc = cublasLtMatmul(h, desc, &one, A, la, B, lb, &zero, D, lc, D, lc, heuristic, nullptr, 0, nullptr);
    d_out.assign(D, D + 4);
    svj_free(a); svj_free(b); svj_free(c); svj_free(bias);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la); cublasLtMatrixLayoutDestroy(lb); cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(desc);
    cublasLtDestroy(h);
    return rc;
}

static void test_lt_alignment() {
    std::vector<float> d;
    // A = [[1 3 5] [2 4 6]], B columns (-1 0 1) and (-1 0 1): A B = [[4 4] [4 4]], + bias (10, 20) by row
    RC(lt_matmul(0, 0, d));
    CHECK(d == std::vector<float>({14, 24, 14, 24}), "Lt matmul with the bias: %g %g %g %g", d[0], d[1], d[2], d[3]);
    RC(lt_matmul(16, 16, d));   // 16-byte aligned pointers, and a preference that allows them
    CHECK(d == std::vector<float>({14, 24, 14, 24}), "Lt matmul at 16-byte alignment: %g %g", d[0], d[1]);
    // the heuristic query fails while this thread captures a stream (as CUDA 13's cuBLASLt has been seen to)
    {
        void *h, *desc, *pref, *l, *stream;
        RC(svj_stream_create(&stream));
        RC(cublasLtCreate(&h));
        RC(cublasLtMatmulDescCreate(&desc, 68, 0));
        RC(cublasLtMatrixLayoutCreate(&l, 0, 4, 4, 4));
        RC(cublasLtMatmulPreferenceCreate(&pref));
        uint64_t heuristic[12];
        int found = 0;
        RC(svj_graph_begin_capture(stream));
        int rc = cublasLtMatmulAlgoGetHeuristic(h, desc, l, l, l, l, pref, 1, heuristic, &found);
        void* g = nullptr;
        RC(svj_graph_end_capture(stream, &g));
        CHECK(rc == 14 && found == 0, "the heuristic during capture: status %d, %d found", rc, found);
        RC(cublasLtMatmulAlgoGetHeuristic(h, desc, l, l, l, l, pref, 1, heuristic, &found));
        CHECK(found == 1, "the heuristic after the capture found %d", found);
        RC(svj_graph_destroy(g));
        cublasLtMatmulPreferenceDestroy(pref);
        cublasLtMatrixLayoutDestroy(l);
        cublasLtMatmulDescDestroy(desc);
        cublasLtDestroy(h);
        RC(svj_stream_destroy(stream));
    }
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        lt_matmul(16, 0, d);   // 16-byte aligned pointers against the default 256: must abort
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
          "a matmul on pointers less aligned than its algorithm assumes must stop the process");
}

// A cudaFree on one thread while another thread captures a stream: on a GPU the free synchronises the device,
// which thread-local capture mode does not prevent, and the capture fails; the emulated runtime invalidates it.
static void test_free_during_other_capture() {
    void* s = nullptr;
    RC(svj_stream_create(&s));
    void *d = nullptr, *other = nullptr;
    RC(svj_malloc(&d, 1024));
    RC(svj_malloc(&other, 64));
    std::mutex m;
    std::condition_variable cv;
    int step = 0, end_rc = 0;
    std::thread capturer([&] {
        RC(svj_graph_begin_capture(s));
        RC(svj_add(d, d, SVJ_F32, 256, s));
        {
            std::unique_lock<std::mutex> l(m);
            step = 1;
            cv.notify_all();
            cv.wait(l, [&] { return step == 2; });
        }
        void* g = nullptr;
        end_rc = svj_graph_end_capture(s, &g);
        if (g) svj_graph_destroy(g);
    });
    {
        std::unique_lock<std::mutex> l(m);
        cv.wait(l, [&] { return step == 1; });
    }
    RC(svj_free(other));   // this thread is not capturing: the call itself succeeds
    {
        std::lock_guard<std::mutex> l(m);
        step = 2;
    }
    cv.notify_all();
    capturer.join();
    CHECK(end_rc != 0, "a cudaFree on another thread during a capture must invalidate that capture");
    RC(svj_free(d));
    RC(svj_stream_destroy(s));
}

int main() {
    const char* order = getenv("SVJ_EMU_SCHEDULE");
    fprintf(stderr, "schedule: %s\n", order ? order : "forward");
    test_runtime();
    test_free_during_other_capture();
    test_lt_alignment();
    test_schedule();
    fprintf(stderr, "runtime, cuBLASLt and schedule done (the EMU lines above are the reports of their negative "
                    "checks)\n");
    std::vector<G> grids = {{14,14,7,0,7},{14,14,7,3,7},{13,19,7,0,7},{13,19,7,3,7},{24,24,12,6,12},{25,38,12,6,12},{7,10,7,3,7},{5,5,5,0,7},{3,9,7,0,7}};
    for (auto g : grids) for (int dt = 0; dt < 3; dt++) test_windows(g, dt == 0 ? 40 : 6, dt);
    test_windows({13,19,7,3,7}, 3, SVJ_F32);
    test_windows({13,19,7,3,7}, 2, SVJ_F32);
    test_windows({13,19,7,3,7}, 3, SVJ_F16);
    fprintf(stderr, "windows done\n");
    for (int dt = 0; dt < 3; dt++) {
        test_attention({14,14,7,3,7}, 64, 2, dt, 3);
        test_attention({13,19,7,3,7}, 48, 3, dt, -1);
        test_attention({24,24,12,6,12}, 64, 2, dt, 2);
        test_attention({5,5,5,0,7}, 48, 3, dt, -1);
    }
    test_attention({24,24,12,6,12}, 128, 2, 0, 1);   // d = 64, > 48 KB shared memory
    test_attention({7,10,7,3,7}, 128, 1, 0, 2);      // d = 128
    test_attention({14,14,7,0,7}, 8, 2, 0, -1);      // d = 4
    test_attention({14,14,7,3,7}, 72, 3, SVJ_F16, 5);    // d = 24: F16 on the CUDA-core kernel
    test_attention({24,24,12,6,12}, 128, 2, SVJ_BF16, 3); // d = 64 on tensor cores, window 12
    test_attention({7,10,7,3,7}, 256, 2, SVJ_F16, 2);    // d = 128 on tensor cores
    test_attention({24,24,12,6,12}, 128, 4, SVJ_F16, 2);  // d = 32 (Swin-T/S/B's) at window 12: 79 KB, opt-in
    test_attention({24,24,12,6,12}, 128, 4, SVJ_BF16, 2);
    test_attention({14,14,7,3,7}, 96, 3, SVJ_F16, 2);     // d = 32 at window 7
    test_attention({7,7,5,0,12}, 64, 2, SVJ_F16, -1);     // a bias table of a larger window (12) than the grid's (5)
    test_attention({9,9,9,4,9}, 64, 2, SVJ_BF16, -1);     // odd window, shifted
    // tensor cores: every key chunk count (KC = ceil(N / 32): windows 5, 7, 9, 11, 12), d = 32 and other d, 16-byte
    // and element-wise staging (qkv) and output (out), with and without an order list, pruned (k < nW)
    for (int dt : {SVJ_F16, SVJ_BF16}) {
        for (int v = 0; v < 4; v++) {
            const bool in = v & 1, o = v & 2;
            test_attention({14,14,7,3,7}, 96, 3, dt, 3, in, o);     // Swin-T's window 7, d = 32
            test_attention({14,14,7,0,7}, 64, 1, dt, -1, in, o, true);   // d = 64, no order list
            test_attention({10,10,5,2,5}, 64, 2, dt, 2, in, o);     // one key chunk, 9 real rows in the last strip
            test_attention({9,18,9,4,9}, 96, 3, dt, 1, in, o);      // three chunks
            test_attention({11,11,11,5,11}, 96, 6, dt, -1, in, o);  // four chunks, d = 16
            test_attention({24,24,12,6,12}, 128, 4, dt, 2, in, o);  // five chunks
        }
        test_attention({14,14,7,3,7}, 96, 3, dt, -1, false, false, true);
        test_attention({7,7,7,0,7}, 32, 1, dt, -1, false, false, true);   // one window, one head
    }
    test_attention({14,14,7,3,7}, 48, 2, SVJ_F16, 2, true, true);     // d = 24: CUDA-core kernel, any alignment
    test_attention({14,14,7,3,7}, 96, 3, SVJ_F32, 3, true, true);
    test_attention({14,14,7,3,7}, 96, 3, SVJ_F32, -1, false, false, true);
    // sm_90's opt-in limit (227 KB): window 12 with d = 128 stays on the kernels with the larger footprint
    emu::set_smem_optin(232448);
    test_attention({24,24,12,6,12}, 256, 2, SVJ_F16, 1);
    test_attention({24,24,12,6,12}, 256, 2, SVJ_F32, 1);
    emu::set_smem_optin(101376);
    test_attention_checks();
    fprintf(stderr, "attention done\n");
    // the fused MLP GEMM: partial tiles in M, N and K (K % 32 != 0), one row, Swin-T's stage-0 FC1 (K = 96, N = 384)
    for (int dt : {SVJ_F16, SVJ_BF16}) {
        test_linear_gelu(1, 8, 8, dt, true);
        test_linear_gelu(37, 136, 40, dt, true);
        test_linear_gelu(128, 128, 32, dt, false);
        test_linear_gelu(130, 384, 96, dt, true);
        test_linear_gelu(300, 264, 200, dt, true);
    }
    test_linear_gelu_checks();
    // the fused MLP: every C it takes (RF = 2 up to 96, 1 above), one row, partial CTAs, no biases
    for (int dt : {SVJ_F16, SVJ_BF16}) {
        test_mlp_block(1, 32, dt, true);
        test_mlp_block(130, 96, dt, true);
        test_mlp_block(37, 64, dt, false);
        test_mlp_block(70, 128, dt, true);
        test_mlp_block(65, 192, dt, true);
    }
    test_mlp_block(20, 160, SVJ_F16, true);
    test_mlp_block(40, 96, SVJ_F16, true, 64);      // one hidden chunk
    test_mlp_block(33, 64, SVJ_BF16, true, 192);    // hidden 3C
    emu::set_smem_optin(232448);   // C = 224 and 256 need sm_80/90's limit
    test_mlp_block(9, 224, SVJ_BF16, true);
    test_mlp_block(64, 256, SVJ_F16, true);
    emu::set_smem_optin(101376);
    test_mlp_block_checks();
    fprintf(stderr, "mlp_block done\n");
    for (int dt : {SVJ_F32, SVJ_F16}) {
        test_rewindow(14, 14, 7, 8, dt);
        test_rewindow(13, 19, 7, 8, dt);
        test_rewindow(9, 9, 9, 3, dt);
        test_rewindow(25, 38, 12, 3, dt);
    }
    test_rewindow_checks();
    fprintf(stderr, "linear_gelu done\n");
    // C: Swin's 96..768 and patch merging's 4C up to 3072 (rows that stream), C not a multiple of 8 (elements for
    // F16/BF16), fewer channels than a lane group, rows not filling a warp's
    for (int dt = 0; dt < 3; dt++) {
        for (int c : {1, 7, 8, 40, 96, 100, 192, 384, 768, 1000, 1536}) {
            test_layernorm_layouts(13, c, dt, false);
            test_layernorm_layouts(13, c, dt, true);
        }
        test_layernorm_layouts(3, 3072, dt, false);
        test_layernorm_layouts(70, 96, dt, false);
        test_layernorm_layouts(1, 192, dt, true);
    }
    for (int dt = 0; dt < 3; dt++) { test_elementwise(dt); test_elementwise_paths(dt); test_layout(dt); }
    // again on one block: the grid-stride loops' later passes (elementwise: the bias column stepping along)
    emu::set_grid_cap(1);
    for (int dt = 0; dt < 3; dt++) { test_elementwise_paths(dt); test_layout(dt); }
    emu::set_grid_cap(1LL << 20);
    for (int dt = 0; dt < 3; dt++) for (int bgr = 0; bgr < 2; bgr++) {
        test_frames(1, 1, 1, bgr, dt);
        test_frames(2, 7, 13, bgr, dt);
        test_frames(3, 33, 17, bgr, dt);
    }
    test_frames(1, 224, 224, 1, SVJ_F16);
    test_frames_checks();
    for (int dt = 0; dt < 3; dt++) {
        test_gather_layer_norm_layouts({13,19,7,3,7}, 48, dt, 5, 1);
        test_gather_layer_norm_layouts({13,19,7,3,7}, 48, dt, -1, 0);
        test_gather_layer_norm_layouts({14,14,7,0,7}, 96, dt, 2, 1);
        test_gather_layer_norm_layouts({13,19,7,3,7}, 96, dt, 3, 0);
        test_gather_layer_norm_layouts({13,19,7,3,7}, 7, dt, 4, 0);
        test_gather_layer_norm_layouts({7,10,7,3,7}, 192, dt, -1, 1);
        test_gather_layer_norm_layouts({7,10,7,3,7}, 384, dt, 1, 0);
        test_gather_layer_norm_layouts({7,10,7,3,7}, 768, dt, 1, 1);
        test_gather_layer_norm_layouts({7,10,7,3,7}, 1536, dt, 1, 0);
    }
    test_gather_layer_norm_layouts({25,25,12,6,12}, 40, SVJ_F32, 3, 0);
    fprintf(stderr, "dense done\n");
    for (int dt = 0; dt < 3; dt++) { test_importance({14,14,7,3,7}, dt); test_importance({13,19,7,3,7}, dt); }
    test_importance({50,75,7,3,7}, 0);
    for (int dt = 0; dt < 3; dt++) for (int c : {3, 8, 12, 40}) for (int skip : {0, 1, 4}) test_importance({9,10,7,3,7}, dt, c, skip);
    // window scores: windows of 1 to 144 tokens (one to three rounds of 64), nW = 1, shifted and padded grids,
    // more windows than one grid-stride pass of a CTA
    for (G g : {G{14,14,7,3,7}, G{13,19,7,0,7}, G{5,6,7,3,7}, G{7,7,7,0,7}, G{3,4,1,0,1}, G{17,23,8,4,8},
                G{25,37,12,6,12}, G{24,24,12,0,12}, G{280,210,7,3,7}})
        for (int b : {1, 3}) test_window_scores(g, b);
    // v1 (bitonic, 32 to 4096 padded keys: 1, 2 and 4 keys a thread, with and without shared memory phases) and
    // v2 (radix, over 4096)
    int sorts[][2] = {{1,1},{1,6},{4,9},{2,31},{2,32},{3,33},{4,36},{2,64},{2,65},{1,127},{2,128},{4,144},{2,256},
                      {2,257},{2,88},{4,576},{2,1024},{2,1025},{1,2048},{2,2049},{1,2738},{2,4096},{2,4097},{1,9000},
                      {3,20000},{2,42778},{1,43071}};
    for (auto& s : sorts) test_sort(s[0], s[1]);
    for (int ties = 1; ties <= 2; ties++)
        for (int nW : {1, 9, 36, 144, 576, 1025, 4096, 5000}) test_sort(2, nW, ties);
    fprintf(stderr, "launches %ld, cub calls %ld\n", emu::launches, emu::cub_calls);
    fprintf(stderr, failures ? "%d FAILURES\n" : "ALL OK\n", failures);
    return failures != 0;
}
