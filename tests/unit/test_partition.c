/* Partition: proportions, exact assignment counts, determinism, skew. */
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
#include "fesf/partition.h"

#define N 1000
#define S 5
#define C 3

static void make_labels(int32_t *labels)
{
    for (int i = 0; i < N; i++) labels[i] = (i * 7) % 10 < 6 ? 0 : (i % 3 == 0 ? 1 : 2);
}

static void counts(const int32_t *labels, const int32_t *site, int n, int64_t tab[S][C])
{
    memset(tab, 0, sizeof(int64_t) * S * C);
    for (int i = 0; i < n; i++)
        if (site[i] >= 0) tab[site[i]][labels[i]]++;
}

static void test_proportions_sum_to_one(void **state)
{
    double P[S * C];
    for (int scheme = 0; scheme < 3; scheme++) {
        assert_int_equal(fesf_partition_proportions(scheme, 0.5, S, C, 7, 0, P), 0);
        for (int c = 0; c < C; c++) {
            double sum = 0;
            for (int s = 0; s < S; s++) {
                assert_true(P[s * C + c] >= 0);
                sum += P[s * C + c];
            }
            assert_true(fabs(sum - 1) < 1e-12);
        }
    }
    assert_int_equal(fesf_partition_proportions(FESF_PART_DIRICHLET, 0, S, C, 7, 0, P), -1);
    assert_non_null(strstr(fesf_errmsg(), "must be > 0"));
}

static void test_iid_assignment_exact_and_balanced(void **state)
{
    int32_t labels[N], site[N];
    int64_t tab[S][C], per_class[C] = {0};
    double P[S * C];
    make_labels(labels);
    for (int i = 0; i < N; i++) per_class[labels[i]]++;
    memset(site, 0, sizeof site);
    site[0] = site[1] = -1; /* held out: must stay untouched */
    fesf_partition_proportions(FESF_PART_IID, 0.5, S, C, 1, 0, P);
    assert_int_equal(fesf_partition_assign(labels, N, C, S, P, 1, 0, site), 0);
    assert_int_equal(site[0], -1);
    assert_int_equal(site[1], -1);
    counts(labels, site, N, tab);
    for (int c = 0; c < C; c++) {
        int64_t sum = 0, held = (labels[0] == c) + (labels[1] == c);
        for (int s = 0; s < S; s++) {
            sum += tab[s][c];
            assert_true(llabs(tab[s][c] * S - (per_class[c] - held)) <= S); /* within one item */
        }
        assert_int_equal(sum, per_class[c] - held); /* every item exactly once */
    }
}

static void test_deterministic_and_seeded(void **state)
{
    int32_t labels[N], a[N], b[N], c2[N];
    double P[S * C];
    make_labels(labels);
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    memset(c2, 0, sizeof c2);
    fesf_partition_proportions(FESF_PART_DIRICHLET, 0.5, S, C, 3, 0, P);
    fesf_partition_assign(labels, N, C, S, P, 3, 0, a);
    fesf_partition_assign(labels, N, C, S, P, 3, 0, b);
    fesf_partition_assign(labels, N, C, S, P, 4, 0, c2);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c2, sizeof a);
}

static void test_dirichlet_skews_labels(void **state)
{
    int32_t labels[N], site[N];
    int64_t tab[S][C];
    double P[S * C];
    make_labels(labels);
    memset(site, 0, sizeof site);
    fesf_partition_proportions(FESF_PART_DIRICHLET, 0.1, S, C, 11, 0, P);
    fesf_partition_assign(labels, N, C, S, P, 11, 0, site);
    counts(labels, site, N, tab);
    /* with concentration 0.1 some class is concentrated: one site holds > 60% of it */
    int skewed = 0;
    for (int c = 0; c < C; c++)
        for (int s = 0; s < S; s++) {
            int64_t tot = 0;
            for (int t = 0; t < S; t++) tot += tab[t][c];
            skewed |= tab[s][c] * 10 > tot * 6;
        }
    assert_true(skewed);
}

static void test_carve_stratified(void **state)
{
    int32_t labels[N], sel[N];
    make_labels(labels);
    for (int i = 0; i < N; i++) sel[i] = i % 2; /* carve only from sel == 1 */
    int64_t moved = fesf_partition_carve(labels, N, C, 0.1, 5, 0, sel, 1, 7);
    int64_t k = 0, wrong = 0;
    for (int i = 0; i < N; i++) {
        k += sel[i] == 7;
        wrong += sel[i] == 7 && i % 2 == 0;
    }
    assert_int_equal(moved, k);
    assert_int_equal(wrong, 0);
    assert_true(k >= 48 && k <= 52); /* 10% of 500, rounded per class */
    int32_t one[3] = {0, 1, 0}, lab[3] = {0, 0, 1};
    assert_int_equal(fesf_partition_carve(lab, 3, 2, 0.01, 5, 0, one, 0, 9), 1); /* at least one */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proportions_sum_to_one),
        cmocka_unit_test(test_iid_assignment_exact_and_balanced),
        cmocka_unit_test(test_deterministic_and_seeded),
        cmocka_unit_test(test_dirichlet_skews_labels),
        cmocka_unit_test(test_carve_stratified),
    };
    return cmocka_run_group_tests_name("partition", tests, NULL, NULL);
}
