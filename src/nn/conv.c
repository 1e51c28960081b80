/* 2-D convolution (see layers.h): im2col + cblas_sgemm, with a direct GEMM
 * path for 1x1 / stride 1 / pad 0 convolutions (the input plane is already
 * the column matrix); the naive direct-loop references are in conv_naive.c.
 *
 * Strategy: samples go in chunks of nb = min(ceil(N / 4), ceil(FESF_CONV_COLS
 * / P)) (P = Ho*Wo). A chunk's columns form one matrix col [Cin*K*K, nb*P];
 * one GEMM gives tmp [Cout, nb*P], copied into NCHW (rows of P floats); when
 * nb = 1 the GEMM writes y directly. Backward copies dy the same way into
 * tmp, dw += tmp x col^T (one GEMM, inner dimension nb*P), col = W^T x tmp,
 * col2im adds into dx (or, for Cout <= Cin "same" convolutions, dx from the
 * flipped weights: see flip_dx).
 *
 * Threads: the chunks are dealt to FESF_CONV_GROUPS (4) fixed groups, which
 * run in parallel (OpenMP, the engine's run.threads; GEMM on one thread
 * inside), each with its own scratch slot and its own weight-gradient
 * partial, added in group order at the end. The split depends on the shape
 * and N only, so any thread count gives the same bits; a convolution uses
 * at most 4 threads (more groups: more threads, more partials). Scratch: 4
 * slots (col, tmp) and 3 partials of dw.
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
 * planes in im2col/col2im (see same_span), which made those 2-4x faster.
 *
 * Winograd path (conv_wino.c): 3x3 stride-1 pad-1 convolutions with 16+
 * input and output channels (32+ input on planes of 28+ rows) go there
 * first; its top comment has the shapes where it pays and where not.
 * Direct path (conv_direct.c): on CPUs with AVX-512F or AVX2 + FMA, the
 * other 3x3 stride-1 pad-1 convolutions of up to 64 channels on planes of
 * 14+ rows (their backward too, unless fesf_conv_direct_grad says the
 * row-shift path is faster).
 *
 * Row-shift path (conv_same.c, issue 14): stride-1 "same" convolutions on
 * planes of 14+ rows skip im2col: K column-shifted copies of each plane and
 * K GEMMs at row offsets (inner dimension Cin*K), dw from the same copies
 * and dx by the flipped weights; planes of 784+ positions go one sample per
 * chunk, straight into y and dx. Training images/s new/old, batch 64,
 * interleaved old/new binaries, median of the pair ratios (the machine was
 * shared and mostly loaded, single pairs ranged 0.4-1.7x then, so only
 * the consistent figures below are worth much):
 *   row-shift path            resnet18 w16 28 px 1.12x (2 thr), 1.08x (1 thr);
 *                             64 px 1.14-1.19x (2 thr)
 *   + one sample at 784+      28 px 1.01-1.05x (1 thr)
 *   + batch norm/ReLU fused   28 px 1.02-1.04x (1 thr; norm.c, the same bits)
 *   + shared padding rows     28 px 1.02-1.03x (1 thr, within noise)
 *   all four                  resnet18 w16 28 px 1.13-1.18x on quiet pairs,
 *                             64 px 1.19x (pairs 1.05-1.20), w64 28 px 1.11x
 *                             (1.04-1.12), cnn-small 28 px 1.11x (1 thr,
 *                             1.07-1.30)
 * Profile after (perf, resnet18 w16 28 px, 1 thread): GEMM kernel 46%,
 * packing 13%, beta 2.5%; im2col (the 7x7 / 4x4 and stride-2 layers) 11%,
 * memmove 6%, memset 4%, row-shift copies 1.4%; batch norm 7%, ReLU 1%.
 * Tried and dropped: the row-shift path on 7x7 and 4x4 planes too (junk
 * rows pad/H of the GEMM work: 0.97-1.02x at w16, 0.94x at w64, 1 thread);
 * im2col of small "same" planes through a zero-padded local copy (0.96x
 * 1 thread, 1.0x 2 threads). */
