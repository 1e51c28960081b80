/* Evaluation metrics: buffer layout, hand-computed AUC / balanced accuracy /
 * macro-F1 / loss, bin clamping, additivity of the stats (what the MPI_SUM
 * reduction relies on), and a cross-check against exact NumPy metrics
 * (tests/py/metrics_ref.py, skipped when /usr/bin/python3 or numpy is absent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fesf/metrics.h"
#include "fesf/rng.h"

#define PYTHON "/usr/bin/python3"
#define BINS FESF_METRIC_BINS

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) fail_msg("got %.17g, want %.17g (tol %g)", got, want, tol);
}

static double *new_stats(int k)
{
    double *s = calloc(fesf_eval_stats_len(k), sizeof *s);
    assert_non_null(s);
    return s;
}

/* Offsets of the documented layout. */
static size_t hist_at(int k, int c, int neg, int b) { return (size_t)k * k + ((size_t)c * 2 + neg) * BINS + b; }
static size_t loss_at(int k) { return (size_t)k * k + (size_t)2 * k * BINS; }

/* Metrics of n binary samples given class 1's score s[i]. */
static fesf_metrics binary(const float *s, const int32_t *y, int n)
{
    double *st = new_stats(2);
    for (int i = 0; i < n; i++) {
        float p[2] = {1.0f - s[i], s[i]};
        fesf_eval_stats_add(st, 2, p, &y[i], 1);
    }
    fesf_metrics m;
    fesf_metrics_compute(st, 2, &m);
    free(st);
    return m;
}

static void test_layout(void **state)
{
    assert_int_equal(fesf_eval_stats_len(2), 4 + 2 * 2 * BINS + 2);
    assert_int_equal(fesf_eval_stats_len(4), 16 + 2 * 4 * BINS + 2);
    double *st = new_stats(3);
    float p[3] = {0.25f, 0.6875f, 0.0625f}; /* exact in binary: bins 250, 687, 62 */
    int32_t y = 2;
    fesf_eval_stats_add(st, 3, p, &y, 1);
    assert_true(st[2 * 3 + 1] == 1.0);            /* conf[true 2][pred 1] */
    assert_true(st[hist_at(3, 2, 0, 62)] == 1.0);  /* class 2's score, positive */
    assert_true(st[hist_at(3, 1, 1, 687)] == 1.0); /* class 1's score, negative */
    assert_true(st[hist_at(3, 0, 1, 250)] == 1.0);
    assert_close(st[loss_at(3)], -log(0.0625), 1e-15);
    assert_true(st[loss_at(3) + 1] == 1.0);
    double total = 0;
    for (size_t i = 0; i < fesf_eval_stats_len(3); i++) total += st[i];
    assert_close(total, 1 + 3 + st[loss_at(3)] + 1, 1e-12);
    free(st);
}

