/* The linkage attack at one site: re-identification and membership scores
 * from the masked amplitude (see linkage.h for the attacker and its score). */
#include "linkage.h"
#include "fesf/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS_PER_PIXEL 1e-6 /* eps = 1e-6 (D) H W: amplitudes are unnormalised DFT sums */
#define BETA_GRID 9        /* grid over [beta_lo, beta_hi] when the range is not a point */

typedef struct {
    const fesf_linkage_setup *s;
    fesf_ihm_any pf;       /* the attacked pass's mask: amplitudes */
    size_t img;
    int64_t m, n, ng;      /* C * mask bins; queries; gallery = n + n_pub */
    int nb;                /* beta grid size */
    double beta[BETA_GRID];
    float eps;
    float *amp_q;          /* [n][m] released images' amplitudes */
    float *amp_g;          /* [ng][m] gallery amplitudes */
    const float *ref_g;    /* [ng][m] surrogate: gen_amp, or amp_g when beta2 = 1; NULL for the synthetic target */
    float *gen_amp;        /* [ng][m] |F(G(IHM(g)))| (surrogate with beta2 < 1) */
    float *ref_h;          /* [m] synthetic: the host's amplitude */
    float *sim;            /* [ng][nb][m] L(g, b) */
    double *row;           /* [ng] d(q, .) */
    int32_t cached;        /* host whose table is in sim (-1 = fixed host, -2 = none yet) */
} lk;

static const float *gallery(const lk *k, const float *x, int64_t g)
{
    return g < k->n ? x + k->img * (size_t)g : k->s->pub + k->img * (size_t)(g - k->n);
}

/* amp[i] = masked amplitudes of images src[0..count), in plan-sized batches. */
static int amplitudes(lk *k, const float *src, int64_t count, float *amp, int batch)
{
    for (int64_t i = 0; i < count; i += batch) {
        int b = (int)(count - i < batch ? count - i : batch);
        if (fesf_ihm_any_mask_amplitude(&k->pf, src + k->img * (size_t)i, b, amp + (size_t)k->m * (size_t)i)) return -1;
    }
    return 0;
}

/* Surrogate: G's amplitudes for every gallery image, G fed its keyless
 * first-pass release (the fixed host, or the pool's first image). */
static int generator_refs(lk *k, const float *x, int batch)
{
    const fesf_linkage_setup *s = k->s;
    fesf_ihm_any p1 = {NULL, NULL};
    float *buf = malloc(sizeof(float) * k->img * (size_t)batch);
    int rc = -1;
    if (!buf) return fesf_error("out of memory");
    if (fesf_ihm_any_create(&p1, s->d, s->h, s->w, s->c, batch, &s->pass1) ||
        fesf_ihm_any_set_host(&p1, s->host ? s->host : s->pub))
        goto done;
    for (int64_t g = 0; g < k->ng; g += batch) {
        int b = (int)(k->ng - g < batch ? k->ng - g : batch);
        for (int i = 0; i < b; i++) memcpy(buf + k->img * (size_t)i, gallery(k, x, g + i), sizeof(float) * k->img);
        if (fesf_ihm_any_apply(&p1, buf, buf, b)) goto done;
        const float *y = fesf_model_forward(s->gen, buf, b, 1); /* as enhance runs G */
        if (fesf_ihm_any_mask_amplitude(&k->pf, y, b, k->gen_amp + (size_t)k->m * (size_t)g)) goto done;
    }
    rc = 0;
done:
    fesf_ihm_any_destroy(&p1);
    free(buf);
    return rc;
}

/* sim[g][b] = log((1 - b) A_ref + b A_g + eps), A_ref = ref_h or ref_g[g]. */
static void fill_sim(lk *k)
{
    for (int64_t g = 0; g < k->ng; g++) {
        const float *ag = k->amp_g + (size_t)k->m * (size_t)g;
        const float *ref = k->ref_g ? k->ref_g + (size_t)k->m * (size_t)g : k->ref_h;
        for (int b = 0; b < k->nb; b++) {
            float *L = k->sim + ((size_t)g * (size_t)k->nb + (size_t)b) * (size_t)k->m, bt = (float)k->beta[b];
            for (int64_t j = 0; j < k->m; j++) L[j] = logf((1 - bt) * ref[j] + bt * ag[j] + k->eps);
        }
    }
}

