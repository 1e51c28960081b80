/* IHM properties (DESIGN section 1) and agreement of the FFTW kernel with
 * the naive double-precision DFT reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/rng.h"
#include "fesf/ihm.h"
#include "fesf/rng.h"

static float *rand_images(int n, int c, int h, int w, uint32_t stream)
{
    fesf_rng r;
    fesf_rng_init(&r, 1234, stream, 99);
    size_t len = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
    float *v = malloc(sizeof(float) * len);
    for (size_t i = 0; i < len; i++) v[i] = (float)fesf_rng_uniform(&r);
    return v;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Run the FFTW kernel on n images with one host. */
static void run(const float *x, const float *host, float *out, int n, int c, int h, int w, int batch,
                fesf_ihm_params prm)
{
    fesf_ihm *p;
    assert_int_equal(fesf_ihm_create(&p, h, w, c, batch, &prm), 0);
    assert_int_equal(fesf_ihm_set_host(p, host), 0);
    for (int i = 0; i < n; i += batch) {
        int k = n - i < batch ? n - i : batch;
        size_t off = (size_t)i * (size_t)c * (size_t)h * (size_t)w;
        assert_int_equal(fesf_ihm_apply(p, x + off, out + off, k), 0);
    }
    fesf_ihm_destroy(p);
}

static void test_matches_naive_reference(void **state)
{
    static const int sizes[][2] = {{8, 8}, {9, 7}, {12, 10}, {5, 16}};
    static const double alphas[] = {0, 0.1, 0.3, 0.5, 1}, betas[] = {0, 0.5, 1};
    for (size_t s = 0; s < 4; s++)
        for (int c = 1; c <= 3; c += 2) {
            int h = sizes[s][0], w = sizes[s][1], n = 3;
            size_t len = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
            float *x = rand_images(n, c, h, w, 1), *host = rand_images(1, c, h, w, 2);
            float *a = malloc(sizeof(float) * len), *b = malloc(sizeof(float) * len);
            for (int ia = 0; ia < 5; ia++)
                for (int ib = 0; ib < 3; ib++)
                    for (int mask = 0; mask < 2; mask++) {
                        fesf_ihm_params prm = {alphas[ia], betas[ib], mask, 0};
                        run(x, host, a, n, c, h, w, 2, prm);
                        assert_int_equal(fesf_ihm_naive(x, host, b, n, c, h, w, &prm), 0);
                        double err = max_abs_diff(a, b, len);
                        if (err > 1e-5)
                            fail_msg("%dx%dx%d alpha %g beta %g mask %d: max abs error %g", c, h, w, prm.alpha,
                                     prm.beta, mask, err);
                    }
            free(x), free(host), free(a), free(b);
        }
}

/* Wide images: the row transforms run in chunks of pairs (2048 bins each,
 * so 3 and 2 pairs here) with a shorter last chunk, and an odd height pairs
 * its last row with zeros. */
static void test_chunked_rows_match_naive(void **state)
{
    static const int sizes[][2] = {{7, 601}, {6, 700}};
    static const double alphas[] = {0.3, 1};
    for (size_t s = 0; s < 2; s++) {
        int h = sizes[s][0], w = sizes[s][1];
        size_t len = (size_t)h * (size_t)w;
        float *x = rand_images(1, 1, h, w, 3), *host = rand_images(1, 1, h, w, 4);
        float *a = malloc(sizeof(float) * len), *b = malloc(sizeof(float) * len);
        fesf_ihm_params prm = {alphas[s], 1, FESF_MASK_SQUARE, 0};
        run(x, host, a, 1, 1, h, w, 1, prm);
        assert_int_equal(fesf_ihm_naive(x, host, b, 1, 1, h, w, &prm), 0);
        double err = max_abs_diff(a, b, len);
        if (err > 1e-5) fail_msg("%dx%d alpha %g: max abs error %g", h, w, prm.alpha, err);
        free(x), free(host), free(a), free(b);
    }
}

