/* 2-D convolution (see layers.h): im2col + cblas_sgemm, with a direct GEMM
 * path for 1x1 / stride 1 / pad 0 convolutions (the input plane is already
 * the column matrix) and naive direct-loop references.
 *
 * Strategy: samples go in chunks of nb = min(N, ceil(FESF_CONV_COLS / P))
 * (P = Ho*Wo). A chunk's columns form one matrix col [Cin*K*K, nb*P]; one
 * GEMM gives tmp [Cout, nb*P], copied into NCHW (rows of P floats); when
 * nb = 1 the GEMM writes y directly. Backward copies dy the same way into
 * tmp, dw += tmp x col^T (one GEMM, inner dimension nb*P), col = W^T x tmp,
 * col2im adds into dx. Scratch: col plus tmp (tmp only when nb > 1).
 *
 * Measured (AMD EPYC Zen 5, OpenBLAS 0.3.21 pthread, gcc 12 -O2, N = 64, ms
 * per forward + backward with dx, dw, db, best of 2 rounds on a shared,
 * noisy machine: differences under ~10% are noise):
 *                            1 thread                2 threads
 *   shape                per-sample chunk  whole N  per-sample chunk  whole N
 *   16->32 28x28 k3          21.7   21.8   27.4        17.2   16.4   19.4
 *   32->32 14x14 k3          10.6   10.6   14.0         9.9    9.1    8.8
 *   16->16 28x28 (r16)       12.2   11.9   19.4        10.1    9.6   13.6
 *   64->64 7x7 (r16)          9.7    9.1    9.8        14.9    9.0    8.1
 *   128->128 4x4 (r16)       14.0   11.8   11.8        22.0    9.9    9.9
 *   64->64 28x28 (r64)      128.5  135.5  180.5       109.3  105.9  115.2
 *   128->128 14x14 (r64)    131.4  140.8  145.3       102.4   86.2   85.0
 *   512->512 4x4 (r64)      253.5  176.4  159.8       240.1  100.9   97.2
 * (chunk = FESF_CONV_COLS 2048; 256..2048 are equal within noise on 1
 * thread, 2048 is better on 2.) Per-sample GEMMs lose once P is small (7x7,
 * 4x4: tiny GEMMs, and OpenBLAS cannot split them over threads); the whole
 * batch in one GEMM loses at 28x28, where its col matrix (30-130 MB) leaves
 * the caches. Chunks of ~2048 columns keep the GEMMs large (and threadable)
 * with a few MB of scratch. "Same" stride-1 convolutions copy whole shifted
 * planes in im2col/col2im (see same_span), which made those 2-4x faster. */
#include "fesf/error.h"
#include "fesf/layers.h"

#include <cblas.h>
#include <string.h>

#ifndef FESF_CONV_COLS
#define FESF_CONV_COLS 2048
#endif

int fesf_conv_shape_init(fesf_conv_shape *s)
{
    if (s->n < 1 || s->cin < 1 || s->h < 1 || s->w < 1 || s->cout < 1 || s->k < 1 || s->stride < 1 || s->pad < 0)
        return fesf_error("conv shape n=%d cin=%d h=%d w=%d cout=%d k=%d stride=%d pad=%d is invalid", s->n, s->cin,
                          s->h, s->w, s->cout, s->k, s->stride, s->pad);
    if (s->h + 2 * s->pad < s->k || s->w + 2 * s->pad < s->k)
        return fesf_error("conv kernel %d is larger than the padded input %dx%d (pad %d)", s->k, s->h, s->w, s->pad);
    s->ho = (s->h + 2 * s->pad - s->k) / s->stride + 1;
    s->wo = (s->w + 2 * s->pad - s->k) / s->stride + 1;
    return 0;
}

static int is_pointwise(const fesf_conv_shape *s) { return s->k == 1 && s->stride == 1 && s->pad == 0; }

/* samples per chunk */
static int conv_chunk(const fesf_conv_shape *s)
{
    int p = s->ho * s->wo;
    int nb = (FESF_CONV_COLS + p - 1) / p;
    if (nb < 1) nb = 1;
    if (nb > s->n) nb = s->n;
    return nb;
}

/* Non-decreasing in s->n: scratch sized for batch N serves any n <= N
 * (a model sized at its training batch may run a smaller last batch). */
