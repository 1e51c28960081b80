/* OpenBLAS policy (see blas.h): threads, and the kernels chosen at start-up. */
#include "fesf/blas.h"
#include "fesf/error.h"
#include "fesf/log.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int gemm_serial; /* OpenBLAS was told to use one thread */

void fesf_blas_serial_gemm(void)
{
    if (gemm_serial) return;
    openblas_set_num_threads(1);
    gemm_serial = 1;
}

void fesf_blas_set_threads(int n)
{
    fesf_blas_serial_gemm();
    omp_set_num_threads(n > 0 ? n : 1);
}

const char *fesf_blas_config(void) { return openblas_get_config(); }

#define SELF "/proc/self/exe"
#define ENV_CORE "OPENBLAS_CORETYPE"
#define ENV_AUTO "FESF_BLAS_AUTO"
#define ENV_FROM "FESF_BLAS_FROM"
#define ENV_FAILED "FESF_BLAS_FAILED"
#define ENV_TEST_CORE "FESF_BLAS_TEST_CORENAME"
#define ENV_TEST_CHECK "FESF_BLAS_TEST_SELFCHECK"

enum {
    HOW_DETECTED, /* OpenBLAS's own choice, nothing to improve */
    HOW_USER,     /* OPENBLAS_CORETYPE set by the user */
    HOW_AUTO,     /* re-executed with a better choice, checked */
    HOW_KEPT,     /* a better choice exists, FESF_BLAS_AUTO=0 */
    HOW_REJECTED, /* the better choice failed its checks: OpenBLAS's own again */
    HOW_NO_EXEC,  /* a better choice exists, the process could not re-execute */
};

static struct {
    int how;
    char chose[64]; /* OpenBLAS's own choice (or FESF_BLAS_TEST_CORENAME's) */
    char want[64];  /* the better choice; HOW_USER: the user's OPENBLAS_CORETYPE */
    char why[320];  /* HOW_REJECTED, HOW_NO_EXEC */
    int logged;
} st;

/* Generic, or older than AVX2 + FMA: OpenBLAS's x86 core names (dynamic.c). */
static const char *const old_cores[] = {
    "Unknown", "Generic", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2",
    "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Athlon", "Opteron", "Opteron(SSE3)", "Barcelona",
    "Nano", "Bobcat", NULL,
};

const char *fesf_blas_better_core(const char *chosen, int avx512, int avx2_fma)
{
    if (!avx512 && !avx2_fma) return NULL;
    int old = !chosen || !*chosen;
    for (int i = 0; !old && old_cores[i]; i++) old = !strcasecmp(chosen, old_cores[i]);
    return !old ? NULL : avx512 ? "SkylakeX" : "Haswell";
}

/* What the CPU (and the OS, through XGETBV) supports, as the log names it. */
static const char *cpu_level(int *avx512, int *avx2_fma)
{
    *avx512 = *avx2_fma = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    *avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    *avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return *avx512 ? "AVX-512" : *avx2_fma ? "AVX2 and FMA" : "neither AVX2 nor AVX-512";
}

/* --- the GEMM self-check ------------------------------------------------ */

typedef struct {
    int m, n, k, ta, tb, pad; /* pad: extra columns in every leading dimension */
    float alpha, beta;
} gemm_case;