static void test_auc_hand(void **state)
{
    const float up[6] = {0.05f, 0.2f, 0.3f, 0.7f, 0.8f, 0.95f};
    const int32_t y[6] = {0, 0, 0, 1, 1, 1};
    const int32_t yr[6] = {1, 1, 1, 0, 0, 0};
    assert_true(binary(up, y, 6).auc == 1.0);
    assert_true(binary(up, yr, 6).auc == 0.0);
    const float flat[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    assert_true(binary(flat, y, 6).auc == 0.5);
    /* positives {0.9, 0.4}, negatives {0.6, 0.1, 0.4004}: 0.9 beats all three,
     * 0.4 beats 0.1 and shares a bin with 0.4004 (counts 1/2): 4.5 / 6. */
    const float mixed[5] = {0.9f, 0.4f, 0.6f, 0.1f, 0.4004f};
    const int32_t ym[5] = {1, 1, 0, 0, 0};
    assert_close(binary(mixed, ym, 5).auc, 0.75, 1e-15);
}

/* K = 4, class 3 absent from truth and predictions. Confusion (row = true):
 *   true 0: 3 x pred 0, 1 x pred 1
 *   true 1: 1 x pred 0, 1 x pred 1, 1 x pred 2
 * accuracy 4/7, balanced (3/4 + 1/3) / 2 (class 2 never true), macro-F1 over
 * classes 0..2: (6/8 + 2/5 + 0) / 3. */
static void test_confusion_known(void **state)
{
    static const int32_t truth[7] = {0, 0, 0, 0, 1, 1, 1}, pred[7] = {0, 0, 0, 1, 0, 1, 2};
    double *st = new_stats(4);
    double loss = 0;
    for (int i = 0; i < 7; i++) {
        float p[4] = {0.1f, 0.1f, 0.1f, 0.1f};
        p[pred[i]] = 0.7f;
        loss -= log((double)p[truth[i]]);
        fesf_eval_stats_add(st, 4, p, &truth[i], 1);
    }
    fesf_metrics m;
    fesf_metrics_compute(st, 4, &m);
    assert_int_equal(m.count, 7);
    assert_close(m.accuracy, 4.0 / 7, 1e-15);
    assert_close(m.balanced_accuracy, (3.0 / 4 + 1.0 / 3) / 2, 1e-15);
    assert_close(m.macro_f1, (6.0 / 8 + 2.0 / 5 + 0) / 3, 1e-15);
    assert_close(m.loss, loss / 7, 1e-15);
    /* AUC over classes 0 and 1 (2 and 3 have no positives). Class 0:
     * positives at 0.7 x3, 0.1; negatives at 0.7, 0.1 x2. Class 1: positives
     * at 0.7, 0.1 x2; negatives at 0.7, 0.1 x3. Equal scores count 1/2. */
    double a0 = (3 * 2.5 + 1 * 1.0) / 12, a1 = (1 * 3.5 + 2 * 1.5) / 12;
    assert_close(m.auc, (a0 + a1) / 2, 1e-15);
    free(st);
}

static void test_undefined(void **state)
{
    fesf_metrics m;
    double *st = new_stats(3);
    fesf_metrics_compute(st, 3, &m);
    assert_int_equal(m.count, 0);
    assert_true(isnan(m.accuracy) && isnan(m.balanced_accuracy) && isnan(m.macro_f1));
    assert_true(isnan(m.auc) && isnan(m.loss));
    free(st);
    /* binary, one class only: AUC undefined, the rest defined */
    const float s[3] = {0.2f, 0.6f, 0.9f};
    const int32_t y[3] = {0, 0, 0};
    m = binary(s, y, 3);
    assert_true(isnan(m.auc));
    assert_close(m.accuracy, 1.0 / 3, 1e-15);
    assert_close(m.balanced_accuracy, 1.0 / 3, 1e-15);
    assert_close(m.macro_f1, (2.0 / 4 + 0) / 2, 1e-15); /* class 0: 2*1/(3+1); class 1: 0 */
}

/* Out-of-range and NaN scores land in the end bins, loss is floored. */
static void test_clamping(void **state)
{
    double *st = new_stats(2);
    const float p[4][2] = {{-0.5f, 1.5f}, {NAN, 1.0f}, {0.999f, NAN}, {NAN, NAN}};
    const int32_t y[4] = {0, 1, 1, 1};
    fesf_eval_stats_add(st, 2, &p[0][0], y, 4);
    assert_true(st[hist_at(2, 0, 0, 0)] == 1.0);        /* -0.5, class 0 */
    assert_true(st[hist_at(2, 1, 1, BINS - 1)] == 1.0); /* 1.5 */
    assert_true(st[hist_at(2, 0, 1, 0)] == 2.0);        /* NaN, NaN */
    assert_true(st[hist_at(2, 1, 0, BINS - 1)] == 1.0); /* 1.0 */
    assert_true(st[hist_at(2, 0, 1, BINS - 1)] == 1.0); /* 0.999 */
    assert_true(st[hist_at(2, 1, 0, 0)] == 2.0);        /* NaN, NaN */
    /* argmax: 1.5 (row 0), 1.0 over NaN (row 1), 0.999 over NaN, all NaN -> 0 */
    assert_true(st[0 * 2 + 1] == 1.0 && st[1 * 2 + 1] == 1.0 && st[1 * 2 + 0] == 2.0);
    double floor_loss = -log(1e-12);
    assert_close(st[loss_at(2)], floor_loss /* p=-0.5 */ + 0 + 2 * floor_loss, 1e-9);
    fesf_metrics m;
    fesf_metrics_compute(st, 2, &m);
    assert_int_equal(m.count, 4);
    assert_true(m.auc >= 0 && m.auc <= 1);
    free(st);
}

/* Random softmax outputs: class y gets a logit bonus; ~1% one-hot rows (p = 0
 * and 1 exactly, some wrong, exercising the end bins and the loss floor). */
static void random_data(fesf_rng *r, int n, int k, float *probs, int32_t *labels)
{
    for (int i = 0; i < n; i++) {
        int y = (int)fesf_rng_below(r, (uint64_t)k);
        float *p = probs + (size_t)i * k;
        labels[i] = y;
        if (fesf_rng_uniform(r) < 0.01) {
            int hot = (int)fesf_rng_below(r, (uint64_t)k);
            for (int c = 0; c < k; c++) p[c] = c == hot ? 1.0f : 0.0f;
            continue;
        }
        double z[16], sum = 0;
        for (int c = 0; c < k; c++) {
            z[c] = exp(1.2 * fesf_rng_normal(r) + (c == y ? 1.0 : 0.0));
            sum += z[c];
        }
        for (int c = 0; c < k; c++) p[c] = (float)(z[c] / sum);
    }
}

static void assert_same_metrics(const fesf_metrics *a, const fesf_metrics *b)
{
    assert_int_equal(a->count, b->count);
    assert_close(a->accuracy, b->accuracy, 1e-15);
    assert_close(a->balanced_accuracy, b->balanced_accuracy, 1e-15);
    assert_close(a->macro_f1, b->macro_f1, 1e-15);
    assert_close(a->auc, b->auc, 1e-15);
    assert_close(a->loss, b->loss, 1e-12 * fabs(b->loss));
}

/* Stats of two halves, summed element-wise, equal the stats of the whole. */
static void test_halves_sum(void **state)
{
    enum { N = 3000, K = 3, CUT = 1234 };
    static float probs[N * K];
    static int32_t labels[N];
    fesf_rng r;
    fesf_rng_init(&r, 77, 0, 100);
    random_data(&r, N, K, probs, labels);
    size_t len = fesf_eval_stats_len(K);
    double *whole = new_stats(K), *a = new_stats(K), *b = new_stats(K), *inc = new_stats(K);
    fesf_eval_stats_add(whole, K, probs, labels, N);
    fesf_eval_stats_add(a, K, probs, labels, CUT);
    fesf_eval_stats_add(b, K, probs + CUT * K, labels + CUT, N - CUT);
    fesf_eval_stats_add(inc, K, probs, labels, CUT); /* accumulating in place */
    fesf_eval_stats_add(inc, K, probs + CUT * K, labels + CUT, N - CUT);
    for (size_t i = 0; i < len; i++) {
        double sum = a[i] + b[i];
        if (i == loss_at(K)) {
            assert_close(sum, whole[i], 1e-12 * whole[i]);
        } else {
            assert_true(sum == whole[i]);
            assert_true(inc[i] == whole[i]);
        }
        a[i] = sum;
    }
    assert_true(whole[loss_at(K) + 1] == N);
    fesf_metrics mw, ms, mi;
    fesf_metrics_compute(whole, K, &mw);
    fesf_metrics_compute(a, K, &ms);
    fesf_metrics_compute(inc, K, &mi);
    assert_same_metrics(&ms, &mw);
    assert_same_metrics(&mi, &mw);
    free(whole), free(a), free(b), free(inc);
}

static const char *find_ref_script(void)
{
    static const char *cand[] = {"tests/py/metrics_ref.py", "../tests/py/metrics_ref.py",
                                 "../../tests/py/metrics_ref.py"};
    const char *env = getenv("FESF_METRICS_REF");
    if (env && *env) return access(env, R_OK) == 0 ? env : NULL;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
        if (access(cand[i], R_OK) == 0) return cand[i];
    return NULL;
}

static void write_input(const char *path, int n, int k, const float *probs, const int32_t *labels)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    int32_t hdr[2] = {n, k};
    assert_int_equal(fwrite(hdr, sizeof hdr[0], 2, f), 2);
    assert_int_equal(fwrite(probs, sizeof *probs, (size_t)n * k, f), (size_t)n * k);
    assert_int_equal(fwrite(labels, sizeof *labels, (size_t)n, f), (size_t)n);
    assert_int_equal(fclose(f), 0);
}