#include "conv_internal.h"
#include "fesf/blas.h"
#include "fesf/error.h"
#include "fesf/layers.h"
#include "vec.h"

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

/* The batch's work plan: chunks of nb samples (the last may be shorter),
 * dealt to `groups` fixed groups of consecutive chunks. Groups run in
 * parallel, each with its own scratch slot; group 0 accumulates its weight
 * gradient into dw, group g > 0 into partial g - 1, which are added to dw in
 * the order of g afterwards. Everything depends on the shape and n only,
 * never on the thread count, so results are bitwise the same for any. */
typedef fesf_conv_plan conv_plan;

/* nb samples a chunk (at least 1): the chunks, dealt to at most
 * FESF_CONV_GROUPS groups */
static conv_plan plan_nb(int n, int nb)
{
    conv_plan pl;
    pl.nb = nb < 1 ? 1 : nb;
    pl.nc = (n + pl.nb - 1) / pl.nb;
    pl.groups = pl.nc < FESF_CONV_GROUPS ? pl.nc : FESF_CONV_GROUPS;
    return pl;
}

fesf_conv_plan fesf_conv_plan_cols(int n, int per, int cols)
{
    int nb = (cols + per - 1) / per, share = (n + FESF_CONV_GROUPS - 1) / FESF_CONV_GROUPS;
    return plan_nb(n, nb > share ? share : nb); /* at least FESF_CONV_GROUPS chunks when the batch allows */
}

fesf_conv_plan fesf_conv_plan_of(const fesf_conv_shape *s)
{
    if (is_pointwise(s)) return plan_nb(s->n, 1); /* the input plane is the column matrix: one GEMM per sample */
    if (fesf_conv_rowshift(s) && s->ho * s->wo >= FESF_CONV_ROWSHIFT_ONE)
        return plan_nb(s->n, 1); /* no junk rows, no unpacking copy: GEMMs straight into y and dx */
    return fesf_conv_plan_cols(s->n, s->ho * s->wo, FESF_CONV_COLS);
}

#define plan_of fesf_conv_plan_of
#define group_chunks fesf_conv_group_chunks

/* Stride-1 "same" convolutions with an odd kernel (3x3 pad 1, 5x5 pad 2)
 * get dx as a convolution of dy with the flipped, transposed weights: one
 * GEMM [Cin, Cout*K*K] x im2col(dy) of inner dimension Cout*K*K, instead of
 * W^T dy (inner dimension Cout, an output K*K times larger) and col2im.
 * Measured per backward (batch 64, Zen 3, 1 and 2 threads, interleaved,
 * best of 7): 0.83-0.98x the col2im path when Cout = Cin (16..128 channels,
 * 28x28..4x4), but 1.17-1.8x when Cout = 2 Cin (im2col of dy is then the
 * larger matrix), so only for Cout <= Cin. */
static int flip_dx(const fesf_conv_shape *s)
{
    return s->cout <= s->cin && s->k > 1 && s->stride == 1 && s->ho == s->h && s->wo == s->w && 2 * s->pad == s->k - 1;
}

/* One group's slot: col [Cin*K*K, nb*P] (im2col of x), then for flip_dx
 * shapes cold [Cout*K*K, nb*P] (im2col of dy), then tmp [max(Cin, Cout),
 * nb*P] (the GEMM's output, or dy as one matrix). Offsets in floats. */
typedef struct {
    size_t cold, tmp, total;
} slot_layout;

static slot_layout slot_of(const fesf_conv_shape *s, int nb)
{
    slot_layout l = {0, 0, 0};
    if (is_pointwise(s)) return l;
    size_t ld = (size_t)nb * s->ho * s->wo, kk = (size_t)s->k * s->k;
    size_t wide = (size_t)(s->cin > s->cout ? s->cin : s->cout);
    l.cold = (size_t)s->cin * kk * ld;
    l.tmp = l.cold + (flip_dx(s) ? (size_t)s->cout * kk * ld : 0);
    l.total = l.tmp + (nb > 1 || flip_dx(s) ? wide * ld : 0);
    return l;
}

