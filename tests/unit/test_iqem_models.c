/* IQEM generator and discriminator on the model engine: shapes, and the
 * gradients of parameters and input (chained G -> D, as GAN training uses
 * them) against central finite differences of the whole model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/error.h"
#include "fesf/model.h"
#include "fesf/rng.h"

#define N 2
#define C 1
#define H 8
#define W 8

static void fill(float *v, size_t n, uint32_t stream, double scale)
{
    fesf_rng r;
    fesf_rng_init(&r, 11, stream, 0);
    for (size_t i = 0; i < n; i++) v[i] = (float)(scale * fesf_rng_normal(&r));
}

/* L = sum_j D(G(x))_j * r_j, in double. */
static double chained_loss(fesf_model *g, fesf_model *d, const float *x, const float *r)
{
    const float *gx = fesf_model_forward(g, x, N, 1);
    const float *dy = fesf_model_forward(d, gx, N, 1);
    double l = 0;
    for (int j = 0; j < N * fesf_model_classes(d); j++) l += (double)dy[j] * r[j];
    return l;
}

static void test_shapes(void **state)
{
    fesf_model *g, *d;
    assert_int_equal(fesf_model_create(&g, "iqem-g", 4, 3, 28, 28, 0, 2), 0);
    assert_int_equal(fesf_model_classes(g), 3 * 28 * 28);
    assert_int_equal(fesf_model_create(&d, "iqem-d", 4, 3, 28, 28, 0, 2), 0);
    assert_int_equal(fesf_model_classes(d), 7 * 7);
    assert_string_equal(fesf_model_arch(g), "iqem-g width=4 input=3x28x28");
    fesf_model_destroy(g), fesf_model_destroy(d);
    assert_int_equal(fesf_model_create(&g, "iqem-g", 4, 1, 29, 28, 0, 2), -1);
    assert_non_null(strstr(fesf_errmsg(), "even image sizes"));
}

/* Relative L2 error of analytic gradients against central differences: of
 * the input (every element) and of every 7th parameter of G and D. */
static void check_chained(fesf_model *g, fesf_model *d, size_t len)
{
    size_t nr = (size_t)N * fesf_model_classes(d);
    float *x = malloc(sizeof(float) * len), *r = malloc(sizeof(float) * nr), *dx = malloc(sizeof(float) * len);
    assert_non_null(x), assert_non_null(r), assert_non_null(dx);
    fesf_model_init(g, 1), fesf_model_init(d, 2);
    fesf_model_set_input_grad(g, 1), fesf_model_set_input_grad(d, 1);
    fill(x, len, 1, 1.0);
    fill(r, nr, 2, 1.0);
    chained_loss(g, d, x, r);
    fesf_model_zero_grad(g), fesf_model_zero_grad(d);
    fesf_model_backward(d, r, N);
    memcpy(dx, fesf_model_input_grad(d), sizeof(float) * len); /* dL/dG(x), then through G */
    fesf_model_backward(g, dx, N);
    memcpy(dx, fesf_model_input_grad(g), sizeof(float) * len);
    const float h = 3e-3f; /* truncation error dominates above: 5.7% at 3e-2, 3% at 1e-2 */
    double num = 0, den = 0;
    for (size_t i = 0; i < len; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = chained_loss(g, d, x, r);
        x[i] = keep - h;
        double lm = chained_loss(g, d, x, r);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        num += (fd - dx[i]) * (fd - dx[i]), den += fd * fd;
    }
    if (!(sqrt(num / den) < 2e-2)) fail_msg("input: relative gradient error %g", sqrt(num / den));
    fesf_model *models[2] = {g, d};
    for (int k = 0; k < 2; k++) {
        float *p = fesf_model_params(models[k]), *gr = fesf_model_grads(models[k]);
        num = den = 0;
        for (size_t i = 0; i < fesf_model_n_params(models[k]); i += 7) {
            float keep = p[i];
            p[i] = keep + h;
            double lp = chained_loss(g, d, x, r);
            p[i] = keep - h;
            double lm = chained_loss(g, d, x, r);
            p[i] = keep;
            double fd = (lp - lm) / (2 * h);
            num += (fd - gr[i]) * (fd - gr[i]), den += fd * fd;
        }
        if (!(sqrt(num / den) < 2e-2)) fail_msg("%s: relative gradient error %g", k ? "D" : "G", sqrt(num / den));
    }
    free(x), free(r), free(dx);
}

/* Analytic gradients of G's parameters and x through D, vs finite differences. */
static void test_chained_gradients(void **state)
{
    fesf_model *g, *d;
    assert_int_equal(fesf_model_create(&g, "iqem-g", 2, C, H, W, 0, N), 0);
    assert_int_equal(fesf_model_create(&d, "iqem-d", 2, C, H, W, 0, N), 0);
    check_chained(g, d, (size_t)N * C * H * W);
    fesf_model_destroy(g), fesf_model_destroy(d);
}

/* The 3-D G and D of volumes: shapes, the architecture string, and the same
 * chained finite-difference check on 4 x 4 x 6 volumes. */
static void test_volumes(void **state)
{
    fesf_model *g, *d;
    assert_int_equal(fesf_model_create_vol(&g, "iqem-g", 4, 1, 28, 28, 28, 0, 2, 0), 0);
    assert_int_equal(fesf_model_classes(g), 28 * 28 * 28);
    assert_string_equal(fesf_model_arch(g), "iqem-g width=4 input=1x28x28x28");
    assert_int_equal(fesf_model_create_vol(&d, "iqem-d", 4, 1, 28, 28, 28, 0, 2, 0), 0);
    assert_int_equal(fesf_model_classes(d), 7 * 7 * 7);
    fesf_model_destroy(g), fesf_model_destroy(d);
    assert_int_equal(fesf_model_create_vol(&g, "iqem-g", 4, 1, 27, 28, 28, 0, 2, 0), -1);
    assert_non_null(strstr(fesf_errmsg(), "even volume sizes"));
    assert_int_equal(fesf_model_create_vol(&g, "iqem-g", 2, C, 4, 4, 6, 0, N, 0), 0);
    assert_int_equal(fesf_model_create_vol(&d, "iqem-d", 2, C, 4, 4, 6, 0, N, 0), 0);
    check_chained(g, d, (size_t)N * C * 4 * 4 * 6);
    fesf_model_destroy(g), fesf_model_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_chained_gradients),
        cmocka_unit_test(test_volumes),
    };
    return cmocka_run_group_tests_name("iqem_models", tests, NULL, NULL);
}