static void test_beta0_returns_host(void **state)
{
    int c = 3, h = 29, w = 28, n = 4;
    float *x = rand_images(n, c, h, w, 3), *host = rand_images(1, c, h, w, 4);
    float *out = malloc(sizeof(float) * (size_t)n * c * h * w);
    fesf_ihm_params prm = {0.3, 0.0, FESF_MASK_SQUARE, 0};
    run(x, host, out, n, c, h, w, 3, prm);
    for (int i = 0; i < n; i++) assert_true(max_abs_diff(out + (size_t)i * c * h * w, host, (size_t)c * h * w) < 1e-6);
    free(x), free(host), free(out);
}

static void test_dc_term(void **state)
{
    int c = 1, h = 65, w = 48, n = 3;
    float *x = rand_images(n, c, h, w, 5), *host = rand_images(1, c, h, w, 6);
    float *out = malloc(sizeof(float) * (size_t)n * h * w);
    double betas[] = {0, 0.25, 1};
    for (int b = 0; b < 3; b++) {
        fesf_ihm_params prm = {0.1, betas[b], FESF_MASK_SQUARE, 0};
        run(x, host, out, n, c, h, w, 2, prm);
        double sh = 0;
        for (int q = 0; q < h * w; q++) sh += host[q];
        for (int i = 0; i < n; i++) {
            double sx = 0, so = 0;
            for (int q = 0; q < h * w; q++) sx += x[i * h * w + q], so += out[i * h * w + q];
            double want = (1 - betas[b]) * sh + betas[b] * sx;
            assert_true(fabs(so - want) < 1e-5 * want);
        }
    }
    free(x), free(host), free(out);
}

/* alpha = 1, beta = 1: the plaintext's whole amplitude with the host's phase. */
static void test_full_amplitude_swap(void **state)
{
    int c = 1, h = 16, w = 15, n = 2;
    float *x = rand_images(n, c, h, w, 7), *host = rand_images(1, c, h, w, 8);
    float *a = malloc(sizeof(float) * (size_t)n * h * w), *b = malloc(sizeof(float) * (size_t)n * h * w);
    fesf_ihm_params prm = {1, 1, FESF_MASK_SQUARE, 0};
    run(x, host, a, n, c, h, w, 2, prm);
    /* the square mask of alpha 1 covers every bin, so this is Re F^-1(|F x| e^{j P_h}) */
    assert_int_equal(fesf_ihm_naive(x, host, b, n, c, h, w, &prm), 0);
    assert_true(max_abs_diff(a, b, (size_t)n * h * w) < 1e-5);
    free(x), free(host), free(a), free(b);
}

static void test_finite_on_constant_and_zero(void **state)
{
    int c = 1, h = 28, w = 28;
    float *zero = calloc((size_t)h * w, sizeof(float)), *cst = malloc(sizeof(float) * h * w);
    float *out = malloc(sizeof(float) * h * w);
    for (int i = 0; i < h * w; i++) cst[i] = 0.5f;
    const float *imgs[] = {zero, cst};
    for (int xi = 0; xi < 2; xi++)
        for (int hi = 0; hi < 2; hi++)
            for (int b = 0; b <= 2; b++) {
                fesf_ihm_params prm = {0.3, b / 2.0, FESF_MASK_SQUARE, 0};
                run(imgs[xi], imgs[hi], out, 1, c, h, w, 1, prm);
                for (int i = 0; i < h * w; i++) assert_true(isfinite(out[i]));
            }
    /* zero host (arg 0 = 0 everywhere): the output is the mixed amplitude, real and positive DC */
    fesf_ihm_params prm = {0.3, 1, FESF_MASK_SQUARE, 0};
    run(cst, zero, out, 1, c, h, w, 1, prm);
    double s = 0;
    for (int i = 0; i < h * w; i++) s += out[i];
    assert_true(fabs(s - 0.5 * h * w) < 1e-3);
    free(zero), free(cst), free(out);
}

