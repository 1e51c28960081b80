/* NN kernels (layers.h): optimised conv2d against the naive reference,
 * every backward against central finite differences, BatchNorm running
 * statistics and eval mode, pooling conventions, accumulation (+=) and NULL
 * gradients.
 *
 * Tolerances
 * - optimised vs naive conv2d: |opt - naive| <= 1e-5 * mag per element,
 *   where mag is the same naive computation on absolute values (the sum of
 *   |terms| of that element): 1e-5 relative to the element's own scale, so
 *   cancellation in a sum cannot make a correct float32 result fail.
 * - finite differences: L = sum(y * r) for a fixed random r, accumulated in
 *   double; dL/dp ~ (L(p + h) - L(p - h)) / (p+ - p-) with p+- the float
 *   values actually stored; |fd - grad| <= 1e-2 * max(|grad|, 0.1 max|grad|)
 *   (1e-2 relative error, the denominator floored at a tenth of the tensor's
 *   largest gradient). h = 1e-2 for piecewise-linear layers, 1e-3 otherwise;
 *   inputs are kept more than 2h from ReLU kinks and max-pool ties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "../../src/nn/conv_internal.h" /* fesf_conv_wino: which shapes take the Winograd path */

#include "fesf/blas.h"
#include "fesf/layers.h"
#include "fesf/rng.h"

#define FD_RTOL 1e-2
#define FD_FLOOR 0.1
#define NAIVE_RTOL 1e-5

static fesf_rng rng;

static float *randn(size_t n, float scale)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    assert_non_null(a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(scale * fesf_rng_normal(&rng));
    return a;
}

static float *zeros(size_t n)
{
    float *a = calloc(n ? n : 1, sizeof *a);
    assert_non_null(a);
    return a;
}

static float *dup(const float *a, size_t n)
{
    float *b = malloc((n ? n : 1) * sizeof *b);
    assert_non_null(b);
    if (n) memcpy(b, a, n * sizeof *b);
    return b;
}

static float *absdup(const float *a, size_t n)
{
    float *b = dup(a, n);
    for (size_t i = 0; i < n; i++) b[i] = fabsf(b[i]);
    return b;
}

/* values away from 0: sign * (0.05 + |N(0,1)|), for ReLU-like kinks */
static float *rand_away(size_t n)
{
    float *a = randn(n, 1.0f);
    for (size_t i = 0; i < n; i++) a[i] = (a[i] < 0 ? -1.0f : 1.0f) * (0.05f + fabsf(a[i]));
    return a;
}

