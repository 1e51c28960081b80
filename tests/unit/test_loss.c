/* Losses: known values (some computed with torch 1.13's
 * torch.nn.functional.cross_entropy / l1_loss), gradients against central
 * finite differences in double, class weights, extreme logits, and the
 * "written, not accumulated" contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/loss.h"

static void assert_close(double got, double want, double atol)
{
    if (!(fabs(got - want) <= atol)) fail_msg("got %.9g, want %.9g (atol %g)", got, want, atol);
}

/* 4 samples, 3 classes; torch values for these in the tests below */
static const float X4[12] = {1, 2, 3, 0.5f, -1, 0.25f, -2, 0, 2, 3, 3, -3};
static const int32_t Y4[4] = {2, 0, 1, 1};
static const float W3[3] = {0.5f, 2.0f, 1.25f};

static void test_xent_uniform_is_log_k(void **state)
{
    enum { N = 3, K = 7 };
    float x[N * K], d[N * K], pr[N * K];
    int32_t y[N] = {0, 3, 6};
    for (int i = 0; i < N * K; i++) x[i] = 0.75f;
    double l = fesf_softmax_xent(N, K, x, y, NULL, d, pr);
    assert_close(l, log(K), 1e-12);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < K; j++) {
            assert_close(pr[i * K + j], 1.0 / K, 1e-7);
            assert_close(d[i * K + j], (1.0 / K - (j == y[i])) / N, 3e-8); /* float */
        }
}

static void test_xent_known_values(void **state)
{
    /* single sample: log(e + e^2 + e^3) - 3 */
    const float x[3] = {1, 2, 3};
    const int32_t y = 2;
    assert_close(fesf_softmax_xent(1, 3, x, &y, NULL, NULL, NULL), log(exp(1) + exp(2) + exp(3)) - 3, 1e-12);

    /* torch.nn.functional.cross_entropy(X4, Y4) and its gradient */
    static const double want_l = 0.9847588539123535;
    static const double want_d[12] = {0.022507645189762115, 0.06118212267756462, -0.08368974924087524,
                                      -0.12512056529521942, 0.0278643649071455, 0.09725619852542877,
                                      0.003969060722738504, -0.2206723988056183, 0.21670334041118622,
                                      0.12484526634216309, -0.12515473365783691, 0.0003094604180660099};
    float d[12], pr[12];
    double l = fesf_softmax_xent(4, 3, X4, Y4, NULL, d, pr);
    assert_close(l, want_l, 1e-7);
    for (int i = 0; i < 12; i++) assert_close(d[i], want_d[i], 1e-7);
    for (int i = 0; i < 4; i++) assert_close(pr[3 * i] + pr[3 * i + 1] + pr[3 * i + 2], 1.0, 1e-6);
    /* NULL outputs: same value */
    assert_true(fesf_softmax_xent(4, 3, X4, Y4, NULL, NULL, NULL) == l);
    assert_true(fesf_softmax_xent(0, 3, X4, Y4, NULL, d, pr) == 0.0);
}

static void test_xent_weighted(void **state)
{
    /* torch.nn.functional.cross_entropy(X4, Y4, weight=W3) and gradient */
    static const double want_l = 1.135860562324524;
    static const double want_d[12] = {0.01957186684012413, 0.05320184677839279, -0.07277369499206543,
                                      -0.04352019727230072, 0.009691952727735043, 0.0338282436132431,
                                      0.005522171501070261, -0.30702248215675354, 0.3015002906322479,
                                      0.17369776964187622, -0.17412832379341125, 0.00043055362766608596};
    float d[12];
    double l = fesf_softmax_xent(4, 3, X4, Y4, W3, d, NULL);
    assert_close(l, want_l, 1e-7);
    for (int i = 0; i < 12; i++) assert_close(d[i], want_d[i], 1e-7);

    /* the definition: sum_i w[y_i] l_i / sum_i w[y_i] */
    double num = 0, den = 0;
    for (int i = 0; i < 4; i++) {
        const int32_t yi = Y4[i];
        double li = fesf_softmax_xent(1, 3, X4 + 3 * i, &yi, NULL, NULL, NULL);
        num += W3[yi] * li;
        den += W3[yi];
    }
    assert_close(l, num / den, 1e-12);

    /* unit weights = unweighted; a constant factor on the weights cancels */
    const float ones[3] = {1, 1, 1}, threes[3] = {3, 3, 3};
    double l0 = fesf_softmax_xent(4, 3, X4, Y4, NULL, NULL, NULL);
    assert_close(fesf_softmax_xent(4, 3, X4, Y4, ones, NULL, NULL), l0, 1e-12);
    assert_close(fesf_softmax_xent(4, 3, X4, Y4, threes, NULL, NULL), l0, 1e-12);

    /* zero total weight: 0 and a zero gradient (torch: NaN) */
    const float zw[3] = {0, 0, 5};
    const int32_t y01[2] = {0, 1};
    float d2[6];
    memset(d2, 0x7f, sizeof d2);
    assert_true(fesf_softmax_xent(2, 3, X4, y01, zw, d2, NULL) == 0.0);
    for (int i = 0; i < 6; i++) assert_true(d2[i] == 0.0f);
}