size_t fesf_conv_col_floats(const fesf_conv_shape *s)
{
    if (is_pointwise(s)) return 0;
    size_t nb = (size_t)conv_chunk(s), p = (size_t)s->ho * s->wo;
    size_t rows = (size_t)s->cin * s->k * s->k;
    return rows * nb * p + (nb > 1 ? (size_t)s->cout * nb * p : 0);
}

/* Output positions o in [lo, hi) whose input i = o*stride - pad + kk lies
 * in [0, n) (n input size, nout output size, kk kernel offset). */
static void valid_range(int n, int nout, int stride, int pad, int kk, int *lo, int *hi)
{
    int a = pad - kk, b = n - 1 + pad - kk;
    int l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int h = b < 0 ? 0 : b / stride + 1;
    if (h > nout) h = nout;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Row copy / accumulate / stride-2 gather: rows are Wo floats (4..64), too
 * short for memcpy calls to pay off, and -O2 does not vectorise loops whose
 * trip count is unknown, so blocks use GCC vector extensions (unaligned,
 * may_alias: plain 16-byte SSE loads and stores at the default -march). */
typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef int v4i __attribute__((vector_size(16)));
#ifdef __clang__
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#else
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shuffle(a, b, (v4i){i0, i1, i2, i3})
#endif

static inline void copy_row(float *restrict d, const float *restrict s, ptrdiff_t len)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= len; i += 8) {
        *(v4f *)(d + i) = *(const v4f *)(s + i);
        *(v4f *)(d + i + 4) = *(const v4f *)(s + i + 4);
    }
    for (; i < len; i++) d[i] = s[i];
}

static inline void add_row(float *restrict d, const float *restrict s, ptrdiff_t len)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= len; i += 8) {
        *(v4f *)(d + i) += *(const v4f *)(s + i);
        *(v4f *)(d + i + 4) += *(const v4f *)(s + i + 4);
    }
    for (; i < len; i++) d[i] += s[i];
}

/* d[i] = s[2 i], i < len; never reads past s[2 (len - 1)] */
static inline void gather2_row(float *restrict d, const float *restrict s, int len)
{
    int i = 0;
    for (; i + 4 < len; i += 4)
        *(v4f *)(d + i) = SHUF4(*(const v4f *)(s + 2 * i), *(const v4f *)(s + 2 * i + 4), 0, 2, 4, 6);
    for (; i < len; i++) d[i] = s[2 * i];
}

/* d[2 i] += s[i], i < len; the odd d[2 i + 1] in between get + 0.0f */
static inline void scatter2_add_row(float *restrict d, const float *restrict s, int len)
{
    const v4f z = {0.0f, 0.0f, 0.0f, 0.0f};
    int i = 0;
    for (; i + 4 < len; i += 4) {
        v4f v = *(const v4f *)(s + i);
        *(v4f *)(d + 2 * i) += SHUF4(v, z, 0, 4, 1, 5);
        *(v4f *)(d + 2 * i + 4) += SHUF4(v, z, 2, 6, 3, 7);
    }
    for (; i < len; i++) d[2 * i] += s[i];
}

static inline void zero_row(float *d, ptrdiff_t len)
{
    if (len > 0) memset(d, 0, sizeof(float) * (size_t)len);
}

/* "Same" stride-1 convolutions (Wo == W, i.e. 2 pad = K - 1) have a
 * shifted copy of the input plane as each col row: one contiguous copy (or
 * add) per row of col, then the few columns that wrapped around a row edge
 * are zeroed. For kernel offset (kh, kw) this gives the row range of
 * positions q = oh*W + ow to copy: q0 <= q < q1, source q + off. */
static int same_conv(const fesf_conv_shape *s) { return s->stride == 1 && s->wo == s->w; }

static void same_span(const fesf_conv_shape *s, int kh, int kw, ptrdiff_t *off, ptrdiff_t *q0, ptrdiff_t *q1)
{
    int ohlo, ohhi;
    valid_range(s->h, s->ho, 1, s->pad, kh, &ohlo, &ohhi);
    ptrdiff_t o = (ptrdiff_t)(kh - s->pad) * s->w + (kw - s->pad), hw = (ptrdiff_t)s->h * s->w;
    ptrdiff_t a = (ptrdiff_t)ohlo * s->w, b = (ptrdiff_t)ohhi * s->w;
    if (a < -o) a = -o; /* wrapped positions that would read outside the plane */
    if (b > hw - o) b = hw - o;
    if (b < a) b = a;
    *off = o;
    *q0 = a;
    *q1 = b;
}

