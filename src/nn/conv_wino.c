/* Winograd F(2x2, 3x3) path of 3x3, stride-1, pad-1 convolutions (Lavin &
 * Gray 2016); conv.c dispatches here (fesf_conv_wino).
 *
 * The output is cut into 2x2 tiles t (Th = ceil(H/2) by Tw = ceil(W/2) a
 * sample), each read from a 4x4 input tile d (zero outside the plane):
 *   V = B^T d B,  U = G g G^T,  M = sum_ci U . V (16 GEMMs),  Y = A^T M A
 * with the 16 positions xi = 4k + l of the 4x4 transform domain in the
 * layouts V [16][Cin][T], U [16][Cout][Cin], M [16][Cout][T] (T = tiles of a
 * chunk). A GEMM of inner dimension Cin per position does 16 Cin Cout
 * multiplies a tile, against 36 Cin Cout for im2col's 4 outputs: 2.25x fewer.
 *
 * Backward from the same transforms: dM = A dY A^T (dy tiles, zero outside),
 *   dU[xi] += dM[xi] V[xi]^T  ->  dw += G^T dU G
 *   dV[xi]  = U[xi]^T dM[xi]  ->  dx += B dV B^T (overlapping 4x4 tiles)
 *
 * Threads and bits: conv.c's plan (chunks of nb samples, 4 fixed groups),
 * each group with its own slot and its own dU partial, added in group order,
 * so any thread count gives the same bits. The sums run in another order
 * than im2col's (and the transforms round), so the two differ by rounding:
 * tests/unit/test_layers.c compares both with the naive loops.
 *
 * Where it pays (AMD EPYC, OpenBLAS Haswell kernels, gcc 12 -O2, batch 64,
 * ms per forward + backward with dx and dw, best of 100-200, 1 thread
 * unless noted; the other path is im2col or the row-shift one):
 *   shape                 other   Winograd
 *   32->32 14x14           8.13     6.29   1.29x
 *   64->64 7x7             8.07     5.60   1.44x
 *   128->128 4x4          10.2      5.86   1.74x
 *   32->32 28x28          31.0     25.2    1.23x
 *   64->64 28x28 (2 thr)  55.2     38.4    1.44x
 *   16->16 14x14           2.56     2.28   1.12x
 *   16->16 28x28           9.2     10.2    0.90x  (row-shift kept)
 *   16->32 32x32          21.1     21.4    0.99x  (row-shift kept)
 *   8->8 14x14             0.84     0.98   0.86x  (im2col kept)
 *   32->4 16x16            2.80     3.30   0.85x  (kept)
 *   16->8 14x14            1.58     1.71   0.93x  (kept)
 * The transforms cost per plane and the GEMMs per channel pair, so few
 * channels do not amortise them: hence 16+ input and output channels, 32+
 * input channels on planes of 28+ rows (FESF_CONV_WINO_*, conv_internal.h).
 * Learnt on the way: the 16 rows a transform touches at once must not share
 * a cache set (the blocks are skewed by a line, xs_of); overlapping 4-wide
 * read-modify-writes stall on store forwarding (dx_row carries lanes
 * instead); GCC -O2 turns short copy loops into memmove calls (vec.h).
 * Tried and dropped: F(4x4, 3x3) (36 GEMMs for 16 outputs, 1.78x fewer
 * multiplies again), written the same way: 0.81x this path at 4x4, 0.88x at
 * 14x14, 0.99x at 7x7, 1.0x the row-shift path at 28x28 with 16 channels.
 * Its weight side (U, the dU partials and their sum: 36 Cout Cin floats
 * each, against 36 Cin T of data for T = 64 tiles a batch at 4x4) and its
 * 6-point transforms ate the saving. Not done: keeping V from the forward
 * for the backward (it is computed twice). */
#include "conv_internal.h"
#include "fesf/blas.h"
#include "vec.h"

#include <cblas.h>
#include <string.h>

/* tiles a chunk aims at (columns of the 16 GEMMs) */
#ifndef FESF_CONV_WINO_TILES
#define FESF_CONV_WINO_TILES 512
#endif

