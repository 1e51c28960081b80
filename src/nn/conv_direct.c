/* Direct path of 3x3, stride-1, pad-1 convolutions with at most
 * FESF_CONV_DIRECT_MAX_C channels on planes of FESF_CONV_DIRECT_MIN_H rows
 * or more that Winograd does not take (fewer than 16 channels in or out, or
 * 16-31 in on planes of 28+ rows); conv.c dispatches here (fesf_conv_direct)
 * on CPUs with AVX-512F or AVX2 + FMA, kernels of the widest (capped by the
 * environment's FESF_MAX_ISA = avx512 | avx2 | none). The backward stays on
 * the row-shift path where OpenBLAS's AVX-512 GEMM does it faster
 * (fesf_conv_direct_grad: fewer than 16 output or 4 input channels).
 *
 * Each sample's plane of channel c is copied into a zero-bordered plane of
 * Wp = W + 2 columns and H + 2 rows (P[c], Ls floats apart, zero slack at the
 * end). On the grid t = oh Wp + ow (ow < Wp: the two last columns are junk)
 * the input of tap (kh, kw) is P[c][t + kh Wp + kw], so
 *   O[co][t] = sum_{ci, kh, kw} w[co][ci][kh][kw] P[ci][t + kh Wp + kw]
 * is an implicit GEMM: 16 consecutive t in one register, 4 output channels
 * x 6 registers of t held in 24 accumulators over the Cin*9 inner loop
 * (one shifted load feeds 4 FMAs, one broadcast 6). dx is the same kernel
 * on the padded dy with the flipped, transposed weights
 * wf[ci][co][a][b] = w[co][ci][2-a][2-b]. dw[co][ci][kh][kw] = sum_q
 * dy[co][q] P[ci][t(q) + kh Wp + kw] over the H W positions q: dy is
 * transposed to Dt[co/16][q][16], so one register holds 16 output channels
 * and 2 input channels x 9 taps make 18 accumulators fed by broadcasts of P.
 *
 * AVX2: the same with 4 x 3 registers of 8 positions forward, and dw one
 * input channel x 9 taps over 8 output channels (also AVX-512's kernel for
 * blocks of 8 or fewer live output channels: half of 16 lanes would idle).
 *
 * Measured, fwd / bwd ms, batch 64 (2026-12-05, a 2-core Zen 5 EPYC,
 * 1 thread): 16->16 28x28 direct 1.13 / 2.54, row-shift 1.24 / 2.72;
 * 16->16 64x64 6.59 / 15.0 against 9.69 / 23.0; Winograd at 32->32 14x14
 * 1.32 / 2.66 against direct 1.48 / 2.80, and it wins at 64 channels too.
 * 2026-12-06, a Zen 4 EPYC (AVX-512 at half width), 2 threads: Winograd
 * still wins at 32+ channels with either GEMM (64->64 28x28: 28.4 / 55.1,
 * direct 37.2 / 76.7, 1 thread, Haswell GEMM); AVX2 kernels against the
 * Haswell GEMM row-shift path, 1 thread: 16->16 28x28 2.90 / 6.44 against
 * 3.44 / 7.37, 16->16 64x64 14.1 / 32.5 against 17.6 / 37.8; with the
 * Cooperlake GEMM the row-shift backward wins at few channels (64->1 28x28
 * 2.40 against 6.18, 1->64 0.63 against 1.63, 16->16 28x28 2.5-2.8 against
 * 2.8-3.2). Direct loses on small planes with many channels (128 at 14x14,
 * 64 at 7x7, 128 at 4x4: 7.1 against 1.7 ms), hence the two limits.
 *
 * Threads and bits: one sample a chunk, 4 fixed groups (conv.c's plan),
 * each with its own slot and dw partial, added in group order, so any
 * thread count gives the same bits. Sums run in another order than the
 * other paths', so results differ from them by rounding
 * (tests/unit/test_layers.c compares with the naive loops). */