/* Privacy invariant: same amplitude, other phase -> same output. */
static void test_plaintext_phase_does_not_matter(void **state)
{
    int c = 1, h = 29, w = 32, n = 1;
    float *x = rand_images(n, c, h, w, 9), *host = rand_images(1, c, h, w, 10);
    float *y = malloc(sizeof(float) * h * w), *z = malloc(sizeof(float) * h * w);
    float *a = malloc(sizeof(float) * h * w), *b = malloc(sizeof(float) * h * w), *d = malloc(sizeof(float) * h * w);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            y[i * w + j] = x[((h - i) % h) * w + (w - j) % w];      /* 180 degrees: conjugate spectrum */
            z[i * w + j] = x[((i + 5) % h) * w + (j + 11) % w];     /* circular shift: linear phase */
        }
    double alphas[] = {0.1, 0.3, 1};
    for (int k = 0; k < 3; k++) {
        fesf_ihm_params prm = {alphas[k], 1, FESF_MASK_SQUARE, 0};
        run(x, host, a, 1, c, h, w, 1, prm);
        run(y, host, b, 1, c, h, w, 1, prm);
        run(z, host, d, 1, c, h, w, 1, prm);
        assert_true(max_abs_diff(a, b, (size_t)h * w) < 1e-6);
        assert_true(max_abs_diff(a, d, (size_t)h * w) < 1e-6);
    }
    free(x), free(host), free(y), free(z), free(a), free(b), free(d);
}

/* The output of an image does not depend on the batch or slot it is in. */
static void test_batch_invariance_bitwise(void **state)
{
    int c = 3, h = 29, w = 29, n = 13;
    size_t len = (size_t)n * c * h * w;
    float *x = rand_images(n, c, h, w, 11), *host = rand_images(1, c, h, w, 12);
    float *ref = malloc(sizeof(float) * len), *out = malloc(sizeof(float) * len);
    fesf_ihm_params prm = {0.3, 1, FESF_MASK_SQUARE, 0};
    run(x, host, ref, n, c, h, w, 1, prm);
    int batches[] = {2, 5, 8, 13, 64};
    for (int b = 0; b < 5; b++) {
        run(x, host, out, n, c, h, w, batches[b], prm);
        if (memcmp(ref, out, sizeof(float) * len)) fail_msg("batch %d differs from batch 1", batches[b]);
    }
    free(x), free(host), free(ref), free(out);
}

static void test_u8_input_and_errors(void **state)
{
    int c = 1, h = 28, w = 28, n = 2;
    uint8_t *x8 = malloc((size_t)n * h * w);
    float *xf = malloc(sizeof(float) * n * h * w), *host = rand_images(1, c, h, w, 13);
    float *a = malloc(sizeof(float) * n * h * w), *b = malloc(sizeof(float) * n * h * w);
    for (int i = 0; i < n * h * w; i++) x8[i] = (uint8_t)(i * 37 % 256), xf[i] = (float)x8[i] / 255.0f;
    fesf_ihm_params prm = {0.3, 0.5, FESF_MASK_SQUARE, 0};
    fesf_ihm *p;
    assert_int_equal(fesf_ihm_create(&p, h, w, c, n, &prm), 0);
    assert_int_equal(fesf_ihm_apply(p, xf, a, n), -1); /* no host yet */
    assert_int_equal(fesf_ihm_set_host(p, host), 0);
    assert_int_equal(fesf_ihm_apply(p, xf, a, n), 0);
    assert_int_equal(fesf_ihm_apply_u8(p, x8, b, n), 0);
    assert_memory_equal(a, b, sizeof(float) * n * h * w);
    assert_int_equal(fesf_ihm_apply(p, xf, a, n + 1), -1);
    fesf_ihm_destroy(p);
    fesf_ihm_params bad = {1.5, 0.5, FESF_MASK_SQUARE, 0};
    assert_int_equal(fesf_ihm_create(&p, h, w, c, n, &bad), -1);
    assert_non_null(strstr(fesf_errmsg(), "alpha = 1.5"));
    bad.alpha = 0.3, bad.beta = -0.1;
    assert_int_equal(fesf_ihm_create(&p, h, w, c, n, &bad), -1);
    assert_int_equal(fesf_ihm_create(&p, h, w, 2, n, &prm), -1);
    free(x8), free(xf), free(host), free(a), free(b);
}

