/* The OpenBLAS kernel choice (blas.h): which chosen cores are replaced on
 * which CPUs, and the GEMM self-check, which passes on the real sgemm and
 * catches a wrong element, a write past C's columns and a SIGILL (cblas_sgemm
 * is wrapped here: the executable's definition comes before OpenBLAS's). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cblas.h>
#include <dlfcn.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "fesf/blas.h"

static int fault;     /* 0 none, 1 one element off by 1e-3, 2 one off by 1e-7, 3 write past C, 4 SIGILL */
static int calls;     /* calls of the wrapped sgemm */
static int fault_at;  /* the call that faults */

void cblas_sgemm(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                 const blasint m, const blasint n, const blasint k, const float alpha, const float *a,
                 const blasint lda, const float *b, const blasint ldb, const float beta, float *c, const blasint ldc)
{
    typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE,
                             const blasint, const blasint, const blasint, const float, const float *, const blasint,
                             const float *, const blasint, const float, float *, const blasint);
    static sgemm_fn real;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "cblas_sgemm");
    real(o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (calls++ != fault_at) return;
    size_t last = (size_t)(m - 1) * (size_t)ldc + (size_t)(n - 1);
    if (fault == 1) c[last] += 1e-3f * (1.0f + (c[last] < 0 ? -c[last] : c[last]));
    if (fault == 2) c[last] *= 1.0f + 1e-7f;
    if (fault == 3 && ldc > n) c[ldc - 1] += 1.0f;
    if (fault == 4) raise(SIGILL);
}

static void test_better_core(void **state)
{
    assert_string_equal(fesf_blas_better_core("Prescott", 1, 1), "SkylakeX");
    assert_string_equal(fesf_blas_better_core("prescott", 0, 1), "Haswell");
    assert_string_equal(fesf_blas_better_core("Core2", 1, 1), "SkylakeX");
    assert_string_equal(fesf_blas_better_core("Sandybridge", 0, 1), "Haswell");
    assert_string_equal(fesf_blas_better_core("Nehalem", 0, 1), "Haswell");
    assert_string_equal(fesf_blas_better_core("Unknown", 1, 1), "SkylakeX");
    assert_string_equal(fesf_blas_better_core("", 0, 1), "Haswell");
    assert_string_equal(fesf_blas_better_core(NULL, 0, 1), "Haswell");
    /* a CPU without AVX2 + FMA keeps whatever OpenBLAS chose */
    assert_null(fesf_blas_better_core("Prescott", 0, 0));
    /* kernels for AVX2 or better are OpenBLAS's own business */
    assert_null(fesf_blas_better_core("Haswell", 1, 1));
    assert_null(fesf_blas_better_core("SkylakeX", 1, 1));
    assert_null(fesf_blas_better_core("Cooperlake", 1, 1));
    assert_null(fesf_blas_better_core("Zen", 0, 1));
    assert_null(fesf_blas_better_core("Excavator", 0, 1));
}

static void test_selfcheck_passes(void **state)
{
    char why[256] = "";
    fault = 0;
    calls = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(fesf_blas_selfcheck(why, sizeof why), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = 1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec);
    print_message("# self-check: %d sgemm calls, %.1f ms\n", calls, ms);
    assert_string_equal(why, "");
    assert_true(calls >= 8);
    assert_true(ms < 1000);
    /* an error at float rounding is no failure */
    fault = 2;
    calls = 0;
    fault_at = 6;
    assert_int_equal(fesf_blas_selfcheck(why, sizeof why), 0);
}

static void test_selfcheck_catches(void **state)
{
    char why[256];
    for (int at = 0; at < 8; at++) {
        fault = 1;
        calls = 0;
        fault_at = at;
        why[0] = '\0';
        assert_int_equal(fesf_blas_selfcheck(why, sizeof why), -1);
        assert_non_null(strstr(why, "relative error"));
    }
    fault = 3;
    calls = 0;
    fault_at = 3; /* the first case with padded leading dimensions */
    assert_int_equal(fesf_blas_selfcheck(why, sizeof why), -1);
    assert_non_null(strstr(why, "wrote past column"));
    struct sigaction before, after;
    sigaction(SIGILL, NULL, &before);
    fault = 4;
    calls = 0;
    fault_at = 2;
    assert_int_equal(fesf_blas_selfcheck(why, sizeof why), -1);
    assert_non_null(strstr(why, "SIGILL"));
    /* the handler before it (cmocka's) is back, and the check still passes */
    sigaction(SIGILL, NULL, &after);
    assert_true(after.sa_handler == before.sa_handler);
    fault = 0;
    assert_int_equal(fesf_blas_selfcheck(why, sizeof why), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_better_core),
        cmocka_unit_test(test_selfcheck_passes),
        cmocka_unit_test(test_selfcheck_catches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
