/* Image-quality measures: PSNR / SSIM known values and properties, the range
 * fraction, the fixed feature extractor, mergeable feature statistics, the
 * Frechet distance, and cross-checks against an independent NumPy
 * implementation (tests/py/quality_ref.py; skipped when /usr/bin/python3 or
 * numpy is absent). */
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

#include "fesf/error.h"
#include "fesf/quality.h"
#include "fesf/rng.h"

#define PYTHON "/usr/bin/python3"

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) fail_msg("got %.17g, want %.17g (tol %g)", got, want, tol);
}

static float *new_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

static double ssim_of(const float *a, const float *b, int c, int h, int w)
{
    float *scr = new_floats(fesf_ssim_scratch_floats(h, w));
    double s = fesf_ssim(a, b, c, h, w, scr);
    free(scr);
    return s;
}

/* Smooth random image: sum of a few random cosines, scaled into [lo, hi]. */
static void smooth_image(fesf_rng *r, float *x, int h, int w, double lo, double hi)
{
    double fy[3], fx[3], ph[3];
    for (int k = 0; k < 3; k++) {
        fy[k] = 0.05 + 0.3 * fesf_rng_uniform(r);
        fx[k] = 0.05 + 0.3 * fesf_rng_uniform(r);
        ph[k] = 6.283 * fesf_rng_uniform(r);
    }
    for (int y = 0; y < h; y++)
        for (int i = 0; i < w; i++) {
            double v = 0;
            for (int k = 0; k < 3; k++) v += cos(fy[k] * y + fx[k] * i + ph[k]);
            x[y * w + i] = (float)(lo + (hi - lo) * (v + 3) / 6);
        }
}

static void add_noise(fesf_rng *r, const float *x, float *y, size_t n, double sigma)
{
    for (size_t i = 0; i < n; i++) y[i] = (float)(x[i] + sigma * fesf_rng_normal(r));
}

/* ---- PSNR / SSIM / range ------------------------------------------------- */

static void test_psnr_known(void **state)
{
    enum { C = 2, H = 12, W = 9, N = C * H * W };
    float a[N], b[N];
    fesf_rng r;
    fesf_rng_init(&r, 1, 0, 200);
    for (int i = 0; i < N; i++) a[i] = (float)(200 + fesf_rng_below(&r, 600)) / 1024; /* dyadic: exact */
    assert_true(isinf(fesf_psnr(a, a, C, H, W)) && fesf_psnr(a, a, C, H, W) > 0);
    double se = 0;
    for (int i = 0; i < N; i++) {
        b[i] = a[i] + 0.125f; /* exact */
        se += ((double)b[i] - a[i]) * ((double)b[i] - a[i]);
    }
    assert_close(se / N, 0.015625, 1e-15);
    assert_close(fesf_psnr(a, b, C, H, W), 10 * log10(64.0), 1e-12); /* 18.06 dB */
    assert_close(fesf_psnr(b, a, C, H, W), 10 * log10(64.0), 1e-12);
    b[5] = NAN;
    assert_true(isnan(fesf_psnr(a, b, C, H, W)));
}

static void test_ssim_identical_and_constant(void **state)
{
    enum { C = 3, H = 20, W = 17, N = C * H * W };
    float a[N], b[N];
    fesf_rng r;
    fesf_rng_init(&r, 2, 0, 200);
    for (int i = 0; i < N; i++) a[i] = (float)fesf_rng_uniform(&r);
    assert_close(ssim_of(a, a, C, H, W), 1.0, 1e-12);
    /* constant images 0.4 and 0.5: zero variances, so SSIM is the luminance
     * term (2*0.4*0.5 + C1) / (0.4^2 + 0.5^2 + C1) */
    for (int i = 0; i < N; i++) a[i] = 0.4f, b[i] = 0.5f;
    double c1 = 1e-4, va = 0.4f, vb = 0.5f, want = (2 * va * vb + c1) / (va * va + vb * vb + c1);
    assert_close(ssim_of(a, b, C, H, W), want, 1e-12);
    /* a constant offset of a textured image keeps the structure term at 1:
     * SSIM = mean luminance term < 1 */
    smooth_image(&r, a, H, W, 0.2, 0.7);
    for (int i = 0; i < H * W; i++) b[i] = a[i] + 0.25f;
    double s = ssim_of(a, b, 1, H, W);
    assert_true(s < 0.95 && s > 0.5);
}

