/* Unit tests of the built-in phantom dataset (src/io/phantom.c):
 * shape and description, determinism (whole reads and strips in any order),
 * seed dependence, label balance, pixel range and parameter errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fesf/dataset.h"
#include "fesf/error.h"

static fesf_source *open_phantom(int size, int64_t count, uint64_t seed)
{
    fesf_phantom_params p = {.size = size, .count = count, .seed = seed};
    fesf_source *s = NULL;
    assert_int_equal(fesf_phantom_open(&s, &p), 0);
    assert_non_null(s);
    return s;
}

/* All images [0, n) of a split, malloc'ed. */
static uint8_t *read_all(fesf_source *s, int split)
{
    int64_t n = s->info.n[split];
    size_t bytes = (size_t)n * s->info.h * s->info.w;
    uint8_t *buf = malloc(bytes ? bytes : 1);
    assert_non_null(buf);
    assert_int_equal(s->read_images(s, split, 0, n, buf), 0);
    return buf;
}

static void test_info_and_desc(void **state)
{
    (void)state;
    fesf_source *s = open_phantom(64, 100, 3);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 100);
    assert_int_equal(s->info.n[FESF_SPLIT_VAL], 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TEST], 25);
    assert_int_equal(s->info.c, 1);
    assert_int_equal(s->info.h, 64);
    assert_int_equal(s->info.w, 64);
    assert_int_equal(s->info.dtype, FESF_U8);
    assert_string_equal(s->desc, "phantom:size=64,count=100,seed=3");
    s->close(s);
}

static void test_two_opens_identical(void **state)
{
    (void)state;
    fesf_source *a = open_phantom(40, 30, 42), *b = open_phantom(40, 30, 42);
    for (int split = FESF_SPLIT_TRAIN; split <= FESF_SPLIT_TEST; split += 2) {
        int64_t n = a->info.n[split];
        uint8_t *ia = read_all(a, split), *ib = read_all(b, split);
        int32_t la[30], lb[30];
        assert_int_equal(a->read_labels(a, split, la), 0);
        assert_int_equal(b->read_labels(b, split, lb), 0);
        assert_memory_equal(la, lb, (size_t)n * sizeof *la);
        assert_memory_equal(ia, ib, (size_t)n * 40 * 40);
        free(ia);
        free(ib);
    }
    a->close(a);
    b->close(b);
}

/* Strips read out of order (and re-read) equal the rows of a full read. */
static void test_strips_match_full_read(void **state)
{
    (void)state;
    const int size = 32, n = 40;
    const size_t img = (size_t)size * size;
    fesf_source *s = open_phantom(size, n, 7);
    uint8_t *full = read_all(s, FESF_SPLIT_TRAIN);
    uint8_t *strip = malloc((size_t)n * img);
    assert_non_null(strip);
    const int64_t cut[][2] = {{20, 40}, {7, 20}, {0, 7}, {13, 14}, {39, 40}};
    for (size_t k = 0; k < sizeof cut / sizeof cut[0]; k++) {
        int64_t a = cut[k][0], b = cut[k][1];
        memset(strip, 0, (size_t)n * img);
        assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, a, b - a, strip), 0);
        assert_memory_equal(strip, full + (size_t)a * img, (size_t)(b - a) * img);
    }
    /* a strip of the test split from a fresh source equals its full read */
    fesf_source *t = open_phantom(size, n, 7);
    uint8_t *test_full = read_all(s, FESF_SPLIT_TEST);
    assert_int_equal(t->read_images(t, FESF_SPLIT_TEST, 3, 5, strip), 0);
    assert_memory_equal(strip, test_full + 3 * img, 5 * img);
    /* train and test are different streams */
    assert_memory_not_equal(test_full, full, 5 * img);
    free(test_full);
    free(strip);
    free(full);
    s->close(s);
    t->close(t);
}

static void test_seeds_differ(void **state)
{
    (void)state;
    fesf_source *a = open_phantom(28, 400, 1), *b = open_phantom(28, 400, 2);
    uint8_t ia[28 * 28], ib[28 * 28];
    assert_int_equal(a->read_images(a, FESF_SPLIT_TRAIN, 0, 1, ia), 0);
    assert_int_equal(b->read_images(b, FESF_SPLIT_TRAIN, 0, 1, ib), 0);
    assert_memory_not_equal(ia, ib, sizeof ia);
    int32_t la[400], lb[400];
    assert_int_equal(a->read_labels(a, FESF_SPLIT_TRAIN, la), 0);
    assert_int_equal(b->read_labels(b, FESF_SPLIT_TRAIN, lb), 0);
    assert_memory_not_equal(la, lb, sizeof la);
    a->close(a);
    b->close(b);
}