/* col [Cin*K*K, m*P] (row stride m*P) from m samples x [m, Cin, H, W] */
static void im2col(const fesf_conv_shape *s, const float *restrict x, int m, float *restrict col)
{
    const int k = s->k, st = s->stride, pad = s->pad, h = s->h, w = s->w, ho = s->ho, wo = s->wo;
    const size_t p = (size_t)ho * wo, ld = (size_t)m * p, hw = (size_t)h * w;
    const int same = same_conv(s);
    for (int c = 0; c < s->cin; c++)
        for (int kh = 0; kh < k; kh++) {
            int ohlo, ohhi;
            valid_range(h, ho, st, pad, kh, &ohlo, &ohhi);
            for (int kw = 0; kw < k; kw++) {
                int lo, hi;
                valid_range(w, wo, st, pad, kw, &lo, &hi);
                float *row = col + ((size_t)(c * k + kh) * k + kw) * ld;
                for (int j = 0; j < m; j++) {
                    const float *src = x + ((size_t)j * s->cin + c) * hw;
                    float *dst = row + (size_t)j * p;
                    if (same) {
                        ptrdiff_t off, q0, q1;
                        same_span(s, kh, kw, &off, &q0, &q1);
                        zero_row(dst, q0);
                        memcpy(dst + q0, src + q0 + off, sizeof(float) * (size_t)(q1 - q0));
                        zero_row(dst + q1, (ptrdiff_t)p - q1);
                        if (lo > 0 || hi < wo)
                            for (int oh = ohlo; oh < ohhi; oh++) {
                                float *d = dst + (size_t)oh * wo;
                                for (int ow = 0; ow < lo; ow++) d[ow] = 0.0f;
                                for (int ow = hi; ow < wo; ow++) d[ow] = 0.0f;
                            }
                        continue;
                    }
                    zero_row(dst, (ptrdiff_t)ohlo * wo);
                    zero_row(dst + (size_t)ohhi * wo, (ptrdiff_t)(ho - ohhi) * wo);
                    for (int oh = ohlo; oh < ohhi; oh++) {
                        float *d = dst + (size_t)oh * wo;
                        const float *sr = src + (ptrdiff_t)(oh * st - pad + kh) * w - pad + kw;
                        for (int ow = 0; ow < lo; ow++) d[ow] = 0.0f;
                        if (st == 1)
                            copy_row(d + lo, sr + lo, hi - lo);
                        else if (st == 2)
                            gather2_row(d + lo, sr + 2 * lo, hi - lo);
                        else
                            for (int ow = lo; ow < hi; ow++) d[ow] = sr[(ptrdiff_t)ow * st];
                        for (int ow = hi; ow < wo; ow++) d[ow] = 0.0f;
                    }
                }
            }
        }
}

/* dx [m, Cin, H, W] += col2im(col [Cin*K*K, m*P]); clobbers col (the
 * wrapped entries of "same" convolutions are zeroed first) */
static void col2im_add(const fesf_conv_shape *s, float *restrict col, int m, float *restrict dx)
{
    const int k = s->k, st = s->stride, pad = s->pad, h = s->h, w = s->w, ho = s->ho, wo = s->wo;
    const size_t p = (size_t)ho * wo, ld = (size_t)m * p, hw = (size_t)h * w;
    const int same = same_conv(s);
    for (int j = 0; j < m; j++)
        for (int c = 0; c < s->cin; c++) {
            float *dst = dx + ((size_t)j * s->cin + c) * hw;
            for (int kh = 0; kh < k; kh++) {
                int ohlo, ohhi;
                valid_range(h, ho, st, pad, kh, &ohlo, &ohhi);
                for (int kw = 0; kw < k; kw++) {
                    int lo, hi;
                    valid_range(w, wo, st, pad, kw, &lo, &hi);
                    float *src = col + ((size_t)(c * k + kh) * k + kw) * ld + (size_t)j * p;
                    if (same) {
                        ptrdiff_t off, q0, q1;
                        same_span(s, kh, kw, &off, &q0, &q1);
                        if (lo > 0 || hi < wo)
                            for (int oh = ohlo; oh < ohhi; oh++) {
                                float *d = src + (size_t)oh * wo;
                                for (int ow = 0; ow < lo; ow++) d[ow] = 0.0f;
                                for (int ow = hi; ow < wo; ow++) d[ow] = 0.0f;
                            }
                        add_row(dst + q0 + off, src + q0, q1 - q0);
                        continue;
                    }
                    for (int oh = ohlo; oh < ohhi; oh++) {
                        const float *sr = src + (size_t)oh * wo;
                        float *dr = dst + (ptrdiff_t)(oh * st - pad + kh) * w - pad + kw;
                        if (st == 1)
                            add_row(dr + lo, sr + lo, hi - lo);
                        else if (st == 2)
                            scatter2_add_row(dr + 2 * lo, sr + lo, hi - lo);
                        else
                            for (int ow = lo; ow < hi; ow++) dr[(ptrdiff_t)ow * st] += sr[ow];
                    }
                }
            }
        }
}