/* Non-decreasing in s->n: scratch sized for batch N serves any n <= N
 * (a model sized at its training batch may run a smaller last batch).
 * Layout: FESF_CONV_GROUPS slots, FESF_CONV_GROUPS - 1 weight-gradient
 * partials, the flipped weights (flip_dx shapes). */
static size_t gemm_col_floats(const fesf_conv_shape *s)
{
    if (fesf_conv_wino(s)) return fesf_conv_wino_floats(s);
    if (fesf_conv_rowshift(s)) return fesf_conv_rowshift_floats(s);
    conv_plan pl = plan_of(s);
    size_t dw = (size_t)s->cout * s->cin * s->k * s->k;
    return FESF_CONV_GROUPS * slot_of(s, pl.nb).total + (FESF_CONV_GROUPS - 1) * dw + (flip_dx(s) ? dw : 0);
}

/* the direct path's, or the other paths', or both where the forward runs
 * direct and the backward does not */
size_t fesf_conv_col_floats(const fesf_conv_shape *s)
{
    const size_t d = fesf_conv_direct(s) ? fesf_conv_direct_floats(s) : 0;
    if (fesf_conv_direct_grad(s)) return d;
    const size_t g = gemm_col_floats(s);
    return d > g ? d : g;
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

/* Stride-2 gather / scatter rows (copy_row, add_row: vec.h) */

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
                ptrdiff_t off = 0, q0 = 0, q1 = 0;
                if (same) same_span(s, kh, kw, &off, &q0, &q1);
                for (int j = 0; j < m; j++) {
                    const float *src = x + ((size_t)j * s->cin + c) * hw;
                    float *dst = row + (size_t)j * p;
                    if (same) {
                        zero_row(dst, q0);
                        copy_span(dst + q0, src + q0 + off, q1 - q0);
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
                        same_span(s, kh, kw, &off, &q0, &q1); /* per j: col2im runs sample by sample */
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

/* y for the m samples from sample n0 on, with slot scratch col (+ tmp) */
static void forward_chunk(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                          float *col, int n0, int m)
{
    const int cout = s->cout, rows = s->cin * s->k * s->k;
    const size_t p = (size_t)s->ho * s->wo, xs = (size_t)s->cin * s->h * s->w, ys = (size_t)cout * p;
    if (is_pointwise(s) || m == 1) { /* the GEMM writes y directly */
        const float *c = x + n0 * xs;
        if (!is_pointwise(s)) im2col(s, c, 1, col), c = col;
        float *yi = y + n0 * ys;
        if (b) fill_bias(cout, p, b, yi);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout, (int)p, rows, 1.0f, w, rows, c, (int)p,
                    b ? 1.0f : 0.0f, yi, (int)p);
        return;
    }
    const size_t ld = (size_t)m * p;
    float *tmp = col + slot_of(s, m).tmp;
    im2col(s, x + n0 * xs, m, col);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout, (int)ld, rows, 1.0f, w, rows, col, (int)ld, 0.0f,
                tmp, (int)ld);
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

void fesf_conv2d_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                         float *col)
{
    if (fesf_conv_direct(s)) {
        fesf_conv_direct_forward(s, x, w, b, y, col);
        return;
    }
    if (fesf_conv_wino(s)) {
        fesf_conv_wino_forward(s, x, w, b, y, col);
        return;
    }
    if (fesf_conv_rowshift(s)) {
        fesf_conv_rowshift_forward(s, x, w, b, y, col);
        return;
    }
    fesf_blas_serial_gemm();
    const conv_plan pl = plan_of(s);
    const size_t slot = slot_of(s, pl.nb).total;
#pragma omp parallel for schedule(static) if (pl.groups > 1)
    for (int g = 0; g < pl.groups; g++) {
        int c0, c1;
        group_chunks(&pl, g, &c0, &c1);
        for (int c = c0; c < c1; c++) {
            int n0, m = fesf_conv_chunk(&pl, s->n, c, &n0);
            forward_chunk(s, x, w, b, y, col + g * slot, n0, m);
        }
    }
}

/* backward_chunk of a flip_dx shape: wt [Cin, Cout*K*K] the flipped weights */
static void flip_chunk(const fesf_conv_shape *s, const float *x, const float *wt, const float *dy, float *dx,
                       int set, float *dw, float beta, float *col, int n0, int m)
{
    const int cout = s->cout, cin = s->cin, rows = cin * s->k * s->k, drows = cout * s->k * s->k;
    const size_t p = (size_t)s->ho * s->wo, xs = (size_t)cin * s->h * s->w, ys = (size_t)cout * p;
    const size_t ld = (size_t)m * p;
    const slot_layout sl = slot_of(s, m);
    float *cold = col + sl.cold, *tmp = col + sl.tmp;
    fesf_conv_shape sd = *s; /* dy's planes are x's size: the same geometry with Cout channels */
    sd.cin = cout;
    im2col(&sd, dy + n0 * ys, m, cold);
    if (dw) { /* dy as [Cout, m*P]: the centre offset's rows of im2col(dy), an exact copy */
        const float *d = cold + ((size_t)s->pad * s->k + s->pad) * ld;
        im2col(s, x + n0 * xs, m, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cout, rows, (int)ld, 1.0f, d, (int)(ld * s->k * s->k),
                    col, (int)ld, beta, dw, rows);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cin, (int)ld, drows, 1.0f, wt, drows, cold, (int)ld, 0.0f,
                tmp, (int)ld);
    for (int j = 0; j < m; j++)
        for (int ci = 0; ci < cin; ci++) {
            float *d = dx + (n0 + j) * xs + ci * p;
            const float *t = tmp + ci * ld + j * p;
            if (set) copy_row(d, t, (ptrdiff_t)p);
            else add_row(d, t, (ptrdiff_t)p);
        }
}

/* wt [Cin, Cout*K*K]: wt[ci][(co K + a) K + b] = w[co][ci][K-1-a][K-1-b] */
static void flip_weights(const fesf_conv_shape *s, const float *w, float *wt)
{
    const int k = s->k, kk = k * k;
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < s->cin; ci++)
            for (int a = 0; a < kk; a++)
                wt[((size_t)ci * s->cout + co) * kk + a] = w[((size_t)co * s->cin + ci) * kk + (kk - 1 - a)];
}

