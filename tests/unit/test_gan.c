/* IQEM GAN: the gradients of L_D and L_G against finite differences, and a
 * small training run that behaves as a working GAN does (expectation below). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/config.h"
#include "fesf/iqem.h"
#include "fesf/optim.h"
#include "fesf/rng.h"

static void images(float *x, int n, int hw, double mean, double noise, uint32_t stream)
{
    fesf_rng r;
    fesf_rng_init(&r, 5, stream, 0);
    for (int i = 0; i < n * hw; i++) x[i] = (float)(mean + noise * fesf_rng_normal(&r));
}

/* The directional derivative of the loss along the analytic gradient,
 * measured by central differences, must equal |grad| (the slope of steepest
 * ascent). One direction averages over the instance-norm/ReLU kinks that
 * make element-wise differences noisy on tiny feature maps. */
static double slope_error(fesf_gan *gan, fesf_model *m, const float *s, const float *k, int n, int which)
{
    fesf_gan_losses l;
    fesf_gan_grads(gan, s, k, n, &l);
    size_t np = fesf_model_n_params(m);
    float *p = fesf_model_params(m), *g = malloc(sizeof(float) * np), *p0 = malloc(sizeof(float) * np);
    memcpy(g, fesf_model_grads(m), sizeof(float) * np);
    memcpy(p0, p, sizeof(float) * np);
    double norm = 0;
    for (size_t i = 0; i < np; i++) norm += (double)g[i] * g[i];
    norm = sqrt(norm);
    const double eps = 1e-3;
    double loss[2];
    for (int sgn = 0; sgn < 2; sgn++) {
        for (size_t i = 0; i < np; i++) p[i] = (float)(p0[i] + (sgn ? -eps : eps) * g[i] / norm);
        fesf_gan_grads(gan, s, k, n, &l);
        loss[sgn] = which ? l.g_adv + gan->lambda_id * l.g_id : l.d;
    }
    memcpy(p, p0, sizeof(float) * np);
    free(g), free(p0);
    return fabs((loss[0] - loss[1]) / (2 * eps) - norm) / norm;
}

static void test_gradients(void **state)
{
    fesf_gan gan;
    const int n = 2, side = 16, hw = side * side;
    assert_int_equal(fesf_gan_create(&gan, 2, 1, side, side, n, 0.5f, 3), 0);
    float s[2 * 256], k[2 * 256];
    images(s, n, hw, 0.3, 0.2, 1);
    images(k, n, hw, 0.7, 0.2, 2);
    double eg = slope_error(&gan, gan.g, s, k, n, 1), ed = slope_error(&gan, gan.d, s, k, n, 0);
    print_message("directional derivative vs |grad|: G %.2e, D %.2e\n", eg, ed);
    if (eg > 2e-2 || ed > 2e-2) fail_msg("relative slope error: G %g, D %g", eg, ed);
    fesf_gan_destroy(&gan);
}

/* Expectation of a working GAN on a toy domain gap: S has mean 0.3, K mean
 * 0.7 (same noise). Within 150 simultaneous Adam steps (lr 2e-3, betas 0.5 /
 * 0.999, lambda_id 0.1) D first learns to separate the domains (L_D falls
 * below its starting value at some point), G then closes most of the gap
 * (mean of G(s) moves from 0.3 past 0.5), and no loss diverges (all finite
 * and below 10). */
static void test_training_dynamics(void **state)
{
    fesf_gan gan;
    const int n = 8, hw = 16 * 16;
    assert_int_equal(fesf_gan_create(&gan, 4, 1, 16, 16, n, 0.1f, 7), 0);
    fesf_optim_config oc;
    fesf_optim_defaults(&oc, FESF_OPT_ADAM, 2e-3f);
    oc.beta1 = 0.5f;
    size_t ng = fesf_model_n_params(gan.g), nd = fesf_model_n_params(gan.d);
    float *sg = calloc(2 * ng, sizeof(float)), *sd = calloc(2 * nd, sizeof(float));
    float *s = malloc(sizeof(float) * n * hw), *k = malloc(sizeof(float) * n * hw);
    fesf_gan_losses l, first = {0};
    double min_d = 1e9;
    for (int t = 0; t < 150; t++) {
        images(s, n, hw, 0.3, 0.1, 100 + (uint32_t)t);
        images(k, n, hw, 0.7, 0.1, 1000 + (uint32_t)t);
        fesf_gan_grads(&gan, s, k, n, &l);
        if (t == 0) first = l;
        min_d = l.d < min_d ? l.d : min_d;
        assert_true(isfinite(l.d) && isfinite(l.g_adv) && l.d < 10 && l.g_adv < 10);
        fesf_optim_step(&oc, t, ng, fesf_model_params(gan.g), fesf_model_grads(gan.g), sg);
        fesf_optim_step(&oc, t, nd, fesf_model_params(gan.d), fesf_model_grads(gan.d), sd);
    }
    double mean = 0;
    for (int i = 0; i < n * hw; i++) mean += gan.gs[i];
    mean /= n * hw;
    print_message("L_D %.3f -> min %.3f -> %.3f; L_G adv %.3f -> %.3f; mean G(s) %.3f (S 0.3, K 0.7)\n", first.d, min_d,
                  l.d, first.g_adv, l.g_adv, mean);
    assert_true(min_d < first.d);
    assert_true(mean > 0.5);
    free(sg), free(sd), free(s), free(k);
    fesf_gan_destroy(&gan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_training_dynamics),
    };
    return cmocka_run_group_tests_name("gan", tests, NULL, NULL);
}