/* a random permutation of {0.05 i} - centre: distinct, gaps 0.05 */
static float *rand_distinct(size_t n)
{
    int32_t *perm = malloc(n * sizeof *perm);
    assert_non_null(perm);
    for (size_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    fesf_rng_shuffle_i32(&rng, perm, (int64_t)n);
    float *a = zeros(n);
    for (size_t i = 0; i < n; i++) a[i] = 0.05f * (float)perm[i] - 0.025f * (float)n;
    free(perm);
    return a;
}

static void seed(uint32_t a) { fesf_rng_init(&rng, 20240611, a, FESF_STREAM_INIT); }

/* ---------------------------------------------------------------- finite differences */

typedef struct {
    void (*fwd)(void *ctx); /* recompute ctx's output */
    void *ctx;
    const float *y;
    size_t ylen;
    const float *r;
} fd_loss;

static double fd_eval(const fd_loss *L)
{
    L->fwd(L->ctx);
    double s = 0.0;
    for (size_t i = 0; i < L->ylen; i++) s += (double)L->y[i] * L->r[i];
    return s;
}

/* Gradient buffers of the finite-difference tests start at this pattern,
 * not 0, so a backward that overwrote instead of adding would fail. */
static float g0_at(size_t i) { return 0.25f * (float)((int)(i % 7) - 3) + 0.125f; /* never 0 */ }

static float *grad_buf(size_t n)
{
    float *g = zeros(n);
    for (size_t i = 0; i < n; i++) g[i] = g0_at(i);
    return g;
}

/* compare the analytic dL/dparam (acc - the grad_buf pattern) with central
 * differences over param */
static void fd_check(const fd_loss *L, float *param, size_t len, const float *acc, float h, const char *what)
{
    double *grad = malloc(len * sizeof *grad), gmax = 0.0;
    assert_non_null(grad);
    for (size_t i = 0; i < len; i++) {
        grad[i] = (double)acc[i] - g0_at(i);
        gmax = fmax(gmax, fabs(grad[i]));
    }
    int bad = 0;
    for (size_t i = 0; i < len; i++) {
        float save = param[i];
        param[i] = save + h;
        double pp = param[i], lp = fd_eval(L);
        param[i] = save - h;
        double pm = param[i], lm = fd_eval(L);
        param[i] = save;
        double fd = (lp - lm) / (pp - pm);
        double tol = FD_RTOL * fmax(fabs(grad[i]), FD_FLOOR * gmax);
        if (!(fabs(fd - grad[i]) <= tol)) {
            if (bad++ < 5) print_error("%s[%zu]: analytic %.6g, finite difference %.6g\n", what, i, grad[i], fd);
        }
    }
    fd_eval(L); /* leave y as for the unperturbed parameters */
    free(grad);
    if (bad) fail_msg("%s: %d of %zu gradients off", what, bad, len);
}

/* ---------------------------------------------------------------- conv vs naive */

/* one of conv.c's internal paths, called directly (the dispatch would pick
 * another on some CPUs or shapes); NULL: the public functions */
typedef struct {
    size_t (*floats)(const fesf_conv_shape *);
    void (*fwd)(const fesf_conv_shape *, const float *, const float *, const float *, float *, float *);
    void (*bwd)(const fesf_conv_shape *, const float *, const float *, const float *, float *, int, float *, float *);
} conv_path;

static const conv_path wino_path = {fesf_conv_wino_floats, fesf_conv_wino_forward, fesf_conv_wino_backward};
static const conv_path direct_path = {fesf_conv_direct_floats, fesf_conv_direct_forward, fesf_conv_direct_backward};
static const conv_path rowshift_path = {fesf_conv_rowshift_floats, fesf_conv_rowshift_forward,
                                        fesf_conv_rowshift_backward};

static void conv_path_vs_naive(const conv_path *path, int n, int cin, int h, int w, int cout, int k, int stride,
                               int pad, int bias)
{
    fesf_conv_shape s = {n, cin, h, w, cout, k, stride, pad, 0, 0};
    if (fesf_conv_shape_init(&s) != 0) return; /* kernel larger than the padded input */
    const size_t xs = (size_t)n * cin * h * w, ys = (size_t)n * cout * s.ho * s.wo, ws = (size_t)cout * cin * k * k;
    float *x = randn(xs, 1.0f), *wt = randn(ws, 0.5f), *b = bias ? randn(cout, 0.5f) : NULL, *dy = randn(ys, 1.0f);
    float *col = randn(path ? path->floats(&s) : fesf_conv_col_floats(&s), 1.0f); /* garbage scratch */
    float *y = randn(ys, 1.0f), *yr = zeros(ys);
    /* gradients start non-zero: backward must add */
    float *dx0 = randn(xs, 1.0f), *dw0 = randn(ws, 1.0f), *db0 = randn(cout, 1.0f);
    float *dx = dup(dx0, xs), *dw = dup(dw0, ws), *db = dup(db0, cout);
    float *dxr = dup(dx0, xs), *dwr = dup(dw0, ws), *dbr = dup(db0, cout);
    if (path) {
        path->fwd(&s, x, wt, b, y, col);
        path->bwd(&s, x, wt, dy, dx, 0, dw, col);
        fesf_conv2d_backward(&s, x, wt, dy, NULL, NULL, db, NULL); /* db alone needs no scratch */
    } else {
        fesf_conv2d_forward(&s, x, wt, b, y, col);
        fesf_conv2d_backward(&s, x, wt, dy, dx, dw, db, col);
    }
    fesf_conv2d_forward_naive(&s, x, wt, b, yr);
    fesf_conv2d_backward_naive(&s, x, wt, dy, dxr, dwr, dbr);
    /* magnitudes: the same sums over |terms| */
    float *ax = absdup(x, xs), *aw = absdup(wt, ws), *ab = bias ? absdup(b, cout) : NULL, *ady = absdup(dy, ys);
    float *my = zeros(ys), *mdx = absdup(dx0, xs), *mdw = absdup(dw0, ws), *mdb = absdup(db0, cout);
    fesf_conv2d_forward_naive(&s, ax, aw, ab, my);
    fesf_conv2d_backward_naive(&s, ax, aw, ady, mdx, mdw, mdb);
    struct { const char *name; const float *a, *ref, *mag; size_t len; } t[] = {
        {"y", y, yr, my, ys}, {"dx", dx, dxr, mdx, xs}, {"dw", dw, dwr, mdw, ws}, {"db", db, dbr, mdb, (size_t)cout}};
    for (int q = 0; q < 4; q++)
        for (size_t i = 0; i < t[q].len; i++)
            if (!(fabsf(t[q].a[i] - t[q].ref[i]) <= NAIVE_RTOL * t[q].mag[i]))
                fail_msg("conv n=%d cin=%d %dx%d cout=%d k=%d stride=%d pad=%d bias=%d: %s[%zu] = %.8g, naive %.8g "
                         "(scale %.3g)",
                         n, cin, h, w, cout, k, stride, pad, bias, t[q].name, i, t[q].a[i], t[q].ref[i], t[q].mag[i]);
    float *bufs[] = {x, wt, b, dy, col, y, yr, dx0, dw0, db0, dx, dw, db, dxr, dwr, dbr, ax, aw, ab, ady, my, mdx, mdw, mdb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
}

static void conv_vs_naive(int n, int cin, int h, int w, int cout, int k, int stride, int pad, int bias)
{
    conv_path_vs_naive(NULL, n, cin, h, w, cout, k, stride, pad, bias);
}

static void test_conv_matches_naive(void **state)
{
    static const int sizes[][2] = {{7, 9}, {13, 13}, {28, 28}};
    /* (cin, cout, n, bias): every Cin and Cout in {1, 3, 8}, N in {1, 3, 5}
     * (5: a last chunk shorter than the others), with and without bias */
    static const int cfg[][4] = {{1, 3, 3, 1}, {3, 8, 1, 0}, {8, 1, 3, 0}, {3, 3, 5, 1}, {8, 8, 1, 1}, {1, 1, 3, 0}};
    const int ncfg = sizeof cfg / sizeof cfg[0];
    static const int ks[] = {1, 3, 5, 7};
    int it = 0;
    seed(1);
    for (int ki = 0; ki < 4; ki++)
        for (int stride = 1; stride <= 2; stride++)
            for (int pad = 0; pad <= 3; pad++)
                for (int si = 0; si < 3; si++) {
                    int h = sizes[si][0], w = sizes[si][1];
                    for (int rep = 0; rep < 2; rep++, it++) {
                        const int *c = cfg[it % ncfg];
                        /* keep the naive 28x28 references cheap */
                        int cin = c[0], cout = c[1];
                        if (h == 28 && ks[ki] >= 5 && cin * cout > 9) cin = 3, cout = 1;
                        conv_vs_naive(c[2], cin, h, w, cout, ks[ki], stride, pad, c[3]);
                    }
                }
    /* small-plane and larger-batch shapes (the chunked GEMM path), stride 3 */
    conv_vs_naive(7, 4, 4, 4, 6, 3, 1, 1, 1);
    conv_vs_naive(9, 5, 7, 7, 3, 3, 2, 1, 0);
    conv_vs_naive(11, 2, 2, 3, 2, 1, 1, 0, 1);
    conv_vs_naive(6, 3, 13, 13, 4, 3, 3, 1, 1);
    conv_vs_naive(4, 2, 9, 7, 3, 2, 2, 0, 0);
    conv_vs_naive(3, 2, 1, 1, 3, 3, 1, 1, 1);
    /* "same" convolutions over several chunks, the last one shorter */
    conv_vs_naive(5, 3, 28, 28, 4, 3, 1, 1, 1);
    conv_vs_naive(5, 2, 23, 23, 3, 5, 1, 2, 0);
    /* Cout <= Cin "same" convolutions: dx by the flipped weights (conv.c flip_dx) */
    conv_vs_naive(5, 4, 28, 28, 4, 3, 1, 1, 1);
    conv_vs_naive(9, 6, 7, 7, 3, 3, 1, 1, 0);
    conv_vs_naive(5, 3, 23, 21, 3, 5, 1, 2, 1);
    /* the row-shift path (conv_same.c): chunks of several samples, narrow
     * planes, Cout > Cin, one sample per chunk (>= 2048 positions) with bias */
    conv_path_vs_naive(&rowshift_path, 9, 5, 16, 6, 7, 3, 1, 1, 1);
    conv_path_vs_naive(&rowshift_path, 5, 1, 14, 14, 6, 3, 1, 1, 0);
    conv_vs_naive(7, 3, 17, 15, 4, 7, 1, 3, 1);
    conv_path_vs_naive(&rowshift_path, 3, 2, 48, 48, 3, 3, 1, 1, 1);
    conv_vs_naive(2, 3, 50, 44, 2, 5, 1, 2, 0);
    /* Winograd F(2x2, 3x3) (conv_wino.c: 3x3 stride 1 pad 1, 16+ channels
     * in and out, 32+ in on planes of 28+ rows): odd sizes (a tile half
     * outside the plane), the smallest plane, many chunks of several samples
     * each, the last one shorter, Cout > Cin, Cout < Cin */
    static const int wino[][5] = {{3, 16, 5, 3, 16},   {4, 16, 2, 2, 17},  {2, 17, 13, 27, 19}, {70, 16, 4, 4, 16},
                                  {37, 20, 7, 7, 16}, {5, 24, 27, 14, 16}, {2, 32, 28, 28, 16}};
    for (int q = 0; q < 7; q++) {
        fesf_conv_shape s = {wino[q][0], wino[q][1], wino[q][2], wino[q][3], wino[q][4], 3, 1, 1, 0, 0};
        assert_true(fesf_conv_wino(&s)); /* the shapes are the path's */
        conv_path_vs_naive(&wino_path, s.n, s.cin, s.h, s.w, s.cout, 3, 1, 1, q % 2);
    }
    /* the direct path (conv_direct.c) in each vector width the CPU has
     * (AVX-512, AVX2): 16 channels (one register of output channels), the
     * stem's single input channel, odd channel counts and Cout past a
     * multiple of 16, planes whose grid ends inside a block, several
     * samples a group; then, through the dispatch, shapes whose forward
     * runs direct and whose backward may not (few channels in or out with
     * AVX-512 GEMM): the scratch serves both paths */
    static const int direct[][5] = {{5, 16, 28, 28, 16}, {9, 1, 14, 14, 16}, {3, 17, 15, 19, 33},
                                    {2, 64, 14, 14, 64}, {6, 3, 30, 17, 5},  {2, 16, 64, 64, 32}};
    static const int mixed[][5] = {{3, 1, 28, 28, 64}, {4, 64, 14, 14, 1}, {3, 16, 28, 28, 3}};
    static const int widths[] = {512, 256};
    for (int iw = 0; iw < 2; iw++) {
        if (fesf_conv_direct_isa(widths[iw]) < 0) {
            fprintf(stderr, "conv: no %d-bit vectors here, the direct path's kernels of that width are not tested\n",
                    widths[iw]);
            continue;
        }
        fesf_conv_shape r = {64, 16, 28, 28, 16, 3, 1, 1, 0, 0};
        assert_true(fesf_conv_direct(&r)); /* ResNet-18 width 16's first stage takes it */
        for (int q = 0; q < 6; q++)
            conv_path_vs_naive(&direct_path, direct[q][0], direct[q][1], direct[q][2], direct[q][3], direct[q][4], 3, 1,
                               1, q % 2);
        for (int q = 0; q < 3; q++) {
            fesf_conv_shape m = {mixed[q][0], mixed[q][1], mixed[q][2], mixed[q][3], mixed[q][4], 3, 1, 1, 0, 0};
            assert_true(fesf_conv_direct(&m));
            assert_true(fesf_conv_direct_grad(&m) == !fesf_blas_avx512());
            conv_path_vs_naive(NULL, m.n, m.cin, m.h, m.w, m.cout, 3, 1, 1, q % 2);
        }
    }
    fesf_conv_direct_isa(0);
}

static void test_conv_null_grads_and_scratch(void **state)
{
    /* each gradient alone equals the one computed with the others */
    static const int shp[][8] = {{3, 3, 7, 9, 4, 3, 2, 1}, {2, 4, 6, 6, 5, 1, 1, 0}, {5, 2, 5, 5, 3, 3, 1, 1},
                                 {9, 3, 16, 14, 5, 3, 1, 1}, {2, 2, 48, 48, 3, 3, 1, 1}, {7, 16, 5, 3, 16, 3, 1, 1}};
    seed(2);
    for (int q = 0; q < 6; q++) {
        fesf_conv_shape s = {shp[q][0], shp[q][1], shp[q][2], shp[q][3], shp[q][4], shp[q][5], shp[q][6], shp[q][7], 0, 0};
        assert_int_equal(fesf_conv_shape_init(&s), 0);
        const size_t xs = (size_t)s.n * s.cin * s.h * s.w, ys = (size_t)s.n * s.cout * s.ho * s.wo,
                     ws = (size_t)s.cout * s.cin * s.k * s.k;
        size_t cf = fesf_conv_col_floats(&s);
        if (s.k == 1) assert_true(cf <= 3 * (size_t)s.cout * s.cin); /* no columns: only dw partials */
        float *x = randn(xs, 1), *w = randn(ws, 1), *dy = randn(ys, 1), *col = cf ? randn(cf, 1) : NULL;
        float *dx = zeros(xs), *dw = zeros(ws), *db = zeros(s.cout);
        float *dx1 = zeros(xs), *dw1 = zeros(ws), *db1 = zeros(s.cout);
        fesf_conv2d_backward(&s, x, w, dy, dx, dw, db, col);
        fesf_conv2d_backward(&s, x, w, dy, dx1, NULL, NULL, col);
        fesf_conv2d_backward(&s, x, w, dy, NULL, dw1, NULL, col);
        fesf_conv2d_backward(&s, x, w, dy, NULL, NULL, db1, col);
        assert_memory_equal(dx, dx1, xs * sizeof(float));
        assert_memory_equal(dw, dw1, ws * sizeof(float));
        assert_memory_equal(db, db1, (size_t)s.cout * sizeof(float));
        /* a second call adds the same again */
        fesf_conv2d_backward(&s, x, w, dy, dx1, dw1, db1, col);
        for (size_t i = 0; i < xs; i++) assert_float_equal(dx1[i], 2 * dx[i], 1e-5 * (1 + fabsf(dx[i])));
        for (size_t i = 0; i < ws; i++) assert_float_equal(dw1[i], 2 * dw[i], 1e-5 * (1 + fabsf(dw[i])));
        for (int i = 0; i < s.cout; i++) assert_float_equal(db1[i], 2 * db[i], 1e-5 * (1 + fabsf(db[i])));
        free(x), free(w), free(dy), free(col), free(dx), free(dw), free(db), free(dx1), free(dw1), free(db1);
    }
}

/* The batch is split into fixed work groups (conv.c plan_of), so any
 * thread count gives bitwise the same y, dx, dw and db. */
static void test_conv_threads_bitwise(void **state)
{
    static const int shp[][8] = {{64, 16, 28, 28, 32, 3, 1, 1}, {64, 16, 28, 28, 16, 3, 1, 1}, {64, 32, 7, 7, 64, 3, 2, 1}, {37, 8, 4, 4, 16, 3, 1, 1},
                                 {13, 8, 6, 6, 12, 1, 1, 0}, {9, 4, 14, 14, 8, 1, 2, 0}, {13, 4, 20, 17, 6, 5, 1, 2},
                                 {11, 4, 48, 48, 4, 3, 1, 1}, {70, 16, 7, 7, 16, 3, 1, 1}, {9, 16, 13, 11, 20, 3, 1, 1}};
    seed(5);
    for (int q = 0; q < 10; q++) {
        fesf_conv_shape s = {shp[q][0], shp[q][1], shp[q][2], shp[q][3], shp[q][4], shp[q][5], shp[q][6], shp[q][7], 0, 0};
        assert_int_equal(fesf_conv_shape_init(&s), 0);
        const size_t xs = (size_t)s.n * s.cin * s.h * s.w, ys = (size_t)s.n * s.cout * s.ho * s.wo,
                     ws = (size_t)s.cout * s.cin * s.k * s.k, cf = fesf_conv_col_floats(&s);
        float *x = randn(xs, 1), *w = randn(ws, 1), *b = randn(s.cout, 1), *dy = randn(ys, 1), *col = zeros(cf + 1);
        float *ref[4] = {zeros(ys), zeros(xs), zeros(ws), zeros(s.cout)};
        for (int t = 1; t <= 4; t++) {
            float *out[4] = {zeros(ys), zeros(xs), zeros(ws), zeros(s.cout)};
            omp_set_num_threads(t);
            fesf_conv2d_forward(&s, x, w, b, out[0], col);
            fesf_conv2d_backward(&s, x, w, dy, out[1], out[2], out[3], col);
            const size_t len[4] = {ys, xs, ws, (size_t)s.cout};
            for (int k = 0; k < 4; k++) {
                if (t == 1) memcpy(ref[k], out[k], sizeof(float) * len[k]);
                else assert_memory_equal(ref[k], out[k], sizeof(float) * len[k]);
                free(out[k]);
            }
        }
        omp_set_num_threads(omp_get_num_procs());
        for (int k = 0; k < 4; k++) free(ref[k]);
        free(x), free(w), free(b), free(dy), free(col);
    }
}

/* each write-first backward (dx overwritten) equals its accumulating
 * function run on a zeroed dx, whatever dx held before */
static void expect_same_values(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) assert_true(a[i] == b[i]);
}

/* batch norm + ReLU in one pass gives the bits of the two run apart, in
 * training and eval mode, with dx overwritten and accumulated */
static void test_bn_relu_fused_bits(void **state)
{
    seed(7);
    const int n = 5, c = 3, hw = 37; /* odd plane: the scalar tails too */
    const size_t len = (size_t)n * c * hw;
    float *x = randn(len, 1), *dy = randn(len, 1), *g = randn(c, 1), *be = randn(c, 0.5f);
    float *rm = zeros(c), *rv = zeros(c), *rm2 = zeros(c), *rv2 = zeros(c), *mean = zeros(c), *inv = zeros(c);
    float *t = zeros(len), *y = zeros(len), *yf = zeros(len), *dt = zeros(len);
    for (int training = 1; training >= 0; training--) {
        for (int i = 0; i < c; i++) rv[i] = rv2[i] = 1.0f + 0.1f * (float)i;
        fesf_batchnorm_forward(n, c, hw, x, g, be, t, mean, inv, rm, rv, 0.1f, 1e-5f, training);
        fesf_relu_forward(len, t, y);
        fesf_batchnorm_relu_forward(n, c, hw, x, g, be, yf, mean, inv, rm2, rv2, 0.1f, 1e-5f, training);
        assert_memory_equal(y, yf, len * sizeof(float));
        assert_memory_equal(rm, rm2, c * sizeof(float));
        assert_memory_equal(rv, rv2, c * sizeof(float));
    }
    fesf_batchnorm_forward(n, c, hw, x, g, be, t, mean, inv, NULL, NULL, 0.1f, 1e-5f, 1);
    fesf_relu_forward(len, t, y);
    for (int set = 0; set <= 1; set++) {
        float *dx = randn(len, 1), *dxf = dup(dx, len), *dg = randn(c, 1), *dgf = dup(dg, c);
        float *db = randn(c, 1), *dbf = dup(db, c);
        fesf_relu_backward_set(len, t, dy, dt);
        (set ? fesf_batchnorm_backward_set : fesf_batchnorm_backward)(n, c, hw, x, g, mean, inv, dt, dx, dg, db);
        fesf_batchnorm_relu_backward(n, c, hw, x, y, g, mean, inv, dy, dxf, set, dgf, dbf);
        assert_memory_equal(dx, dxf, len * sizeof(float));
        assert_memory_equal(dg, dgf, c * sizeof(float));
        assert_memory_equal(db, dbf, c * sizeof(float));
        free(dx), free(dxf), free(dg), free(dgf), free(db), free(dbf);
    }
    float *bufs[] = {x, dy, g, be, rm, rv, rm2, rv2, mean, inv, t, y, yf, dt};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
}

static void test_backward_set_variants(void **state)
{
    seed(6);
    static const int shp[][8] = {{9, 8, 14, 14, 8, 3, 1, 1}, {9, 4, 14, 14, 8, 3, 1, 1}, {5, 4, 9, 9, 6, 3, 2, 1},
                                 {7, 6, 5, 5, 3, 1, 1, 0}, {2, 3, 48, 48, 2, 3, 1, 1}};
    for (int q = 0; q < 5; q++) {
        fesf_conv_shape s = {shp[q][0], shp[q][1], shp[q][2], shp[q][3], shp[q][4], shp[q][5], shp[q][6], shp[q][7], 0, 0};
        assert_int_equal(fesf_conv_shape_init(&s), 0);
        const size_t xs = (size_t)s.n * s.cin * s.h * s.w, ys = (size_t)s.n * s.cout * s.ho * s.wo,
                     ws = (size_t)s.cout * s.cin * s.k * s.k;
        float *x = randn(xs, 1), *w = randn(ws, 1), *dy = randn(ys, 1), *col = zeros(fesf_conv_col_floats(&s) + 1);
        float *dx = zeros(xs), *dxs = randn(xs, 1), *dw = zeros(ws), *dws = zeros(ws);
        fesf_conv2d_backward(&s, x, w, dy, dx, dw, NULL, col);
        fesf_conv2d_backward_set(&s, x, w, dy, dxs, dws, NULL, col);
        expect_same_values(dx, dxs, xs);
        assert_memory_equal(dw, dws, ws * sizeof(float));
        free(x), free(w), free(dy), free(col), free(dx), free(dxs), free(dw), free(dws);
    }
    const int n = 6, c = 5, hw = 49;
    const size_t len = (size_t)n * c * hw;
    float *x = randn(len, 1), *dy = randn(len, 1), *g = randn(c, 1), *mean = zeros(c), *inv = zeros(c), *y = zeros(len);
    fesf_batchnorm_forward(n, c, hw, x, g, NULL, y, mean, inv, NULL, NULL, 0.1f, 1e-5f, 1);
    float *dx = zeros(len), *dxs = randn(len, 1), *dg = zeros(c), *dgs = zeros(c);
    fesf_batchnorm_backward(n, c, hw, x, g, mean, inv, dy, dx, dg, NULL);
    fesf_batchnorm_backward_set(n, c, hw, x, g, mean, inv, dy, dxs, dgs, NULL);
    expect_same_values(dx, dxs, len);
    assert_memory_equal(dg, dgs, c * sizeof(float));
    memset(dx, 0, len * sizeof(float));
    fesf_relu_backward(len, x, dy, dx);
    fesf_relu_backward_set(len, x, dy, dxs);
    expect_same_values(dx, dxs, len);
    fesf_pool_shape p = {n, c, 7, 7, 2, 2, 0, 0, 0};
    assert_int_equal(fesf_pool_shape_init(&p), 0);
    int32_t idx[6 * 5 * 9];
    fesf_maxpool_forward(&p, x, y, idx);
    memset(dx, 0, len * sizeof(float));
    for (size_t i = 0; i < len; i++) dxs[i] = 7.0f;
    fesf_maxpool_backward(&p, idx, dy, dx);
    fesf_maxpool_backward_set(&p, idx, dy, dxs);
    expect_same_values(dx, dxs, len);
    free(x), free(dy), free(g), free(mean), free(inv), free(y), free(dx), free(dxs), free(dg), free(dgs);
}

static void test_conv_shape_init(void **state)
{
    fesf_conv_shape s = {64, 16, 28, 28, 32, 3, 2, 1, 0, 0};
    assert_int_equal(fesf_conv_shape_init(&s), 0);
    assert_int_equal(s.ho, 14);
    assert_int_equal(s.wo, 14);
    fesf_conv_shape t = {1, 1, 2, 2, 1, 5, 1, 1, 0, 0}; /* 5 > 2 + 2 */
    assert_int_equal(fesf_conv_shape_init(&t), -1);
    fesf_conv_shape u = {1, 1, 8, 8, 1, 3, 0, 1, 0, 0}; /* stride 0 */
    assert_int_equal(fesf_conv_shape_init(&u), -1);
    /* scratch sized for a batch serves any smaller batch */
    static const int shp[][6] = {{16, 28, 32, 3, 1, 1}, {64, 7, 64, 3, 1, 1}, {3, 13, 8, 5, 2, 2}, {8, 4, 8, 1, 2, 0}};
    for (int q = 0; q < 4; q++) {
        size_t prev = 0;
        for (int n = 1; n <= 70; n++) {
            fesf_conv_shape v = {n, shp[q][0], shp[q][1], shp[q][1], shp[q][2], shp[q][3], shp[q][4], shp[q][5], 0, 0};
            assert_int_equal(fesf_conv_shape_init(&v), 0);
            size_t cf = fesf_conv_col_floats(&v);
            assert_true(cf >= prev);
            prev = cf;
        }
    }
    fesf_pool_shape p = {2, 3, 7, 9, 3, 2, 1, 0, 0};
    assert_int_equal(fesf_pool_shape_init(&p), 0);
    assert_int_equal(p.ho, 4);
    assert_int_equal(p.wo, 5);
    fesf_pool_shape q = {2, 3, 7, 9, 2, 2, 2, 0, 0}; /* pad > k / 2 (torch refuses it) */
    assert_int_equal(fesf_pool_shape_init(&q), -1);
}

/* ---------------------------------------------------------------- conv finite differences */

typedef struct {
    fesf_conv_shape s;
    float *x, *w, *b, *y, *col;
} conv_ctx;

static void conv_fwd(void *p)
{
    conv_ctx *c = p;
    fesf_conv2d_forward(&c->s, c->x, c->w, c->b, c->y, c->col);
}

static void conv_fd(int n, int cin, int h, int w, int cout, int k, int stride, int pad, int bias)
{
    conv_ctx c = {{n, cin, h, w, cout, k, stride, pad, 0, 0}, NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(fesf_conv_shape_init(&c.s), 0);
    const size_t xs = (size_t)n * cin * h * w, ys = (size_t)n * cout * c.s.ho * c.s.wo, ws = (size_t)cout * cin * k * k;
    c.x = randn(xs, 1), c.w = randn(ws, 0.5f), c.b = bias ? randn(cout, 1) : NULL, c.y = zeros(ys);
    size_t cf = fesf_conv_col_floats(&c.s);
    c.col = cf ? zeros(cf) : NULL;
    float *r = randn(ys, 1), *dx = grad_buf(xs), *dw = grad_buf(ws), *db = grad_buf(cout);
    conv_fwd(&c);
    fesf_conv2d_backward(&c.s, c.x, c.w, r, dx, dw, bias ? db : NULL, c.col);
    fd_loss L = {conv_fwd, &c, c.y, ys, r};
    fd_check(&L, c.x, xs, dx, 1e-2f, "conv dx");
    fd_check(&L, c.w, ws, dw, 1e-2f, "conv dw");
    if (bias) fd_check(&L, c.b, (size_t)cout, db, 1e-2f, "conv db");
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.col), free(r), free(dx), free(dw), free(db);
}

static void test_conv_finite_differences(void **state)
{
    seed(3);
    conv_fd(2, 3, 7, 9, 4, 3, 2, 1, 1); /* strided, padded, odd sizes */
    conv_fd(1, 2, 6, 5, 3, 5, 1, 2, 0); /* "same" 5x5 */
    conv_fd(2, 3, 5, 5, 2, 1, 1, 0, 1); /* 1x1 path without im2col */
    conv_fd(2, 2, 7, 9, 3, 3, 1, 0, 0); /* valid */
    conv_fd(1, 2, 9, 9, 2, 7, 2, 3, 1); /* 7x7 stride 2 pad 3 */
    conv_fd(3, 2, 5, 4, 2, 1, 2, 1, 1); /* 1x1 strided padded */
}

/* ---------------------------------------------------------------- normalisation */

typedef struct {
    int n, c, hw, training;
    float *x, *gamma, *beta, *y, *mean, *invstd, *rm, *rv;
} norm_ctx;

static void bn_fwd(void *p)
{
    norm_ctx *c = p;
    fesf_batchnorm_forward(c->n, c->c, c->hw, c->x, c->gamma, c->beta, c->y, c->mean, c->invstd, c->rm, c->rv, 0.1f,
                           1e-5f, c->training);
}

static void in_fwd(void *p)
{
    norm_ctx *c = p;
    fesf_instancenorm_forward(c->n, c->c, c->hw, c->x, c->gamma, c->beta, c->y, c->mean, c->invstd, 1e-5f);
}

static void norm_ctx_init(norm_ctx *c, int n, int ch, int hw, int affine, size_t nstat)
{
    *c = (norm_ctx){n, ch, hw, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t len = (size_t)n * ch * hw;
    c->x = randn(len, 1.5f);
    for (size_t i = 0; i < len; i++) c->x[i] += 0.5f; /* non-zero mean */
    c->gamma = affine ? randn(ch, 1) : NULL;
    c->beta = affine ? randn(ch, 1) : NULL;
    c->y = zeros(len);
    c->mean = zeros(nstat), c->invstd = zeros(nstat);
    c->rm = zeros(ch), c->rv = zeros(ch);
    for (int i = 0; i < ch; i++) c->rv[i] = 1.0f;
}

static void norm_ctx_free(norm_ctx *c)
{
    free(c->x), free(c->gamma), free(c->beta), free(c->y), free(c->mean), free(c->invstd), free(c->rm), free(c->rv);
}

static void test_batchnorm_finite_differences(void **state)
{
    seed(4);
    for (int affine = 0; affine <= 1; affine++) {
        norm_ctx c;
        norm_ctx_init(&c, 3, 2, 7, affine, 2);
        size_t len = (size_t)c.n * c.c * c.hw;
        float *r = randn(len, 1), *dx = grad_buf(len), *dg = grad_buf(c.c), *dbeta = grad_buf(c.c);
        bn_fwd(&c);
        fesf_batchnorm_backward(c.n, c.c, c.hw, c.x, c.gamma, c.mean, c.invstd, r, dx, dg, dbeta);
        fd_loss L = {bn_fwd, &c, c.y, len, r};
        fd_check(&L, c.x, len, dx, 1e-3f, "bn dx");
        if (affine) {
            fd_check(&L, c.gamma, (size_t)c.c, dg, 1e-3f, "bn dgamma");
            fd_check(&L, c.beta, (size_t)c.c, dbeta, 1e-3f, "bn dbeta");
        }
        free(r), free(dx), free(dg), free(dbeta);
        norm_ctx_free(&c);
    }
}

static void test_instancenorm_finite_differences(void **state)
{
    seed(5);
    for (int affine = 0; affine <= 1; affine++) {
        norm_ctx c;
        norm_ctx_init(&c, 2, 3, 9, affine, 6);
        size_t len = (size_t)c.n * c.c * c.hw;
        float *r = randn(len, 1), *dx = grad_buf(len), *dg = grad_buf(c.c), *dbeta = grad_buf(c.c);
        in_fwd(&c);
        fesf_instancenorm_backward(c.n, c.c, c.hw, c.x, c.gamma, c.mean, c.invstd, r, dx, affine ? dg : NULL,
                                   affine ? dbeta : NULL);
        fd_loss L = {in_fwd, &c, c.y, len, r};
        fd_check(&L, c.x, len, dx, 1e-3f, affine ? "in dx (affine)" : "in dx");
        if (affine) {
            fd_check(&L, c.gamma, (size_t)c.c, dg, 1e-3f, "in dgamma");
            fd_check(&L, c.beta, (size_t)c.c, dbeta, 1e-3f, "in dbeta");
        }
        /* per (n, c): mean beta, biased variance gamma^2 (up to eps) */
        for (int i = 0; i < c.n * c.c; i++) {
            double s = 0, ss = 0, g = affine ? c.gamma[i % c.c] : 1, b = affine ? c.beta[i % c.c] : 0;
            for (int q = 0; q < c.hw; q++) s += c.y[(size_t)i * c.hw + q];
            s /= c.hw;
            for (int q = 0; q < c.hw; q++) ss += (c.y[(size_t)i * c.hw + q] - s) * (c.y[(size_t)i * c.hw + q] - s);
            assert_float_equal(s, b, 1e-5);
            assert_float_equal(ss / c.hw, g * g, 1e-4 * (1 + g * g));
        }
        free(r), free(dx), free(dg), free(dbeta);
        norm_ctx_free(&c);
    }
}

static void test_batchnorm_running_stats_and_eval(void **state)
{
    seed(6);
    const int n = 4, ch = 3, hw = 5;
    const size_t len = (size_t)n * ch * hw;
    const float mom = 0.1f, eps = 1e-5f;
    float *x = randn(len, 2), *g = randn(ch, 1), *b = randn(ch, 1), *y = zeros(len);
    float mean[3], invstd[3], rm[3] = {0.5f, -1.0f, 2.0f}, rv[3] = {1.0f, 4.0f, 0.25f}, rm0[3], rv0[3];
    memcpy(rm0, rm, sizeof rm);
    memcpy(rv0, rv, sizeof rv);
    fesf_batchnorm_forward(n, ch, hw, x, g, b, y, mean, invstd, rm, rv, mom, eps, 1);
    for (int c = 0; c < ch; c++) {
        double s = 0, ss = 0, m = (double)n * hw;
        for (int i = 0; i < n; i++)
            for (int q = 0; q < hw; q++) s += x[((size_t)i * ch + c) * hw + q];
        s /= m;
        for (int i = 0; i < n; i++)
            for (int q = 0; q < hw; q++) {
                double d = x[((size_t)i * ch + c) * hw + q] - s;
                ss += d * d;
            }
        double var = ss / m;
        assert_float_equal(mean[c], s, 1e-6);
        assert_float_equal(invstd[c], 1 / sqrt(var + eps), 1e-6 / sqrt(var + eps));
        assert_float_equal(rm[c], (1 - mom) * rm0[c] + mom * s, 1e-6);
        assert_float_equal(rv[c], (1 - mom) * rv0[c] + mom * var * m / (m - 1), 1e-5);
        for (int i = 0; i < n; i++)
            for (int q = 0; q < hw; q++) {
                size_t o = ((size_t)i * ch + c) * hw + q;
                assert_float_equal(y[o], (x[o] - s) / sqrt(var + eps) * g[c] + b[c], 1e-5);
            }
    }
    /* eval: running statistics, left alone */
    float rm1[3], rv1[3], sm[3] = {7, 7, 7}, si[3] = {7, 7, 7};
    memcpy(rm1, rm, sizeof rm);
    memcpy(rv1, rv, sizeof rv);
    fesf_batchnorm_forward(n, ch, hw, x, g, b, y, sm, si, rm, rv, mom, eps, 0);
    assert_memory_equal(rm, rm1, sizeof rm);
    assert_memory_equal(rv, rv1, sizeof rv);
    for (int c = 0; c < ch; c++)
        for (int i = 0; i < n; i++)
            for (int q = 0; q < hw; q++) {
                size_t o = ((size_t)i * ch + c) * hw + q;
                assert_float_equal(y[o], (x[o] - rm[c]) / sqrt(rv[c] + eps) * g[c] + b[c], 1e-5);
            }
    free(x), free(g), free(b), free(y);
}

static void norm_backward(int inst, norm_ctx *c, const float *dy, float *dx, float *dg, float *db)
{
    if (inst)
        fesf_instancenorm_backward(c->n, c->c, c->hw, c->x, c->gamma, c->mean, c->invstd, dy, dx, dg, db);
    else
        fesf_batchnorm_backward(c->n, c->c, c->hw, c->x, c->gamma, c->mean, c->invstd, dy, dx, dg, db);
}

static void test_norm_grads_accumulate(void **state)
{
    seed(7);
    for (int inst = 0; inst <= 1; inst++) {
        norm_ctx c;
        norm_ctx_init(&c, 2, 3, 6, 1, 6);
        size_t len = (size_t)c.n * c.c * c.hw;
        float *dy = randn(len, 1), *dx = zeros(len), *dg = zeros(3), *db = zeros(3);
        if (inst)
            in_fwd(&c);
        else
            bn_fwd(&c);
        norm_backward(inst, &c, dy, dx, dg, db);
        float *dx1 = dup(dx, len), dg1[3], db1[3];
        memcpy(dg1, dg, sizeof dg1), memcpy(db1, db, sizeof db1);
        norm_backward(inst, &c, dy, dx, dg, db);
        for (size_t i = 0; i < len; i++) assert_float_equal(dx[i], 2 * dx1[i], 1e-6 * (1 + fabsf(dx1[i])));
        for (int i = 0; i < 3; i++) {
            assert_float_equal(dg[i], 2 * dg1[i], 1e-6 * (1 + fabsf(dg1[i])));
            assert_float_equal(db[i], 2 * db1[i], 1e-6 * (1 + fabsf(db1[i])));
        }
        /* NULL gradients are skipped; each alone equals its value with the others */
        norm_backward(inst, &c, dy, NULL, NULL, NULL);
        float *dxa = zeros(len), dga[3] = {0}, dba[3] = {0};
        norm_backward(inst, &c, dy, dxa, NULL, NULL);
        norm_backward(inst, &c, dy, NULL, dga, NULL);
        norm_backward(inst, &c, dy, NULL, NULL, dba);
        assert_memory_equal(dxa, dx1, len * sizeof(float));
        assert_memory_equal(dga, dg1, sizeof dga);
        assert_memory_equal(dba, db1, sizeof dba);
        free(dy), free(dx), free(dg), free(db), free(dx1), free(dxa);
        norm_ctx_free(&c);
    }
}

/* ---------------------------------------------------------------- pooling */

typedef struct {
    fesf_pool_shape s;
    float *x, *y;
    int32_t *idx;
} pool_ctx;

static void maxpool_fwd(void *p)
{
    pool_ctx *c = p;
    fesf_maxpool_forward(&c->s, c->x, c->y, c->idx);
}

static void avgpool_fwd(void *p)
{
    pool_ctx *c = p;
    fesf_avgpool_forward(&c->s, c->x, c->y);
}

static void pool_fd(int is_max, int n, int ch, int h, int w, int k, int stride, int pad)
{
    pool_ctx c = {{n, ch, h, w, k, stride, pad, 0, 0}, NULL, NULL, NULL};
    assert_int_equal(fesf_pool_shape_init(&c.s), 0);
    size_t xs = (size_t)n * ch * h * w, ys = (size_t)n * ch * c.s.ho * c.s.wo;
    c.x = is_max ? rand_distinct(xs) : randn(xs, 1);
    c.y = zeros(ys);
    c.idx = malloc(ys * sizeof *c.idx);
    float *r = randn(ys, 1), *dx = grad_buf(xs);
    fd_loss L = {is_max ? maxpool_fwd : avgpool_fwd, &c, c.y, ys, r};
    L.fwd(&c);
    if (is_max)
        fesf_maxpool_backward(&c.s, c.idx, r, dx);
    else
        fesf_avgpool_backward(&c.s, r, dx);
    fd_check(&L, c.x, xs, dx, 1e-2f, is_max ? "maxpool dx" : "avgpool dx");
    free(c.x), free(c.y), free(c.idx), free(r), free(dx);
}

static void test_pool_finite_differences(void **state)
{
    seed(8);
    pool_fd(1, 2, 3, 7, 9, 3, 2, 1); /* overlapping, padded */
    pool_fd(1, 1, 2, 8, 8, 2, 2, 0);
    pool_fd(1, 2, 1, 5, 6, 3, 1, 1);
    pool_fd(0, 2, 3, 7, 9, 3, 2, 1); /* count_include_pad */
    pool_fd(0, 1, 2, 8, 8, 2, 2, 0);
    pool_fd(0, 1, 2, 5, 6, 5, 1, 2);
}

static void test_maxpool_conventions(void **state)
{
    /* all negative input: padding (implicit -inf) never wins */
    fesf_pool_shape s = {1, 1, 3, 3, 3, 2, 1, 0, 0};
    assert_int_equal(fesf_pool_shape_init(&s), 0);
    assert_int_equal(s.ho, 2);
    float x[9], y[4];
    int32_t idx[4];
    for (int i = 0; i < 9; i++) x[i] = -10.0f - i;
    fesf_maxpool_forward(&s, x, y, idx);
    /* windows: rows/cols {0,1}, {1,2}: max is the element with the smallest index */
    static const int32_t want[4] = {0, 1, 3, 4};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(idx[i], want[i]);
        assert_true(y[i] == x[want[i]]);
    }
    /* ties: the first maximum in row-major window order wins */
    for (int i = 0; i < 9; i++) x[i] = 1.0f;
    fesf_maxpool_forward(&s, x, y, idx);
    for (int i = 0; i < 4; i++) assert_int_equal(idx[i], want[i]);
    float tie[16] = {0, 5, 5, 0, 5, 5, 1, 1, 2, 2, 7, 7, 2, 2, 7, 7};
    fesf_pool_shape t = {1, 1, 4, 4, 2, 2, 0, 0, 0};
    assert_int_equal(fesf_pool_shape_init(&t), 0);
    fesf_maxpool_forward(&t, tie, y, idx);
    static const int32_t want2[4] = {1, 2, 8, 10};
    for (int i = 0; i < 4; i++) assert_int_equal(idx[i], want2[i]);
    /* backward routes to the argmax and adds */
    float dy[4] = {1, 2, 3, 4}, dx[16];
    for (int i = 0; i < 16; i++) dx[i] = 1.0f;
    fesf_maxpool_backward(&t, idx, dy, dx);
    for (int i = 0; i < 16; i++) {
        float e = 1.0f;
        for (int q = 0; q < 4; q++)
            if (want2[q] == i) e += dy[q];
        assert_true(dx[i] == e);
    }
}

/* The 2x2 stride-2 fast path against direct loops with the same rule
 * (strict >, NaN wins, row-major window order): odd sizes (the last row and
 * column are dropped), ties from a few levels, NaNs. */
static void test_maxpool2_fast_path(void **state)
{
    seed(9);
    fesf_pool_shape s = {3, 2, 7, 13, 2, 2, 0, 0, 0}; /* 6 outputs a row: a vector of 4 and 2 more */;
    assert_int_equal(fesf_pool_shape_init(&s), 0);
    const size_t xs = (size_t)s.n * s.c * s.h * s.w, ys = (size_t)s.n * s.c * s.ho * s.wo;
    float *x = randn(xs, 1), *y = zeros(ys);
    int32_t *idx = calloc(ys, sizeof(int32_t));
    for (size_t i = 0; i < xs; i++) x[i] = i % 13 == 5 ? NAN : roundf(2 * x[i]);
    fesf_maxpool_forward(&s, x, y, idx);
    for (int pl = 0; pl < s.n * s.c; pl++)
        for (int oh = 0; oh < s.ho; oh++)
            for (int ow = 0; ow < s.wo; ow++) {
                const float *xp = x + (size_t)pl * s.h * s.w;
                float best = -INFINITY;
                int32_t bi = -1;
                for (int ih = 2 * oh; ih < 2 * oh + 2; ih++)
                    for (int iw = 2 * ow; iw < 2 * ow + 2; iw++)
                        if (xp[ih * s.w + iw] > best || isnan(xp[ih * s.w + iw])) best = xp[ih * s.w + iw], bi = ih * s.w + iw;
                size_t o = ((size_t)pl * s.ho + oh) * s.wo + ow;
                assert_int_equal(idx[o], bi);
                assert_true(isnan(best) ? isnan(y[o]) : y[o] == best);
            }
    free(x), free(y), free(idx);
}

static void test_avgpool_counts_padding(void **state)
{
    fesf_pool_shape s = {1, 1, 4, 4, 3, 2, 1, 0, 0};
    assert_int_equal(fesf_pool_shape_init(&s), 0);
    float x[16], y[4];
    for (int i = 0; i < 16; i++) x[i] = 1.0f;
    fesf_avgpool_forward(&s, x, y);
    assert_float_equal(y[0], 4.0 / 9.0, 1e-7); /* corner: 4 real, 5 padding cells, divisor 9 */
    assert_float_equal(y[1], 6.0 / 9.0, 1e-7);
    assert_float_equal(y[3], 9.0 / 9.0, 1e-7);
}

/* ---------------------------------------------------------------- gap, linear, upsample, add */

typedef struct {
    int n, c, h, w, f;
    float *x, *w_, *b, *y;
} misc_ctx;

static void gap_fwd(void *p)
{
    misc_ctx *c = p;
    fesf_gap_forward(c->n, c->c, c->h * c->w, c->x, c->y);
}

static void linear_fwd(void *p)
{
    misc_ctx *c = p; /* n = N, c = In, f = Out */
    fesf_linear_forward(c->n, c->c, c->f, c->x, c->w_, c->b, c->y);
}

static void upsample_fwd(void *p)
{
    misc_ctx *c = p;
    fesf_upsample_forward(c->n, c->c, c->h, c->w, c->f, c->x, c->y);
}

static void test_gap(void **state)
{
    seed(9);
    misc_ctx c = {2, 3, 5, 7, 0, NULL, NULL, NULL, NULL};
    size_t xs = 2 * 3 * 35;
    c.x = randn(xs, 1), c.y = zeros(6);
    float *r = randn(6, 1), *dx = grad_buf(xs);
    gap_fwd(&c);
    for (int i = 0; i < 6; i++) {
        double s = 0;
        for (int q = 0; q < 35; q++) s += c.x[i * 35 + q];
        assert_float_equal(c.y[i], s / 35, 1e-6);
    }
    fesf_gap_backward(2, 3, 35, r, dx);
    fd_loss L = {gap_fwd, &c, c.y, 6, r};
    fd_check(&L, c.x, xs, dx, 1e-2f, "gap dx");
    free(c.x), free(c.y), free(r), free(dx);
}

static void test_linear(void **state)
{
    seed(10);
    for (int bias = 0; bias <= 1; bias++) {
        const int n = 3, in = 7, out = 4;
        misc_ctx c = {n, in, 0, 0, out, NULL, NULL, NULL, NULL};
        c.x = randn(n * in, 1), c.w_ = randn(out * in, 1), c.b = bias ? randn(out, 1) : NULL, c.y = zeros(n * out);
        float *r = randn(n * out, 1), *dx = grad_buf(n * in), *dw = grad_buf(out * in), *db = grad_buf(out);
        linear_fwd(&c);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) {
                double s = bias ? c.b[o] : 0;
                for (int k = 0; k < in; k++) s += (double)c.x[i * in + k] * c.w_[o * in + k];
                assert_float_equal(c.y[i * out + o], s, 1e-5 * (1 + fabs(s)));
            }
        fesf_linear_backward(n, in, out, c.x, c.w_, r, dx, dw, bias ? db : NULL);
        fd_loss L = {linear_fwd, &c, c.y, (size_t)n * out, r};
        fd_check(&L, c.x, (size_t)n * in, dx, 1e-2f, "linear dx");
        fd_check(&L, c.w_, (size_t)out * in, dw, 1e-2f, "linear dw");
        if (bias) fd_check(&L, c.b, (size_t)out, db, 1e-2f, "linear db");
        free(c.x), free(c.w_), free(c.b), free(c.y), free(r), free(dx), free(dw), free(db);
    }
}

