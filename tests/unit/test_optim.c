/* Optimizers: defaults, hand-computed steps of SGD (plain, momentum,
 * Nesterov, L2), Adam and AdamW, the learning-rate schedules, and a
 * cross-check of 5-step runs against torch.optim + torch.optim.lr_scheduler
 * (tests/py/optim_ref.py, skipped when /usr/bin/python3 or torch is absent). */
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

#include "fesf/config.h"
#include "fesf/optim.h"

#define PYTHON "/usr/bin/python3"

static void assert_close(double got, double want, double rtol)
{
    double tol = rtol * fabs(want);
    if (tol < 1e-12) tol = 1e-12;
    if (!(fabs(got - want) <= tol)) fail_msg("got %.9g, want %.9g (rtol %g)", got, want, rtol);
}

static void test_defaults(void **state)
{
    fesf_optim_config c;
    memset(&c, 0x5a, sizeof c);
    fesf_optim_defaults(&c, FESF_OPT_SGD, 0.05f);
    assert_int_equal(c.kind, FESF_OPT_SGD);
    assert_true(c.lr == 0.05f);
    assert_true(c.momentum == 0.0f && c.weight_decay == 0.0f && c.nesterov == 0);
    assert_true(c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f);
    assert_int_equal(c.sched, FESF_SCHED_CONSTANT);
    assert_true(c.gamma == 0.1f && c.step_size == 30 && c.lr_min == 0.0f);
    assert_int_equal(fesf_optim_state_per_param(&c), 0);
    c.momentum = 0.9f;
    assert_int_equal(fesf_optim_state_per_param(&c), 1);
    fesf_optim_defaults(&c, FESF_OPT_ADAM, 1e-3f);
    assert_int_equal(c.kind, FESF_OPT_ADAM);
    assert_int_equal(fesf_optim_state_per_param(&c), 2);
    fesf_optim_defaults(&c, FESF_OPT_ADAMW, 1e-3f);
    assert_int_equal(fesf_optim_state_per_param(&c), 2);
    assert_true(c.weight_decay == 0.0f);
}

static void test_sgd_plain(void **state)
{
    fesf_optim_config c;
    fesf_optim_defaults(&c, FESF_OPT_SGD, 0.1f);
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.5f, 0.25f, 0.0f};
    fesf_optim_step(&c, 0, 3, p, g, NULL); /* no state without momentum */
    assert_close(p[0], 0.95, 1e-7);
    assert_close(p[1], -2.025, 1e-7);
    assert_close(p[2], 0.5, 0);
    /* L2: d = g + wd p = 0.5 + 0.1 * 2 = 0.7; p = 2 - 0.1 * 0.7 */
    c.weight_decay = 0.1f;
    float q = 2.0f, gq = 0.5f;
    fesf_optim_step(&c, 7, 1, &q, &gq, NULL);
    assert_close(q, 1.93, 1e-7);
}

static void test_sgd_momentum(void **state)
{
    fesf_optim_config c;
    fesf_optim_defaults(&c, FESF_OPT_SGD, 0.1f);
    c.momentum = 0.9f;
    c.weight_decay = 0.1f;
    float p = 1.0f, buf = 123.0f; /* t == 0 overwrites whatever is there */
    float g0 = 0.5f, g1 = -1.0f;
    /* step 0: d = 0.5 + 0.1 = 0.6; buf = 0.6; p = 1 - 0.06 = 0.94 */
    fesf_optim_step(&c, 0, 1, &p, &g0, &buf);
    assert_close(buf, 0.6, 1e-7);
    assert_close(p, 0.94, 1e-7);
    /* step 1: d = -1 + 0.094 = -0.906; buf = 0.54 - 0.906 = -0.366;
     * p = 0.94 + 0.0366 = 0.9766 */
    fesf_optim_step(&c, 1, 1, &p, &g1, &buf);
    assert_close(buf, -0.366, 1e-6);
    assert_close(p, 0.9766, 1e-7);

    /* Nesterov: d = g + momentum * buf */
    c.nesterov = 1;
    p = 1.0f;
    buf = 0.0f;
    /* step 0: d = 0.6, buf = 0.6, d = 0.6 + 0.54 = 1.14; p = 1 - 0.114 */
    fesf_optim_step(&c, 0, 1, &p, &g0, &buf);
    assert_close(buf, 0.6, 1e-7);
    assert_close(p, 0.886, 1e-7);
    /* step 1: d = -1 + 0.0886 = -0.9114; buf = 0.54 - 0.9114 = -0.3714;
     * d = -0.9114 - 0.33426 = -1.24566; p = 0.886 + 0.124566 = 1.010566 */
    fesf_optim_step(&c, 1, 1, &p, &g1, &buf);
    assert_close(buf, -0.3714, 1e-6);
    assert_close(p, 1.010566, 1e-7);
}