static void test_ssim_symmetric_and_noise(void **state)
{
    enum { H = 32, W = 28, N = H * W };
    float a[N], b[N];
    fesf_rng r;
    fesf_rng_init(&r, 3, 0, 200);
    smooth_image(&r, a, H, W, 0.1, 0.9);
    add_noise(&r, a, b, N, 0.05);
    double ab = ssim_of(a, b, 1, H, W), ba = ssim_of(b, a, 1, H, W);
    assert_close(ab, ba, 1e-12);
    static const double sig[] = {0.005, 0.02, 0.05, 0.1, 0.2, 0.4};
    double prev = 1.0;
    for (size_t k = 0; k < sizeof sig / sizeof sig[0]; k++) {
        fesf_rng_init(&r, 4, 0, 200); /* same noise pattern, scaled */
        add_noise(&r, a, b, N, sig[k]);
        double s = ssim_of(a, b, 1, H, W);
        print_message("# noise sigma %.3f: ssim %.4f psnr %.2f\n", sig[k], s, fesf_psnr(a, b, 1, H, W));
        assert_true(s < prev);
        prev = s;
    }
    assert_true(prev < 0.5);
}

static void test_ssim_too_small(void **state)
{
    float a[10 * 30] = {0};
    fesf_error_clear();
    assert_true(isnan(fesf_ssim(a, a, 1, 10, 30, NULL)));
    assert_non_null(strstr(fesf_errmsg(), "window"));
    assert_int_equal(fesf_ssim_scratch_floats(10, 30), 0);
    assert_int_equal(fesf_ssim_scratch_floats(11, 30), 10 * 11 * 20);
}

static void test_fraction_outside(void **state)
{
    const float x[8] = {0.0f, 1.0f, -1e-7f, 1.0000001f, 0.5f, NAN, INFINITY, -2.0f};
    assert_close(fesf_fraction_outside01(x, 8), 5.0 / 8, 0);
    assert_close(fesf_fraction_outside01(x, 2), 0.0, 0);
    assert_true(isnan(fesf_fraction_outside01(x, 0)));
}

/* ---- NumPy cross-check helpers ------------------------------------------- */

static const char *find_ref_script(void)
{
    static const char *cand[] = {"tests/py/quality_ref.py", "../tests/py/quality_ref.py",
                                 "../../tests/py/quality_ref.py"};
    const char *env = getenv("FESF_QUALITY_REF");
    if (env && *env) return access(env, R_OK) == 0 ? env : NULL;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
        if (access(cand[i], R_OK) == 0) return cand[i];
    return NULL;
}

/* Skips the current test when the reference cannot run. */
static const char *ref_or_skip(void)
{
    const char *script = find_ref_script();
    if (!script) {
        print_message("# skipping: tests/py/quality_ref.py not found "
                      "(run from the source root or set FESF_QUALITY_REF)\n");
        skip();
    }
    if (access(PYTHON, X_OK) != 0) {
        print_message("# skipping: %s not present\n", PYTHON);
        skip();
    }
    return script;
}

static FILE *tmp_open(char *path, size_t len)
{
    const char *tmpdir = getenv("TMPDIR");
    snprintf(path, len, "%s/fesf_quality_ref_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    return f;
}

static void put(FILE *f, const void *p, size_t size, size_t n)
{
    assert_int_equal(fwrite(p, size, n, f), n);
}

/* Run the reference once in `mode` on paths[0..np) (then removed); reads
 * nout doubles in all. Returns 0, or 77 when numpy is missing. */
typedef char ref_path[512];
static int run_ref(const char *script, const char *mode, ref_path *paths, int np, double *out, int nout)
{
    char cmd[4096];
    int len = snprintf(cmd, sizeof cmd, "%s '%s' %s", PYTHON, script, mode);
    for (int i = 0; i < np; i++) len += snprintf(cmd + len, sizeof cmd - len, " '%s'", paths[i]);
    assert_true(len < (int)sizeof cmd);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int got = 0;
    while (got < nout && fscanf(p, "%lf", &out[got]) == 1) got++;
    int rc = pclose(p);
    for (int i = 0; i < np; i++) unlink(paths[i]);
    if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77) return 77;
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0 || got != nout)
        fail_msg("'%s' failed (status %d, %d of %d values)", cmd, rc, got, nout);
    return 0;
}