int fesf_conv_wino(const fesf_conv_shape *s)
{
    if (s->k != 3 || s->stride != 1 || s->pad != 1 || s->h < 2 || s->w < 2 || s->cin < FESF_CONV_WINO_MIN_C ||
        s->cout < FESF_CONV_WINO_MIN_C)
        return 0;
    return s->h < FESF_CONV_WINO_BIG_H || s->cin >= FESF_CONV_WINO_BIG_CIN;
}

/* geometry: Th x Tw tiles a sample (Tp of them); the padded plane of Ph x
 * Pw, the plane at offset (1, 1) in zeros, holds every tile whole */
typedef struct {
    int th, tw, tp, ph, pw, ew; /* ew: row stride of the split plane (split_plane) */
} wg_geom;

static wg_geom geom_of(const fesf_conv_shape *s)
{
    wg_geom g;
    g.th = (s->h + 1) / 2, g.tw = (s->w + 1) / 2, g.tp = g.th * g.tw;
    g.ph = 2 * g.th + 2, g.pw = 2 * g.tw + 2;
    g.ew = ((g.tw + 3) & ~3) + 4; /* Tw + 1 columns, and 4-wide reads from t + 1 */
    return g;
}

static fesf_conv_plan plan_of(const fesf_conv_shape *s)
{
    return fesf_conv_plan_cols(s->n, geom_of(s).tp, FESF_CONV_WINO_TILES);
}

/* One group's slot: V [16][Cin][T], M [16][Cout][T] (blocks xs_of apart)
 * and a plane split into its even and odd columns (split_plane). The shared
 * part after the slots: U [16][Cout][Cin] (blocks xs_of(Cout, Cin) apart)
 * and FESF_CONV_GROUPS dU partials of the same size. */
typedef struct {
    size_t v, m, eo, total;
} wg_slot;

/* floats from one position xi's [C][T] block to the next: one cache line
 * more than C T, so that the 16 rows a transform reads at once do not fall
 * into one cache set when C T is a multiple of 1024 (7x7 planes: T = 256) */
static size_t xs_of(int ch, size_t t) { return (size_t)ch * t + 16; }

static wg_slot slot_of(const fesf_conv_shape *s, int nb)
{
    wg_geom g = geom_of(s);
    size_t t = (size_t)nb * g.tp;
    wg_slot l;
    l.v = 0;
    l.m = l.v + 16 * xs_of(s->cin, t);
    l.eo = l.m + 16 * xs_of(s->cout, t);
    l.total = l.eo + 2 * (size_t)g.ph * g.ew;
    return l;
}

size_t fesf_conv_wino_floats(const fesf_conv_shape *s)
{
    size_t u = 16 * xs_of(s->cout, (size_t)s->cin);
    return FESF_CONV_GROUPS * slot_of(s, plan_of(s).nb).total + (1 + FESF_CONV_GROUPS) * u;
}

/* ---- the transforms' arithmetic, in place on rows ld apart: 4 columns at
 * a time (v4f), the tail one by one (float); the same code for both ---- */

/* rows 0..3 = the 2x2 outputs (2 a + b) of A^T M A, A^T = [1 1 1 0; 0 1 -1 -1] */
#define OUT_COMBINE(TY, p, ld)                                                                                         \
    do {                                                                                                               \
        TY d[16];                                                                                                      \
        for (int q_ = 0; q_ < 16; q_++) d[q_] = *(TY *)(p + q_ * ld);                                                 \
        TY r[8];                                                                                                       \
        for (int l = 0; l < 4; l++) r[l] = d[l] + d[4 + l] + d[8 + l], r[4 + l] = d[4 + l] - d[8 + l] - d[12 + l];     \
        for (int a = 0; a < 2; a++) {                                                                                  \
            const TY *e = r + 4 * a;                                                                                   \
            *(TY *)(p + (2 * a) * ld) = e[0] + e[1] + e[2], *(TY *)(p + (2 * a + 1) * ld) = e[1] - e[2] - e[3];        \
        }                                                                                                              \
    } while (0)

