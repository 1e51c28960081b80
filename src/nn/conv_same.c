/* Row-shift path of stride-1 "same" convolutions (odd K > 1, pad = (K-1)/2,
 * so Ho = H, Wo = W): K shifted copies of each input plane instead of
 * im2col's K*K; conv.c dispatches here (fesf_conv_rowshift).
 *
 * For a chunk of m samples, R [Cin*K, (m (H + pad) + pad) W] holds each
 * sample's plane of channel ci shifted by kw - pad columns (the columns that
 * wrap round a row edge zeroed), the samples stacked with pad zero rows
 * before, between and after them (Hs = H + pad rows per sample):
 *   R[ci K + kw][j Hs W + r W + ow] = x[j][ci][r - pad][ow + kw - pad]  (0 outside)
 * A kernel row kh is then a pointer offset kh*W into R: the output at
 * t = j Hs W + oh W + ow reads R at t + kh W, input row oh + kh - pad. So
 *   y[:, t] = sum_kh Wkh R[:, t + kh W],   Wkh [Cout, Cin*K] = w[:, :, kh, :]
 * is K accumulating GEMMs of inner dimension Cin*K over the (m-1) Hs W + H W
 * columns t; the pad rows between two samples are junk and dropped. One
 * sample per chunk (planes of >= FESF_CONV_ROWSHIFT_ONE positions) has no
 * junk: the GEMMs write y (and dx) directly.
 *
 * Backward: dw[:, :, kh, :] = D R[:, t + kh W]^T with D = dy on the same grid
 * (junk zero); dx is the same convolution of dy by the flipped, transposed
 * weights wf[ci][co][a][b] = w[co][ci][K-1-a][K-1-b], from R of dy, whose
 * centre rows (kw = pad) at offset pad*W are D, so dw needs no copy of dy.
 *
 * Threads and bits: the plan (chunks, 4 fixed groups, per-group dw partials
 * added in group order) is conv.c's, so any thread count gives the same bits.
 * The sums run in another order than the im2col path's, so the two differ
 * by rounding (tests/unit/test_layers.c compares both with the naive loops).
 *
 * Small planes stay on im2col (FESF_CONV_ROWSHIFT_MIN): the junk rows cost
 * pad/H of the GEMM work, 25% at 4x4. Measured: see conv.c's top comment. */
#include "conv_internal.h"
#include "fesf/blas.h"
#include "vec.h"

#include <cblas.h>
#include <string.h>

#ifndef FESF_CONV_ROWSHIFT_MIN
#define FESF_CONV_ROWSHIFT_MIN 14
#endif

int fesf_conv_rowshift(const fesf_conv_shape *s)
{
    return s->k > 1 && s->k % 2 == 1 && s->stride == 1 && 2 * s->pad == s->k - 1 && s->h >= FESF_CONV_ROWSHIFT_MIN &&
           s->w >= s->k;
}

/* geometry of one chunk of m samples */
typedef struct {
    int k, pad, h, w, m;
    size_t hw, blk, ld, ncols; /* H W; Hs W per sample; R row length; GEMM columns */
} rs_geom;

static rs_geom geom_of(const fesf_conv_shape *s, int m)
{
    rs_geom g;
    g.k = s->k, g.pad = s->pad, g.h = s->h, g.w = s->w, g.m = m;
    g.hw = (size_t)s->h * s->w;
    g.blk = (size_t)(s->h + s->pad) * s->w;
    g.ld = (size_t)m * g.blk + (size_t)s->pad * s->w;
    g.ncols = (size_t)(m - 1) * g.blk + g.hw;
    return g;
}

/* One slot: R of x [Cin*K, ld], R of dy [Cout*K, ld], then (m > 1) tmp
 * [max(Cin, Cout), ld], the GEMM output before it is copied to NCHW. */
typedef struct {
    size_t rdy, tmp, total;
} rs_slot;

static rs_slot slot_of(const fesf_conv_shape *s, int nb)
{
    const rs_geom g = geom_of(s, nb);
    rs_slot l;
    l.rdy = (size_t)s->cin * s->k * g.ld;
    l.tmp = l.rdy + (size_t)s->cout * s->k * g.ld;
    l.total = l.tmp + (nb > 1 ? (size_t)(s->cin > s->cout ? s->cin : s->cout) * g.ld : 0);
    return l;
}

/* FESF_CONV_GROUPS slots, then the rearranged weights wr and wfr, then
 * FESF_CONV_GROUPS dw partials (in wr's layout) */
size_t fesf_conv_rowshift_floats(const fesf_conv_shape *s)
{
    const fesf_conv_plan pl = fesf_conv_plan_of(s);
    const size_t nw = (size_t)s->cout * s->cin * s->k * s->k;
    return FESF_CONV_GROUPS * slot_of(s, pl.nb).total + (2 + FESF_CONV_GROUPS) * nw;
}

/* one sample's R rows for one channel: pad zero rows (the previous
 * sample's bottom padding too), then the plane src [H, W] shifted by sh
 * columns */