static void skip_if_77(int rc)
{
    if (rc == 77) {
        print_message("# skipping: numpy not importable by %s\n", PYTHON);
        skip();
    }
}

/* ---- SSIM / PSNR vs NumPy ------------------------------------------------ */

/* One image case: the input file for the reference, and our values. */
typedef struct {
    const char *what;
    int c, h, w;
    double ssim, psnr;
} image_case;

static void image_case_write(image_case *ic, ref_path path, const float *a, const float *b)
{
    FILE *f = tmp_open(path, sizeof(ref_path));
    int32_t hdr[3] = {ic->c, ic->h, ic->w};
    size_t n = (size_t)ic->c * ic->h * ic->w;
    put(f, hdr, sizeof hdr[0], 3);
    put(f, a, sizeof *a, n);
    put(f, b, sizeof *b, n);
    assert_int_equal(fclose(f), 0);
    ic->ssim = ssim_of(a, b, ic->c, ic->h, ic->w);
    ic->psnr = fesf_psnr(a, b, ic->c, ic->h, ic->w);
}

static void test_ssim_psnr_numpy(void **state)
{
    const char *script = ref_or_skip();
    enum { MAXN = 3 * 48 * 40, NC = 4 };
    static float a[MAXN], b[MAXN];
    image_case cases[NC] = {
        {"uniform + noise 0.1", 1, 28, 28, 0, 0},       /* MedMNIST size */
        {"smooth rgb + noise 0.08", 3, 48, 40, 0, 0},   /* b leaves [0,1] in places */
        {"bright flat + noise 0.002", 1, 33, 29, 0, 0}, /* cancellation in s = E[x^2] - mu^2 */
        {"independent 11x11", 1, 11, 11, 0, 0},         /* smallest legal size */
    };
    ref_path paths[NC];
    fesf_rng r;
    fesf_rng_init(&r, 5, 0, 200);

    for (int i = 0; i < 28 * 28; i++) a[i] = (float)fesf_rng_uniform(&r);
    add_noise(&r, a, b, 28 * 28, 0.1);
    image_case_write(&cases[0], paths[0], a, b);

    for (int ch = 0; ch < 3; ch++) smooth_image(&r, a + ch * 48 * 40, 48, 40, 0.0, 1.0);
    add_noise(&r, a, b, 3 * 48 * 40, 0.08);
    image_case_write(&cases[1], paths[1], a, b);

    smooth_image(&r, a, 33, 29, 0.93, 0.95);
    add_noise(&r, a, b, 33 * 29, 0.002);
    image_case_write(&cases[2], paths[2], a, b);

    for (int i = 0; i < 11 * 11; i++) a[i] = (float)fesf_rng_uniform(&r), b[i] = (float)fesf_rng_uniform(&r);
    image_case_write(&cases[3], paths[3], a, b);

    double want[2 * NC];
    skip_if_77(run_ref(script, "image", paths, NC, want, 2 * NC));
    for (int k = 0; k < NC; k++) {
        const image_case *ic = &cases[k];
        print_message("# %-26s %dx%dx%d: ssim %.7f (numpy %+.1e)  psnr %.4f (numpy %+.1e)\n", ic->what,
                      ic->c, ic->h, ic->w, ic->ssim, ic->ssim - want[2 * k], ic->psnr,
                      ic->psnr - want[2 * k + 1]);
        assert_close(ic->ssim, want[2 * k], 1e-5); /* the contract; observed ~1e-13 */
        assert_close(ic->psnr, want[2 * k + 1], 1e-5);
    }
}

/* ---- Features ------------------------------------------------------------ */

static void features_of(const float *x, int c, int h, int w, double *feat)
{
    float *scr = new_floats(fesf_features_scratch_floats(h, w));
    assert_int_equal(fesf_features(x, c, h, w, feat, scr), 0);
    free(scr);
}

