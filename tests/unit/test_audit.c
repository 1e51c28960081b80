/* The privacy audit's inversion attacker (model arch attack-cnn): shapes,
 * architecture string and parameter count, the analytic gradients of
 * parameters and input against central finite differences of the whole model
 * (training mode, batch statistics), and that Adam on MSE fits a fixed batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/loss.h"
#include "fesf/model.h"
#include "fesf/optim.h"
#include "fesf/rng.h"

#define N 2
#define H 8
#define W 8
#define WIDTH 2

static void fill(float *v, size_t n, uint32_t stream, double scale)
{
    fesf_rng r;
    fesf_rng_init(&r, 17, stream, 0);
    for (size_t i = 0; i < n; i++) v[i] = (float)(scale * fesf_rng_normal(&r));
}

static const fesf_tensor_info *tensor(const fesf_model *m, const char *name)
{
    for (int i = 0; i < fesf_model_n_tensors(m); i++)
        if (!strcmp(fesf_model_tensor(m, i)->name, name)) return fesf_model_tensor(m, i);
    fail_msg("no tensor '%s' in %s", name, fesf_model_arch(m));
    return NULL;
}

/* Architecture string, output size, tensor table and parameter count. */
static void test_shapes(void **state)
{
    const int cs[2] = {1, 3}, hs[2] = {28, 17}, ws[2] = {28, 22}, widths[2] = {8, 5};
    for (int k = 0; k < 2; k++) {
        int c = cs[k], h = hs[k], w = ws[k], wd = widths[k];
        fesf_model *m;
        assert_int_equal(fesf_model_create(&m, "attack-cnn", wd, c, h, w, 0, 3), 0);
        char want[96];
        snprintf(want, sizeof want, "attack-cnn width=%d input=%dx%dx%d", wd, c, h, w);
        assert_string_equal(fesf_model_arch(m), want);
        assert_int_equal(fesf_model_classes(m), c * h * w); /* an image out, same shape as in */
        size_t want_params = 0;
        for (int l = 1; l <= 7; l++) want_params += (size_t)wd * (size_t)(l == 1 ? c : wd) * 9 + 2 * (size_t)wd;
        want_params += (size_t)c * (size_t)wd * 9 + (size_t)c;
        assert_int_equal(fesf_model_n_params(m), want_params);
        assert_int_equal(fesf_model_n_buffers(m), 7 * 2 * (size_t)wd); /* BN running mean and var */
        /* tensor names and shapes (PyTorch state_dict keys) */
        const fesf_tensor_info *t = tensor(m, "conv1.weight");
        assert_int_equal(t->rank, 4);
        assert_int_equal(t->dims[0], wd), assert_int_equal(t->dims[1], c), assert_int_equal(t->dims[2], 3);
        t = tensor(m, "conv7.weight");
        assert_int_equal(t->dims[0], wd), assert_int_equal(t->dims[1], wd);
        assert_int_equal(tensor(m, "bn7.weight")->len, (size_t)wd);
        assert_true(tensor(m, "bn7.running_var")->buffer);
        t = tensor(m, "out.weight");
        assert_int_equal(t->dims[0], c), assert_int_equal(t->dims[1], wd);
        assert_int_equal(tensor(m, "out.bias")->len, (size_t)c);
        size_t total = 0;
        for (int i = 0; i < fesf_model_n_tensors(m); i++)
            if (!fesf_model_tensor(m, i)->buffer) total += fesf_model_tensor(m, i)->len;
        assert_int_equal(total, fesf_model_n_params(m));
        /* a forward in eval mode gives finite values of the output's size */
        fesf_model_init(m, 3);
        float *x = malloc(sizeof(float) * (size_t)(2 * c * h * w));
        fill(x, (size_t)(2 * c * h * w), 9, 1.0);
        const float *y = fesf_model_forward(m, x, 2, 0);
        for (int q = 0; q < 2 * c * h * w; q++) assert_true(isfinite(y[q]));
        free(x);
        fesf_model_destroy(m);
    }
    fesf_model *m;
    assert_int_equal(fesf_model_create(&m, "attack-cnn", 0, 1, 8, 8, 0, 2), -1);
    assert_null(m);
}

