/* Element-wise activations, pooling, global average pool, linear, residual
 * add and nearest upsampling (see layers.h); convolution is in conv.c, the
 * normalisations in norm.c. PyTorch semantics throughout. */
#include "fesf/error.h"
#include "fesf/layers.h"
#include "vec.h"

#include <cblas.h>
#include <math.h>
#include <string.h>


/* Threads (OpenMP, the engine's run.threads): element-wise work of more than
 * PAR_MIN values goes in blocks of PAR_BLOCK, planes by plane. Every value is
 * computed by the same operations whatever the split, so results do not
 * depend on the thread count. */
#define PAR_MIN 32768
#define PAR_BLOCK 8192
static inline size_t n_blocks(size_t len) { return (len + PAR_BLOCK - 1) / PAR_BLOCK; }
static inline size_t block_len(size_t len, size_t b) { return len - b * PAR_BLOCK < PAR_BLOCK ? len - b * PAR_BLOCK : PAR_BLOCK; }

/* ---- activations ---- */

static void relu_span(size_t len, const float *x, float *y)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        v4f v = *(const v4f *)(x + i);
        *(v4f *)(y + i) = (v4f)((v4i)v & ~(v < 0.0f)); /* NaN passes, as torch */
    }
    for (; i < len; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void fesf_relu_forward(size_t len, const float *x, float *y)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t b = 0; b < n_blocks(len); b++) relu_span(block_len(len, b), x + b * PAR_BLOCK, y + b * PAR_BLOCK);
}

static void relu_grad_span(size_t len, const float *x, const float *dy, float *dx)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4)
        *(v4f *)(dx + i) += (v4f)(*(const v4i *)(dy + i) & (*(const v4f *)(x + i) > 0.0f));
    for (; i < len; i++)
        if (x[i] > 0.0f) dx[i] += dy[i];
}

/* dx = dy where x > 0, else 0 (write-first) */
static void relu_grad_set_span(size_t len, const float *x, const float *dy, float *dx)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4)
        *(v4f *)(dx + i) = (v4f)(*(const v4i *)(dy + i) & (*(const v4f *)(x + i) > 0.0f));
    for (; i < len; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

void fesf_relu_backward(size_t len, const float *x, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t b = 0; b < n_blocks(len); b++) {
        size_t o = b * PAR_BLOCK;
        relu_grad_span(block_len(len, b), x + o, dy + o, dx + o);
    }
}

void fesf_relu_backward_set(size_t len, const float *x, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t b = 0; b < n_blocks(len); b++) {
        size_t o = b * PAR_BLOCK;
        relu_grad_set_span(block_len(len, b), x + o, dy + o, dx + o);
    }
}

void fesf_leaky_relu_forward(size_t len, float slope, const float *x, float *y)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t i = 0; i < len; i++) y[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
}

void fesf_leaky_relu_backward(size_t len, float slope, const float *x, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t i = 0; i < len; i++) dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * slope;
}

void fesf_tanh_forward(size_t len, const float *x, float *y)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t i = 0; i < len; i++) y[i] = tanhf(x[i]);
}

void fesf_tanh_backward(size_t len, const float *y, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t i = 0; i < len; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

void fesf_sigmoid_forward(size_t len, const float *x, float *y)
{
    for (size_t i = 0; i < len; i++) {
        float v = x[i];
        if (v >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-v));
        } else {
            float e = expf(v); /* no overflow for very negative v */
            y[i] = e / (1.0f + e);
        }
    }
}