#include "conv_internal.h"
#include "fesf/blas.h"
#include "vec.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define FESF_HAVE_DIRECT 1
#include <immintrin.h>
#endif

#define COB 4  /* output channels a forward block */
#define NV 6   /* registers of 16 positions a forward block */
#define BLK (16 * NV)

typedef struct {
    int h, w, wp;
    size_t t, tc, ls; /* grid positions H Wp; computed (whole blocks); padded plane stride */
} dc_geom;

static dc_geom geom_of(const fesf_conv_shape *s)
{
    dc_geom g;
    g.h = s->h, g.w = s->w, g.wp = s->w + 2;
    g.t = (size_t)s->h * g.wp;
    g.tc = (g.t + BLK - 1) / BLK * BLK;
    g.ls = (g.tc + 2 * (size_t)g.wp + 2 + 15) & ~(size_t)15; /* every read of a block, zero beyond the plane */
    return g;
}

static int round4(int c) { return (c + COB - 1) / COB * COB; }
static int maxc(const fesf_conv_shape *s) { return s->cin > s->cout ? s->cin : s->cout; }

static int isa_forced = -1; /* fesf_conv_direct_isa's choice, -1 none */

/* FESF_MAX_ISA's cap in bits (avx512, avx2, none), -1 unset or not understood */
static int isa_cap(void)
{
    const char *v = getenv("FESF_MAX_ISA");
    if (!v || !*v) return -1;
    if (!strcmp(v, "avx512")) return 512;
    if (!strcmp(v, "avx2")) return 256;
    if (!strcmp(v, "none")) return 0;
    return -1;
}

/* the kernels' vector width in bits: 512, 256 (AVX2 + FMA) or 0 (none),
 * the CPU's widest under FESF_MAX_ISA; read once (racing readers agree) */
static int isa_of_cpu(void)
{
    static int known = -1;
    if (known >= 0) return known;
    int bits = 0;
#ifdef FESF_HAVE_DIRECT
    if (__builtin_cpu_supports("avx512f")) bits = 512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) bits = 256;
#endif
    const int cap = isa_cap();
    if (cap >= 0 && bits > cap) bits = cap;
    known = bits;
    return bits;
}

static int isa(void) { return isa_forced >= 0 ? isa_forced : isa_of_cpu(); }

int fesf_conv_direct_isa(int bits)
{
    const int cpu = isa_of_cpu();
    if (bits == 0) isa_forced = -1;
    else if (bits <= cpu && (bits == 256 || bits == 512)) isa_forced = bits;
    else return -1;
    return isa();
}

const char *fesf_conv_kernels(void)
{
    const char *v = getenv("FESF_MAX_ISA");
    const int w = isa_of_cpu(), set = v && *v;
    if (set && isa_cap() < 0) return "FESF_MAX_ISA not understood (avx512, avx2 or none): ignored";
    if (w == 512) return set ? "direct AVX-512 (FESF_MAX_ISA), Winograd and im2col on OpenBLAS" :
                               "direct AVX-512, Winograd and im2col on OpenBLAS";
    if (w == 256) return set ? "direct AVX2 (FESF_MAX_ISA), Winograd and im2col on OpenBLAS" :
                               "direct AVX2, Winograd and im2col on OpenBLAS";
    return set ? "Winograd and im2col on OpenBLAS (FESF_MAX_ISA=none)" :
                 "Winograd and im2col on OpenBLAS (no AVX2 on this CPU)";
}

int fesf_conv_direct(const fesf_conv_shape *s)
{
#ifdef FESF_HAVE_DIRECT
    if (s->k != 3 || s->stride != 1 || s->pad != 1 || s->h < FESF_CONV_DIRECT_MIN_H) return 0;
    if (maxc(s) > FESF_CONV_DIRECT_MAX_C || !isa()) return 0;
    return !fesf_conv_wino(s); /* Winograd wins where it applies, measured */
#else
    return 0;
#endif
}