/* Adam in double, straight from the textbook form, for a few steps. */
static double adam_ref(int kind, double lr, double wd, const double *g, int steps, double p)
{
    double m = 0, v = 0, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int t = 0; t < steps; t++) {
        double gi = g[t];
        if (kind == FESF_OPT_ADAMW) p *= 1 - lr * wd;
        else gi += wd * p;
        m = b1 * m + (1 - b1) * gi;
        v = b2 * v + (1 - b2) * gi * gi;
        double mhat = m / (1 - pow(b1, t + 1)), vhat = v / (1 - pow(b2, t + 1));
        p -= lr * mhat / (sqrt(vhat) + eps);
    }
    return p;
}

static void test_adam_steps(void **state)
{
    fesf_optim_config c;
    fesf_optim_defaults(&c, FESF_OPT_ADAM, 0.01f);
    /* first step from zero state moves by lr * g / (|g| + eps) */
    float p[3] = {1.0f, 1.0f, 1.0f}, g[3] = {0.5f, -1e-3f, 0.0f}, st[6] = {0};
    fesf_optim_step(&c, 0, 3, p, g, st);
    assert_close(p[0], 0.99, 1e-7);
    assert_close(p[1], 1.0 + 0.01 * 1e-3 / (1e-3 + 1e-8), 1e-7);
    assert_true(p[2] == 1.0f); /* zero gradient: m = 0, denom = eps */
    assert_close(st[0], 0.05, 1e-6);   /* m = (1 - b1) g */
    /* v = (1 - b2) g^2 with b2 = 0.999f: 1 - 0.999f = 0.99998713e-3, not 1e-3
     * (torch's Python 1 - 0.999 is 1e-3; the bias correction cancels it) */
    assert_close(st[3], (1.0 - (double)0.999f) * 0.25, 1e-6);

    /* several steps of Adam (L2) and AdamW against the double reference */
    const double gs[6] = {0.5, -0.3, 0.8, 0.0, -1.2, 0.05};
    for (int kind = FESF_OPT_ADAM; kind <= FESF_OPT_ADAMW; kind++) {
        fesf_optim_defaults(&c, kind, 0.01f);
        c.weight_decay = 0.1f;
        float q = 1.5f, s2[2] = {0, 0};
        for (int t = 0; t < 6; t++) {
            float gt = (float)gs[t];
            fesf_optim_step(&c, t, 1, &q, &gt, s2);
        }
        assert_close(q, adam_ref(kind, 0.01, 0.1, gs, 6, 1.5), 1e-6);
    }

    /* one step with decay: Adam adds wd p to g, AdamW scales p first */
    fesf_optim_defaults(&c, FESF_OPT_ADAMW, 0.01f);
    c.weight_decay = 0.1f;
    float q = 1.0f, gq = 0.5f, s2[2] = {0, 0};
    fesf_optim_step(&c, 0, 1, &q, &gq, s2);
    assert_close(q, 0.999 - 0.01, 1e-7);
    fesf_optim_defaults(&c, FESF_OPT_ADAM, 0.01f);
    c.weight_decay = 0.1f;
    q = 1.0f;
    gq = -0.2f; /* g + wd p = -0.1 */
    memset(s2, 0, sizeof s2);
    fesf_optim_step(&c, 0, 1, &q, &gq, s2);
    assert_close(q, 1.01, 1e-7);
    assert_close(s2[0], -0.01, 1e-5);
}