void fesf_sigmoid_backward(size_t len, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < len; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

/* ---- pooling ---- */

int fesf_pool_shape_init(fesf_pool_shape *s)
{
    if (s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || s->k < 1 || s->stride < 1 || s->pad < 0)
        return fesf_error("pool shape n=%d c=%d h=%d w=%d k=%d stride=%d pad=%d is invalid", s->n, s->c, s->h, s->w,
                          s->k, s->stride, s->pad);
    if (2 * s->pad > s->k) /* torch: "pad should be at most half of effective kernel size" */
        return fesf_error("pool padding %d is more than half the kernel size %d", s->pad, s->k);
    if (s->h + 2 * s->pad < s->k || s->w + 2 * s->pad < s->k)
        return fesf_error("pool kernel %d is larger than the padded input %dx%d (pad %d)", s->k, s->h, s->w, s->pad);
    s->ho = (s->h + 2 * s->pad - s->k) / s->stride + 1;
    s->wo = (s->w + 2 * s->pad - s->k) / s->stride + 1;
    return 0;
}

/* Input range [lo, hi) of output position o along one axis of length n,
 * clipped to the image (padding is never part of a window). */
static void pool_window(int o, int stride, int pad, int k, int n, int *lo, int *hi)
{
    *lo = o * stride - pad;
    *hi = *lo + k;
    if (*lo < 0) *lo = 0;
    if (*hi > n) *hi = n;
}

/* The 2x2 stride-2 unpadded pool of cnn-small, with the general loop's rule
 * (strict >, NaN wins, window order a b / c d) on four fixed candidates,
 * four outputs at a time without branches: the general loop's window
 * clipping and its mispredicted compares on random data were ~18% of a
 * cnn-small training step. */

static inline void take(v4f v, v4s code, v4f *best, v4s *bi)
{
    v4s m = (v > *best) | (v != v); /* v != v: NaN */
    *best = (v4f)(((v4s)v & m) | ((v4s)*best & ~m));
    *bi = (code & m) | (*bi & ~m);
}

static void maxpool2_plane(const fesf_pool_shape *s, const float *xp, float *yp, int32_t *ip)
{
    const int w = s->w, wo = s->wo;
    const v4s one = {1, 1, 1, 1}, below = {w, w, w, w}, diag = below + one, lane = {0, 2, 4, 6};
    for (int oh = 0; oh < s->ho; oh++) {
        const float *r0 = xp + (size_t)(2 * oh) * w, *r1 = r0 + w;
        float *yr = yp + (size_t)oh * wo;
        int32_t *ir = ip + (size_t)oh * wo;
        int ow = 0;
        for (; ow + 4 <= wo; ow += 4) {
            v4f u0 = *(const v4f *)(r0 + 2 * ow), u1 = *(const v4f *)(r0 + 2 * ow + 4);
            v4f l0 = *(const v4f *)(r1 + 2 * ow), l1 = *(const v4f *)(r1 + 2 * ow + 4);
            v4f best = SHUF4(u0, u1, 0, 2, 4, 6);
            v4s bi = {0, 0, 0, 0};
            take(SHUF4(u0, u1, 1, 3, 5, 7), one, &best, &bi);
            take(SHUF4(l0, l1, 0, 2, 4, 6), below, &best, &bi);
            take(SHUF4(l0, l1, 1, 3, 5, 7), diag, &best, &bi);
            v4s at = bi + lane + 2 * oh * w + 2 * ow;
            *(v4f *)(yr + ow) = best;
            *(v4i *)(ir + ow) = (v4i)at;
        }
        for (; ow < wo; ow++) {
            const int32_t at[4] = {2 * oh * w + 2 * ow, 2 * oh * w + 2 * ow + 1, (2 * oh + 1) * w + 2 * ow,
                                   (2 * oh + 1) * w + 2 * ow + 1};
            float best = xp[at[0]];
            int32_t bi = at[0];
            for (int q = 1; q < 4; q++)
                if (xp[at[q]] > best || isnan(xp[at[q]])) best = xp[at[q]], bi = at[q];
            yr[ow] = best;
            ir[ow] = bi;
        }
    }
}

void fesf_maxpool_forward(const fesf_pool_shape *s, const float *x, float *y, int32_t *idx)
{
    const size_t planes = (size_t)s->n * s->c, hw = (size_t)s->h * s->w, po = (size_t)s->ho * s->wo;
    if (s->k == 2 && s->stride == 2 && s->pad == 0) {
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
        for (size_t pl = 0; pl < planes; pl++) maxpool2_plane(s, x + pl * hw, y + pl * po, idx + pl * po);
        return;
    }
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * hw;
        float *yp = y + pl * po;
        int32_t *ip = idx + pl * po;
        for (int oh = 0; oh < s->ho; oh++) {
            int h0, h1;
            pool_window(oh, s->stride, s->pad, s->k, s->h, &h0, &h1);
            for (int ow = 0; ow < s->wo; ow++) {
                int w0, w1;
                pool_window(ow, s->stride, s->pad, s->k, s->w, &w0, &w1);
                /* as torch's CPU kernel: strict > (the first maximum wins),
                 * NaN propagates, padding is never a candidate */
                float best = -INFINITY;
                int32_t bi = h0 * s->w + w0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        float v = xp[ih * s->w + iw];
                        if (v > best || isnan(v)) {
                            best = v;
                            bi = ih * s->w + iw;
                        }
                    }
                yp[oh * s->wo + ow] = best;
                ip[oh * s->wo + ow] = bi;
            }
        }
    }
}