/* Run the reference on path; 0 and v[5] filled, 77 numpy missing, else failure. */
static int run_ref(const char *script, const char *path, double v[5])
{
    char cmd[1536];
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", PYTHON, script, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int got = fscanf(p, "%lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4]);
    int rc = pclose(p);
    if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77) return 77;
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0 || got != 5)
        fail_msg("'%s' failed (status %d, %d values)", cmd, rc, got);
    return 0;
}

/* Returns 0, or 77 when numpy is missing. */
static int crosscheck(const char *script, int k, uint64_t seed)
{
    enum { N = 5000 };
    static float probs[N * 4];
    static int32_t labels[N];
    fesf_rng r;
    fesf_rng_init(&r, seed, (uint32_t)k, 101);
    random_data(&r, N, k, probs, labels);

    const char *tmpdir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/fesf_metrics_ref_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_input(path, N, k, probs, labels);
    double want[5];
    int rc = run_ref(script, path, want);
    unlink(path);
    if (rc) return rc;

    double *st = new_stats(k);
    fesf_eval_stats_add(st, k, probs, labels, N);
    fesf_metrics m;
    fesf_metrics_compute(st, k, &m);
    free(st);
    print_message("# K=%d n=%d: auc %.6f, exact %.6f, deviation %+.2e; acc %.4f bal %.4f f1 %.4f loss %.4f\n",
                  k, N, m.auc, want[3], m.auc - want[3], m.accuracy, m.balanced_accuracy, m.macro_f1,
                  m.loss);
    assert_int_equal(m.count, N);
    assert_close(m.accuracy, want[0], 1e-12);
    assert_close(m.balanced_accuracy, want[1], 1e-12);
    assert_close(m.macro_f1, want[2], 1e-12);
    assert_close(m.auc, want[3], 2e-3);
    assert_close(m.loss, want[4], 1e-9 * fabs(want[4]));
    return 0;
}