/* rows 0..3 hold dY (2 a + b); all 16 rows become dM = A dY A^T */
#define DY_COMBINE(TY, p, ld)                                                                                          \
    do {                                                                                                               \
        TY y0 = *(TY *)(p), y1 = *(TY *)(p + ld), y2 = *(TY *)(p + 2 * ld), y3 = *(TY *)(p + 3 * ld);                  \
        TY z[8] = {y0, y1, y0 + y2, y1 + y3, y0 - y2, y1 - y3, -y2, -y3}; /* z[2 k + b] */                             \
        for (int k = 0; k < 4; k++) {                                                                                  \
            TY a = z[2 * k], b = z[2 * k + 1];                                                                         \
            *(TY *)(p + (4 * k) * ld) = a, *(TY *)(p + (4 * k + 1) * ld) = a + b;                                      \
            *(TY *)(p + (4 * k + 2) * ld) = a - b, *(TY *)(p + (4 * k + 3) * ld) = -b;                                 \
        }                                                                                                              \
    } while (0)

/* fn(p, ld, n): the combine on columns [0, n) of the 16 rows from p, ld apart */
#define COMBINE_FN(fn, MACRO)                                                                                          \
    static void fn(float *p, size_t ld, size_t n)                                                                      \
    {                                                                                                                  \
        size_t t = 0;                                                                                                  \
        for (; t + 4 <= n; t += 4) {                                                                                   \
            float *pc = p + t;                                                                                         \
            MACRO(v4f, pc, ld);                                                                                        \
        }                                                                                                              \
        for (; t < n; t++) {                                                                                           \
            float *pc = p + t;                                                                                         \
            MACRO(float, pc, ld);                                                                                      \
        }                                                                                                              \
    }
COMBINE_FN(out_combine, OUT_COMBINE)
COMBINE_FN(dy_combine, DY_COMBINE)

/* ---- weights ---- */

/* U[xi][co][ci] = (G g G^T)[xi], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] */
static void weight_transform(const fesf_conv_shape *s, const float *w, float *u)
{
    const size_t cc = (size_t)s->cout * s->cin, us = xs_of(s->cout, (size_t)s->cin);
#pragma omp parallel for schedule(static) if (cc > 4096)
    for (size_t j = 0; j < cc; j++) {
        const float *g = w + 9 * j;
        float h[4][3]; /* G g */
        for (int b = 0; b < 3; b++) {
            h[0][b] = g[b];
            h[1][b] = 0.5f * (g[b] + g[3 + b] + g[6 + b]);
            h[2][b] = 0.5f * (g[b] - g[3 + b] + g[6 + b]);
            h[3][b] = g[6 + b];
        }
        for (int k = 0; k < 4; k++) {
            u[(4 * k + 0) * us + j] = h[k][0];
            u[(4 * k + 1) * us + j] = 0.5f * (h[k][0] + h[k][1] + h[k][2]);
            u[(4 * k + 2) * us + j] = 0.5f * (h[k][0] - h[k][1] + h[k][2]);
            u[(4 * k + 3) * us + j] = h[k][2];
        }
    }
}

/* dw[co][ci] += (G^T dU G) of the 4x4 dU[xi][co][ci] */
static void weight_grad(const fesf_conv_shape *s, const float *du, float *dw)
{
    const size_t cc = (size_t)s->cout * s->cin, us = xs_of(s->cout, (size_t)s->cin);
#pragma omp parallel for schedule(static) if (cc > 4096)
    for (size_t j = 0; j < cc; j++) {
        float h[3][4]; /* G^T dU */
        for (int l = 0; l < 4; l++) {
            float d0 = du[l * us + j], d1 = du[(4 + l) * us + j], d2 = du[(8 + l) * us + j], d3 = du[(12 + l) * us + j];
            h[0][l] = d0 + 0.5f * (d1 + d2);
            h[1][l] = 0.5f * (d1 - d2);
            h[2][l] = 0.5f * (d1 + d2) + d3;
        }
        float *g = dw + 9 * j;
        for (int a = 0; a < 3; a++) {
            g[3 * a + 0] += h[a][0] + 0.5f * (h[a][1] + h[a][2]);
            g[3 * a + 1] += 0.5f * (h[a][1] - h[a][2]);
            g[3 * a + 2] += 0.5f * (h[a][1] + h[a][2]) + h[a][3];
        }
    }
}