static void maxpool_backward(const fesf_pool_shape *s, const int32_t *idx, const float *dy, float *dx, int set)
{
    const size_t planes = (size_t)s->n * s->c, hw = (size_t)s->h * s->w, po = (size_t)s->ho * s->wo;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * hw;
        if (set) memset(dxp, 0, sizeof(float) * hw);
        const float *dyp = dy + pl * po;
        const int32_t *ip = idx + pl * po;
        for (size_t q = 0; q < po; q++) dxp[ip[q]] += dyp[q];
    }
}

void fesf_maxpool_backward(const fesf_pool_shape *s, const int32_t *idx, const float *dy, float *dx)
{
    maxpool_backward(s, idx, dy, dx, 0);
}

void fesf_maxpool_backward_set(const fesf_pool_shape *s, const int32_t *idx, const float *dy, float *dx)
{
    maxpool_backward(s, idx, dy, dx, 1);
}

/* torch's divisor with count_include_pad: the window clipped to the padded
 * input (always k*k without ceil_mode, kept general for clarity) */
static int avg_divisor(const fesf_pool_shape *s, int oh, int ow)
{
    int h0 = oh * s->stride - s->pad, w0 = ow * s->stride - s->pad;
    int h1 = h0 + s->k, w1 = w0 + s->k;
    if (h1 > s->h + s->pad) h1 = s->h + s->pad;
    if (w1 > s->w + s->pad) w1 = s->w + s->pad;
    return (h1 - h0) * (w1 - w0);
}

void fesf_avgpool_forward(const fesf_pool_shape *s, const float *x, float *y)
{
    const size_t planes = (size_t)s->n * s->c, hw = (size_t)s->h * s->w, po = (size_t)s->ho * s->wo;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * hw;
        float *yp = y + pl * po;
        for (int oh = 0; oh < s->ho; oh++) {
            int h0, h1;
            pool_window(oh, s->stride, s->pad, s->k, s->h, &h0, &h1);
            for (int ow = 0; ow < s->wo; ow++) {
                int w0, w1;
                pool_window(ow, s->stride, s->pad, s->k, s->w, &w0, &w1);
                float acc = 0.0f;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) acc += xp[ih * s->w + iw];
                yp[oh * s->wo + ow] = acc / (float)avg_divisor(s, oh, ow);
            }
        }
    }
}

void fesf_avgpool_backward(const fesf_pool_shape *s, const float *dy, float *dx)
{
    const size_t planes = (size_t)s->n * s->c, hw = (size_t)s->h * s->w, po = (size_t)s->ho * s->wo;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * hw;
        const float *dyp = dy + pl * po;
        for (int oh = 0; oh < s->ho; oh++) {
            int h0, h1;
            pool_window(oh, s->stride, s->pad, s->k, s->h, &h0, &h1);
            for (int ow = 0; ow < s->wo; ow++) {
                int w0, w1;
                pool_window(ow, s->stride, s->pad, s->k, s->w, &w0, &w1);
                float g = dyp[oh * s->wo + ow] / (float)avg_divisor(s, oh, ow);
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dxp[ih * s->w + iw] += g;
            }
        }
    }
}

/* ---- global average pool ---- */