/* The synthetic target's table for host h (-1: the fixed host). */
static int host_table(lk *k, int32_t h)
{
    if (k->cached == h) return 0;
    const float *img = h < 0 ? k->s->host : k->s->pub + k->img * (size_t)h;
    if (h >= k->s->n_pub || fesf_ihm_any_mask_amplitude(&k->pf, img, 1, k->ref_h))
        return fesf_error("linkage: host %d is not in the pool of %lld", h, (long long)k->s->n_pub);
    fill_sim(k);
    k->cached = h;
    return 0;
}

/* row[g] = d(q, g) for released image q. */
static void distances(lk *k, int64_t q, float *lq)
{
    const float *aq = k->amp_q + (size_t)k->m * (size_t)q;
    for (int64_t j = 0; j < k->m; j++) lq[j] = logf(aq[j] + k->eps);
    for (int64_t g = 0; g < k->ng; g++) {
        double best = INFINITY;
        for (int b = 0; b < k->nb; b++) {
            const float *L = k->sim + ((size_t)g * (size_t)k->nb + (size_t)b) * (size_t)k->m;
            double acc = 0;
            for (int64_t j = 0; j < k->m; j++) {
                double e = (double)lq[j] - (double)L[j];
                acc += e * e;
            }
            best = fmin(best, acc / (double)k->m);
        }
        k->row[g] = best;
    }
}

/* P(rank < k) when `better` gallery images are strictly closer and `ties`
 * others as close: ties broken at random, so a release that matches every
 * gallery image equally (beta = 0) scores chance, not a hit. */