/* ---- chunks ---- */

/* ev[u] = x[2 u], od[u] = x[2 u + 1] for 2 u + 1 < w, and ev[w / 2] =
 * x[w - 1] when w is odd; blocks of 8 floats that lie inside the row go by
 * two loads and two shuffles */
static inline void split_row(const float *restrict x, int w, float *restrict ev, float *restrict od)
{
    int u = 0;
    for (; 2 * u + 8 <= w; u += 4) {
        v4f a = *(const v4f *)(x + 2 * u), b = *(const v4f *)(x + 2 * u + 4);
        *(v4f *)(ev + u) = SHUF4(a, b, 0, 2, 4, 6);
        *(v4f *)(od + u) = SHUF4(a, b, 1, 3, 5, 7);
    }
    for (; 2 * u + 1 < w; u++) ev[u] = x[2 * u], od[u] = x[2 * u + 1];
    if (w % 2) ev[w / 2] = x[w - 1];
}

/* split_row's inverse: d[2 u] = ev[u], d[2 u + 1] = od[u] (set), or += */
static inline void merge_row(float *restrict d, int w, const float *restrict ev, const float *restrict od, int set)
{
    int u = 0;
    for (; 2 * u + 8 <= w; u += 4) {
        v4f e = *(const v4f *)(ev + u), o = *(const v4f *)(od + u);
        v4f lo = SHUF4(e, o, 0, 4, 1, 5), hi = SHUF4(e, o, 2, 6, 3, 7);
        if (set) *(v4f *)(d + 2 * u) = lo, *(v4f *)(d + 2 * u + 4) = hi;
        else *(v4f *)(d + 2 * u) += lo, *(v4f *)(d + 2 * u + 4) += hi;
    }
    for (; 2 * u + 1 < w; u++) {
        if (set) d[2 * u] = ev[u], d[2 * u + 1] = od[u];
        else d[2 * u] += ev[u], d[2 * u + 1] += od[u];
    }
    if (w % 2) d[w - 1] = (set ? 0.0f : d[w - 1]) + ev[w / 2];
}

/* The padded plane (the plane at offset (1, 1) in zeros, Ph x Pw) split by
 * column parity into eo [2][Ph][Ew]: eo[p][r][u] = padded[r][2 u + p], zero
 * from u = Tw + 1 on. Input (r, c) of the tiles t.. of tile row i is then
 * the run eo[c % 2][2 i + r][t + c / 2 ..]: 4 tiles' inputs are 16 loads.
 * The plane's copy writes the same places for every plane, so what lies
 * outside it is zeroed once a chunk (zero_split). */
static void zero_split(const wg_geom *g, float *eo) { zero_row(eo, 2 * (ptrdiff_t)g->ph * g->ew); }

static void split_plane(const fesf_conv_shape *s, const wg_geom *g, const float *x, float *eo)
{
    const int ew = g->ew;
    float *e = eo, *o = eo + (size_t)g->ph * ew;
    for (int r = 0; r < s->h; r++) /* padded column c + 1 is x's column c */
        split_row(x + (size_t)r * s->w, s->w, o + (size_t)(r + 1) * ew, e + (size_t)(r + 1) * ew + 1);
}

/* V = B^T d B of 4 tiles from their split-plane rows e[r], o[r] (r = 0..3),
 * stored to the 16 rows from v, xs apart */