int fesf_conv_direct_grad(const fesf_conv_shape *s)
{
    return fesf_conv_direct(s) && (!fesf_blas_avx512() || (s->cout >= 16 && s->cin >= 4));
}

static int blocks16(int c) { return (c + 15) / 16; }

/* one slot: P of x [Cin][Ls], P of dy [Cout][Ls], O [round4(max C)][Tc],
 * Dt [Cout/16][H W][16] (dy transposed, zero past Cout) */
static size_t slot_floats(const fesf_conv_shape *s)
{
    const dc_geom g = geom_of(s);
    return (size_t)(s->cin + s->cout) * g.ls + (size_t)round4(maxc(s)) * g.tc +
           (size_t)blocks16(s->cout) * 16 * s->h * s->w;
}

/* floats of one dw partial, [Cout/16][Cin][9][16] */
static size_t part_floats(const fesf_conv_shape *s) { return (size_t)blocks16(s->cout) * 16 * s->cin * 9; }

static size_t wr_floats(const fesf_conv_shape *s) { return (size_t)round4(maxc(s)) * maxc(s) * 9; }

/* slots, wr (forward or flipped weights), then FESF_CONV_GROUPS dw partials */
size_t fesf_conv_direct_floats(const fesf_conv_shape *s)
{
    return FESF_CONV_GROUPS * slot_floats(s) + wr_floats(s) + FESF_CONV_GROUPS * part_floats(s);
}

#ifdef FESF_HAVE_DIRECT

/* planes [c][H][W] -> zero-bordered planes p [c][Ls] */
static void pad_planes(const dc_geom *g, int c, const float *x, float *p)
{
    for (int ci = 0; ci < c; ci++) {
        float *d = p + (size_t)ci * g->ls;
        const float *src = x + (size_t)ci * g->h * g->w;
        zero_row(d, (ptrdiff_t)g->wp + 1);
        for (int r = 0; r < g->h; r++) {
            float *row = d + (size_t)(r + 1) * g->wp + 1;
            copy_row(row, src + (size_t)r * g->w, g->w);
            row[g->w] = row[g->w + 1] = 0.0f; /* right border of r, left border of r + 1 */
        }
        zero_row(d + (size_t)(g->h + 1) * g->wp + 1, (ptrdiff_t)(g->ls - (size_t)(g->h + 1) * g->wp - 1));
    }
}

/* wr [round4(co)/4][ci][9][4] from w [co][ci][3][3] (flip: w is [ci][co]
 * of the transposed problem, taps reversed); zero for the padded co */
static void rearrange(const float *w, int co, int ci, int flip, float *wr)
{
    for (int o = 0; o < round4(co); o++)
        for (int i = 0; i < ci; i++)
            for (int k = 0; k < 9; k++) {
                float v = 0.0f;
                if (o < co) v = flip ? w[((size_t)i * co + o) * 9 + 8 - k] : w[((size_t)o * ci + i) * 9 + k];
                wr[(((size_t)(o / COB) * ci + i) * 9 + k) * COB + o % COB] = v;
            }
}

/* FWD_BLOCK(name, target, vector type, its floats, registers a run, intrinsic prefix):
 * O[4 rows of the block][t0, t0 + BLK) = sum over ci, taps of wb . P, in
 * runs of VW * NR positions (4 output channels x NR registers, every
 * accumulator in a register: the unroll pragmas are needed for that) */