static void test_upsample(void **state)
{
    seed(11);
    for (int f = 2; f <= 3; f++) {
        misc_ctx c = {2, 2, 3, 5, f, NULL, NULL, NULL, NULL};
        size_t xs = 2 * 2 * 15, ys = xs * f * f;
        c.x = randn(xs, 1), c.y = zeros(ys);
        float *r = randn(ys, 1), *dx = grad_buf(xs);
        upsample_fwd(&c);
        for (int pl = 0; pl < 4; pl++)
            for (int oh = 0; oh < 3 * f; oh++)
                for (int ow = 0; ow < 5 * f; ow++)
                    assert_true(c.y[(pl * 3 * f + oh) * 5 * f + ow] == c.x[(pl * 3 + oh / f) * 5 + ow / f]);
        fesf_upsample_backward(2, 2, 3, 5, f, r, dx);
        fd_loss L = {upsample_fwd, &c, c.y, ys, r};
        fd_check(&L, c.x, xs, dx, 1e-2f, "upsample dx");
        free(c.x), free(c.y), free(r), free(dx);
    }
}

typedef struct {
    size_t len;
    float *a, *b, *y;
} add_ctx;

static void add_fwd(void *p)
{
    add_ctx *c = p;
    fesf_add_forward(c->len, c->a, c->b, c->y);
}