static inline void in_tiles(const float *const e[4], const float *const o[4], float *v, size_t xs)
{
    v4f d[4][4], u[4][4];
    for (int r = 0; r < 4; r++) {
        d[r][0] = *(const v4f *)e[r], d[r][1] = *(const v4f *)o[r];
        d[r][2] = *(const v4f *)(e[r] + 1), d[r][3] = *(const v4f *)(o[r] + 1);
    }
    for (int c = 0; c < 4; c++) {
        u[0][c] = d[0][c] - d[2][c], u[1][c] = d[1][c] + d[2][c];
        u[2][c] = d[2][c] - d[1][c], u[3][c] = d[1][c] - d[3][c];
    }
    for (int k = 0; k < 4; k++) {
        float *q = v + (size_t)4 * k * xs;
        *(v4f *)q = u[k][0] - u[k][2], *(v4f *)(q + xs) = u[k][1] + u[k][2];
        *(v4f *)(q + 2 * xs) = u[k][2] - u[k][1], *(v4f *)(q + 3 * xs) = u[k][1] - u[k][3];
    }
}

/* V [16][Cin][T] (blocks xs apart) of the chunk's m samples from n0. The
 * last 4-wide store of a tile row writes up to 3 floats past it, into the
 * next tile row, sample or channel, which are written after it (channels
 * outside, samples, then tile rows in order), or into the block's skew. */
static void transform_in(const fesf_conv_shape *s, const wg_geom *g, const float *x, int n0, int m, size_t t,
                         float *v, float *eo)
{
    const size_t hw = (size_t)s->h * s->w, xs = xs_of(s->cin, t), half = (size_t)g->ph * g->ew;
    zero_split(g, eo);
    for (int c = 0; c < s->cin; c++)
        for (int j = 0; j < m; j++) {
            split_plane(s, g, x + ((size_t)(n0 + j) * s->cin + c) * hw, eo);
            float *d = v + (size_t)c * t + (size_t)j * g->tp;
            for (int i = 0; i < g->th; i++)
                for (int u = 0; u < g->tw; u += 4) {
                    const float *e[4], *o[4];
                    for (int r = 0; r < 4; r++) e[r] = eo + (size_t)(2 * i + r) * g->ew + u, o[r] = e[r] + half;
                    in_tiles(e, o, d + i * g->tw + u, xs);
                }
        }
}

/* rows 0..3 of M [16][Cout][T]: dY (2 a + b) of each tile, zero outside the plane */
static void gather_dy(const fesf_conv_shape *s, const wg_geom *g, const float *dy, int n0, int m, size_t t, float *dm)
{
    const size_t hw = (size_t)s->h * s->w, xs = xs_of(s->cout, t);
    for (int j = 0; j < m; j++)
        for (int c = 0; c < s->cout; c++) {
            const float *pl = dy + ((size_t)(n0 + j) * s->cout + c) * hw;
            float *d = dm + (size_t)c * t + (size_t)j * g->tp;
            for (int i = 0; i < g->th; i++)
                for (int a = 0; a < 2; a++) {
                    float *d0 = d + 2 * a * xs + i * g->tw, *d1 = d0 + xs;
                    if (2 * i + a >= s->h) {
                        zero_row(d0, g->tw), zero_row(d1, g->tw);
                        continue;
                    }
                    split_row(pl + (size_t)(2 * i + a) * s->w, s->w, d0, d1);
                    if (s->w % 2) d1[g->tw - 1] = 0.0f;
                }
        }
}

static void combine_all(void (*fn)(float *, size_t, size_t), float *rows, int ch, size_t t)
{
    for (int c = 0; c < ch; c++) fn(rows + (size_t)c * t, xs_of(ch, t), t);
}

/* the chunk's buffers: V, M, tables, padded plane */
typedef struct {
    float *v, *m, *eo;
    size_t t, xsi, xso; /* tiles; xi block strides of V and M */
} wg_chunk;

static wg_chunk chunk_of(const fesf_conv_shape *s, const wg_geom *g, int m, float *slot)
{
    const wg_slot l = slot_of(s, m);
    wg_chunk k;
    k.t = (size_t)m * g->tp, k.xsi = xs_of(s->cin, k.t), k.xso = xs_of(s->cout, k.t);
    k.v = slot + l.v, k.m = slot + l.m, k.eo = slot + l.eo;
    return k;
}