#define UNROLL _Pragma("GCC unroll 9")
#define FWD_BLOCK(name, isa, VT, VW, NR, PF)                                                                           \
    __attribute__((target(isa))) static void name(const dc_geom *g, const float *p, int ci_n, const float *wb0,      \
                                                  float *o, size_t t0)                                               \
    {                                                                                                                \
        for (size_t s0 = t0; s0 < t0 + BLK; s0 += VW * NR) {                                                         \
            const float *wb = wb0;                                                                                   \
            VT acc[COB][NR];                                                                                         \
            UNROLL for (int c = 0; c < COB; c++) UNROLL for (int v = 0; v < NR; v++) acc[c][v] = PF##_setzero_ps(); \
            for (int ci = 0; ci < ci_n; ci++)                                                                        \
                UNROLL for (int kh = 0; kh < 3; kh++) UNROLL for (int kw = 0; kw < 3; kw++, wb += COB)               \
                {                                                                                                    \
                    const float *src = p + (size_t)ci * g->ls + s0 + (size_t)kh * g->wp + kw;                        \
                    VT xv[NR];                                                                                       \
                    UNROLL for (int v = 0; v < NR; v++) xv[v] = PF##_loadu_ps(src + VW * v);                         \
                    UNROLL for (int c = 0; c < COB; c++)                                                             \
                    {                                                                                                \
                        const VT b = PF##_set1_ps(wb[c]);                                                            \
                        UNROLL for (int v = 0; v < NR; v++) acc[c][v] = PF##_fmadd_ps(b, xv[v], acc[c][v]);          \
                    }                                                                                                \
                }                                                                                                    \
            UNROLL for (int c = 0; c < COB; c++) UNROLL for (int v = 0; v < NR; v++)                                 \
                PF##_storeu_ps(o + (size_t)c * g->tc + s0 + VW * v, acc[c][v]);                                      \
        }                                                                                                            \
    }
FWD_BLOCK(fwd_block, "avx512f", __m512, 16, NV, _mm512)   /* the block in one run of 6 registers */
FWD_BLOCK(fwd_block8, "avx2,fma", __m256, 8, 3, _mm256)   /* AVX2's 16 registers: 4 runs of 3 */

/* O [round4(co)][Tc] of one sample from its padded input planes p [ci] */
static void conv_plane(const dc_geom *g, const float *p, int ci, int co, const float *wr, float *o)
{
    const int wide = isa() == 512;
    for (int b = 0; b < round4(co) / COB; b++)
        for (size_t t0 = 0; t0 < g->tc; t0 += BLK)
            (wide ? fwd_block : fwd_block8)(g, p, ci, wr + (size_t)b * ci * 9 * COB, o + (size_t)b * COB * g->tc, t0);
}

/* d[c][H][W] (set, or +=) from O's grid, plus bias b (may be NULL) */
static void unpad_out(const dc_geom *g, int c, const float *o, const float *b, int set, float *d)
{
    for (int i = 0; i < c; i++)
        for (int r = 0; r < g->h; r++) {
            const float *src = o + (size_t)i * g->tc + (size_t)r * g->wp;
            float *row = d + ((size_t)i * g->h + r) * g->w;
            if (set) copy_row(row, src, g->w);
            else add_row(row, src, g->w);
            if (b)
                for (int q = 0; q < g->w; q++) row[q] += b[i];
        }
}

/* Dt [Cout/16][H W][16] from one sample's dy [Cout][H W]: 16 rows read
 * side by side, each Dt row written whole (contiguous stores) */
static void transpose_dy(const fesf_conv_shape *s, const float *dy, float *dt)
{
    const size_t hw = (size_t)s->h * s->w;
    for (int b = 0; b < blocks16(s->cout); b++) {
        const float *src[16];
        const int nl = s->cout - 16 * b < 16 ? s->cout - 16 * b : 16;
        for (int l = 0; l < nl; l++) src[l] = dy + (size_t)(16 * b + l) * hw;
        float *d = dt + (size_t)b * hw * 16;
        if (nl < 16) memset(d, 0, sizeof(float) * hw * 16);
        if (nl == 16)
            for (size_t q = 0; q < hw; q++, d += 16)
#pragma GCC unroll 16
                for (int l = 0; l < 16; l++) d[l] = src[l][q];
        else
            for (size_t q = 0; q < hw; q++, d += 16)
                for (int l = 0; l < nl; l++) d[l] = src[l][q];
    }
}