static void test_add_accumulates(void **state)
{
    seed(12);
    add_ctx c = {37, NULL, NULL, NULL};
    c.a = randn(37, 1), c.b = randn(37, 1), c.y = zeros(37);
    float *r = randn(37, 1), *da = grad_buf(37), *db = randn(37, 1), *db0 = dup(db, 37);
    add_fwd(&c);
    for (int i = 0; i < 37; i++) assert_true(c.y[i] == c.a[i] + c.b[i]);
    fesf_add_backward(37, r, da, db);
    fd_loss L = {add_fwd, &c, c.y, 37, r};
    fd_check(&L, c.a, 37, da, 1e-2f, "add da");
    fesf_add_backward(37, r, da, NULL); /* twice: doubled */
    for (int i = 0; i < 37; i++) {
        assert_float_equal(da[i], g0_at(i) + 2 * r[i], 1e-6);
        assert_float_equal(db[i], db0[i] + r[i], 1e-6);
    }
    free(c.a), free(c.b), free(c.y), free(r), free(da), free(db), free(db0);
}

/* ---------------------------------------------------------------- activations */

typedef struct {
    int kind; /* 0 relu, 1 leaky, 2 tanh, 3 sigmoid */
    size_t len;
    float *x, *y;
} act_ctx;

static void act_fwd(void *p)
{
    act_ctx *c = p;
    switch (c->kind) {
    case 0: fesf_relu_forward(c->len, c->x, c->y); break;
    case 1: fesf_leaky_relu_forward(c->len, 0.1f, c->x, c->y); break;
    case 2: fesf_tanh_forward(c->len, c->x, c->y); break;
    default: fesf_sigmoid_forward(c->len, c->x, c->y); break;
    }
}