/* Labels are drawn: roughly balanced, only 0/1, not a fixed pattern. */
static void test_labels_balanced(void **state)
{
    (void)state;
    fesf_source *s = open_phantom(28, 400, 0);
    int32_t lab[400];
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, lab), 0);
    int ones = 0, changes = 0;
    for (int i = 0; i < 400; i++) {
        assert_true(lab[i] == 0 || lab[i] == 1);
        ones += lab[i];
        if (i && lab[i] != lab[i - 1]) changes++;
    }
    assert_in_range(ones, 140, 260);   /* 35% .. 65% */
    assert_in_range(changes, 120, 280); /* neither alternating nor blocked */
    s->close(s);
}

/* Exposure varies, but every image still spans a good part of [0, 255]. */
static void test_pixel_range(void **state)
{
    (void)state;
    const int size = 64, n = 24;
    fesf_source *s = open_phantom(size, n, 5);
    uint8_t *img = read_all(s, FESF_SPLIT_TRAIN);
    int seen[256] = {0}, distinct = 0;
    for (int k = 0; k < n; k++) {
        const uint8_t *p = img + (size_t)k * size * size;
        int lo = 255, hi = 0;
        for (int i = 0; i < size * size; i++) {
            if (p[i] < lo) lo = p[i];
            if (p[i] > hi) hi = p[i];
            seen[p[i]] = 1;
        }
        assert_true(hi - lo >= 100);
    }
    for (int v = 0; v < 256; v++) distinct += seen[v];
    assert_true(distinct >= 200);
    free(img);
    s->close(s);
}

static void expect_open_error(int size, int64_t count, const char *msg)
{
    fesf_phantom_params p = {.size = size, .count = count, .seed = 0};
    fesf_source dummy, *s = &dummy; /* must be reset to NULL */
    fesf_error_clear();
    assert_int_equal(fesf_phantom_open(&s, &p), -1);
    assert_null(s);
    assert_non_null(strstr(fesf_errmsg(), msg));
}

static void test_size_and_count_limits(void **state)
{
    (void)state;
    expect_open_error(27, 10, "phantom size 27 out of range [28, 256]");
    expect_open_error(257, 10, "phantom size 257 out of range [28, 256]");
    expect_open_error(0, 10, "out of range");
    expect_open_error(64, 0, "phantom count 0");
    expect_open_error(64, -5, "phantom count -5");
    fesf_source *s = open_phantom(28, 1, 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TEST], 0);
    s->close(s);
    s = open_phantom(256, 1, 0);
    uint8_t *img = read_all(s, FESF_SPLIT_TRAIN);
    free(img);
    s->close(s);
}

static void test_read_range_errors(void **state)
{
    (void)state;
    fesf_source *s = open_phantom(28, 8, 0);
    uint8_t buf[9 * 28 * 28];
    int32_t lab[9];
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 9, buf), -1);
    assert_non_null(strstr(fesf_errmsg(), "out of range"));
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, -1, 2, buf), -1);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TEST, 2, 1, buf), -1);
    assert_int_equal(s->read_images(s, 3, 0, 1, buf), -1);
    assert_int_equal(s->read_labels(s, -1, lab), -1);
    /* the absent val split is empty, not an error */
    assert_int_equal(s->read_labels(s, FESF_SPLIT_VAL, lab), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_VAL, 0, 0, buf), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 8, 0, buf), 0);
    s->close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_and_desc),
        cmocka_unit_test(test_two_opens_identical),
        cmocka_unit_test(test_strips_match_full_read),
        cmocka_unit_test(test_seeds_differ),
        cmocka_unit_test(test_labels_balanced),
        cmocka_unit_test(test_pixel_range),
        cmocka_unit_test(test_size_and_count_limits),
        cmocka_unit_test(test_read_range_errors),
    };
    return cmocka_run_group_tests_name("phantom", tests, NULL, NULL);
}