static void test_features(void **state)
{
    enum { S = 32, D = FESF_FEAT_DIM };
    static float g[S * S], rgb[3 * S * S], big[4 * S * S];
    double f1[D], f2[D], f3[D];
    fesf_rng r;
    fesf_rng_init(&r, 6, 0, 200);
    smooth_image(&r, g, S, S, 0.1, 0.9);
    features_of(g, 1, S, S, f1);
    int nonzero = 0;
    for (int i = 0; i < D; i++) {
        assert_true(isfinite(f1[i]) && f1[i] >= 0);
        nonzero += f1[i] > 0;
    }
    assert_true(nonzero > D / 2);
    features_of(g, 1, S, S, f2); /* deterministic */
    assert_memory_equal(f1, f2, sizeof f1);
    /* three equal channels = one grey channel */
    for (int ch = 0; ch < 3; ch++) memcpy(rgb + ch * S * S, g, sizeof g);
    features_of(rgb, 3, S, S, f2);
    for (int i = 0; i < D; i++) assert_close(f2[i], f1[i], 1e-6 * (1 + fabs(f1[i])));
    /* 2x2 pixel replication is undone exactly by area averaging */
    for (int y = 0; y < 2 * S; y++)
        for (int x = 0; x < 2 * S; x++) big[y * 2 * S + x] = g[(y / 2) * S + x / 2];
    features_of(big, 1, 2 * S, 2 * S, f3);
    for (int i = 0; i < D; i++) assert_close(f3[i], f1[i], 1e-6 * (1 + fabs(f1[i])));
    /* upsampling a non-multiple size works and a different image differs */
    features_of(g, 1, 28, 28, f3);
    double diff = 0;
    for (int i = 0; i < D; i++) diff += fabs(f3[i] - f1[i]);
    assert_true(diff > 1e-3);
    fesf_error_clear();
    assert_int_equal(fesf_features(g, 0, S, S, f3, NULL), -1);
    assert_non_null(strstr(fesf_errmsg(), "shape"));
}

/* ---- Feature statistics --------------------------------------------------- */

static void test_stats_merge(void **state)
{
    enum { D = 7, N = 50, CUT = 19 };
    size_t len = fesf_feat_stats_len(D);
    assert_int_equal(len, 1 + D + D * D);
    double *whole = calloc(len, sizeof(double)), *a = calloc(len, sizeof(double)),
           *b = calloc(len, sizeof(double));
    assert_true(whole && a && b);
    static double f[N][D];
    fesf_rng r;
    fesf_rng_init(&r, 7, 0, 200);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) f[i][j] = 3 + fesf_rng_normal(&r) + (j ? 0.5 * f[i][j - 1] : 0);
    for (int i = 0; i < N; i++) fesf_feat_stats_add(i < CUT ? a : b, D, f[i]);
    for (int i = 0; i < N; i++) fesf_feat_stats_add(whole, D, f[i]);
    fesf_feat_stats_merge(a, b, D);
    for (size_t i = 0; i < len; i++) assert_close(a[i], whole[i], 1e-12 * (1 + fabs(whole[i])));
    assert_true(a[0] == N);
    /* finish: against a two-pass mean / covariance */
    double mu[D], cov[D * D];
    assert_int_equal(fesf_feat_stats_finish(a, D, mu, cov), 0);
    for (int j = 0; j < D; j++) {
        double m = 0;
        for (int i = 0; i < N; i++) m += f[i][j];
        assert_close(mu[j], m / N, 1e-12);
    }
    for (int j = 0; j < D; j++)
        for (int k = 0; k < D; k++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += (f[i][j] - mu[j]) * (f[i][k] - mu[k]);
            assert_close(cov[j * D + k], s / (N - 1), 1e-10);
            assert_true(cov[j * D + k] == cov[k * D + j]);
        }
    double one[len];
    memset(one, 0, sizeof one);
    fesf_feat_stats_add(one, D, f[0]);
    fesf_error_clear();
    assert_int_equal(fesf_feat_stats_finish(one, D, mu, cov), -1);
    assert_non_null(strstr(fesf_errmsg(), "at least 2"));
    free(whole), free(a), free(b);
}

