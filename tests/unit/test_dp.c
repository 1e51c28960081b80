/* DP-SGD's per-example clipping (fesf_model_dp_backward) against the naive
 * per-sample loop: each example alone through forward and backward, its
 * gradient clipped to the bound, the clipped gradients summed in double.
 * On cnn-small and resnet18 with instance norm, a full batch and a last
 * partial one, some examples clipped and some not; bitwise the same for 1
 * and 2 threads, with and without per-example weights after the clipping;
 * the summed loss's gradient is each example's own. The
 * mechanism's randomness: the noise of a zero gradient has the calibrated
 * mean and standard deviation and a normal shape; Poisson batches have the
 * binomial mean and variance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "fesf/dp.h"
#include "fesf/loss.h"
#include "fesf/model.h"
#include "fesf/rng.h"

#define CLASSES 3
#define FLAGS (FESF_MODEL_INSTANCE_NORM | FESF_MODEL_DP)

static void fill(float *x, size_t n, uint32_t stream)
{
    fesf_rng r;
    fesf_rng_init(&r, 11, stream, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)fesf_rng_normal(&r);
}

typedef struct {
    const char *arch;
    int width, c, hw, batch, n;
} dp_case;

/* The naive reference: sum_i clip(g_i) over the n examples, in double, and the norms */
static void naive(const dp_case *k, const float *params, const float *x, const int32_t *y, const float *cw, float clip,
                  const float *ew, double *sum, double *norms)
{
    fesf_model *m;
    assert_int_equal(fesf_model_create_flags(&m, k->arch, k->width, k->c, k->hw, k->hw, CLASSES, 1, FLAGS), 0);
    size_t np = fesf_model_n_params(m), img = (size_t)k->c * k->hw * k->hw;
    memcpy(fesf_model_params(m), params, sizeof(float) * np);
    memset(sum, 0, sizeof(double) * np);
    for (int i = 0; i < k->n; i++) {
        fesf_model_zero_grad(m);
        const float *logits = fesf_model_forward(m, x + img * (size_t)i, 1, 1);
        float *dl = fesf_model_dlogits(m);
        fesf_softmax_xent_sum(1, CLASSES, logits, y + i, cw, dl);
        fesf_model_backward(m, dl, 1);
        const float *g = fesf_model_grads(m);
        double s = 0;
        for (size_t q = 0; q < np; q++) s += (double)g[q] * g[q];
        norms[i] = sqrt(s);
        double f = (norms[i] > clip ? clip / norms[i] : 1.0) * (ew ? ew[i] : 1.0);
        for (size_t q = 0; q < np; q++) sum[q] += f * g[q];
    }
    fesf_model_destroy(m);
}

/* The batched DP backward's clipped sum and norms */
static fesf_model *batched(const dp_case *k, const float *x, const int32_t *y, const float *cw, float clip,
                           const float *ew, float *norms)
{
    fesf_model *m;
    assert_int_equal(fesf_model_create_flags(&m, k->arch, k->width, k->c, k->hw, k->hw, CLASSES, k->batch, FLAGS), 0);
    fesf_model_init(m, 5);
    fesf_model_zero_grad(m);
    const float *logits = fesf_model_forward(m, x, k->n, 1);
    float *dl = fesf_model_dlogits(m);
    fesf_softmax_xent_sum(k->n, CLASSES, logits, y, cw, dl);
    fesf_model_dp_backward(m, dl, k->n, clip, ew, norms);
    return m;
}