/* pt[ci][9][16] += sum_q Dt[q][:] P[ci][t(q) + tap] for ci = ci0, ci1 (ci1
 * = ci0 when Cin runs out: the repeat is dropped), over the positions q of
 * one sample, t(q) = oh Wp + ow: 2 x 9 accumulators of 16 output channels,
 * each load of Dt feeding 18 FMAs with broadcast inputs */
__attribute__((target("avx512f"))) static void dw_block(const dc_geom *g, const float *px, const float *dt, int ci0,
                                                         int ci1, float *pt)
{
    const float *x0 = px + (size_t)ci0 * g->ls, *x1 = px + (size_t)ci1 * g->ls;
    __m512 a0[9], a1[9];
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) a0[k] = a1[k] = _mm512_setzero_ps();
    for (int oh = 0; oh < g->h; oh++)
        for (int ow = 0; ow < g->w; ow++, dt += 16) {
            const size_t t = (size_t)oh * g->wp + ow;
            const __m512 dv = _mm512_loadu_ps(dt);
#pragma GCC unroll 9
            for (int k = 0; k < 9; k++) {
                const size_t o = t + (size_t)(k / 3) * g->wp + k % 3;
                a0[k] = _mm512_fmadd_ps(dv, _mm512_set1_ps(x0[o]), a0[k]);
                a1[k] = _mm512_fmadd_ps(dv, _mm512_set1_ps(x1[o]), a1[k]);
            }
        }
    float *p0 = pt + (size_t)ci0 * 9 * 16, *p1 = pt + (size_t)ci1 * 9 * 16;
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) _mm512_storeu_ps(p0 + 16 * k, _mm512_add_ps(_mm512_loadu_ps(p0 + 16 * k), a0[k]));
    if (ci1 != ci0)
#pragma GCC unroll 9
        for (int k = 0; k < 9; k++) _mm512_storeu_ps(p1 + 16 * k, _mm512_add_ps(_mm512_loadu_ps(p1 + 16 * k), a1[k]));
}

/* dw_block in AVX2: pt[ci][9][8 half, +8) for one input channel and half
 * (8 output channels) of the 16 in Dt: 9 accumulators */
__attribute__((target("avx2,fma"))) static void dw_block8(const dc_geom *g, const float *px, const float *dt, int ci,
                                                           int half, float *pt)
{
    const float *x0 = px + (size_t)ci * g->ls;
    __m256 a[9];
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) a[k] = _mm256_setzero_ps();
    dt += 8 * half;
    for (int oh = 0; oh < g->h; oh++)
        for (int ow = 0; ow < g->w; ow++, dt += 16) {
            const size_t t = (size_t)oh * g->wp + ow;
            const __m256 dv = _mm256_loadu_ps(dt);
#pragma GCC unroll 9
            for (int k = 0; k < 9; k++)
                a[k] = _mm256_fmadd_ps(dv, _mm256_broadcast_ss(x0 + t + (size_t)(k / 3) * g->wp + k % 3), a[k]);
        }
    float *p0 = pt + (size_t)ci * 9 * 16 + 8 * half;
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) _mm256_storeu_ps(p0 + 16 * k, _mm256_add_ps(_mm256_loadu_ps(p0 + 16 * k), a[k]));
}

/* one sample's dw into the group's partial */
static void dw_sample(const fesf_conv_shape *s, const dc_geom *g, const float *px, const float *dt, float *pt)
{
    const size_t hw = (size_t)s->h * s->w;
    for (int b = 0; b < blocks16(s->cout); b++) {
        const float *db = dt + (size_t)b * hw * 16;
        float *pb = pt + (size_t)b * s->cin * 9 * 16;
        if (isa() == 512 && s->cout - 16 * b > 8) /* else half the lanes would idle: AVX2's 8 */
            for (int ci = 0; ci < s->cin; ci += 2) dw_block(g, px, db, ci, ci + 1 < s->cin ? ci + 1 : ci, pb);
        else
            for (int ci = 0; ci < s->cin; ci++)
                for (int half = 0; half < 2 && 16 * b + 8 * half < s->cout; half++) dw_block8(g, px, db, ci, half, pb);
    }
}

