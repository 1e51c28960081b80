/* 3-D layers (layers3d.h): the vol2col + GEMM convolution against the
 * naive one (forward and every gradient, stride 1 and 2, odd sizes, with
 * and without padding and bias), its backward against central finite
 * differences, the set and accumulate modes, and max pooling's argmax and
 * scatter. Tolerances as in test_layers.c: optimised vs naive 1e-5 of the
 * element's own scale (the naive sum of |terms|, computed here as the
 * largest |value| of the tensor times 1e-5 bound loosely by the term
 * count); finite differences 1e-2 relative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/layers3d.h"
#include "fesf/rng.h"

static fesf_rng rng;

static float *randn(size_t n)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    assert_non_null(a);
    for (size_t i = 0; i < n; i++) a[i] = (float)fesf_rng_normal(&rng);
    return a;
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static void assert_close(const float *a, const float *b, size_t n, double tol)
{
    double scale = fmax(max_abs(b, n), 1e-6);
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > tol * scale) fail_msg("element %zu: %g vs %g (tol %g)", i, a[i], b[i], tol * scale);
}

typedef struct {
    int n, cin, d, h, w, cout, k, stride, pad, bias;
} case3d;

static void check_case(const case3d *c)
{
    fesf_conv3d_shape s = {c->n, c->cin, c->d, c->h, c->w, c->cout, c->k, c->stride, c->pad, 0, 0, 0};
    assert_int_equal(fesf_conv3d_shape_init(&s), 0);
    size_t nx = (size_t)c->n * c->cin * c->d * c->h * c->w, nw = (size_t)c->cout * c->cin * c->k * c->k * c->k;
    size_t ny = (size_t)c->n * c->cout * s.do_ * s.ho * s.wo;
    float *x = randn(nx), *w = randn(nw), *b = c->bias ? randn((size_t)c->cout) : NULL, *dy = randn(ny);
    float *y = malloc(ny * 4), *yr = malloc(ny * 4), *col = malloc(fesf_conv3d_col_floats(&s) * 4);
    float *dx = malloc(nx * 4), *dxr = malloc(nx * 4), *dw = calloc(nw, 4), *dwr = malloc(nw * 4);
    float *db = calloc((size_t)c->cout, 4), *dbr = malloc((size_t)c->cout * 4);
    fesf_conv3d_forward(&s, x, w, b, y, col);
    fesf_conv3d_forward_naive(&s, x, w, b, yr);
    assert_close(y, yr, ny, 1e-5);
    fesf_conv3d_backward(&s, x, w, dy, dx, 1, dw, c->bias ? db : NULL, col);
    fesf_conv3d_backward_naive(&s, x, w, dy, dxr, dwr, c->bias ? dbr : NULL);
    assert_close(dx, dxr, nx, 1e-5);
    assert_close(dw, dwr, nw, 1e-5);
    if (c->bias) assert_close(db, dbr, (size_t)c->cout, 1e-5);
    /* accumulate mode: a second backward adds the same again */
    fesf_conv3d_backward(&s, x, w, dy, dx, 0, dw, NULL, col);
    for (size_t i = 0; i < nx; i++) dxr[i] *= 2;
    for (size_t i = 0; i < nw; i++) dwr[i] *= 2;
    assert_close(dx, dxr, nx, 1e-5);
    assert_close(dw, dwr, nw, 1e-5);
    free(x), free(w), free(b), free(dy), free(y), free(yr), free(col), free(dx), free(dxr), free(dw), free(dwr);
    free(db), free(dbr);
}