static void shift_plane(const rs_geom *g, const float *restrict src, int sh, float *restrict dst)
{
    const size_t top = (size_t)g->pad * g->w;
    float *mid = dst + top;
    zero_row(dst, (ptrdiff_t)top);
    if (sh >= 0) { /* mid[q] = src[q + sh]: the last sh columns of each row wrap */
        memcpy(mid, src + sh, sizeof(float) * (g->hw - (size_t)sh));
        for (int oh = 0; oh < g->h; oh++)
            for (int ow = g->w - sh; ow < g->w; ow++) mid[(size_t)oh * g->w + ow] = 0.0f;
    } else { /* the first -sh columns wrap */
        memcpy(mid - sh, src, sizeof(float) * (g->hw + (size_t)sh));
        for (int oh = 0; oh < g->h; oh++)
            for (int ow = 0; ow < -sh; ow++) mid[(size_t)oh * g->w + ow] = 0.0f;
    }
}

/* R [c*K, ld] of m samples x [m, c, H, W] */
static void build_r(const rs_geom *g, int c, const float *x, float *r)
{
    for (int ci = 0; ci < c; ci++)
        for (int kw = 0; kw < g->k; kw++) {
            float *row = r + ((size_t)ci * g->k + kw) * g->ld;
            for (int j = 0; j < g->m; j++)
                shift_plane(g, x + ((size_t)j * c + ci) * g->hw, kw - g->pad, row + (size_t)j * g->blk);
            zero_row(row + (size_t)g->m * g->blk, (ptrdiff_t)g->pad * g->w); /* the last one's bottom padding */
        }
}

/* out [cout, ncols] (ldc) = sum_kh A_kh R[:, t + kh W] (+ beta0 out) for
 * rearranged weights a [K][cout][cin*K] */
static void rs_gemms(const rs_geom *g, const float *a, int cin, int cout, const float *r, float *out, size_t ldc,
                     float beta0)
{
    const int kk = cin * g->k;
    for (int kh = 0; kh < g->k; kh++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout, (int)g->ncols, kk, 1.0f,
                    a + (size_t)kh * cout * kk, kk, r + (size_t)kh * g->w, (int)g->ld, kh == 0 ? beta0 : 1.0f, out,
                    (int)ldc);
}

/* NCHW planes of m samples (c channels, from sample 0 of dst) from tmp
 * [c, ld]: set (+ bias b, may be NULL) or add */
static void unpack(const rs_geom *g, int c, const float *tmp, const float *b, int add, float *dst)
{
    for (int j = 0; j < g->m; j++)
        for (int ci = 0; ci < c; ci++) {
            const float *src = tmp + (size_t)ci * g->ld + (size_t)j * g->blk;
            float *d = dst + ((size_t)j * c + ci) * g->hw;
            if (add) {
                add_row(d, src, (ptrdiff_t)g->hw);
            } else if (b) {
                const float bc = b[ci];
                for (size_t i = 0; i < g->hw; i++) d[i] = src[i] + bc;
            } else {
                copy_row(d, src, (ptrdiff_t)g->hw);
            }
        }
}

/* wr[kh][co][ci K + kw] = w[co][ci][kh][kw]; flip: w[co][ci][K-1-kh][K-1-kw]
 * into wr[kh][ci][co K + kw] (the weights of dx as a convolution of dy) */
static void rearrange(const fesf_conv_shape *s, const float *w, int flip, float *wr)
{
    const int k = s->k, kk = k * k;
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < s->cin; ci++)
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++) {
                    float v = w[((size_t)co * s->cin + ci) * kk + kh * k + kw];
                    if (flip)
                        wr[(((size_t)(k - 1 - kh) * s->cin + ci) * s->cout + co) * k + (k - 1 - kw)] = v;
                    else
                        wr[(((size_t)kh * s->cout + co) * s->cin + ci) * k + kw] = v;
                }
}

static void forward_chunk(const fesf_conv_shape *s, const float *x, const float *wr, const float *b, float *y,
                          float *slot, int n0, int m)
{
    const rs_geom g = geom_of(s, m);
    const size_t ys = (size_t)s->cout * g.hw;
    float *yi = y + n0 * ys;
    build_r(&g, s->cin, x + (size_t)n0 * s->cin * g.hw, slot);
    if (m == 1) {
        if (b)
            for (int co = 0; co < s->cout; co++)
                for (size_t i = 0; i < g.hw; i++) yi[co * g.hw + i] = b[co];
        rs_gemms(&g, wr, s->cin, s->cout, slot, yi, g.hw, b ? 1.0f : 0.0f);
        return;
    }
    float *tmp = slot + slot_of(s, m).tmp;
    rs_gemms(&g, wr, s->cin, s->cout, slot, tmp, g.ld, 0.0f);
    unpack(&g, s->cout, tmp, b, 0, yi);
}