void fesf_gap_forward(int n, int c, int hw, const float *x, float *y)
{
    const size_t planes = (size_t)n * c;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * hw;
        v4f s0 = {0}, s1 = {0};
        int i = 0;
        for (; i + 8 <= hw; i += 8) {
            s0 += *(const v4f *)(xp + i);
            s1 += *(const v4f *)(xp + i + 4);
        }
        double acc = (double)((s0[0] + s0[1]) + (s0[2] + s0[3])) + ((s1[0] + s1[1]) + (s1[2] + s1[3]));
        for (; i < hw; i++) acc += xp[i];
        y[pl] = (float)(acc / hw);
    }
}

void fesf_gap_backward(int n, int c, int hw, const float *dy, float *dx)
{
    const size_t planes = (size_t)n * c;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        float g = dy[pl] / (float)hw;
        float *dxp = dx + pl * hw;
        for (int i = 0; i < hw; i++) dxp[i] += g;
    }
}

/* ---- linear: y [N, Out] = x [N, In] W^T + b ---- */

void fesf_linear_forward(int n, int in, int out, const float *x, const float *w, const float *b, float *y)
{
    if (b)
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * (size_t)out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
}

void fesf_linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                          float *dw, float *db)
{
    if (dx) /* dx [N, In] += dy [N, Out] W [Out, In] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw) /* dw [Out, In] += dy^T x */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db)
        for (int o = 0; o < out; o++) {
            double acc = 0.0;
            for (int i = 0; i < n; i++) acc += dy[(size_t)i * out + o];
            db[o] += (float)acc;
        }
}

/* ---- residual add ---- */

static void add_span(size_t len, const float *a, const float *b, float *y)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4) *(v4f *)(y + i) = *(const v4f *)(a + i) + *(const v4f *)(b + i);
    for (; i < len; i++) y[i] = a[i] + b[i];
}

void fesf_add_forward(size_t len, const float *a, const float *b, float *y)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t k = 0; k < n_blocks(len); k++) {
        size_t o = k * PAR_BLOCK;
        add_span(block_len(len, k), a + o, b + o, y + o);
    }
}

static void acc_add_span(size_t len, const float *src, float *dst)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4) *(v4f *)(dst + i) += *(const v4f *)(src + i);
    for (; i < len; i++) dst[i] += src[i];
}

static void acc_add(size_t len, const float *src, float *dst)
{
#pragma omp parallel for schedule(static) if (len > PAR_MIN)
    for (size_t k = 0; k < n_blocks(len); k++) acc_add_span(block_len(len, k), src + k * PAR_BLOCK, dst + k * PAR_BLOCK);
}

void fesf_add_backward(size_t len, const float *dy, float *da, float *db)
{
    if (da) acc_add(len, dy, da);
    if (db) acc_add(len, dy, db);
}

/* ---- nearest upsampling by f ---- */

void fesf_upsample_forward(int n, int c, int h, int w, int f, const float *x, float *y)
{
    const size_t planes = (size_t)n * c, wo = (size_t)w * f;
#pragma omp parallel for schedule(static) if (planes * h * w > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * h * w;
        float *yp = y + pl * h * w * f * f;
        for (int ih = 0; ih < h; ih++) {
            float *row = yp + (size_t)ih * f * wo;
            for (int iw = 0; iw < w; iw++)
                for (int b = 0; b < f; b++) row[(size_t)iw * f + b] = xp[(size_t)ih * w + iw];
            for (int a = 1; a < f; a++) memcpy(row + a * wo, row, sizeof(float) * wo);
        }
    }
}

void fesf_upsample_backward(int n, int c, int h, int w, int f, const float *dy, float *dx)
{
    const size_t planes = (size_t)n * c, wo = (size_t)w * f;
#pragma omp parallel for schedule(static) if (planes * h * w > PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * h * w;
        const float *dyp = dy + pl * h * w * f * f;
        for (int ih = 0; ih < h; ih++)
            for (int iw = 0; iw < w; iw++) {
                float acc = 0.0f;
                for (int a = 0; a < f; a++)
                    for (int b = 0; b < f; b++) acc += dyp[((size_t)ih * f + a) * wo + (size_t)iw * f + b];
                dxp[(size_t)ih * w + iw] += acc;
            }
    }
}
