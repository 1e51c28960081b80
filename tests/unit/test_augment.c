/* Augmentation: flips and shifts are exact moves of the image within the
 * bound, the draws depend only on (seed, site, position), not on how a
 * batch is cut, and none leaves images untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/augment.h"
#include "fesf/config.h"

#define C 2
#define H 28
#define W 20
#define IMG (C * H * W)
#define N 300

static float *images(void)
{
    float *x = malloc(sizeof(float) * IMG * N);
    for (size_t q = 0; q < (size_t)IMG * N; q++) x[q] = (float)((q * 2654435761u) % 100003) / 100003.0f;
    return x;
}

/* Pixel (c, y, x) of an image moved by (dy, dx) after an optional mirror, edges repeated. */
static float moved(const float *p, int c, int y, int x, int flip, int dy, int dx)
{
    int ys = y - dy < 0 ? 0 : y - dy >= H ? H - 1 : y - dy, xs = x - dx < 0 ? 0 : x - dx >= W ? W - 1 : x - dx;
    return p[(c * H + ys) * W + (flip ? W - 1 - xs : xs)];
}

static int is_move(const float *orig, const float *out, int flip, int dy, int dx)
{
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (out[(c * H + y) * W + x] != moved(orig, c, y, x, flip, dy, dx)) return 0;
    return 1;
}

/* The (flip, dy, dx) that made out from orig, searched within bound b; 0 if none. */
static int find_move(const float *orig, const float *out, int b, int *flip, int *dy, int *dx)
{
    for (*flip = 0; *flip < 2; (*flip)++)
        for (*dy = -b; *dy <= b; (*dy)++)
            for (*dx = -b; *dx <= b; (*dx)++)
                if (is_move(orig, out, *flip, *dy, *dx)) return 1;
    return 0;
}

static void test_shift_bound(void **state)
{
    (void)state;
    assert_int_equal(fesf_augment_shift_bound(28), 2);
    assert_int_equal(fesf_augment_shift_bound(64), 4);
    assert_int_equal(fesf_augment_shift_bound(10), 1);
    assert_int_equal(fesf_augment_shift_bound(224), 16);
}

static void check_mode(int mode, int *flips, int *shifted, int *extreme)
{
    float *x = images(), *y = images(), scratch[IMG];
    fesf_augment_batch(mode, C, H, W, 42, 3, 1000, y, N, scratch);
    int by = fesf_augment_shift_bound(H), bx = fesf_augment_shift_bound(W), b = by > bx ? by : bx;
    *flips = *shifted = *extreme = 0;
    for (int i = 0; i < N; i++) {
        int f = 0, dy = 0, dx = 0;
        assert_true(find_move(x + IMG * i, y + IMG * i, b, &f, &dy, &dx));
        assert_true(dy >= -by && dy <= by && dx >= -bx && dx <= bx);
        *flips += f, *shifted += dy || dx, *extreme += dy == by || dy == -by;
    }
    free(x), free(y);
}

static void test_modes(void **state)
{
    (void)state;
    int f, s, e;
    check_mode(FESF_AUG_NONE, &f, &s, &e);
    assert_int_equal(f + s, 0);
    check_mode(FESF_AUG_FLIP, &f, &s, &e);
    assert_int_equal(s, 0);
    assert_true(f > N * 35 / 100 && f < N * 65 / 100);
    check_mode(FESF_AUG_SHIFT, &f, &s, &e);
    assert_int_equal(f, 0);
    assert_true(s > N * 3 / 4 && e > 0); /* 1 in 25 unmoved at 28 x 20 */
    check_mode(FESF_AUG_FLIP | FESF_AUG_SHIFT, &f, &s, &e);
    assert_true(f > N * 35 / 100 && f < N * 65 / 100 && s > N * 3 / 4);
}

/* One call over n images equals two calls over its halves; another site or seed draws differently. */
static void test_cut_invariance(void **state)
{
    (void)state;
    int mode = FESF_AUG_FLIP | FESF_AUG_SHIFT;
    float *a = images(), *b = images(), *c = images(), scratch[IMG];
    fesf_augment_batch(mode, C, H, W, 7, 2, 640, a, N, scratch);
    fesf_augment_batch(mode, C, H, W, 7, 2, 640, b, 37, scratch);
    fesf_augment_batch(mode, C, H, W, 7, 2, 640 + 37, b + IMG * 37, N - 37, scratch);
    assert_memory_equal(a, b, sizeof(float) * IMG * N);
    fesf_augment_batch(mode, C, H, W, 7, 3, 640, c, N, scratch);
    assert_memory_not_equal(a, c, sizeof(float) * IMG * N);
    free(c), c = images();
    fesf_augment_batch(mode, C, H, W, 8, 2, 640, c, N, scratch);
    assert_memory_not_equal(a, c, sizeof(float) * IMG * N);
    free(a), free(b), free(c);
}

/* Volumes as planes (C*D channels): every plane of a volume moves alike, so
 * a volume whose plane p is plane 0 plus p stays so after augmenting. */
static void test_volume_planes(void **state)
{
    enum { D = 5, NV = 40 };
    float *x = malloc(sizeof(float) * D * H * W * NV), *scratch = malloc(sizeof(float) * D * H * W);
    assert_non_null(x), assert_non_null(scratch);
    for (int v = 0; v < NV; v++)
        for (int p = 0; p < D; p++)
            for (int q = 0; q < H * W; q++)
                x[((size_t)v * D + p) * H * W + q] = (float)((q * 2654435761u + (unsigned)v) % 1009) + 1000.0f * p;
    fesf_augment_batch(FESF_AUG_FLIP | FESF_AUG_SHIFT, D, H, W, 7, 1, 0, x, NV, scratch);
    for (int v = 0; v < NV; v++)
        for (int p = 1; p < D; p++)
            for (int q = 0; q < H * W; q++)
                assert_float_equal(x[((size_t)v * D + p) * H * W + q] - x[(size_t)v * D * H * W + q], 1000.0f * p, 0);
    free(x), free(scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shift_bound),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_cut_invariance),
        cmocka_unit_test(test_volume_planes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
