/* Image-quality measures: PSNR, SSIM, range fraction, fixed-feature
 * statistics and the Frechet distance (definitions in fesf/quality.h). */
#include "fesf/quality.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/error.h"
#include "fesf/rng.h"

/* LAPACK symmetric eigen-decomposition (Fortran symbol exported by OpenBLAS). */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

/* ---- PSNR ---------------------------------------------------------------- */

double fesf_psnr(const float *a, const float *b, int c, int h, int w)
{
    size_t n = (size_t)c * h * w;
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        se += d * d;
    }
    if (n == 0) return NAN;
    double mse = se / (double)n;
    if (isnan(mse)) return NAN;
    if (mse == 0) return INFINITY;
    return 10.0 * log10(1.0 / mse);
}

/* ---- SSIM ---------------------------------------------------------------- */

#define SSIM_R 5 /* (FESF_SSIM_WIN - 1) / 2 */

size_t fesf_ssim_scratch_floats(int h, int w)
{
    if (h < FESF_SSIM_WIN || w < FESF_SSIM_WIN) return 0;
    return (size_t)2 * 5 * h * (w - 2 * SSIM_R); /* 5 planes of doubles */
}

/* The scratch holds doubles in caller-provided float storage: moved with
 * memcpy (no alignment or aliasing assumptions; compiles to plain loads and
 * stores). */
static inline void dput(float *base, size_t i, double v) { memcpy(base + 2 * i, &v, sizeof v); }
static inline double dget(const float *base, size_t i)
{
    double v;
    memcpy(&v, base + 2 * i, sizeof v);
    return v;
}

static void ssim_kernel(double g[FESF_SSIM_WIN])
{
    double s = 0;
    for (int k = -SSIM_R; k <= SSIM_R; k++) s += g[k + SSIM_R] = exp(-(double)k * k / (2 * 1.5 * 1.5));
    for (int k = 0; k < FESF_SSIM_WIN; k++) g[k] /= s;
}

/* Mean SSIM map of one channel (valid region). */
static double ssim_channel(const float *a, const float *b, int h, int w, const double g[], float *scr)
{
    const int wo = w - 2 * SSIM_R, ho = h - 2 * SSIM_R;
    const size_t plane = (size_t)h * wo;
    float *pa = scr, *pb = scr + 2 * plane, *paa = scr + 4 * plane, *pbb = scr + 6 * plane,
          *pab = scr + 8 * plane;
    /* horizontal pass over every row, valid columns */
    for (int y = 0; y < h; y++) {
        const float *ra = a + (size_t)y * w, *rb = b + (size_t)y * w;
        for (int x = 0; x < wo; x++) {
            double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
            for (int k = 0; k < FESF_SSIM_WIN; k++) {
                double va = ra[x + k], vb = rb[x + k];
                sa += g[k] * va;
                sb += g[k] * vb;
                saa += g[k] * va * va;
                sbb += g[k] * vb * vb;
                sab += g[k] * va * vb;
            }
            size_t o = (size_t)y * wo + x;
            dput(pa, o, sa), dput(pb, o, sb), dput(paa, o, saa), dput(pbb, o, sbb), dput(pab, o, sab);
        }
    }
    /* vertical pass on valid rows, then the map */
    const double C1 = 0.01 * 0.01, C2 = 0.03 * 0.03;
    double total = 0;
    for (int y = 0; y < ho; y++) {
        for (int x = 0; x < wo; x++) {
            double ma = 0, mb = 0, maa = 0, mbb = 0, mab = 0;
            for (int k = 0; k < FESF_SSIM_WIN; k++) {
                size_t o = (size_t)(y + k) * wo + x;
                ma += g[k] * dget(pa, o);
                mb += g[k] * dget(pb, o);
                maa += g[k] * dget(paa, o);
                mbb += g[k] * dget(pbb, o);
                mab += g[k] * dget(pab, o);
            }
            double vaa = maa - ma * ma, vbb = mbb - mb * mb, vab = mab - ma * mb;
            double num = (2 * ma * mb + C1) * (2 * vab + C2);
            double den = (ma * ma + mb * mb + C1) * (vaa + vbb + C2);
            total += num / den;
        }
    }
    return total / ((double)ho * wo);
}

double fesf_ssim(const float *a, const float *b, int c, int h, int w, float *scratch)
{
    if (c < 1 || h < FESF_SSIM_WIN || w < FESF_SSIM_WIN) {
        fesf_error("ssim: image %dx%dx%d is smaller than the %dx%d window", c, h, w, FESF_SSIM_WIN,
                   FESF_SSIM_WIN);
        return NAN;
    }
    double g[FESF_SSIM_WIN];
    ssim_kernel(g);
    double sum = 0;
    size_t hw = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) sum += ssim_channel(a + ch * hw, b + ch * hw, h, w, g, scratch);
    return sum / c;
}

/* ---- Range --------------------------------------------------------------- */