static const gemm_case cases[] = {
    {1, 1, 1, 0, 0, 0, 1.0f, 0.0f},
    {7, 5, 3, 0, 0, 0, 1.0f, 0.0f},
    {16, 784, 9, 0, 0, 0, 1.0f, 0.0f},    /* cnn-small's first convolution */
    {33, 65, 17, 0, 1, 3, 1.0f, 1.0f},    /* a weight gradient, accumulated */
    {17, 100, 48, 1, 0, 0, 1.0f, 0.0f},   /* an input gradient */
    {129, 67, 31, 1, 1, 1, -0.5f, 0.25f}, /* both transposed, alpha and beta */
    {96, 130, 257, 0, 0, 2, 1.0f, 1.0f},
    {24, 40, 700, 0, 1, 0, 1.0f, 0.0f},   /* k beyond one block */
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

/* Floats of A, B and C of a case, with their leading dimensions. */
static void case_sizes(const gemm_case *g, size_t *na, size_t *nb, size_t *nc)
{
    *na = (size_t)(g->ta ? g->k : g->m) * (size_t)((g->ta ? g->m : g->k) + g->pad);
    *nb = (size_t)(g->tb ? g->n : g->k) * (size_t)((g->tb ? g->k : g->n) + g->pad);
    *nc = (size_t)g->m * (size_t)(g->n + g->pad);
}

static sigjmp_buf ill_jump;
static void on_ill(int sig) { siglongjmp(ill_jump, sig); }

static float lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((int32_t)(*s >> 8) - (1 << 23)) / (float)(1 << 23); /* [-1, 1) */
}

/* One case; A is m x k (k x m when ta), B k x n (n x k when tb), all row-major. */
static int check_case(const gemm_case *g, float *a, float *b, float *c, float *c0, char *why, size_t n)
{
    int lda = (g->ta ? g->m : g->k) + g->pad, ldb = (g->tb ? g->k : g->n) + g->pad, ldc = g->n + g->pad;
    size_t na, nb, nc;
    case_sizes(g, &na, &nb, &nc);
    uint32_t s = (uint32_t)(g->m * 131 + g->n * 7 + g->k);
    for (size_t i = 0; i < na; i++) a[i] = lcg(&s);
    for (size_t i = 0; i < nb; i++) b[i] = lcg(&s);
    for (size_t i = 0; i < nc; i++) c[i] = c0[i] = lcg(&s);
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, g->m, g->n,
                g->k, g->alpha, a, lda, b, ldb, g->beta, c, ldc);
    for (int i = 0; i < g->m; i++)
        for (int j = 0; j < g->n; j++) {
            double sum = 0, mag = 0;
            for (int p = 0; p < g->k; p++) {
                double t = (double)(g->ta ? a[p * lda + i] : a[i * lda + p]) *
                           (double)(g->tb ? b[j * ldb + p] : b[p * ldb + j]);
                sum += t;
                mag += fabs(t);
            }
            double want = g->alpha * sum + (double)g->beta * c0[i * ldc + j];
            double scale = fabs(g->alpha) * mag + fabs((double)g->beta * c0[i * ldc + j]) + 1e-30;
            double err = fabs((double)c[i * ldc + j] - want) / scale;
            if (!(err <= 1e-5)) {
                snprintf(why, n, "sgemm %dx%dx%d%s%s: relative error %.1e at (%d, %d)", g->m, g->n, g->k,
                         g->ta ? " A^T" : "", g->tb ? " B^T" : "", err, i, j);
                return -1;
            }
        }
    for (int i = 0; i < g->m; i++) /* the padding of C is left alone */
        for (int j = g->n; j < ldc; j++)
            if (c[i * ldc + j] != c0[i * ldc + j]) {
                snprintf(why, n, "sgemm %dx%dx%d wrote past column %d of C", g->m, g->n, g->k, g->n);
                return -1;
            }
    return 0;
}

static float *case_buf; /* freed by fesf_blas_selfcheck, also after a SIGILL */

/* Every case, in buffers sized for the largest; 0 or -1 with why. */
static int run_cases(char *why, size_t n)
{
    size_t ma = 0, mb = 0, mc = 0;
    for (int i = 0; i < N_CASES; i++) {
        size_t na, nb, nc;
        case_sizes(&cases[i], &na, &nb, &nc);
        ma = na > ma ? na : ma;
        mb = nb > mb ? nb : mb;
        mc = nc > mc ? nc : mc;
    }
    float *buf = case_buf = malloc(sizeof(float) * (ma + mb + 2 * mc));
    if (!buf) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; !rc && i < N_CASES; i++)
        rc = check_case(&cases[i], buf, buf + ma, buf + ma + mb, buf + ma + mb + mc, why, n);
    return rc;
}