/* One chunk's backward: dw (beta 0: overwrite, 1: accumulate) and dx (set:
 * overwritten, else +=) */
static void backward_chunk(const fesf_conv_shape *s, const float *x, const float *w, const float *wt,
                           const float *dy, float *dx, int set, float *dw, float beta, float *col, int n0, int m)
{
    const int cout = s->cout, cin = s->cin, rows = cin * s->k * s->k;
    const size_t p = (size_t)s->ho * s->wo, xs = (size_t)cin * s->h * s->w, ys = (size_t)cout * p;
    if (is_pointwise(s)) { /* m == 1 */
        const float *dyi = dy + n0 * ys;
        if (dw)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cout, cin, (int)p, 1.0f, dyi, (int)p, x + n0 * xs,
                        (int)p, beta, dw, cin);
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cin, (int)p, cout, 1.0f, w, cin, dyi, (int)p,
                        set ? 0.0f : 1.0f, dx + n0 * xs, (int)p);
        return;
    }
    const size_t ld = (size_t)m * p;
    const slot_layout sl = slot_of(s, m);
    if (wt && dx) {
        flip_chunk(s, x, wt, dy, dx, set, dw, beta, col, n0, m);
        return;
    }
    const float *d = dy + n0 * ys;
    if (m > 1) { /* dy of the chunk as one [Cout, m*P] matrix */
        float *tmp = col + sl.tmp;
        for (int j = 0; j < m; j++)
            for (int co = 0; co < cout; co++)
                memcpy(tmp + co * ld + j * p, dy + (n0 + j) * ys + co * p, sizeof(float) * p);
        d = tmp;
    }
    if (dw) {
        im2col(s, x + n0 * xs, m, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cout, rows, (int)ld, 1.0f, d, (int)ld, col, (int)ld,
                    beta, dw, rows);
    }
    if (dx) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, (int)ld, cout, 1.0f, w, rows, d, (int)ld, 0.0f,
                    col, (int)ld);
        if (set) memset(dx + n0 * xs, 0, sizeof(float) * m * xs); /* the chunk's own, while it is in cache */
        col2im_add(s, col, m, dx + n0 * xs);
    }
}