static void test_schedules(void **state)
{
    fesf_optim_config c;
    fesf_optim_defaults(&c, FESF_OPT_SGD, 0.1f);
    assert_true(fesf_optim_lr(&c, 0) == 0.1f);
    assert_true(fesf_optim_lr(&c, 1000000) == 0.1f);

    c.sched = FESF_SCHED_STEP;
    c.step_size = 3;
    c.gamma = 0.5f;
    assert_close(fesf_optim_lr(&c, 0), 0.1, 1e-7);
    assert_close(fesf_optim_lr(&c, 2), 0.1, 1e-7);
    assert_close(fesf_optim_lr(&c, 3), 0.05, 1e-7);
    assert_close(fesf_optim_lr(&c, 5), 0.05, 1e-7);
    assert_close(fesf_optim_lr(&c, 7), 0.025, 1e-7);
    assert_close(fesf_optim_lr(&c, 30), 0.1 / 1024, 1e-7);
    fesf_optim_defaults(&c, FESF_OPT_SGD, 0.1f);
    c.sched = FESF_SCHED_STEP; /* default gamma 0.1 every 30 steps */
    assert_close(fesf_optim_lr(&c, 29), 0.1, 1e-7);
    assert_close(fesf_optim_lr(&c, 60), 0.001, 1e-6);

    c.sched = FESF_SCHED_COSINE;
    c.total_steps = 10;
    c.lr_min = 0.001f;
    assert_close(fesf_optim_lr(&c, 0), 0.1, 1e-7);
    assert_close(fesf_optim_lr(&c, 5), 0.0505, 1e-6);
    assert_close(fesf_optim_lr(&c, 2), 0.001 + 0.099 * (1 + cos(M_PI / 5)) / 2, 1e-6);
    assert_close(fesf_optim_lr(&c, 9), 0.001 + 0.099 * (1 + cos(0.9 * M_PI)) / 2, 1e-6);
    assert_close(fesf_optim_lr(&c, 10), 0.001, 1e-7);
    assert_close(fesf_optim_lr(&c, 11), 0.001, 1e-7); /* clamped, no restart */
    assert_close(fesf_optim_lr(&c, 1000), 0.001, 1e-7);
    for (int t = 1; t <= 10; t++) assert_true(fesf_optim_lr(&c, t) < fesf_optim_lr(&c, t - 1));

    /* the step uses the schedule's lr at t */
    fesf_optim_defaults(&c, FESF_OPT_SGD, 0.1f);
    c.sched = FESF_SCHED_STEP;
    c.step_size = 2;
    c.gamma = 0.5f;
    float p = 1.0f, g = 1.0f;
    fesf_optim_step(&c, 5, 1, &p, &g, NULL); /* lr 0.025 */
    assert_close(p, 0.975, 1e-7);
}

/* ---- cross-check against torch.optim (tests/py/optim_ref.py) ---------- */

static const char *find_ref_script(void)
{
    static const char *cand[] = {"tests/py/optim_ref.py", "../tests/py/optim_ref.py",
                                 "../../tests/py/optim_ref.py"};
    const char *env = getenv("FESF_OPTIM_REF");
    if (env && *env) return access(env, R_OK) == 0 ? env : NULL;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
        if (access(cand[i], R_OK) == 0) return cand[i];
    return NULL;
}

static int read_word(FILE *f, char *buf, size_t size)
{
    char fmt[16];
    snprintf(fmt, sizeof fmt, "%%%zus", size - 1);
    return fscanf(f, fmt, buf) == 1;
}

static void expect_word(FILE *f, const char *want)
{
    char w[64];
    if (!read_word(f, w, sizeof w) || strcmp(w, want) != 0)
        fail_msg("reference file: expected '%s', got '%s'", want, w);
}

static double read_num(FILE *f)
{
    char w[64], *end;
    if (!read_word(f, w, sizeof w)) fail_msg("reference file: truncated");
    double x = strtod(w, &end);
    if (*end) fail_msg("reference file: bad number '%s'", w);
    return x;
}

static void read_floats(FILE *f, const char *tag, size_t n, float *out)
{
    expect_word(f, tag);
    for (size_t i = 0; i < n; i++) out[i] = (float)read_num(f);
}