static void test_stats_numpy(void **state)
{
    const char *script = ref_or_skip();
    enum { D = FESF_FEAT_DIM, N = 40, S = 28 };
    static float img[S * S];
    static double feat[N][D], want[D + D * D];
    double *st = calloc(fesf_feat_stats_len(D), sizeof(double));
    assert_non_null(st);
    fesf_rng r;
    fesf_rng_init(&r, 8, 0, 200);
    for (int i = 0; i < N; i++) {
        smooth_image(&r, img, S, S, 0.05 * (i % 5), 0.6 + 0.08 * (i % 5));
        features_of(img, 1, S, S, feat[i]);
        fesf_feat_stats_add(st, D, feat[i]);
    }
    ref_path path[1];
    FILE *f = tmp_open(path[0], sizeof path[0]);
    int32_t hdr[2] = {N, D};
    put(f, hdr, sizeof hdr[0], 2);
    put(f, feat, sizeof(double), (size_t)N * D);
    assert_int_equal(fclose(f), 0);
    skip_if_77(run_ref(script, "stats", path, 1, want, D + D * D));
    static double mu[D], cov[D * D];
    assert_int_equal(fesf_feat_stats_finish(st, D, mu, cov), 0);
    double worst = 0;
    for (int i = 0; i < D; i++) {
        assert_close(mu[i], want[i], 1e-12 * (1 + fabs(want[i])));
    }
    for (int i = 0; i < D * D; i++) {
        double scale = sqrt(fabs(want[D + (i / D) * (D + 1)]) * fabs(want[D + (i % D) * (D + 1)]));
        double e = fabs(cov[i] - want[D + i]) / (scale + 1e-300);
        if (e > worst) worst = e;
    }
    print_message("# feature covariance vs numpy.cov: max deviation %.2e "
                  "(relative to sqrt(var_i var_j))\n", worst);
    assert_true(worst < 1e-8);
    free(st);
}

/* ---- Frechet distance ----------------------------------------------------- */

/* Random SPD matrix A A^T / d + eps I, row-major. */
static void random_spd(fesf_rng *r, double *c, int d, double eps)
{
    double *a = malloc((size_t)d * d * sizeof *a);
    assert_non_null(a);
    for (int i = 0; i < d * d; i++) a[i] = fesf_rng_normal(r);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) s += a[i * d + k] * a[j * d + k];
            c[i * d + j] = s / d + (i == j ? eps : 0);
        }
    free(a);
}

static void test_frechet_known(void **state)
{
    enum { D = 16 };
    double mu1[D], mu2[D], c1[D * D], c2[D * D], fd;
    fesf_rng r;
    fesf_rng_init(&r, 9, 0, 200);
    random_spd(&r, c1, D, 0.01);
    random_spd(&r, c2, D, 0.01);
    double dm = 0, tr = 0;
    for (int i = 0; i < D; i++) {
        mu1[i] = fesf_rng_normal(&r);
        mu2[i] = mu1[i] + 0.3 * fesf_rng_normal(&r);
        dm += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        tr += c1[i * D + i];
    }
    assert_int_equal(fesf_frechet(mu1, c1, mu1, c1, D, &fd), 0);
    assert_close(fd, 0, 1e-10 * tr);
    assert_int_equal(fesf_frechet(mu1, c1, mu2, c1, D, &fd), 0);
    assert_close(fd, dm, 1e-10 * (dm + tr));
    /* commuting case: C2 = 4 C1 -> tr C1 + 4 tr C1 - 2 * 2 tr C1 = tr C1 */
    for (int i = 0; i < D * D; i++) c2[i] = 4 * c1[i];
    assert_int_equal(fesf_frechet(mu1, c1, mu1, c2, D, &fd), 0);
    assert_close(fd, tr, 1e-10 * tr);
    /* symmetric in its two distributions */
    random_spd(&r, c2, D, 0.01);
    double fa, fb;
    assert_int_equal(fesf_frechet(mu1, c1, mu2, c2, D, &fa), 0);
    assert_int_equal(fesf_frechet(mu2, c2, mu1, c1, D, &fb), 0);
    assert_close(fa, fb, 1e-10 * fa);
    /* a singular (rank-1) covariance is accepted */
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) c2[i * D + j] = mu1[i] * mu1[j];
    assert_int_equal(fesf_frechet(mu1, c1, mu1, c2, D, &fd), 0);
    assert_true(isfinite(fd) && fd >= 0);
    fesf_error_clear();
    assert_int_equal(fesf_frechet(mu1, c1, mu2, c2, 0, &fd), -1);
}

/* Frechet cases: random SPD covariances, C2 scaled; written for the
 * reference, our value kept in fd. */