void fesf_conv_rowshift_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                                float *col)
{
    fesf_blas_serial_gemm();
    const fesf_conv_plan pl = fesf_conv_plan_of(s);
    const size_t slot = slot_of(s, pl.nb).total;
    float *wr = col + FESF_CONV_GROUPS * slot;
    rearrange(s, w, 0, wr);
#pragma omp parallel for schedule(static) if (pl.groups > 1)
    for (int g = 0; g < pl.groups; g++) {
        int c0, c1;
        fesf_conv_group_chunks(&pl, g, &c0, &c1);
        for (int c = c0; c < c1; c++) {
            int n0, m = fesf_conv_chunk(&pl, s->n, c, &n0);
            forward_chunk(s, x, wr, b, y, col + g * slot, n0, m);
        }
    }
}

/* D [Cout, ld] (junk rows zero) from dy of m samples, for dw without dx */
static void grid_copy(const rs_geom *g, int c, const float *dy, float *d)
{
    for (int co = 0; co < c; co++)
        for (int j = 0; j < g->m; j++) {
            float *dst = d + (size_t)co * g->ld + (size_t)j * g->blk;
            copy_span(dst, dy + ((size_t)j * c + co) * g->hw, (ptrdiff_t)g->hw);
            zero_row(dst + g->hw, (ptrdiff_t)(g->blk - g->hw));
        }
}

/* One chunk's backward: dwp [K][Cout][Cin K] (beta 0: overwrite, 1: add) and dx */
static void backward_chunk(const fesf_conv_shape *s, const float *x, const float *wfr, const float *dy, float *dx,
                           int set, float *dwp, float beta, float *slot, int n0, int m)
{
    const rs_geom g = geom_of(s, m);
    const rs_slot sl = slot_of(s, m);
    const size_t xs = (size_t)s->cin * g.hw, ys = (size_t)s->cout * g.hw;
    const float *dyc = dy + n0 * ys, *d = dyc;
    float *rdy = slot + sl.rdy, *tmp = slot + sl.tmp;
    size_t lda = g.hw;
    if (dx) { /* D is R of dy's centre rows, pad rows down */
        build_r(&g, s->cout, dyc, rdy);
        d = rdy + (size_t)s->pad * g.ld + (size_t)s->pad * g.w;
        lda = (size_t)s->k * g.ld;
    } else if (m > 1) {
        grid_copy(&g, s->cout, dyc, tmp);
        d = tmp;
        lda = g.ld;
    }
    if (dwp) {
        const int kk = s->cin * s->k;
        build_r(&g, s->cin, x + n0 * xs, slot);
        for (int kh = 0; kh < s->k; kh++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, kk, (int)g.ncols, 1.0f, d, (int)lda,
                        slot + (size_t)kh * g.w, (int)g.ld, beta, dwp + (size_t)kh * s->cout * kk, kk);
    }
    if (!dx) return;
    float *dxi = dx + n0 * xs;
    if (m == 1) {
        rs_gemms(&g, wfr, s->cout, s->cin, rdy, dxi, g.hw, set ? 0.0f : 1.0f);
        return;
    }
    rs_gemms(&g, wfr, s->cout, s->cin, rdy, tmp, g.ld, 0.0f);
    unpack(&g, s->cin, tmp, NULL, !set, dxi);
}

/* dw[co][ci][kh][kw] += the partials' [kh][co][ci K + kw], in group order */
static void add_partials(const fesf_conv_shape *s, const float *part, int groups, float *dw)
{
    const int k = s->k, kk = k * k;
    const size_t nw = (size_t)s->cout * s->cin * kk;
#pragma omp parallel for schedule(static) if (nw > 65536)
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < s->cin; ci++)
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++) {
                    size_t i = ((size_t)co * s->cin + ci) * kk + kh * k + kw;
                    size_t o = (((size_t)kh * s->cout + co) * s->cin + ci) * k + kw;
                    float v = dw[i];
                    for (int g = 0; g < groups; g++) v += part[g * nw + o];
                    dw[i] = v;
                }
}

void fesf_conv_rowshift_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                                 int set, float *dw, float *col)
{
    if (!dx && !dw) return;
    fesf_blas_serial_gemm();
    const fesf_conv_plan pl = fesf_conv_plan_of(s);
    const size_t slot = slot_of(s, pl.nb).total, nw = (size_t)s->cout * s->cin * s->k * s->k;
    float *wfr = col + FESF_CONV_GROUPS * slot + nw, *part = wfr + nw;
    if (dx) rearrange(s, w, 1, wfr);
#pragma omp parallel for schedule(static) if (pl.groups > 1)
    for (int g = 0; g < pl.groups; g++) {
        int c0, c1;
        fesf_conv_group_chunks(&pl, g, &c0, &c1);
        float *dwp = dw ? part + (size_t)g * nw : NULL;
        for (int c = c0; c < c1; c++) {
            int n0, m = fesf_conv_chunk(&pl, s->n, c, &n0);
            backward_chunk(s, x, wfr, dy, dx, set, dwp, c > c0 ? 1.0f : 0.0f, col + g * slot, n0, m);
        }
    }
    if (dw) add_partials(s, part, pl.groups, dw);
}