static void test_mask_sizes(void **state)
{
    /* alpha 0 keeps only DC; alpha 1 (square) every bin of the half spectrum */
    fesf_ihm *p;
    fesf_ihm_params prm = {0, 1, FESF_MASK_SQUARE, 0};
    assert_int_equal(fesf_ihm_create(&p, 28, 28, 1, 1, &prm), 0);
    assert_int_equal(fesf_ihm_mask_bins(p), 1);
    fesf_ihm_destroy(p);
    prm.alpha = 1;
    assert_int_equal(fesf_ihm_create(&p, 28, 28, 1, 1, &prm), 0);
    assert_int_equal(fesf_ihm_mask_bins(p), 28 * 15);
    fesf_ihm_destroy(p);
    /* 28 px, alpha 0.3: |u| <= 4.2 -> u in [-4, 4] (9 rows), v in [0, 4] (5 half columns) */
    prm.alpha = 0.3;
    assert_int_equal(fesf_ihm_create(&p, 28, 28, 1, 1, &prm), 0);
    assert_int_equal(fesf_ihm_mask_bins(p), 9 * 5);
    fesf_ihm_destroy(p);
}

/* Keyed tags: a tag with the plan's beta and no noise changes no bit; a tag's
 * beta acts as the plan's beta; noise multiplies the masked amplitude by
 * exp(sigma z) with z(u, v) = z(-u, -v), the same z for any alpha, a
 * function of (key, id) only. */