static void test_numpy_crosscheck(void **state)
{
    const char *script = find_ref_script();
    if (!script) {
        print_message("# skipping: tests/py/metrics_ref.py not found (run from the source root or set FESF_METRICS_REF)\n");
        skip();
    }
    if (access(PYTHON, X_OK) != 0) {
        print_message("# skipping: %s not present\n", PYTHON);
        skip();
    }
    const char *seed_env = getenv("FESF_METRICS_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20240917;
    static const int ks[] = {2, 4};
    for (int i = 0; i < 2; i++) {
        if (crosscheck(script, ks[i], seed) == 77) {
            print_message("# skipping: numpy not importable by %s\n", PYTHON);
            skip();
        }
    }
}

/* balanced weights: N / (K n_c), the mean weight over samples is 1, an empty class gets 0 */
static void test_balanced_weights(void **state)
{
    double counts[3] = {300, 100, 0};
    float w[3];
    assert_int_equal(fesf_balanced_weights(counts, 3, w), 1);
    assert_float_equal(w[0], 400.0 / (3 * 300), 1e-6);
    assert_float_equal(w[1], 400.0 / (3 * 100), 1e-6);
    assert_float_equal(w[2], 0, 0);
    double two[2] = {73, 27};
    float v[2];
    assert_int_equal(fesf_balanced_weights(two, 2, v), 0);
    assert_float_equal((73 * v[0] + 27 * v[1]) / 100.0, 1.0, 1e-6); /* mean weight per sample */
    assert_float_equal(73 * v[0], 27 * v[1], 1e-3);                  /* each class weighs the same in total */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balanced_weights),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_auc_hand),
        cmocka_unit_test(test_confusion_known),
        cmocka_unit_test(test_undefined),
        cmocka_unit_test(test_clamping),
        cmocka_unit_test(test_halves_sum),
        cmocka_unit_test(test_numpy_crosscheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