static void test_conv3d_vs_naive(void **state)
{
    (void)state;
    static const case3d cases[] = {
        {2, 1, 6, 5, 7, 4, 3, 1, 1, 0}, {2, 3, 7, 6, 5, 2, 3, 2, 1, 1}, {1, 2, 5, 5, 5, 3, 1, 1, 0, 1},
        {3, 2, 4, 6, 3, 2, 2, 2, 0, 0}, {1, 4, 9, 8, 7, 5, 3, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

/* L = sum(y * r): dL/dx and dL/dw against central differences. */
static double loss_of(const fesf_conv3d_shape *s, const float *x, const float *w, const float *r, float *y, float *col)
{
    fesf_conv3d_forward(s, x, w, NULL, y, col);
    double L = 0;
    size_t ny = (size_t)s->n * s->cout * s->do_ * s->ho * s->wo;
    for (size_t i = 0; i < ny; i++) L += (double)y[i] * r[i];
    return L;
}

static void fd_check(const fesf_conv3d_shape *s, float *p, size_t np, const float *grad, const float *x, const float *w,
                     const float *r, float *y, float *col)
{
    double gmax = max_abs(grad, np);
    for (size_t i = 0; i < np; i += 1 + np / 23) {
        float keep = p[i], h = 1e-2f;
        p[i] = keep + h;
        double lp = loss_of(s, x, w, r, y, col), up = p[i];
        p[i] = keep - h;
        double lm = loss_of(s, x, w, r, y, col), dn = p[i];
        p[i] = keep;
        double fd = (lp - lm) / (up - dn);
        assert_true(fabs(fd - grad[i]) <= 1e-2 * fmax(fabs(grad[i]), 0.1 * gmax));
    }
}

static void test_conv3d_finite_differences(void **state)
{
    (void)state;
    fesf_conv3d_shape s = {2, 2, 5, 4, 6, 3, 3, 2, 1, 0, 0, 0};
    assert_int_equal(fesf_conv3d_shape_init(&s), 0);
    size_t nx = (size_t)2 * 2 * 5 * 4 * 6, nw = (size_t)3 * 2 * 27, ny = (size_t)2 * 3 * s.do_ * s.ho * s.wo;
    float *x = randn(nx), *w = randn(nw), *r = randn(ny), *y = malloc(ny * 4), *col = malloc(fesf_conv3d_col_floats(&s) * 4);
    float *dx = malloc(nx * 4), *dw = calloc(nw, 4);
    fesf_conv3d_forward(&s, x, w, NULL, y, col);
    fesf_conv3d_backward(&s, x, w, r, dx, 1, dw, NULL, col);
    fd_check(&s, x, nx, dx, x, w, r, y, col);
    fd_check(&s, w, nw, dw, x, w, r, y, col);
    free(x), free(w), free(r), free(y), free(col), free(dx), free(dw);
}

static void test_maxpool3d(void **state)
{
    (void)state;
    fesf_pool3d_shape s = {2, 3, 5, 4, 7, 2, 0, 0, 0};
    assert_int_equal(fesf_pool3d_shape_init(&s), 0);
    assert_int_equal(s.do_, 2), assert_int_equal(s.ho, 2), assert_int_equal(s.wo, 3);
    size_t vin = 5 * 4 * 7, vout = 2 * 2 * 3, nc = 6;
    float *x = randn(nc * vin), *y = malloc(nc * vout * 4), *dy = randn(nc * vout), *dx = malloc(nc * vin * 4);
    int32_t *idx = malloc(nc * vout * 4);
    fesf_maxpool3d_forward(&s, x, y, idx);
    for (size_t q = 0; q < nc; q++) /* every output: the largest of its window, and idx points at it */
        for (int od = 0; od < 2; od++)
            for (int oh = 0; oh < 2; oh++)
                for (int ow = 0; ow < 3; ow++) {
                    float best = -INFINITY;
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++)
                            for (int e = 0; e < 2; e++)
                                best = fmaxf(best, x[q * vin + ((size_t)(2 * od + a) * 4 + 2 * oh + b) * 7 + 2 * ow + e]);
                    size_t p = q * vout + ((size_t)od * 2 + oh) * 3 + ow;
                    assert_true(y[p] == best && x[q * vin + idx[p]] == best);
                }
    fesf_maxpool3d_backward(&s, idx, dy, dx, 1);
    double sx = 0, sy = 0;
    for (size_t i = 0; i < nc * vin; i++) sx += dx[i];
    for (size_t i = 0; i < nc * vout; i++) sy += dy[i];
    assert_true(fabs(sx - sy) < 1e-4);
    free(x), free(y), free(dy), free(dx), free(idx);
}

int main(void)
{
    fesf_rng_init(&rng, 3, 0, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv3d_vs_naive),
        cmocka_unit_test(test_conv3d_finite_differences),
        cmocka_unit_test(test_maxpool3d),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