static void frechet_case(fesf_rng *r, int d, double scale2, ref_path path, double *fd)
{
    double *mu1 = malloc(d * sizeof(double)), *mu2 = malloc(d * sizeof(double)),
           *c1 = malloc((size_t)d * d * sizeof(double)), *c2 = malloc((size_t)d * d * sizeof(double));
    assert_true(mu1 && mu2 && c1 && c2);
    random_spd(r, c1, d, 0.05);
    random_spd(r, c2, d, 0.05);
    for (int i = 0; i < d * d; i++) c2[i] *= scale2;
    for (int i = 0; i < d; i++) mu1[i] = fesf_rng_normal(r), mu2[i] = 0.5 * fesf_rng_normal(r);
    FILE *f = tmp_open(path, sizeof(ref_path));
    int32_t hdr = d;
    put(f, &hdr, sizeof hdr, 1);
    put(f, mu1, sizeof(double), d);
    put(f, c1, sizeof(double), (size_t)d * d);
    put(f, mu2, sizeof(double), d);
    put(f, c2, sizeof(double), (size_t)d * d);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(fesf_frechet(mu1, c1, mu2, c2, d, fd), 0);
    free(mu1), free(mu2), free(c1), free(c2);
}

static void test_frechet_numpy(void **state)
{
    const char *script = ref_or_skip();
    static const int dims[] = {5, FESF_FEAT_DIM, 200};
    static const double scale[] = {1.0, 0.3, 2.0};
    enum { NC = 3 };
    ref_path paths[NC];
    double fd[NC], want[NC];
    fesf_rng r;
    fesf_rng_init(&r, 10, 0, 200);
    for (int k = 0; k < NC; k++) frechet_case(&r, dims[k], scale[k], paths[k], &fd[k]);
    skip_if_77(run_ref(script, "frechet", paths, NC, want, NC));
    for (int k = 0; k < NC; k++) {
        print_message("# frechet d=%d: %.10g, numpy %.10g, relative deviation %+.1e\n", dims[k], fd[k],
                      want[k], (fd[k] - want[k]) / want[k]);
        assert_close(fd[k], want[k], 1e-6 * fabs(want[k]));
    }
}

/* End to end: noisy images sit further from a clean pool than a second clean
 * sample of the same pool does. */
static void test_frechet_features(void **state)
{
    enum { D = FESF_FEAT_DIM, N = 120, S = 28 };
    static float img[S * S], noisy[S * S];
    double f[D];
    size_t len = fesf_feat_stats_len(D);
    double *pa = calloc(len, sizeof(double)), *pb = calloc(len, sizeof(double)),
           *pn = calloc(len, sizeof(double));
    assert_true(pa && pb && pn);
    fesf_rng r;
    fesf_rng_init(&r, 11, 0, 200);
    for (int i = 0; i < 3 * N; i++) {
        smooth_image(&r, img, S, S, 0.2 * fesf_rng_uniform(&r), 0.7 + 0.3 * fesf_rng_uniform(&r));
        if (i < 2 * N) {
            features_of(img, 1, S, S, f);
            fesf_feat_stats_add(i < N ? pa : pb, D, f);
        } else {
            add_noise(&r, img, noisy, S * S, 0.15);
            features_of(noisy, 1, S, S, f);
            fesf_feat_stats_add(pn, D, f);
        }
    }
    double *mu = malloc(3 * D * sizeof(double)), *cov = malloc(3 * (size_t)D * D * sizeof(double));
    assert_true(mu && cov);
    assert_int_equal(fesf_feat_stats_finish(pa, D, mu, cov), 0);
    assert_int_equal(fesf_feat_stats_finish(pb, D, mu + D, cov + D * D), 0);
    assert_int_equal(fesf_feat_stats_finish(pn, D, mu + 2 * D, cov + 2 * D * D), 0);
    double same, noise;
    assert_int_equal(fesf_frechet(mu, cov, mu + D, cov + D * D, D, &same), 0);
    assert_int_equal(fesf_frechet(mu, cov, mu + 2 * D, cov + 2 * D * D, D, &noise), 0);
    print_message("# frechet clean vs clean %.4g, clean vs noisy(0.15) %.4g\n", same, noise);
    assert_true(noise > 3 * same);
    free(pa), free(pb), free(pn), free(mu), free(cov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psnr_known),
        cmocka_unit_test(test_ssim_identical_and_constant),
        cmocka_unit_test(test_ssim_symmetric_and_noise),
        cmocka_unit_test(test_ssim_too_small),
        cmocka_unit_test(test_fraction_outside),
        cmocka_unit_test(test_ssim_psnr_numpy),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_stats_merge),
        cmocka_unit_test(test_stats_numpy),
        cmocka_unit_test(test_frechet_known),
        cmocka_unit_test(test_frechet_numpy),
        cmocka_unit_test(test_frechet_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