/* L = sum_j y_j r_j in double, training mode (batch statistics). */
static double loss_of(fesf_model *m, const float *x, const float *r, int c)
{
    const float *y = fesf_model_forward(m, x, N, 1);
    double l = 0;
    for (int j = 0; j < N * c * H * W; j++) l += (double)y[j] * r[j];
    return l;
}

/* Central finite difference of L in p[i] with step h. */
static double fd_at(fesf_model *m, const float *x, const float *r, int c, float *p, size_t i, float h)
{
    float keep = p[i];
    p[i] = keep + h;
    double lp = loss_of(m, x, r, c);
    p[i] = keep - h;
    double lm = loss_of(m, x, r, c);
    p[i] = keep;
    return (lp - lm) / (2 * h);
}

/* Relative error of the analytic gradient g against central finite
 * differences, over n values p[stride * i]: sqrt(sum e_i^2 / sum fd_i^2).
 * In float32, through seven BN-ReLU layers of width 2, one step does not fit
 * every value: at 3e-3 the curvature of the first layers (BN over 128 values)
 * costs up to 10%, at 3e-5 rounding does, and at any step some of the ~1800
 * ReLU inputs lie within h of their kink. So e_i is the smallest error over
 * three steps (1e-3, 3e-4, 1e-4). That can only flatter a wrong gradient if
 * some step happens to agree with it, so *bad_err, the same measure for the
 * gradient scaled by 1.1, must stay above the tolerance: the check still
 * tells a 10% error from the truth. */
static double fd_error(fesf_model *m, float *x, const float *r, int c, float *p, const float *g, size_t n, size_t stride,
                       double *bad_err)
{
    const float steps[3] = {1e-3f, 3e-4f, 1e-4f};
    double num = 0, den = 0, bad = 0;
    for (size_t k = 0; k < n; k++) {
        double e = INFINITY, eb = INFINITY, fd0 = 0;
        for (int s = 0; s < 3; s++) {
            double fd = fd_at(m, x, r, c, p, k * stride, steps[s]);
            if (s == 1) fd0 = fd;
            if (fabs(fd - g[k]) < e) e = fabs(fd - g[k]);
            if (fabs(fd - 1.1 * g[k]) < eb) eb = fabs(fd - 1.1 * g[k]);
        }
        num += e * e, bad += eb * eb, den += fd0 * fd0;
    }
    *bad_err = sqrt(bad / den);
    return sqrt(num / den);
}