double fesf_fraction_outside01(const float *x, size_t n)
{
    if (n == 0) return NAN;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) out += !(x[i] >= 0.0f && x[i] <= 1.0f); /* NaN is outside */
    return (double)out / (double)n;
}

/* ---- Features ------------------------------------------------------------ */

#define FS FESF_FEAT_SIDE
#define NF 16
#define K1 5
#define S1 (FS - K1 + 1) /* 28 */
#define SP (S1 / 2)      /* 14 */
#define K2 3
#define S2 (SP - K2 + 1) /* 12 */
#define NW1 (NF * K1 * K1)
#define NW2 (NF * NF * K2 * K2)

size_t fesf_features_scratch_floats(int h, int w)
{
    if (h < 1 || w < 1) return 0;
    return (size_t)NW1 + NW2 + (size_t)FS * w + FS * FS + NF * S1 * S1 + NF * SP * SP;
}

/* Overlap of input pixel [p, p+1) with the box [lo, hi). */
static double overlap(int p, double lo, double hi)
{
    double a = p > lo ? p : lo, b = p + 1 < hi ? p + 1 : hi;
    return b > a ? b - a : 0;
}

static void feat_stats(const float *y, int n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += y[i], s2 += (double)y[i] * y[i];
    double m = s / n, v = s2 / n - m * m;
    *mean = m;
    *sd = sqrt(v > 0 ? v : 0);
}

int fesf_features(const float *x, int c, int h, int w, double *feat, float *scratch)
{
    if (c < 1 || h < 1 || w < 1) return fesf_error("features: bad image shape %dx%dx%d", c, h, w);
    float *w1 = scratch, *w2 = w1 + NW1, *tmp = w2 + NW2, *r = tmp + (size_t)FS * w,
          *y1 = r + FS * FS, *p = y1 + NF * S1 * S1;
    fesf_rng rng;
    fesf_rng_init(&rng, FESF_FEAT_SEED, 0, FESF_FEAT_STREAM);
    for (int i = 0; i < NW1; i++) w1[i] = (float)(fesf_rng_normal(&rng) / 5.0);
    for (int i = 0; i < NW2; i++) w2[i] = (float)(fesf_rng_normal(&rng) / 12.0);

    /* grey + area resize along rows: tmp[i][x] */
    const size_t hw = (size_t)h * w;
    const double bh = h / (double)FS, bw = w / (double)FS;
    for (int i = 0; i < FS; i++) {
        double lo = i * bh, hi = (i + 1) * bh;
        int y0 = (int)floor(lo), y1e = (int)ceil(hi);
        if (y1e > h) y1e = h;
        for (int xx = 0; xx < w; xx++) {
            double s = 0;
            for (int yy = y0; yy < y1e; yy++) {
                double wt = overlap(yy, lo, hi);
                if (wt <= 0) continue;
                double gsum = 0;
                for (int ch = 0; ch < c; ch++) gsum += x[ch * hw + (size_t)yy * w + xx];
                s += wt * gsum;
            }
            tmp[(size_t)i * w + xx] = (float)(s / (bh * c));
        }
    }
    for (int i = 0; i < FS; i++) {
        for (int j = 0; j < FS; j++) {
            double lo = j * bw, hi = (j + 1) * bw, s = 0;
            int x0 = (int)floor(lo), x1e = (int)ceil(hi);
            if (x1e > w) x1e = w;
            for (int xx = x0; xx < x1e; xx++) s += overlap(xx, lo, hi) * tmp[(size_t)i * w + xx];
            r[i * FS + j] = (float)(s / bw);
        }
    }
    /* level 1 */
    for (int f = 0; f < NF; f++) {
        const float *k = w1 + f * K1 * K1;
        float *o = y1 + f * S1 * S1;
        for (int i = 0; i < S1; i++)
            for (int j = 0; j < S1; j++) {
                float s = 0;
                for (int u = 0; u < K1; u++)
                    for (int v = 0; v < K1; v++) s += k[u * K1 + v] * r[(i + u) * FS + j + v];
                o[i * S1 + j] = s > 0 ? s : 0;
            }
        feat_stats(o, S1 * S1, &feat[f], &feat[NF + f]);
    }
    /* 2x2 average pooling */
    for (int f = 0; f < NF; f++)
        for (int i = 0; i < SP; i++)
            for (int j = 0; j < SP; j++) {
                const float *q = y1 + f * S1 * S1 + 2 * i * S1 + 2 * j;
                p[f * SP * SP + i * SP + j] = 0.25f * (q[0] + q[1] + q[S1] + q[S1 + 1]);
            }
    /* level 2 (maps not stored: mean and std accumulated directly) */
    for (int f = 0; f < NF; f++) {
        const float *k = w2 + f * NF * K2 * K2;
        double s1 = 0, s2 = 0;
        for (int i = 0; i < S2; i++)
            for (int j = 0; j < S2; j++) {
                float s = 0;
                for (int kk = 0; kk < NF; kk++)
                    for (int u = 0; u < K2; u++)
                        for (int v = 0; v < K2; v++)
                            s += k[(kk * K2 + u) * K2 + v] * p[kk * SP * SP + (i + u) * SP + j + v];
                double yv = s > 0 ? s : 0;
                s1 += yv, s2 += yv * yv;
            }
        double m = s1 / (S2 * S2), var = s2 / (S2 * S2) - m * m;
        feat[2 * NF + f] = m;
        feat[3 * NF + f] = sqrt(var > 0 ? var : 0);
    }
    return 0;
}