static void test_activations(void **state)
{
    static const char *names[] = {"relu dx", "leaky relu dx", "tanh dx", "sigmoid dx"};
    seed(13);
    for (int kind = 0; kind < 4; kind++) {
        act_ctx c = {kind, 53, NULL, NULL}; /* odd length: vector body and tail */
        c.x = rand_away(c.len), c.y = zeros(c.len);
        float *r = randn(c.len, 1), *dx = grad_buf(c.len);
        act_fwd(&c);
        for (size_t i = 0; i < c.len; i++) {
            double v = c.x[i], want = kind == 0 ? fmax(v, 0) : kind == 1 ? (v > 0 ? v : 0.1 * v)
                                                       : kind == 2 ? tanh(v) : 1 / (1 + exp(-v));
            assert_float_equal(c.y[i], want, 1e-6);
        }
        switch (kind) {
        case 0: fesf_relu_backward(c.len, c.x, r, dx); break;
        case 1: fesf_leaky_relu_backward(c.len, 0.1f, c.x, r, dx); break;
        case 2: fesf_tanh_backward(c.len, c.y, r, dx); break;
        default: fesf_sigmoid_backward(c.len, c.y, r, dx); break;
        }
        fd_loss L = {act_fwd, &c, c.y, c.len, r};
        fd_check(&L, c.x, c.len, dx, kind < 2 ? 1e-2f : 1e-3f, names[kind]);
        free(c.x), free(c.y), free(r), free(dx);
    }
    /* extremes: no overflow, no NaN; relu(0) has gradient 0 as in torch */
    float x[4] = {-100.0f, 100.0f, -1e30f, 0.0f}, y[4], dx[4] = {0}, one[4] = {1, 1, 1, 1};
    fesf_sigmoid_forward(4, x, y);
    assert_true(y[0] >= 0.0f && y[0] < 1e-40f);
    assert_true(y[1] == 1.0f && y[2] == 0.0f && y[3] == 0.5f);
    fesf_relu_backward(4, x, one, dx);
    assert_true(dx[0] == 0.0f && dx[1] == 1.0f && dx[3] == 0.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_shape_init),
        cmocka_unit_test(test_conv_matches_naive),
        cmocka_unit_test(test_conv_null_grads_and_scratch),
        cmocka_unit_test(test_conv_threads_bitwise),
        cmocka_unit_test(test_backward_set_variants),
        cmocka_unit_test(test_bn_relu_fused_bits),
        cmocka_unit_test(test_conv_finite_differences),
        cmocka_unit_test(test_batchnorm_finite_differences),
        cmocka_unit_test(test_batchnorm_running_stats_and_eval),
        cmocka_unit_test(test_norm_grads_accumulate),
        cmocka_unit_test(test_instancenorm_finite_differences),
        cmocka_unit_test(test_pool_finite_differences),
        cmocka_unit_test(test_maxpool_conventions),
        cmocka_unit_test(test_maxpool2_fast_path),
        cmocka_unit_test(test_avgpool_counts_padding),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_upsample),
        cmocka_unit_test(test_add_accumulates),
        cmocka_unit_test(test_activations),
    };
    return cmocka_run_group_tests_name("layers", tests, NULL, NULL);
}