static void forward_chunk(const fesf_conv_shape *s, const float *u, const float *b, float *y, const float *x, int n0,
                          int m, float *slot)
{
    const wg_geom g = geom_of(s);
    const wg_chunk k = chunk_of(s, &g, m, slot);
    const size_t p = (size_t)s->h * s->w, us = xs_of(s->cout, (size_t)s->cin);
    const int t = (int)k.t;
    transform_in(s, &g, x, n0, m, k.t, k.v, k.eo);
    for (int xi = 0; xi < 16; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, t, s->cin, 1.0f, u + xi * us, s->cin,
                    k.v + xi * k.xsi, t, 0.0f, k.m + xi * k.xso, t);
    combine_all(out_combine, k.m, s->cout, k.t);
    for (int j = 0; j < m; j++)
        for (int co = 0; co < s->cout; co++) {
            const float *base = k.m + (size_t)co * k.t + (size_t)j * g.tp;
            float *yp = y + ((size_t)(n0 + j) * s->cout + co) * p, bias = b ? b[co] : 0.0f;
            for (int h = 0; h < s->h; h++) { /* output (h, 2 u + b) is in row 2 (h % 2) + b at tile (h / 2, u) */
                const float *r0 = base + (size_t)(2 * (h % 2)) * k.xso + (size_t)(h / 2) * g.tw;
                float *yr = yp + (size_t)h * s->w;
                merge_row(yr, s->w, r0, r0 + k.xso, 1);
                if (b)
                    for (int q = 0; q < s->w; q++) yr[q] += bias;
            }
        }
}

void fesf_conv_wino_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                            float *col)
{
    fesf_blas_serial_gemm();
    const fesf_conv_plan pl = plan_of(s);
    const size_t slot = slot_of(s, pl.nb).total;
    float *u = col + FESF_CONV_GROUPS * slot;
    weight_transform(s, w, u);
#pragma omp parallel for schedule(static) if (pl.groups > 1)
    for (int g = 0; g < pl.groups; g++) {
        int c0, c1;
        fesf_conv_group_chunks(&pl, g, &c0, &c1);
        for (int c = c0; c < c1; c++) {
            int n0, m = fesf_conv_chunk(&pl, s->n, c, &n0);
            forward_chunk(s, u, b, y, x, n0, m, col + g * slot);
        }
    }
}

/* dD = B dV B^T of tile row i (dV: the 16 rows from v, xs apart), added
 * into the split-plane rows e[r], o[r] (r = 0..3) of the row. Tile t adds
 * its columns 0, 1 at u = t and 2, 3 at u = t + 1; the latter go in shifted
 * by one lane (carried between blocks of 4 tiles), so that each split-row
 * block is read and written once (overlapping read-modify-writes stall on
 * store forwarding). Lanes of tiles from Tw on are masked off. */
static void dx_row(const float *v, size_t xs, int tw, float *const e[4], float *const o[4])
{
    static const int ones[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    const v4f z = {0.0f, 0.0f, 0.0f, 0.0f};
    v4f ce[4] = {z, z, z, z}, co[4] = {z, z, z, z}; /* the previous block's columns 2 and 3 */
    int u = 0;
    for (; u < tw; u += 4) {
        const v4i mk = *(const v4i *)(ones + 4 - (tw - u < 4 ? tw - u : 4));
        v4f d[4][4], q[4][4];
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 4; l++) d[k][l] = (v4f)((v4i) * (const v4f *)(v + (size_t)(4 * k + l) * xs + u) & mk);
        for (int l = 0; l < 4; l++) {
            q[0][l] = d[0][l], q[1][l] = d[1][l] - d[2][l] + d[3][l];
            q[2][l] = d[1][l] + d[2][l] - d[0][l], q[3][l] = -d[3][l];
        }
        for (int r = 0; r < 4; r++) {
            v4f c0 = q[r][0], c1 = q[r][1] - q[r][2] + q[r][3], c2 = q[r][1] + q[r][2] - q[r][0], c3 = -q[r][3];
            *(v4f *)(e[r] + u) += c0 + SHUF4(ce[r], c2, 3, 4, 5, 6);
            *(v4f *)(o[r] + u) += c1 + SHUF4(co[r], c3, 3, 4, 5, 6);
            ce[r] = c2, co[r] = c3;
        }
    }
    for (int r = 0; r < 4; r++) e[r][u] += ce[r][3], o[r][u] += co[r][3];
}