/* sum of a plane: 8 float lanes (independent, vectorisable), then double */
static double sum_plane(const float *a, size_t len)
{
    float l[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int j = 0; j < 8; j++) l[j] += a[i + j];
    double acc = 0.0;
    for (int j = 0; j < 8; j++) acc += l[j];
    for (; i < len; i++) acc += a[i];
    return acc;
}

static void fill_bias(int cout, size_t p, const float *b, float *y)
{
    for (int co = 0; co < cout; co++)
        for (size_t i = 0; i < p; i++) y[(size_t)co * p + i] = b[co];
}

void fesf_conv2d_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                         float *col)
{
    const int cout = s->cout, n = s->n;
    const size_t p = (size_t)s->ho * s->wo, xs = (size_t)s->cin * s->h * s->w, ys = (size_t)cout * p;
    const int rows = s->cin * s->k * s->k;
    if (is_pointwise(s)) {
        for (int i = 0; i < n; i++) {
            float *yi = y + i * ys;
            if (b) fill_bias(cout, p, b, yi);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout, (int)p, s->cin, 1.0f, w, s->cin,
                        x + i * xs, (int)p, b ? 1.0f : 0.0f, yi, (int)p);
        }
        return;
    }
    const int nb = conv_chunk(s);
    float *tmp = col + (size_t)rows * nb * p;
    for (int n0 = 0; n0 < n; n0 += nb) {
        int m = n - n0 < nb ? n - n0 : nb;
        im2col(s, x + n0 * xs, m, col);
        if (m == 1) {
            float *yi = y + n0 * ys;
            if (b) fill_bias(cout, p, b, yi);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout, (int)p, rows, 1.0f, w, rows, col, (int)p,
                        b ? 1.0f : 0.0f, yi, (int)p);
            continue;
        }
        const size_t ld = (size_t)m * p;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout, (int)ld, rows, 1.0f, w, rows, col, (int)ld,
                    0.0f, tmp, (int)ld);
        for (int j = 0; j < m; j++)
            for (int co = 0; co < cout; co++) {
                const float *src = tmp + co * ld + j * p;
                float *dst = y + (n0 + j) * ys + co * p;
                if (b) {
                    float bc = b[co];
                    for (size_t i = 0; i < p; i++) dst[i] = src[i] + bc;
                } else {
                    memcpy(dst, src, sizeof(float) * p);
                }
            }
    }
}

