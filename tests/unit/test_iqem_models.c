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

/* Analytic gradients of G's parameters and x through D, vs finite differences. */
static void test_chained_gradients(void **state)
{
    fesf_model *g, *d;
    assert_int_equal(fesf_model_create(&g, "iqem-g", 2, C, H, W, 0, N), 0);
    assert_int_equal(fesf_model_create(&d, "iqem-d", 2, C, H, W, 0, N), 0);
    fesf_model_init(g, 1), fesf_model_init(d, 2);
    fesf_model_set_input_grad(g, 1), fesf_model_set_input_grad(d, 1);
    float x[N * C * H * W], r[N * 4];
    fill(x, sizeof x / sizeof x[0], 1, 1.0);
    fill(r, sizeof r / sizeof r[0], 2, 1.0);
    chained_loss(g, d, x, r);
    fesf_model_zero_grad(g), fesf_model_zero_grad(d);
    fesf_model_backward(d, r, N);
    float dg[N * C * H * W];
    memcpy(dg, fesf_model_input_grad(d), sizeof dg);
    fesf_model_backward(g, dg, N);
    float dx[N * C * H * W];
    memcpy(dx, fesf_model_input_grad(g), sizeof dx);
    /* finite differences over every input and every 7th parameter of G and D */
    const float h = 3e-3f; /* truncation error dominates above: 5.7% at 3e-2, 3% at 1e-2 */
    double num = 0, den = 0;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = chained_loss(g, d, x, r);
        x[i] = keep - h;
        double lm = chained_loss(g, d, x, r);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        num += (fd - dx[i]) * (fd - dx[i]), den += fd * fd;
    }
    assert_true(sqrt(num / den) < 2e-2);
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
    fesf_model_destroy(g), fesf_model_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_chained_gradients),
    };
    return cmocka_run_group_tests_name("iqem_models", tests, NULL, NULL);
}