static void check_gradients(int c)
{
    fesf_model *m;
    assert_int_equal(fesf_model_create(&m, "attack-cnn", WIDTH, c, H, W, 0, N), 0);
    fesf_model_init(m, 1);
    fesf_model_set_input_grad(m, 1);
    const size_t len = (size_t)N * c * H * W;
    float *x = malloc(sizeof(float) * len), *r = malloc(sizeof(float) * len), *dx = malloc(sizeof(float) * len);
    float *g = malloc(sizeof(float) * fesf_model_n_params(m));
    fill(x, len, 1, 1.0);
    fill(r, len, 2, 1.0);
    loss_of(m, x, r, c);
    fesf_model_zero_grad(m);
    fesf_model_backward(m, r, N); /* dL/dy = r */
    memcpy(dx, fesf_model_input_grad(m), sizeof(float) * len);
    memcpy(g, fesf_model_grads(m), sizeof(float) * fesf_model_n_params(m));
    float *p = fesf_model_params(m);
    const double tol = 1.5e-2; /* measured: <= 0.007 for the true gradient, >= 0.03 for one 10% off */
    double bad, err;
    /* the output bias: dL/db_c = sum of r over the channel, exactly */
    const fesf_tensor_info *ob = tensor(m, "out.bias");
    for (int ch = 0; ch < c; ch++) {
        double want = 0;
        for (int n = 0; n < N; n++)
            for (int q = 0; q < H * W; q++) want += r[((size_t)n * c + ch) * H * W + q];
        if (!(fabs(g[ob->off + ch] - want) <= 1e-4 * (1 + fabs(want))))
            fail_msg("C=%d out.bias[%d]: gradient %g, sum of r %g", c, ch, g[ob->off + ch], want);
    }
    struct { const char *name; size_t stride; } checks[] = {
        {"conv1.weight", 1}, {"bn1.weight", 1}, {"bn4.weight", 1}, {"bn4.bias", 1},
        {"conv5.weight", 3}, {"out.weight", 1}, {"out.bias", 1},
    };
    for (size_t k = 0; k < sizeof checks / sizeof checks[0]; k++) {
        const fesf_tensor_info *t = tensor(m, checks[k].name);
        size_t n = (t->len + checks[k].stride - 1) / checks[k].stride;
        float *gk = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) gk[i] = g[t->off + i * checks[k].stride];
        err = fd_error(m, x, r, c, p + t->off, gk, n, checks[k].stride, &bad);
        free(gk);
        if (getenv("FD_VERBOSE")) print_message("C=%d %s: %g (10%% off: %g)\n", c, checks[k].name, err, bad);
        if (!(err < tol)) fail_msg("C=%d %s: relative gradient error %g (tolerance %g)", c, checks[k].name, err, tol);
        if (!(bad > tol)) fail_msg("C=%d %s: a 10%% wrong gradient passes (%g)", c, checks[k].name, bad);
    }
    err = fd_error(m, x, r, c, x, dx, len, 1, &bad);
    if (getenv("FD_VERBOSE")) print_message("C=%d input: %g (10%% off: %g)\n", c, err, bad);
    if (!(err < tol)) fail_msg("C=%d input: relative gradient error %g (tolerance %g)", c, err, tol);
    if (!(bad > tol)) fail_msg("C=%d input: a 10%% wrong gradient passes (%g)", c, bad);
    free(x), free(r), free(dx), free(g);
    fesf_model_destroy(m);
}

static void test_gradients_gray(void **state) { check_gradients(1); }
static void test_gradients_rgb(void **state) { check_gradients(3); }

/* 60 Adam steps of MSE on a fixed batch: the attacker's training loop in
 * miniature (src/audit/audit.c), target a smooth image-to-image map. */
static void test_adam_mse_fits(void **state)
{
    enum { B = 4, C = 1, S = 12 };
    const size_t len = (size_t)B * C * S * S;
    fesf_model *m;
    assert_int_equal(fesf_model_create(&m, "attack-cnn", 8, C, S, S, 0, B), 0);
    fesf_model_init(m, 7);
    float x[B * C * S * S], t[B * C * S * S];
    fesf_rng r;
    fesf_rng_init(&r, 5, 0, 0);
    for (size_t i = 0; i < len; i++) x[i] = (float)fesf_rng_uniform(&r);
    for (size_t i = 0; i < len; i++) t[i] = 0.8f - 0.6f * x[i]; /* an inverted, rescaled copy */
    size_t np = fesf_model_n_params(m);
    float *opt = calloc(2 * np, sizeof(float));
    fesf_optim_config oc;
    fesf_optim_defaults(&oc, FESF_OPT_ADAM, 1e-2f);
    double first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        fesf_model_zero_grad(m);
        const float *y = fesf_model_forward(m, x, B, 1);
        last = fesf_mse_loss((int64_t)len, y, t, fesf_model_dlogits(m));
        assert_true(isfinite(last));
        if (step == 0) first = last;
        fesf_model_backward(m, fesf_model_dlogits(m), B);
        fesf_optim_step(&oc, step, np, fesf_model_params(m), fesf_model_grads(m), opt);
    }
    if (getenv("FD_VERBOSE")) print_message("MSE %g -> %g after 60 steps\n", first, last);
    if (!(last < 0.01 * first)) fail_msg("MSE %g after 60 Adam steps, %g at the start", last, first);
    free(opt);
    fesf_model_destroy(m);
}

int main(void)
{
    openblas_set_num_threads(1); /* reproducible sums, whatever the machine */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_gradients_gray),
        cmocka_unit_test(test_gradients_rgb),
        cmocka_unit_test(test_adam_mse_fits),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