static float *slot_at(const fesf_conv_shape *s, float *col, int g) { return col + (size_t)g * slot_floats(s); }

void fesf_conv_direct_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                              float *col)
{
    const dc_geom g = geom_of(s);
    const fesf_conv_plan pl = fesf_conv_plan_cols(s->n, 1, 1);
    const size_t hw = (size_t)s->h * s->w;
    float *wr = col + FESF_CONV_GROUPS * slot_floats(s);
    rearrange(w, s->cout, s->cin, 0, wr);
#pragma omp parallel for schedule(static) if (pl.groups > 1)
    for (int gi = 0; gi < pl.groups; gi++) {
        float *px = slot_at(s, col, gi), *o = px + (size_t)(s->cin + s->cout) * g.ls;
        int c0, c1;
        fesf_conv_group_chunks(&pl, gi, &c0, &c1);
        for (int j = c0; j < c1; j++) {
            pad_planes(&g, s->cin, x + (size_t)j * s->cin * hw, px);
            conv_plane(&g, px, s->cin, s->cout, wr, o);
            unpad_out(&g, s->cout, o, b, 1, y + (size_t)j * s->cout * hw);
        }
    }
}

void fesf_conv_direct_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                               int set, float *dw, float *col)
{
    const dc_geom g = geom_of(s);
    const fesf_conv_plan pl = fesf_conv_plan_cols(s->n, 1, 1);
    const size_t hw = (size_t)s->h * s->w, np = part_floats(s);
    float *wr = col + FESF_CONV_GROUPS * slot_floats(s), *part = wr + wr_floats(s);
    if (dx) rearrange(w, s->cin, s->cout, 1, wr);
    if (dw) memset(part, 0, sizeof(float) * np * (size_t)pl.groups);
#pragma omp parallel for schedule(static) if (pl.groups > 1)
    for (int gi = 0; gi < pl.groups; gi++) {
        float *px = slot_at(s, col, gi), *pdy = px + (size_t)s->cin * g.ls, *o = pdy + (size_t)s->cout * g.ls;
        float *dt = o + (size_t)round4(maxc(s)) * g.tc;
        int c0, c1;
        fesf_conv_group_chunks(&pl, gi, &c0, &c1);
        for (int j = c0; j < c1; j++) {
            if (dx) pad_planes(&g, s->cout, dy + (size_t)j * s->cout * hw, pdy);
            if (dw) {
                pad_planes(&g, s->cin, x + (size_t)j * s->cin * hw, px);
                transpose_dy(s, dy + (size_t)j * s->cout * hw, dt);
                dw_sample(s, &g, px, dt, part + gi * np);
            }
            if (dx) {
                conv_plane(&g, pdy, s->cout, s->cin, wr, o);
                unpad_out(&g, s->cin, o, NULL, set, dx + (size_t)j * s->cin * hw);
            }
        }
    }
    if (!dw) return;
    for (int co = 0; co < s->cout; co++) /* group order: the same bits for any thread count */
        for (int ci = 0; ci < s->cin; ci++)
            for (int k = 0; k < 9; k++) {
                const size_t i = (((size_t)(co / 16) * s->cin + ci) * 9 + k) * 16 + co % 16;
                float acc = part[i];
                for (int gi = 1; gi < pl.groups; gi++) acc += part[gi * np + i];
                dw[((size_t)co * s->cin + ci) * 9 + k] += acc;
            }
}

#else /* no AVX-512 build: fesf_conv_direct() is 0, these are never called */

void fesf_conv_direct_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                              float *col)
{
}

void fesf_conv_direct_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                               int set, float *dw, float *col)
{
}

#endif