static void check_case(const dp_case *k, const float *ew)
{
    size_t img = (size_t)k->c * k->hw * k->hw;
    float *x = malloc(sizeof(float) * img * (size_t)k->batch), cw[CLASSES] = {0.5f, 1.0f, 2.0f};
    int32_t y[64];
    float norms[64];
    double ref_norms[64];
    fill(x, img * (size_t)k->batch, 1);
    for (int i = 0; i < k->n; i++) y[i] = i % CLASSES;
    /* the clip bound at the median norm: about half the examples are clipped */
    fesf_model *m = batched(k, x, y, cw, 1e30f, NULL, norms);
    float sorted[64];
    memcpy(sorted, norms, sizeof(float) * (size_t)k->n);
    for (int i = 1; i < k->n; i++)
        for (int j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
            float t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    float clip = sorted[k->n / 2];
    fesf_model_destroy(m);
    m = batched(k, x, y, cw, clip, ew, norms);
    size_t np = fesf_model_n_params(m);
    double *ref = malloc(sizeof(double) * np);
    naive(k, fesf_model_params(m), x, y, cw, clip, ew, ref, ref_norms);
    int clipped = 0;
    for (int i = 0; i < k->n; i++) {
        assert_true(fabs(norms[i] - ref_norms[i]) <= 1e-5 * ref_norms[i]);
        clipped += ref_norms[i] > clip;
    }
    assert_true(clipped > 0 && clipped < k->n);
    const float *g = fesf_model_grads(m);
    double diff = 0, mag = 0;
    for (size_t q = 0; q < np; q++) diff += (g[q] - ref[q]) * (g[q] - ref[q]), mag += ref[q] * ref[q];
    print_message("%s n=%d/%d%s: %d of %d clipped, relative L2 difference %.2e\n", k->arch, k->n, k->batch, ew ? " weighted" : "", clipped,
                  k->n, sqrt(diff / mag));
    assert_true(sqrt(diff / mag) <= 1e-5);
    free(ref), free(x);
    fesf_model_destroy(m);
}

static void test_cnn_small_matches_per_sample_loop(void **state)
{
    (void)state;
    dp_case full = {"cnn-small", 8, 1, 28, 8, 8}, partial = {"cnn-small", 8, 1, 28, 8, 5};
    const float ew[8] = {1, 0.25f, 0.5f, 1, 0.75f, 0.1f, 1, 0.6f}; /* class weights after clipping */
    check_case(&full, NULL);
    check_case(&partial, NULL);
    check_case(&full, ew);
}

static void test_resnet18_matches_per_sample_loop(void **state)
{
    (void)state;
    dp_case full = {"resnet18", 4, 3, 28, 6, 6}, partial = {"resnet18", 4, 3, 28, 6, 3};
    check_case(&full, NULL);
    check_case(&partial, NULL);
}

static void test_threads_bitwise(void **state)
{
    (void)state;
    dp_case k = {"resnet18", 4, 1, 28, 7, 7};
    size_t img = (size_t)k.hw * k.hw;
    float *x = malloc(sizeof(float) * img * 7), norms[7];
    int32_t y[7] = {0, 1, 2, 0, 1, 2, 0};
    fill(x, img * 7, 2);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    fesf_model *a = batched(&k, x, y, NULL, 0.5f, NULL, norms);
    omp_set_num_threads(2);
    fesf_model *b = batched(&k, x, y, NULL, 0.5f, NULL, norms);
    omp_set_num_threads(threads);
    assert_memory_equal(fesf_model_grads(a), fesf_model_grads(b), sizeof(float) * fesf_model_n_params(a));
    fesf_model_destroy(a), fesf_model_destroy(b), free(x);
}

/* fesf_softmax_xent_sum: the weighted sum, each row the gradient of its own weighted loss */
static void test_xent_sum(void **state)
{
    (void)state;
    float logits[6] = {1, 2, 0.5f, -1, 0, 3}, w[3] = {2, 1, 0.5f}, d_sum[6], d_one[3];
    int32_t y[2] = {0, 2};
    double total = fesf_softmax_xent_sum(2, 3, logits, y, w, d_sum);
    double mean = fesf_softmax_xent(2, 3, logits, y, w, NULL, NULL);
    assert_true(fabs(total - mean * (w[0] + w[2])) < 1e-9);
    fesf_softmax_xent(1, 3, logits + 3, y + 1, NULL, d_one, NULL);
    for (int j = 0; j < 3; j++) assert_true(fabs(d_sum[3 + j] - w[2] * d_one[j]) < 1e-7);
}

static void test_batch_norm_refused(void **state)
{
    (void)state;
    fesf_model *m;
    assert_int_equal(fesf_model_create_flags(&m, "cnn-small", 4, 1, 28, 28, 2, 4, FESF_MODEL_DP), -1);
    assert_int_equal(fesf_model_create_flags(&m, "cnn-small", 4, 1, 28, 28, 2, 4, FLAGS), 0);
    assert_string_equal(fesf_model_arch(m), "cnn-small width=4 input=1x28x28 classes=2 norm=instance");
    fesf_model_destroy(m);
}

static void test_noise_calibration(void **state)
{
    (void)state;
    const size_t n = 1 << 20;
    const double std = 2.5, scale = 1.0 / 32;
    float *g = calloc(n, sizeof(float));
    fesf_rng r;
    fesf_rng_init(&r, 99, 1, 2);
    fesf_dp_noise(&r, g, n, std, scale);
    double s = 0, ss = 0, within = 0, sd = std * scale;
    for (size_t i = 0; i < n; i++) s += g[i], ss += (double)g[i] * g[i], within += fabs(g[i]) < sd;
    double mean = s / n, emp = sqrt(ss / n - mean * mean);
    print_message("noise of a zero gradient: mean %.2e, std %.6f (calibrated %.6f, ratio %.5f), within 1 sd %.4f\n",
                  mean, emp, sd, emp / sd, within / n);
    assert_true(fabs(mean) < 5 * sd / sqrt((double)n));
    assert_true(fabs(emp / sd - 1) < 5 / sqrt(2.0 * n)); /* the std's own standard error is sd / sqrt(2n) */
    assert_true(fabs(within / n - 0.682689) < 0.003);
    /* a function of the stream alone: the same bits on 1 and 2 threads */
    float *h = calloc(n, sizeof(float));
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    memset(g, 0, sizeof(float) * n);
    fesf_dp_noise(&r, g, n, std, scale);
    omp_set_num_threads(2);
    fesf_dp_noise(&r, h, n, std, scale);
    omp_set_num_threads(threads);
    assert_memory_equal(g, h, sizeof(float) * n);
    free(g), free(h);
}

static void test_poisson_batches(void **state)
{
    (void)state;
    const int64_t n = 20000, draws = 400;
    const double q = 0.01;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    double s = 0, ss = 0;
    for (int64_t d = 0; d < draws; d++) {
        fesf_rng r;
        fesf_rng_init(&r, 7, (uint32_t)d, 3);
        int64_t k = fesf_dp_poisson(&r, n, q, ids);
        for (int64_t i = 1; i < k; i++) assert_true(ids[i] > ids[i - 1]);
        s += (double)k, ss += (double)k * k;
    }
    double mean = s / draws, var = ss / draws - mean * mean, m0 = q * n, v0 = q * (1 - q) * n;
    print_message("poisson batches: mean %.1f (expected %.1f), variance %.1f (expected %.1f)\n", mean, m0, var, v0);
    assert_true(fabs(mean - m0) < 5 * sqrt(v0 / draws));
    assert_true(fabs(var / v0 - 1) < 5 * sqrt(2.0 / draws));
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_small_matches_per_sample_loop),
        cmocka_unit_test(test_resnet18_matches_per_sample_loop),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_xent_sum),
        cmocka_unit_test(test_batch_norm_refused),
        cmocka_unit_test(test_noise_calibration),
        cmocka_unit_test(test_poisson_batches),
    };
    return cmocka_run_group_tests_name("dp", tests, NULL, NULL);
}