static void bias_grad(const fesf_conv_shape *s, const float *dy, float *db)
{
    const size_t p = (size_t)s->ho * s->wo, ys = (size_t)s->cout * p;
#pragma omp parallel for schedule(static) if ((size_t)s->n * ys > 65536)
    for (int co = 0; co < s->cout; co++) {
        double acc = 0.0;
        for (int i = 0; i < s->n; i++) acc += sum_plane(dy + i * ys + co * p, p);
        db[co] += (float)acc;
    }
}

static void conv_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                          int set, float *dw, float *db, float *col)
{
    if (db) bias_grad(s, dy, db);
    if (fesf_conv_direct_grad(s)) {
        if (dx || dw) fesf_conv_direct_backward(s, x, w, dy, dx, set, dw, col);
        return;
    }
    if (fesf_conv_wino(s)) {
        if (dx || dw) fesf_conv_wino_backward(s, x, w, dy, dx, set, dw, col);
        return;
    }
    if (fesf_conv_rowshift(s)) {
        fesf_conv_rowshift_backward(s, x, w, dy, dx, set, dw, col);
        return;
    }
    if (!dx && !dw) return;
    fesf_blas_serial_gemm();
    const conv_plan pl = plan_of(s);
    const size_t slot = slot_of(s, pl.nb).total, nw = (size_t)s->cout * s->cin * s->k * s->k;
    float *part = col + FESF_CONV_GROUPS * slot; /* groups 1.. accumulate here */
    float *wt = NULL;
    if (dx && flip_dx(s)) flip_weights(s, w, wt = part + (FESF_CONV_GROUPS - 1) * nw);
#pragma omp parallel for schedule(static) if (pl.groups > 1)
    for (int g = 0; g < pl.groups; g++) {
        int c0, c1;
        group_chunks(&pl, g, &c0, &c1);
        float *dwg = !dw ? NULL : g == 0 ? dw : part + (size_t)(g - 1) * nw;
        for (int c = c0; c < c1; c++) {
            int n0, m = fesf_conv_chunk(&pl, s->n, c, &n0);
            float beta = g == 0 || c > c0 ? 1.0f : 0.0f;
            backward_chunk(s, x, w, wt, dy, dx, set, dwg, beta, col + g * slot, n0, m);
        }
    }
    if (!dw || pl.groups < 2) return;
#pragma omp parallel for schedule(static) if (nw > 65536)
    for (size_t i = 0; i < nw; i++) {
        float v = dw[i];
        for (int g = 1; g < pl.groups; g++) v += part[(size_t)(g - 1) * nw + i];
        dw[i] = v;
    }
}

void fesf_conv2d_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                          float *dw, float *db, float *col)
{
    conv_backward(s, x, w, dy, dx, 0, dw, db, col);
}

void fesf_conv2d_backward_set(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                              float *dw, float *db, float *col)
{
    conv_backward(s, x, w, dy, dx, 1, dw, db, col);
}