static void test_tags_beta_and_noise(void **state)
{
    enum { H = 28, W = 28, N = H * W };
    float x[N], host[N], a[N], b[N], amp_in[N], amp_a[N], amp_b[N];
    fesf_rng r;
    fesf_rng_init(&r, 7, 0, 0);
    for (int q = 0; q < N; q++) x[q] = (float)fesf_rng_uniform(&r), host[q] = (float)fesf_rng_uniform(&r);
    fesf_ihm *p1, *p4, *pn, *pn3;
    fesf_ihm_params prm = {0.5, 1, FESF_MASK_SQUARE, 0}, prm4 = {0.5, 0.4, FESF_MASK_SQUARE, 0};
    fesf_ihm_params noisy = {0.5, 1, FESF_MASK_SQUARE, 0.7}, noisy3 = {0.3, 1, FESF_MASK_SQUARE, 0.7};
    assert_int_equal(fesf_ihm_create(&p1, H, W, 1, 1, &prm), 0);
    assert_int_equal(fesf_ihm_create(&p4, H, W, 1, 1, &prm4), 0);
    assert_int_equal(fesf_ihm_create(&pn, H, W, 1, 1, &noisy), 0);
    assert_int_equal(fesf_ihm_create(&pn3, H, W, 1, 1, &noisy3), 0);
    fesf_ihm *all[4] = {p1, p4, pn, pn3};
    for (int i = 0; i < 4; i++) assert_int_equal(fesf_ihm_set_host(all[i], host), 0);
    fesf_ihm_tag t = {42, fesf_ihm_tag_id(2, 5), 1.0};
    assert_int_equal(fesf_ihm_apply(p1, x, a, 1), 0);
    assert_int_equal(fesf_ihm_set_tags(p1, &t, 1), 0);
    assert_int_equal(fesf_ihm_apply(p1, x, b, 1), 0);
    assert_memory_equal(a, b, sizeof a);
    t.beta = 0.4;
    assert_int_equal(fesf_ihm_apply(p4, x, a, 1), 0);
    assert_int_equal(fesf_ihm_set_tags(p1, &t, 1), 0);
    assert_int_equal(fesf_ihm_apply(p1, x, b, 1), 0);
    for (int q = 0; q < N; q++) assert_float_equal(a[q], b[q], 1e-5);
    t.beta = 1.5; /* above the plan's beta */
    assert_int_equal(fesf_ihm_set_tags(p1, &t, 1), -1);
    t.beta = 1.0;
    assert_int_equal(fesf_ihm_apply(pn, x, a, 1), -1); /* noise without tags */
    /* the noise field: log(|out| / |x|) / sigma at the mask bins */
    assert_int_equal(fesf_ihm_set_tags(pn, &t, 1), 0);
    assert_int_equal(fesf_ihm_apply(pn, x, a, 1), 0);
    assert_int_equal(fesf_ihm_set_tags(pn3, &t, 1), 0);
    assert_int_equal(fesf_ihm_apply(pn3, x, b, 1), 0);
    int64_t m = fesf_ihm_mask_bins(pn), m3 = fesf_ihm_mask_bins(pn3);
    assert_int_equal(m, 15 * 8); /* |u| <= 7: 15 rows, v in [0, 7] */
    assert_int_equal(fesf_ihm_mask_amplitude(pn, x, 1, amp_in), 0);
    assert_int_equal(fesf_ihm_mask_amplitude(pn, a, 1, amp_a), 0);
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < m; j++) {
        double z = log(amp_a[j] / amp_in[j]) / 0.7;
        sum += z, sq += z * z;
    }
    double mean = sum / (double)m, sd = sqrt(sq / (double)m - mean * mean);
    assert_true(fabs(mean) < 0.3 && fabs(sd - 1) < 0.3);
    /* column 0 (bins j = row * 8): row k and row H - k share z; rows are u = 0..7, then -7..-1 */
    for (int k = 1; k <= 7; k++) {
        double zk = log(amp_a[k * 8] / amp_in[k * 8]), zm = log(amp_a[(15 - k) * 8] / amp_in[(15 - k) * 8]);
        assert_float_equal(zk, zm, 1e-3);
    }
    /* the same z at the bins both masks hold: alpha 0.3's amplitudes of both outputs agree */
    assert_int_equal(fesf_ihm_mask_amplitude(pn3, a, 1, amp_a), 0);
    assert_int_equal(fesf_ihm_mask_amplitude(pn3, b, 1, amp_b), 0);
    for (int64_t j = 0; j < m3; j++) assert_float_equal(amp_a[j], amp_b[j], 1e-3 * amp_b[j] + 1e-3);
    /* a function of (key, id): the same tag gives the same bits, another key other bits */
    assert_int_equal(fesf_ihm_set_tags(pn, &t, 1), 0);
    assert_int_equal(fesf_ihm_apply(pn, x, b, 1), 0);
    assert_int_equal(fesf_ihm_set_tags(pn, &t, 1), 0);
    assert_int_equal(fesf_ihm_apply(pn, x, a, 1), 0);
    assert_memory_equal(a, b, sizeof a);
    t.key = 43;
    assert_int_equal(fesf_ihm_set_tags(pn, &t, 1), 0);
    assert_int_equal(fesf_ihm_apply(pn, x, b, 1), 0);
    assert_true(memcmp(a, b, sizeof a) != 0);
    for (int i = 0; i < 4; i++) fesf_ihm_destroy(all[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_naive_reference),
        cmocka_unit_test(test_chunked_rows_match_naive),
        cmocka_unit_test(test_beta0_returns_host),
        cmocka_unit_test(test_dc_term),
        cmocka_unit_test(test_full_amplitude_swap),
        cmocka_unit_test(test_finite_on_constant_and_zero),
        cmocka_unit_test(test_plaintext_phase_does_not_matter),
        cmocka_unit_test(test_batch_invariance_bitwise),
        cmocka_unit_test(test_u8_input_and_errors),
        cmocka_unit_test(test_mask_sizes),
        cmocka_unit_test(test_tags_beta_and_noise),
    };
    return cmocka_run_group_tests_name("ihm", tests, NULL, NULL);
}