int fesf_blas_selfcheck(char *why, size_t n)
{
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1); /* the GEMMs run on this thread, so a SIGILL lands here */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_ill;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGILL, &sa, &old);
    volatile int rc = -1;
    if (sigsetjmp(ill_jump, 1))
        snprintf(why, n, "sgemm raised SIGILL (an instruction this CPU does not have)");
    else
        rc = run_cases(why, n);
    sigaction(SIGILL, &old, NULL);
    openblas_set_num_threads(threads);
    free(case_buf);
    case_buf = NULL;
    return rc;
}

/* --- the choice at start-up --------------------------------------------- */

static void copy(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

static void re_exec(char **argv)
{
    fflush(stdout);
    fflush(stderr);
    execv(SELF, argv);
}

/* The re-executed process: did OpenBLAS take the kernels, and do they compute? */
static int check_choice(char **argv)
{
    char why[256] = "";
    const char *now = openblas_get_corename(), *test = getenv(ENV_TEST_CHECK);
    if (strcasecmp(now, st.want))
        snprintf(why, sizeof why, "OpenBLAS runs '%s' kernels for %s=%s", now, ENV_CORE, st.want);
    else if (test && !strcmp(test, "fail"))
        snprintf(why, sizeof why, "GEMM self-check failed on purpose (%s=fail)", ENV_TEST_CHECK);
    else if (fesf_blas_selfcheck(why, sizeof why))
        ;
    else {
        st.how = HOW_AUTO;
        return 0;
    }
    char failed[sizeof st.want + sizeof why + 4];
    snprintf(failed, sizeof failed, "%s: %s", st.want, why);
    unsetenv(ENV_CORE); /* OpenBLAS chooses by itself again */
    setenv(ENV_FAILED, failed, 1);
    re_exec(argv);
    return fesf_error("'%s' kernels rejected (%s) and re-executing '%s' with OpenBLAS's own failed: %s", st.want, why,
                      SELF, strerror(errno));
}

int fesf_blas_autoselect(char **argv)
{
    const char *from = getenv(ENV_FROM), *failed = getenv(ENV_FAILED), *user = getenv(ENV_CORE);
    if (from && failed && !user) { /* after a rejected choice: stay */
        st.how = HOW_REJECTED;
        copy(st.chose, sizeof st.chose, from);
        const char *colon = strchr(failed, ':');
        snprintf(st.want, sizeof st.want, "%.*s", colon ? (int)(colon - failed) : (int)strlen(failed), failed);
        const char *why = colon ? colon + 1 : "";
        while (*why == ' ') why++;
        copy(st.why, sizeof st.why, why);
        return 0;
    }
    if (from && user && !failed) { /* re-executed with our choice */
        copy(st.chose, sizeof st.chose, from);
        copy(st.want, sizeof st.want, user);
        return check_choice(argv);
    }
    if (user) {
        st.how = HOW_USER;
        copy(st.want, sizeof st.want, user);
        return 0;
    }
    const char *test = getenv(ENV_TEST_CORE), *autoset = getenv(ENV_AUTO);
    copy(st.chose, sizeof st.chose, test && *test ? test : openblas_get_corename());
    int avx512, avx2_fma;
    cpu_level(&avx512, &avx2_fma);
    const char *better = fesf_blas_better_core(st.chose, avx512, avx2_fma);
    st.how = HOW_DETECTED;
    if (!better) return 0;
    copy(st.want, sizeof st.want, better);
    if (autoset && !strcmp(autoset, "0")) {
        st.how = HOW_KEPT;
        return 0;
    }
    st.how = HOW_NO_EXEC;
    if (access(SELF, X_OK)) {
        snprintf(st.why, sizeof st.why, "cannot execute '%s': %s", SELF, strerror(errno));
        return 0;
    }
    setenv(ENV_CORE, better, 1);
    setenv(ENV_FROM, st.chose, 1);
    unsetenv(ENV_FAILED); /* a fresh choice, whatever the environment carried */
    re_exec(argv);
    snprintf(st.why, sizeof st.why, "execv '%s': %s", SELF, strerror(errno));
    unsetenv(ENV_CORE);
    unsetenv(ENV_FROM);
    return 0;
}

/* whether OpenBLAS's core `name` runs AVX-512 kernels */
static int core_has_avx512(const char *name)
{
    static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    int has512 = 0;
    for (int i = 0; avx512_cores[i]; i++) has512 |= !strcasecmp(name, avx512_cores[i]);
    return has512;
}

int fesf_blas_avx512(void)
{
    static int known = -1; /* the kernels do not change once OpenBLAS is loaded: racing writers agree */
    if (known < 0) known = core_has_avx512(openblas_get_corename());
    return known;
}

/* A core the CPU would run faster than the one a user set: SkylakeX on AVX-512
 * for any core without it, Haswell on AVX2 + FMA for a generic or older one. */
static const char *user_core_hint(const char *now, int avx512, int avx2_fma)
{
    if (avx512 && !core_has_avx512(now)) return "SkylakeX";
    return fesf_blas_better_core(now, 0, avx2_fma);
}

void fesf_blas_kernels(char *buf, size_t n)
{
    int avx512, avx2_fma;
    const char *cpu = cpu_level(&avx512, &avx2_fma), *now = openblas_get_corename();
    switch (st.how) {
    case HOW_USER: {
        const char *hint = user_core_hint(now, avx512, avx2_fma);
        snprintf(buf, n, "%s (%s=%s set by the user)", now, ENV_CORE, st.want);
        size_t len = strlen(buf);
        if (hint && len < n) /* left alone, but said: the CPU has more than these kernels use */
            snprintf(buf + len, n - len, " [this CPU has %s: %s kernels would use it]", cpu, hint);
        break;
    }
    case HOW_AUTO:
        snprintf(buf, n, "%s (auto: OpenBLAS chose %s on a CPU with %s; GEMM self-check passed)", now, st.chose, cpu);
        break;
    case HOW_KEPT:
        snprintf(buf, n, "%s (detected by OpenBLAS; %s=0 keeps it on a CPU with %s)", now, ENV_AUTO, cpu);
        break;
    case HOW_REJECTED:
        snprintf(buf, n, "%s (detected by OpenBLAS; %s rejected: %s)", now, st.want, st.why);
        break;
    case HOW_NO_EXEC:
        snprintf(buf, n, "%s (detected by OpenBLAS; could not re-execute with %s: %s)", now, st.want, st.why);
        break;
    default: snprintf(buf, n, "%s (detected by OpenBLAS)", now);
    }
    const char *test = getenv(ENV_TEST_CORE);
    size_t len = strlen(buf);
    if (test && *test && len < n) snprintf(buf + len, n - len, " [%s=%s]", ENV_TEST_CORE, test);
}

void fesf_blas_log_choice(int first)
{
    if (st.logged) return;
    st.logged = 1;
    int avx512, avx2_fma;
    const char *cpu = cpu_level(&avx512, &avx2_fma);
    if (st.how == HOW_AUTO && first)
        fesf_info("blas: OpenBLAS chose %s kernels on a CPU with %s; using %s (%s), GEMM self-check passed", st.chose,
                  cpu, st.want, ENV_CORE);
    else if (st.how == HOW_REJECTED)
        fesf_warn("blas: OpenBLAS chose %s kernels on a CPU with %s; %s rejected (%s), staying with %s", st.chose, cpu,
                  st.want, st.why, openblas_get_corename());
    else if (st.how == HOW_NO_EXEC)
        fesf_warn("blas: OpenBLAS chose %s kernels on a CPU with %s; could not re-execute with %s=%s (%s), staying "
                  "with them",
                  st.chose, cpu, ENV_CORE, st.want, st.why);
    else if (first) {
        char k[512];
        fesf_blas_kernels(k, sizeof k);
        fesf_debug("blas: kernels %s", k);
    }
}