/* dx planes of the chunk (set: overwritten, else +=) from dV [16][Cin][T]:
 * each plane's tiles added into a zeroed split plane (split_plane), whose
 * inside then goes to dx */
static void dx_scatter(const fesf_conv_shape *s, const wg_geom *g, const wg_chunk *k, float *dx, int set, int n0,
                       int m)
{
    const size_t hw = (size_t)s->h * s->w, half = (size_t)g->ph * g->ew;
    const int ew = g->ew;
    const float *o = k->eo + half;
    for (int j = 0; j < m; j++)
        for (int c = 0; c < s->cin; c++) {
            const float *sv = k->v + (size_t)c * k->t + (size_t)j * g->tp;
            zero_split(g, k->eo);
            for (int i = 0; i < g->th; i++) {
                float *e4[4], *o4[4];
                for (int r = 0; r < 4; r++) e4[r] = k->eo + (size_t)(2 * i + r) * ew, o4[r] = e4[r] + half;
                dx_row(sv + i * g->tw, k->xsi, g->tw, e4, o4);
            }
            float *d = dx + ((size_t)(n0 + j) * s->cin + c) * hw;
            for (int r = 0; r < s->h; r++)
                merge_row(d + (size_t)r * s->w, s->w, o + (size_t)(r + 1) * ew, k->eo + (size_t)(r + 1) * ew + 1, set);
        }
}

/* one chunk's backward: du (beta 0: overwrite, 1: accumulate), dx (set or +=) */
static void backward_chunk(const fesf_conv_shape *s, const float *u, const float *x, const float *dy, float *dx,
                           int set, float *du, float beta, int n0, int m, float *slot)
{
    const wg_geom g = geom_of(s);
    const wg_chunk k = chunk_of(s, &g, m, slot);
    const size_t us = xs_of(s->cout, (size_t)s->cin);
    const int t = (int)k.t;
    gather_dy(s, &g, dy, n0, m, k.t, k.m);
    combine_all(dy_combine, k.m, s->cout, k.t);
    if (du) {
        transform_in(s, &g, x, n0, m, k.t, k.v, k.eo);
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, s->cin, t, 1.0f, k.m + xi * k.xso, t,
                        k.v + xi * k.xsi, t, beta, du + xi * us, s->cin);
    }
    if (!dx) return;
    for (int xi = 0; xi < 16; xi++) /* dV over V */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->cin, t, s->cout, 1.0f, u + xi * us, s->cin,
                    k.m + xi * k.xso, t, 0.0f, k.v + xi * k.xsi, t);
    dx_scatter(s, &g, &k, dx, set, n0, m);
}

void fesf_conv_wino_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                             int set, float *dw, float *col)
{
    fesf_blas_serial_gemm();
    const fesf_conv_plan pl = plan_of(s);
    const size_t slot = slot_of(s, pl.nb).total, cc16 = 16 * xs_of(s->cout, (size_t)s->cin);
    float *u = col + FESF_CONV_GROUPS * slot, *part = u + cc16;
    weight_transform(s, w, u);
#pragma omp parallel for schedule(static) if (pl.groups > 1)
    for (int g = 0; g < pl.groups; g++) {
        int c0, c1;
        fesf_conv_group_chunks(&pl, g, &c0, &c1);
        for (int c = c0; c < c1; c++) {
            int n0, m = fesf_conv_chunk(&pl, s->n, c, &n0);
            backward_chunk(s, u, x, dy, dx, set, dw ? part + g * cc16 : NULL, c > c0 ? 1.0f : 0.0f, n0, m,
                           col + g * slot);
        }
    }
    if (!dw) return;
#pragma omp parallel for schedule(static) if (cc16 > 65536)
    for (size_t i = 0; i < cc16; i++) /* group order: the same bits for any thread count */
        for (int g = 1; g < pl.groups; g++) part[i] += part[g * cc16 + i];
    weight_grad(s, part, dw);
}
