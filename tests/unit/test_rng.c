/* RNG: Philox4x32-10 known answers (Random123 kat_vectors), stream
 * independence, random access, and distribution sanity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/rng.h"

static void test_philox_known_answers(void **state)
{
    static const struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        fesf_philox4x32(kat[i].key, kat[i].ctr, out);
        for (int k = 0; k < 4; k++) assert_int_equal(out[k], kat[i].out[k]);
    }
}

static void test_same_triple_same_stream(void **state)
{
    fesf_rng a, b, c;
    fesf_rng_init(&a, 42, 3, 1);
    fesf_rng_init(&b, 42, 3, 1);
    fesf_rng_init(&c, 42, 4, 1);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = fesf_rng_u32(&a), y = fesf_rng_u32(&b), z = fesf_rng_u32(&c);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 990);
}

static void test_random_access(void **state)
{
    fesf_rng a, b;
    uint32_t seq[64];
    fesf_rng_init(&a, 7, 0, 2);
    for (int i = 0; i < 64; i++) seq[i] = fesf_rng_u32(&a);
    for (int pos = 0; pos < 60; pos += 3) {
        fesf_rng_init(&b, 7, 0, 2);
        fesf_rng_at(&b, (uint64_t)pos);
        for (int k = 0; k < 4; k++) assert_int_equal(fesf_rng_u32(&b), seq[pos + k]);
    }
}

static void test_distributions(void **state)
{
    fesf_rng r;
    fesf_rng_init(&r, 1, 0, 0);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0, sg = 0;
    for (int i = 0; i < n; i++) {
        double u = fesf_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        su += u;
        double z = fesf_rng_normal(&r);
        sn += z;
        sn2 += z * z;
        sg += fesf_rng_gamma(&r, 0.5);
    }
    assert_true(fabs(su / n - 0.5) < 0.005);
    assert_true(fabs(sn / n) < 0.01);
    assert_true(fabs(sn2 / n - 1.0) < 0.02);
    assert_true(fabs(sg / n - 0.5) < 0.01); /* E[Gamma(a)] = a */
    int hist[7] = {0};
    for (int i = 0; i < 70000; i++) hist[fesf_rng_below(&r, 7)]++;
    for (int k = 0; k < 7; k++) assert_true(abs(hist[k] - 10000) < 500);
}

static void test_shuffle_is_permutation(void **state)
{
    fesf_rng r;
    fesf_rng_init(&r, 5, 1, 1);
    int32_t v[100];
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) v[i] = i;
    fesf_rng_shuffle_i32(&r, v, 100);
    int moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[v[i]]++;
        moved += v[i] != i;
    }
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 90);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_same_triple_same_stream),
        cmocka_unit_test(test_random_access),
        cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_shuffle_is_permutation),
    };
    return cmocka_run_group_tests_name("rng", tests, NULL, NULL);
}