void fesf_conv2d_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                          float *dw, float *db, float *col)
{
    const int cout = s->cout, n = s->n, cin = s->cin;
    const size_t p = (size_t)s->ho * s->wo, xs = (size_t)cin * s->h * s->w, ys = (size_t)cout * p;
    const int rows = cin * s->k * s->k;
    if (db) {
        for (int co = 0; co < cout; co++) {
            double acc = 0.0;
            for (int i = 0; i < n; i++) acc += sum_plane(dy + i * ys + co * p, p);
            db[co] += (float)acc;
        }
    }
    if (!dx && !dw) return;
    if (is_pointwise(s)) {
        for (int i = 0; i < n; i++) {
            const float *dyi = dy + i * ys;
            if (dw)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cout, cin, (int)p, 1.0f, dyi, (int)p,
                            x + i * xs, (int)p, 1.0f, dw, cin);
            if (dx)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cin, (int)p, cout, 1.0f, w, cin, dyi, (int)p,
                            1.0f, dx + i * xs, (int)p);
        }
        return;
    }
    const int nb = conv_chunk(s);
    float *tmp = col + (size_t)rows * nb * p;
    for (int n0 = 0; n0 < n; n0 += nb) {
        int m = n - n0 < nb ? n - n0 : nb;
        const size_t ld = (size_t)m * p;
        const float *d = dy + n0 * ys;
        if (m > 1) {
            for (int j = 0; j < m; j++)
                for (int co = 0; co < cout; co++)
                    memcpy(tmp + co * ld + j * p, dy + (n0 + j) * ys + co * p, sizeof(float) * p);
            d = tmp;
        }
        if (dw) {
            im2col(s, x + n0 * xs, m, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cout, rows, (int)ld, 1.0f, d, (int)ld, col,
                        (int)ld, 1.0f, dw, rows);
        }
        if (dx) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, (int)ld, cout, 1.0f, w, rows, d, (int)ld,
                        0.0f, col, (int)ld);
            col2im_add(s, col, m, dx + n0 * xs);
        }
    }
}

/* ---- naive references: direct loops, double accumulation ---- */

void fesf_conv2d_forward_naive(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y)
{
    const int k = s->k;
    for (int i = 0; i < s->n; i++)
        for (int co = 0; co < s->cout; co++)
            for (int oh = 0; oh < s->ho; oh++)
                for (int ow = 0; ow < s->wo; ow++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int kh = 0; kh < k; kh++)
                            for (int kw = 0; kw < k; kw++) {
                                int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
                                acc += (double)x[(((size_t)i * s->cin + ci) * s->h + ih) * s->w + iw] *
                                       w[(((size_t)co * s->cin + ci) * k + kh) * k + kw];
                            }
                    y[(((size_t)i * s->cout + co) * s->ho + oh) * s->wo + ow] = (float)acc;
                }
}

void fesf_conv2d_backward_naive(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                                float *dw, float *db)
{
    const int k = s->k;
#define DY(i, co, oh, ow) dy[(((size_t)(i) * s->cout + (co)) * s->ho + (oh)) * s->wo + (ow)]
    if (db)
        for (int co = 0; co < s->cout; co++) {
            double acc = 0.0;
            for (int i = 0; i < s->n; i++)
                for (int oh = 0; oh < s->ho; oh++)
                    for (int ow = 0; ow < s->wo; ow++) acc += DY(i, co, oh, ow);
            db[co] += (float)acc;
        }
    if (dw)
        for (int co = 0; co < s->cout; co++)
            for (int ci = 0; ci < s->cin; ci++)
                for (int kh = 0; kh < k; kh++)
                    for (int kw = 0; kw < k; kw++) {
                        double acc = 0.0;
                        for (int i = 0; i < s->n; i++)
                            for (int oh = 0; oh < s->ho; oh++)
                                for (int ow = 0; ow < s->wo; ow++) {
                                    int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                                    if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
                                    acc += (double)DY(i, co, oh, ow) *
                                           x[(((size_t)i * s->cin + ci) * s->h + ih) * s->w + iw];
                                }
                        dw[(((size_t)co * s->cin + ci) * k + kh) * k + kw] += (float)acc;
                    }
    if (dx)
        for (int i = 0; i < s->n; i++)
            for (int ci = 0; ci < s->cin; ci++)
                for (int ih = 0; ih < s->h; ih++)
                    for (int iw = 0; iw < s->w; iw++) {
                        double acc = 0.0;
                        for (int co = 0; co < s->cout; co++)
                            for (int kh = 0; kh < k; kh++)
                                for (int kw = 0; kw < k; kw++) {
                                    int th = ih + s->pad - kh, tw = iw + s->pad - kw;
                                    if (th < 0 || tw < 0 || th % s->stride || tw % s->stride) continue;
                                    int oh = th / s->stride, ow = tw / s->stride;
                                    if (oh >= s->ho || ow >= s->wo) continue;
                                    acc += (double)DY(i, co, oh, ow) * w[(((size_t)co * s->cin + ci) * k + kh) * k + kw];
                                }
                        dx[(((size_t)i * s->cin + ci) * s->h + ih) * s->w + iw] += (float)acc;
                    }
#undef DY
}