static int lookup(const char *w, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strcmp(w, names[i]) == 0) return i;
    fail_msg("reference file: unknown name '%s'", w);
    return -1;
}

/* Deviation of got from the torch value want, relative to the parameter's
 * scale: |got - want| / max(|want|, 1). Parameters start ~N(0, 1), so this
 * is the relative error for |want| >= 1 and the absolute error below (a
 * pure relative error is meaningless for values that pass near zero). */
static double deviation(float got, float want)
{
    double a = fabs((double)want);
    return fabs((double)got - (double)want) / (a > 1.0 ? a : 1.0);
}

static void test_torch_crosscheck(void **state)
{
    const char *script = find_ref_script();
    if (!script) {
        print_message("# skipping: tests/py/optim_ref.py not found (run from the source root or set FESF_OPTIM_REF)\n");
        skip();
    }
    if (access(PYTHON, X_OK) != 0) {
        print_message("# skipping: %s not present\n", PYTHON);
        skip();
    }
    const char *seed_env = getenv("FESF_OPTIM_SEED");
    long seed = seed_env ? strtol(seed_env, NULL, 10) : 20240917;
    const char *tmpdir = getenv("TMPDIR");
    char path[512], cmd[1536];
    snprintf(path, sizeof path, "%s/fesf_optim_ref_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s '%s' --seed %ld --n 259 --out '%s'", PYTHON, script, seed, path);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        unlink(path);
        if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
            print_message("# skipping: torch/numpy not importable by %s\n", PYTHON);
            skip();
        }
        fail_msg("'%s' failed (status %d)", cmd, rc);
    }
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    unlink(path);

    static const char *const kinds[] = {"sgd", "adam", "adamw"};
    static const char *const scheds[] = {"constant", "step", "cosine"};
    expect_word(f, "fesf-optim-ref");
    assert_int_equal((int)read_num(f), 1);
    int ncases = (int)read_num(f);
    assert_true(ncases > 0);
    double worst = 0, worst_lr = 0;
    for (int ci = 0; ci < ncases; ci++) {
        char name[64], w[64];
        expect_word(f, "case");
        assert_true(read_word(f, name, sizeof name));
        assert_true(read_word(f, w, sizeof w));
        int kind = lookup(w, kinds, 3);
        assert_true(read_word(f, w, sizeof w));
        int sched = lookup(w, scheds, 3);
        size_t n = (size_t)read_num(f);
        int steps = (int)read_num(f);
        assert_true(n > 0 && n < 1000000 && steps > 0 && steps < 1000);
        fesf_optim_config c;
        fesf_optim_defaults(&c, kind == 0 ? FESF_OPT_SGD : kind == 1 ? FESF_OPT_ADAM : FESF_OPT_ADAMW,
                            (float)read_num(f));
        c.sched = sched == 0 ? FESF_SCHED_CONSTANT : sched == 1 ? FESF_SCHED_STEP : FESF_SCHED_COSINE;
        c.momentum = (float)read_num(f);
        c.nesterov = (int)read_num(f);
        c.weight_decay = (float)read_num(f);
        c.beta1 = (float)read_num(f);
        c.beta2 = (float)read_num(f);
        c.eps = (float)read_num(f);
        c.step_size = (int)read_num(f);
        c.gamma = (float)read_num(f);
        c.total_steps = (int64_t)read_num(f);
        c.lr_min = (float)read_num(f);

        float *lrs = malloc(steps * sizeof *lrs);
        float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g), *want = malloc(n * sizeof *want);
        size_t ns = n * (size_t)fesf_optim_state_per_param(&c);
        float *st = calloc(ns ? ns : 1, sizeof *st);
        assert_true(lrs && p && g && want && st);
        read_floats(f, "lr", (size_t)steps, lrs);
        double dev_lr = 0;
        for (int t = 0; t < steps; t++) {
            double d = fabs((double)fesf_optim_lr(&c, t) - lrs[t]) / lrs[t];
            if (d > dev_lr) dev_lr = d;
        }
        read_floats(f, "p0", n, p);
        for (int t = 0; t < steps; t++) {
            read_floats(f, "g", n, g);
            fesf_optim_step(&c, t, n, p, g, st);
        }
        read_floats(f, "p", n, want);
        double dev = 0, dev_abs = 0;
        size_t at = 0, exact = 0;
        for (size_t i = 0; i < n; i++) {
            double d = deviation(p[i], want[i]);
            if (d > dev) { dev = d; at = i; }
            double da = fabs((double)p[i] - want[i]);
            if (da > dev_abs) dev_abs = da;
            exact += p[i] == want[i];
        }
        print_message("# %-20s max dev %.2e (abs %.2e, %zu/%zu bit-equal), lr dev %.1e\n", name, dev, dev_abs,
                      exact, n, dev_lr);
        if (dev > 1e-6) fail_msg("%s: parameter %zu is %.9g, torch %.9g", name, at, p[at], want[at]);
        if (dev_lr > 1e-6) fail_msg("%s: learning rates differ from torch's by %.2e", name, dev_lr);
        if (dev > worst) worst = dev;
        if (dev_lr > worst_lr) worst_lr = dev_lr;
        free(lrs);
        free(p);
        free(g);
        free(want);
        free(st);
    }
    expect_word(f, "end");
    fclose(f);
    print_message("# torch cross-check: %d cases, max deviation %.2e, max lr deviation %.2e\n", ncases, worst,
                  worst_lr);
}