static void test_xent_extreme_logits(void **state)
{
    const float x[9] = {1e4f, -1e4f, 0, 1e4f, 1e4f, 1e4f, -1e4f, -1e4f, 1e4f};
    const int32_t y[3] = {1, 2, 2};
    float d[9], pr[9];
    double l = fesf_softmax_xent(3, 3, x, y, NULL, d, pr);
    assert_true(isfinite(l));
    /* sample 0: 2e4; sample 1: log 3; sample 2: ~0 */
    assert_close(l, (2e4 + log(3.0)) / 3, 1e-9);
    for (int i = 0; i < 9; i++) assert_true(isfinite(d[i]) && isfinite(pr[i]));
    assert_close(d[0], 1.0 / 3, 1e-7);
    assert_close(d[1], -1.0 / 3, 1e-7);
    assert_close(d[8], 0.0, 1e-7);
    /* also with huge negative logits everywhere */
    const float xn[3] = {-1e4f, -1e4f, -1e4f};
    assert_close(fesf_softmax_xent(1, 3, xn, y, NULL, d, pr), log(3.0), 1e-12);
    const float xw[2] = {3e38f, -3e38f};
    assert_close(fesf_softmax_xent(1, 2, xw, y, NULL, d, pr), 6e38, 1e31);
    assert_true(isfinite(d[0]) && isfinite(d[1]));
}

/* Central differences in double of a loss of float inputs. Inputs are
 * multiples of 1/64 and h = 2^-10, so x +- h is exact in float. */
typedef double (*loss_fn)(int64_t len, float *x, float *dx, const void *ctx);

static void check_fd(loss_fn f, int64_t len, float *x, const void *ctx, double tol)
{
    float *dx = malloc(len * sizeof *dx), *junk = malloc(len * sizeof *junk);
    assert_true(dx && junk);
    for (int64_t i = 0; i < len; i++) dx[i] = 1e30f; /* written, not accumulated */
    f(len, x, dx, ctx);
    const double h = 1.0 / 1024;
    for (int64_t i = 0; i < len; i++) {
        float xi = x[i];
        x[i] = (float)(xi + h);
        double lp = f(len, x, junk, ctx);
        x[i] = (float)(xi - h);
        double lm = f(len, x, junk, ctx);
        x[i] = xi;
        double fd = (lp - lm) / (2 * h);
        /* tol covers the finite difference; the float gradient adds an ulp */
        if (!(fabs(fd - dx[i]) <= tol + 1.2e-7 * fabs(fd))) fail_msg("element %lld: gradient %.9g, finite difference %.9g", (long long)i, dx[i], fd);
    }
    free(dx);
    free(junk);
}

struct xent_ctx { int n, k; const int32_t *y; const float *w; };

static double xent_fn(int64_t len, float *x, float *dx, const void *ctx)
{
    const struct xent_ctx *c = ctx;
    return fesf_softmax_xent(c->n, c->k, x, c->y, c->w, dx, NULL);
}

static double l1_fn(int64_t len, float *x, float *dx, const void *ctx)
{
    return fesf_l1_loss(len, x, ctx, dx);
}

static double mse_fn(int64_t len, float *x, float *dx, const void *ctx)
{
    return fesf_mse_loss(len, x, ctx, dx);
}