static double hit_rate(int64_t better, int64_t ties, int k)
{
    double p = (double)(k - better) / (double)(ties + 1);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

static int setup(lk *k, const fesf_linkage_setup *s, const float *x, const float *rel, int64_t n)
{
    int batch = 32;
    int d = s->d > 1 ? s->d : 1;
    k->s = s, k->n = n, k->ng = n + s->n_pub, k->img = (size_t)s->c * d * s->h * s->w, k->cached = -2;
    k->eps = (float)(EPS_PER_PIXEL * d * s->h * s->w);
    k->nb = s->beta_lo < s->beta_hi ? BETA_GRID : 1;
    for (int b = 0; b < k->nb; b++)
        k->beta[b] = k->nb == 1 ? s->beta_lo : s->beta_lo + (s->beta_hi - s->beta_lo) * b / (BETA_GRID - 1);
    if (s->gen) batch = fesf_model_batch(s->gen);
    if (fesf_ihm_any_create(&k->pf, d, s->h, s->w, s->c, batch, &s->feat)) return -1;
    k->m = (int64_t)s->c * fesf_ihm_any_mask_bins(&k->pf);
    size_t m = (size_t)k->m, ng = (size_t)k->ng;
    k->amp_q = malloc(sizeof(float) * m * (size_t)n);
    k->amp_g = malloc(sizeof(float) * m * ng);
    k->ref_h = malloc(sizeof(float) * m);
    k->sim = malloc(sizeof(float) * m * ng * (size_t)k->nb);
    k->row = malloc(sizeof(double) * ng);
    int use_gen = s->surrogate && s->gen && s->beta_lo < 1;
    if (use_gen) k->gen_amp = malloc(sizeof(float) * m * ng);
    if (!k->amp_q || !k->amp_g || !k->ref_h || !k->sim || !k->row || (use_gen && !k->gen_amp))
        return fesf_error("out of memory for the linkage attack (%lld gallery images)", (long long)k->ng);
    if (amplitudes(k, rel, n, k->amp_q, batch) || amplitudes(k, x, n, k->amp_g, batch) ||
        amplitudes(k, s->pub, s->n_pub, k->amp_g + m * (size_t)n, batch))
        return -1;
    if (s->surrogate) {
        if (use_gen && generator_refs(k, x, batch)) return -1;
        k->ref_g = use_gen ? k->gen_amp : k->amp_g; /* beta2 = 1: A_ref drops out */
        fill_sim(k);
    }
    return 0;
}

int fesf_linkage_site(const fesf_linkage_setup *s, const float *x, const float *rel, const int32_t *host_of, int64_t n,
                      double *sums, double *member, double *nonmember)
{
    lk k;
    memset(&k, 0, sizeof k);
    float *lq = NULL;
    int rc = -1;
    if (setup(&k, s, x, rel, n) || !(lq = malloc(sizeof(float) * (size_t)k.m))) goto done;
    for (int64_t g = 0; g < k.ng; g++) *(g < n ? &member[g] : &nonmember[g - n]) = INFINITY;
    for (int64_t q = 0; q < n; q++) {
        if (!s->surrogate && host_table(&k, s->host ? -1 : host_of[q])) goto done;
        distances(&k, q, lq);
        int64_t better = 0, ties = 0;
        for (int64_t g = 0; g < k.ng; g++) {
            better += k.row[g] < k.row[q], ties += g != q && k.row[g] == k.row[q];
            double *mine = g < n ? &member[g] : &nonmember[g - n];
            *mine = fmin(*mine, k.row[g]);
        }
        sums[LK_N] += 1, sums[LK_TOP1] += hit_rate(better, ties, 1), sums[LK_TOP5] += hit_rate(better, ties, 5);
        sums[LK_CHANCE1] += 1.0 / (double)k.ng, sums[LK_CHANCE5] += (k.ng < 5 ? (double)k.ng : 5.0) / (double)k.ng;
    }
    rc = 0;
done:
    fesf_ihm_any_destroy(&k.pf);
    free(k.amp_q), free(k.amp_g), free(k.gen_amp), free(k.ref_h), free(k.sim), free(k.row), free(lq);
    return rc;
}

/* ---- membership figures from distances (lower = more likely a member) ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *sorted_copy(const double *v, int64_t n)
{
    double *s = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (s) memcpy(s, v, sizeof(double) * (size_t)n), qsort(s, (size_t)n, sizeof(double), cmp_double);
    return s;
}

/* Non-members below d (strictly) and equal to it, by binary search in sorted neg. */
static void count_below(const double *neg, int64_t nn, double d, int64_t *lt, int64_t *eq)
{
    int64_t lo = 0, hi = nn;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (neg[mid] < d) lo = mid + 1;
        else hi = mid;
    }
    *lt = lo;
    for (hi = lo; hi < nn && neg[hi] == d; hi++) {}
    *eq = hi - lo;
}

double fesf_mia_auc(const double *member, int64_t np, const double *nonmember, int64_t nn)
{
    double *neg = sorted_copy(nonmember, nn), acc = 0;
    if (!neg || !np || !nn) return free(neg), NAN;
    for (int64_t i = 0; i < np; i++) {
        int64_t lt, eq;
        count_below(neg, nn, member[i], &lt, &eq);
        acc += (double)(nn - lt - eq) + 0.5 * (double)eq; /* non-members farther than this member */
    }
    free(neg);
    return acc / ((double)np * (double)nn);
}

double fesf_mia_tpr_at(const double *member, int64_t np, const double *nonmember, int64_t nn, double fpr)
{
    double *neg = sorted_copy(nonmember, nn);
    if (!neg || !np || !nn) return free(neg), NAN;
    int64_t k = (int64_t)floor(fpr * (double)nn + 1e-9), hits = 0;
    for (int64_t i = 0; i < np; i++) hits += k >= nn || member[i] < neg[k]; /* at most k non-members below neg[k] */
    free(neg);
    return (double)hits / (double)np;
}