/* FedAdam / FedYogi's server step against the paper's Algorithm 2 written
 * out in double, over 20 rounds of random deltas; a zero delta from the
 * fresh state (m = 0, v = tau^2) moves nothing. */
static void test_server_adaptive(void **state)
{
    enum { N = 257, R = 20 };
    for (int yogi = 0; yogi < 2; yogi++) {
        float p[N], avg[N], m[N], v[N];
        double pd[N], md[N], vd[N];
        const float lr = 0.05f, tau = 1e-3f;
        unsigned s = 12345;
        for (int q = 0; q < N; q++) {
            s = s * 1103515245u + 12345u;
            p[q] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f, pd[q] = p[q];
            m[q] = 0, md[q] = 0, v[q] = tau * tau, vd[q] = (double)(tau * tau);
        }
        double worst = 0;
        for (int r = 0; r < R; r++) {
            for (int q = 0; q < N; q++) {
                s = s * 1103515245u + 12345u;
                avg[q] = p[q] - ((float)((s >> 8) % 2001) / 1000.0f - 1.0f) * 0.01f * (float)(r % 3);
            }
            for (int q = 0; q < N; q++) {
                double d = pd[q] - (double)avg[q]; /* pd = p: the delta fesf sees */
                md[q] = 0.9 * md[q] + 0.1 * d;
                if (yogi) {
                    double sg = vd[q] > d * d ? 1 : vd[q] < d * d ? -1 : 0;
                    vd[q] -= 0.01 * d * d * sg;
                } else {
                    vd[q] = 0.99 * vd[q] + 0.01 * d * d;
                }
            }
            fesf_optim_server_adaptive(N, p, avg, m, v, lr, tau, yogi);
            for (int q = 0; q < N; q++) {
                pd[q] = (double)p[q]; /* follow fesf's float trajectory, check this step's moments */
                double e = fabs((double)m[q] - md[q]) + fabs((double)v[q] - vd[q]);
                worst = e > worst ? e : worst;
                md[q] = m[q], vd[q] = v[q];
            }
        }
        if (worst > 1e-7) fail_msg("%s: moments differ from the double reference by %g", yogi ? "yogi" : "adam", worst);
        float p0[N], z[N], v0[N];
        for (int q = 0; q < N; q++) p0[q] = p[q], z[q] = 0, m[q] = 0, v[q] = v0[q] = tau * tau;
        fesf_optim_server_adaptive(N, p, p0, z, v, lr, tau, yogi);
        assert_memory_equal(p, p0, sizeof p); /* zero delta: nothing moves */
        if (yogi) assert_memory_equal(v, v0, sizeof v); /* Yogi: v moves only by d^2 (Adam's decays) */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_adam_steps),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_torch_crosscheck),
        cmocka_unit_test(test_server_adaptive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