static double mse_const_fn(int64_t len, float *x, float *dx, const void *ctx)
{
    return fesf_mse_const_loss(len, x, *(const float *)ctx, dx);
}

static float grid(unsigned *s) /* multiples of 1/64 in [-4, 4) */
{
    *s = *s * 1103515245u + 12345u;
    return (float)((int)((*s >> 8) % 512) - 256) / 64.0f;
}

static void test_gradients_finite_differences(void **state)
{
    enum { N = 6, K = 5, L = 37 };
    unsigned s = 12345;
    float x[N * K], p[L], t[L];
    int32_t y[N];
    const float w[K] = {0.5f, 1.0f, 2.0f, 0.25f, 3.0f};
    for (int i = 0; i < N * K; i++) x[i] = grid(&s);
    for (int i = 0; i < N; i++) y[i] = (int32_t)((i * 3 + 1) % K);
    struct xent_ctx cu = {N, K, y, NULL}, cw = {N, K, y, w};
    check_fd(xent_fn, N * K, x, &cu, 1e-6);
    check_fd(xent_fn, N * K, x, &cw, 1e-6);

    for (int i = 0; i < L; i++) {
        p[i] = grid(&s);
        t[i] = grid(&s);
        if (p[i] == t[i]) t[i] += 0.5f; /* the kink: tested separately */
    }
    check_fd(l1_fn, L, p, t, 1e-9);
    check_fd(mse_fn, L, p, t, 1e-9);
    float one = 1.0f, zero = 0.0f;
    check_fd(mse_const_fn, L, p, &one, 1e-9);
    check_fd(mse_const_fn, L, p, &zero, 1e-9);
}

static void test_l1_mse_values(void **state)
{
    /* torch: l1_loss([.5, -1, 2, 3], [0, -1, 1, 4]) = 0.625,
     * grad [.25, 0, .25, -.25] (sign is 0 at the tie) */
    const float p[4] = {0.5f, -1, 2, 3}, t[4] = {0, -1, 1, 4};
    float d[4];
    memset(d, 0x7f, sizeof d);
    assert_close(fesf_l1_loss(4, p, t, d), 0.625, 1e-12);
    assert_true(d[0] == 0.25f && d[1] == 0.0f && d[2] == 0.25f && d[3] == -0.25f);
    /* mse: (.25 + 0 + 1 + 1) / 4; grad 2 (p - t) / 4 */
    assert_close(fesf_mse_loss(4, p, t, d), 2.25 / 4, 1e-12);
    assert_true(d[0] == 0.25f && d[1] == 0.0f && d[2] == 0.5f && d[3] == -0.5f);
    /* against a constant: target 1 -> (.25 + 4 + 1 + 4) / 4 */
    assert_close(fesf_mse_const_loss(4, p, 1.0f, d), 9.25 / 4, 1e-12);
    assert_true(d[0] == -0.25f && d[1] == -1.0f && d[2] == 0.5f && d[3] == 1.0f);
    assert_close(fesf_mse_const_loss(4, p, 0.0f, NULL), (0.25 + 1 + 4 + 9) / 4, 1e-12);
    /* empty input */
    assert_true(fesf_l1_loss(0, p, t, d) == 0.0 && fesf_mse_loss(0, p, t, d) == 0.0);
    assert_true(fesf_mse_const_loss(0, p, 1.0f, d) == 0.0);
    /* the sum is in double: 2^24 + 1 ones would be lost in a float sum */
    enum { BIG = (1 << 24) + 7 };
    float *a = malloc(BIG * sizeof *a);
    assert_non_null(a);
    for (int i = 0; i < BIG; i++) a[i] = 1.0f;
    assert_close(fesf_mse_const_loss(BIG, a, 0.0f, NULL), 1.0, 1e-12);
    assert_close(fesf_l1_loss(BIG, a, a, NULL), 0.0, 0);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xent_uniform_is_log_k),
        cmocka_unit_test(test_xent_known_values),
        cmocka_unit_test(test_xent_weighted),
        cmocka_unit_test(test_xent_extreme_logits),
        cmocka_unit_test(test_gradients_finite_differences),
        cmocka_unit_test(test_l1_mse_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