/* ---- Feature statistics -------------------------------------------------- */

size_t fesf_feat_stats_len(int d) { return 1 + (size_t)d + (size_t)d * d; }

void fesf_feat_stats_add(double *st, int d, const double *f)
{
    st[0] += 1;
    double *sum = st + 1, *outer = st + 1 + d;
    for (int i = 0; i < d; i++) {
        sum[i] += f[i];
        for (int j = 0; j < d; j++) outer[(size_t)i * d + j] += f[i] * f[j];
    }
}

void fesf_feat_stats_merge(double *dst, const double *src, int d)
{
    size_t n = fesf_feat_stats_len(d);
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

int fesf_feat_stats_finish(const double *st, int d, double *mu, double *cov)
{
    double n = st[0];
    if (!(n >= 2)) return fesf_error("feature statistics: %g samples, need at least 2", n);
    const double *sum = st + 1, *outer = st + 1 + d;
    for (int i = 0; i < d; i++) mu[i] = sum[i] / n;
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) /* upper triangle, mirrored: exactly symmetric */
            cov[(size_t)i * d + j] = cov[(size_t)j * d + i] =
                (outer[(size_t)i * d + j] - n * mu[i] * mu[j]) / (n - 1);
    return 0;
}

/* ---- Frechet distance ---------------------------------------------------- */

/* Eigen-decomposition of symmetric a[n*n] in place: on return a holds the
 * eigenvectors as columns (column-major), w the eigenvalues. */
static int sym_eig(double *a, int n, double *w)
{
    int info = 0, lwork = -1;
    double q;
    dsyev_("V", "U", &n, a, &n, w, &q, &lwork, &info);
    if (info != 0) return fesf_error("frechet: dsyev workspace query failed (info %d)", info);
    lwork = (int)q;
    if (lwork < 3 * n) lwork = 3 * n;
    double *work = malloc((size_t)lwork * sizeof *work);
    if (!work) return fesf_error("frechet: out of memory");
    dsyev_("V", "U", &n, a, &n, w, work, &lwork, &info);
    free(work);
    if (info != 0) return fesf_error("frechet: dsyev failed (info %d)", info);
    return 0;
}

int fesf_frechet(const double *mu1, const double *cov1, const double *mu2, const double *cov2,
                 int d, double *out)
{
    if (d < 1) return fesf_error("frechet: bad dimension %d", d);
    size_t dd = (size_t)d * d;
    double *v = malloc(dd * sizeof *v), *s = malloc(dd * sizeof *s), *t = malloc(dd * sizeof *t),
           *ev = malloc((size_t)d * sizeof *ev);
    int rc = -1;
    if (!v || !s || !t || !ev) {
        fesf_error("frechet: out of memory");
        goto done;
    }
    double dm = 0, tr1 = 0, tr2 = 0;
    for (int i = 0; i < d; i++) {
        double e = mu1[i] - mu2[i];
        dm += e * e;
        tr1 += cov1[(size_t)i * d + i];
        tr2 += cov2[(size_t)i * d + i];
    }
    /* C1^1/2 = V diag(sqrt(l)) V^T */
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            v[(size_t)i * d + j] = 0.5 * (cov1[(size_t)i * d + j] + cov1[(size_t)j * d + i]);
    if (sym_eig(v, d, ev)) goto done;
    for (int k = 0; k < d; k++) ev[k] = ev[k] > 0 ? sqrt(ev[k]) : 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k < d; k++) acc += v[(size_t)k * d + i] * ev[k] * v[(size_t)k * d + j];
            s[(size_t)i * d + j] = acc;
        }
    /* t = S C2sym, then v = t S (symmetrised) */
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k < d; k++)
                acc += s[(size_t)i * d + k] * 0.5 * (cov2[(size_t)k * d + j] + cov2[(size_t)j * d + k]);
            t[(size_t)i * d + j] = acc;
        }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k < d; k++) acc += t[(size_t)i * d + k] * s[(size_t)k * d + j];
            v[(size_t)i * d + j] = acc;
        }
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j < d; j++) {
            double m = 0.5 * (v[(size_t)i * d + j] + v[(size_t)j * d + i]);
            v[(size_t)i * d + j] = v[(size_t)j * d + i] = m;
        }
    if (sym_eig(v, d, ev)) goto done;
    double trs = 0;
    for (int k = 0; k < d; k++) trs += ev[k] > 0 ? sqrt(ev[k]) : 0;
    double fd = dm + tr1 + tr2 - 2 * trs;
    *out = fd > 0 ? fd : 0;
    rc = 0;
done:
    free(v), free(s), free(t), free(ev);
    return rc;
}
