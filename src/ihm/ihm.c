/* IHM on single-precision FFTW (see ihm.h for the method and invariants).
 *
 * Pruned transforms. Only the bins inside M change, and they all lie in the
 * half-spectrum columns 0..b (b = the largest |v| in M). By linearity
 *     x_sy = h + F^-1(D),   D = beta (|X| - A_h) U inside M, 0 outside,
 * with U = H/|H| (U = 1 where H = 0). So per image:
 *   forward  real-to-complex along every row, then complex DFTs down columns
 *            0..b only (the mask bins);
 *   inverse  complex DFTs down columns 0..b of D, then complex-to-real along
 *            every row; add h.
 * The column transforms, half of a full 2-D FFT, shrink to (b+1)/(W/2+1) of
 * it. beta = 0 gives h exactly (D = 0). The 1/(H W) of the inverse is folded
 * into the precomputed beta U / (H W): the only place it appears. */
#include "fesf/ihm.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/rng.h"

#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef IHM_FLAGS
#define IHM_FLAGS FFTW_ESTIMATE
#endif
#define PAD_FLOATS 16 /* slot strides are multiples of 64 bytes: same alignment in every slot */

struct fesf_ihm {
    int h, w, c, batch, wc;  /* wc = w/2 + 1 half-spectrum columns */
    int ncol;                /* b + 1: columns holding mask bins */
    fesf_ihm_params prm;
    size_t rdist, cdist;     /* per-channel slot strides: floats, complex bins */
    float *real;             /* [batch*c][rdist] input, then F^-1(D) */
    fftwf_complex *spec;     /* [batch*c][cdist] row spectra, then D */
    fftwf_plan rows_fwd, cols_fwd, cols_inv, rows_inv;
    int32_t *mask_idx;       /* [nmask] bins inside M, as k * wc + l */
    int32_t *noise_idx;      /* [nmask] their noise field index: min(k, (H-k) mod H) * W + l on the
                                conjugate-paired columns 0 and W/2, k * W + l elsewhere */
    int64_t nmask;
    fesf_ihm_tag *tags;      /* [batch] for the next apply */
    int ntags;
    float *host;             /* [c][h*w] the host image */
    float *host_amp;         /* [c][nmask] A_h at the mask bins */
    fftwf_complex *host_u;   /* [c][nmask] beta U / (H W) at the mask bins */
    int host_set;
};

int fesf_ihm_check(const fesf_ihm_params *prm)
{
    if (!(prm->alpha >= 0 && prm->alpha <= 1)) return fesf_error("ihm alpha = %g outside [0, 1]", prm->alpha);
    if (!(prm->beta >= 0 && prm->beta <= 1)) return fesf_error("ihm beta = %g outside [0, 1]", prm->beta);
    if (!(prm->noise >= 0 && prm->noise <= 100)) return fesf_error("ihm noise = %g outside [0, 100]", prm->noise);
    if (prm->mask != FESF_MASK_SQUARE && prm->mask != FESF_MASK_CIRCLE)
        return fesf_error("ihm mask %d is neither square nor circle", prm->mask);
    return 0;
}

/* Inclusive boundaries with a 1e-12 relative tolerance, on exact integer
 * left-hand sides, so that a boundary exact in decimal (alpha = 0.58,
 * H = 100: alpha H / 2 = 29) is inside although 0.58 * 100 / 2 < 29 in binary. */
int fesf_ihm_in_mask(int u, int v, int h, int w, const fesf_ihm_params *prm)
{
    const double tol = 1.0 + 1e-12;
    if (prm->mask == FESF_MASK_CIRCLE) { /* sqrt((u/H)^2 + (v/W)^2) <= alpha/2 */
        double a = 2.0 * u * w, b = 2.0 * v * h, r = prm->alpha * h * w;
        return a * a + b * b <= r * r * tol;
    }
    return 2.0 * abs(u) <= prm->alpha * h * tol && 2.0 * abs(v) <= prm->alpha * w * tol;
}

/* Centred frequency of FFT index k of an n-point transform: [-floor(n/2), ceil(n/2)). */
static int centred(int k, int n) { return k < (n + 1) / 2 ? k : k - n; }

/* The noise field index of half-spectrum bin (k, l): bins (k, l) and
 * (-k, -l) share one z. In the half spectrum only columns 0 and W/2 (W even)
 * hold both members of a pair, (k, l) and ((H - k) mod H, l). */
static int32_t noise_index(const fesf_ihm *p, int k, int l)
{
    int paired = l == 0 || (p->w % 2 == 0 && l == p->w / 2), kc = (p->h - k) % p->h;
    return (paired && kc < k ? kc : k) * p->w + l;
}

static int build_mask(fesf_ihm *p)
{
    p->mask_idx = malloc(sizeof(int32_t) * (size_t)p->h * (size_t)p->wc);
    p->noise_idx = malloc(sizeof(int32_t) * (size_t)p->h * (size_t)p->wc);
    if (!p->mask_idx || !p->noise_idx) return fesf_error("out of memory");
    p->nmask = 0;
    p->ncol = 1;
    for (int k = 0; k < p->h; k++)
        for (int l = 0; l < p->wc; l++)
            if (fesf_ihm_in_mask(centred(k, p->h), centred(l, p->w), p->h, p->w, &p->prm)) {
                p->noise_idx[p->nmask] = noise_index(p, k, l);
                p->mask_idx[p->nmask++] = k * p->wc + l;
                if (l + 1 > p->ncol) p->ncol = l + 1;
            }
    return 0;
}

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* Four plans over all batch*c slots. ESTIMATE: the algorithm depends on the
 * sizes only, never on timing, so the same sizes always give the same bits
 * (and planning leaves the arrays alone). */
static int make_plans(fesf_ihm *p)
{
    int slots = p->batch * p->c, rd = (int)p->rdist, cd = (int)p->cdist;
    fftwf_iodim row_r2c = {p->w, 1, 1}, col = {p->h, p->wc, p->wc};
    fftwf_iodim loops_rows_fwd[2] = {{slots, rd, cd}, {p->h, p->w, p->wc}};
    fftwf_iodim loops_rows_inv[2] = {{slots, cd, rd}, {p->h, p->wc, p->w}};
    fftwf_iodim loops_cols[2] = {{slots, cd, cd}, {p->ncol, 1, 1}};
    p->rows_fwd = fftwf_plan_guru_dft_r2c(1, &row_r2c, 2, loops_rows_fwd, p->real, p->spec, IHM_FLAGS);
    p->cols_fwd = fftwf_plan_guru_dft(1, &col, 2, loops_cols, p->spec, p->spec, FFTW_FORWARD, IHM_FLAGS);
    p->cols_inv = fftwf_plan_guru_dft(1, &col, 2, loops_cols, p->spec, p->spec, FFTW_BACKWARD, IHM_FLAGS);
    p->rows_inv = fftwf_plan_guru_dft_c2r(1, &row_r2c, 2, loops_rows_inv, p->spec, p->real, IHM_FLAGS);
    if (!p->rows_fwd || !p->cols_fwd || !p->cols_inv || !p->rows_inv)
        return fesf_error("cannot plan FFTs of %d x %d (batch %d)", p->h, p->w, slots);
    return 0;
}

int fesf_ihm_create(fesf_ihm **out, int h, int w, int c, int batch, const fesf_ihm_params *prm)
{
    *out = NULL;
    if (fesf_ihm_check(prm)) return -1;
    if (h < 1 || w < 1 || (c != 1 && c != 3) || batch < 1 || (int64_t)h * w > (1 << 26) ||
        (int64_t)batch * c * h * w > ((int64_t)1 << 31))
        return fesf_error("ihm: unsupported image shape %d x %d x %d (batch %d)", c, h, w, batch);
    fesf_ihm *p = calloc(1, sizeof *p);
    if (!p) return fesf_error("out of memory");
    p->h = h, p->w = w, p->c = c, p->batch = batch, p->wc = w / 2 + 1, p->prm = *prm;
    p->rdist = round_up((size_t)h * (size_t)w, PAD_FLOATS);
    p->cdist = round_up((size_t)h * (size_t)p->wc, PAD_FLOATS / 2);
    size_t slots = (size_t)batch * (size_t)c, nm;
    if (build_mask(p)) goto fail;
    nm = (size_t)c * (size_t)p->nmask;
    p->real = fftwf_alloc_real(slots * p->rdist);
    p->spec = fftwf_alloc_complex(slots * p->cdist);
    p->host = malloc(sizeof(float) * (size_t)c * (size_t)h * (size_t)w);
    p->host_amp = malloc(sizeof(float) * nm);
    p->host_u = fftwf_alloc_complex(nm);
    p->tags = malloc(sizeof(fesf_ihm_tag) * (size_t)batch);
    if (!p->real || !p->spec || !p->host || !p->host_amp || !p->host_u || !p->tags) {
        fesf_error("out of memory for IHM buffers (%d x %d x %d, batch %d)", c, h, w, batch);
        goto fail;
    }
    memset(p->real, 0, sizeof(float) * slots * p->rdist); /* unused slots stay finite */
    if (make_plans(p)) goto fail;
    *out = p;
    return 0;
fail:
    fesf_ihm_destroy(p);
    return -1;
}

void fesf_ihm_destroy(fesf_ihm *p)
{
    if (!p) return;
    fftwf_plan plans[] = {p->rows_fwd, p->cols_fwd, p->cols_inv, p->rows_inv};
    for (int i = 0; i < 4; i++)
        if (plans[i]) fftwf_destroy_plan(plans[i]);
    fftwf_free(p->real);
    fftwf_free(p->spec);
    fftwf_free(p->host_u);
    free(p->host);
    free(p->host_amp);
    free(p->mask_idx);
    free(p->noise_idx);
    free(p->tags);
    free(p);
}

int64_t fesf_ihm_mask_bins(const fesf_ihm *p) { return p->nmask; }

/* Spectra of slots 0..n*c-1 at the mask bins (rows, then the mask columns). */
static void forward(fesf_ihm *p)
{
    fftwf_execute(p->rows_fwd);
    fftwf_execute(p->cols_fwd);
}

int fesf_ihm_set_host(fesf_ihm *p, const float *host_chw)
{
    size_t hw = (size_t)p->h * (size_t)p->w;
    float scale = (float)p->prm.beta / (float)hw;
    memcpy(p->host, host_chw, sizeof(float) * hw * (size_t)p->c);
    for (int ch = 0; ch < p->c; ch++) memcpy(p->real + (size_t)ch * p->rdist, p->host + (size_t)ch * hw, sizeof(float) * hw);
    forward(p); /* slots >= c are transformed too and ignored */
    for (int ch = 0; ch < p->c; ch++) {
        const fftwf_complex *H = p->spec + (size_t)ch * p->cdist;
        for (int64_t j = 0; j < p->nmask; j++) {
            fftwf_complex z = H[p->mask_idx[j]];
            float a = cabsf(z);
            p->host_amp[ch * p->nmask + j] = a;
            p->host_u[ch * p->nmask + j] = (a > 0 ? z / a : 1.0f) * scale; /* arg(0) = 0 */
        }
    }
    p->host_set = 1;
    return 0;
}

/* Image id's stream of one keyed purpose (FESF_STREAM_NOISE, _BETA,
 * _KEYED_HOST): the split (id's high word) goes into the purpose's slot. */
static void keyed_stream(fesf_rng *r, uint64_t key, uint64_t id, uint32_t purpose)
{
    fesf_rng_init(r, key, (uint32_t)id, purpose + 16u * (uint32_t)(id >> 32));
}

/* A tagged image's mask bins: |X| exp(sigma z) in place of |X|, and its beta
 * as the factor f = beta / plan beta on D. */
static void delta_tagged(fesf_ihm *p, int ch, fftwf_complex *s, const fesf_ihm_tag *t)
{
    const float *ah = p->host_amp + ch * p->nmask;
    const fftwf_complex *u = p->host_u + ch * p->nmask;
    float f = p->prm.beta > 0 ? (float)(t->beta / p->prm.beta) : 0.0f;
    double sigma = p->prm.noise;
    fesf_rng r;
    keyed_stream(&r, t->key, t->id, FESF_STREAM_NOISE);
    uint64_t base = (uint64_t)ch * (uint64_t)p->h * (uint64_t)p->w;
    for (int64_t j = 0; j < p->nmask; j++) {
        int32_t k = p->mask_idx[j];
        float g = 1.0f;
        if (sigma > 0) { /* one Philox block (4 words) per normal */
            fesf_rng_at(&r, 4 * (base + (uint64_t)p->noise_idx[j]));
            g = (float)exp(sigma * fesf_rng_normal(&r));
        }
        s[k] = (cabsf(s[k]) * g - ah[j]) * (u[j] * f);
    }
}

/* Replace a slot's spectrum by D in columns 0..ncol-1 (other columns are
 * never read by the column transform and are zeroed for the row inverse). */
static void make_delta(fesf_ihm *p, int ch, fftwf_complex *s, const fesf_ihm_tag *t)
{
    if (t) delta_tagged(p, ch, s, t);
    else {
        const float *ah = p->host_amp + ch * p->nmask;
        const fftwf_complex *u = p->host_u + ch * p->nmask;
        for (int64_t j = 0; j < p->nmask; j++) {
            int32_t k = p->mask_idx[j];
            s[k] = (cabsf(s[k]) - ah[j]) * u[j];
        }
    }
    /* zero every bin outside the mask: walk rows, keep the mask runs */
    int64_t j = 0;
    for (int k = 0; k < p->h; k++) {
        fftwf_complex *row = s + (size_t)k * (size_t)p->wc;
        int32_t start = k * p->wc;
        int l = 0;
        while (j < p->nmask && p->mask_idx[j] < start + p->wc) {
            int lm = p->mask_idx[j] - start;
            for (; l < lm; l++) row[l] = 0;
            l = lm + 1;
            j++;
        }
        for (; l < p->wc; l++) row[l] = 0;
    }
}

static void inverse_add_host(fesf_ihm *p, float *out, int n)
{
    size_t hw = (size_t)p->h * (size_t)p->w;
    fftwf_execute(p->cols_inv);
    fftwf_execute(p->rows_inv);
    for (int i = 0; i < n * p->c; i++) {
        const float *d = p->real + (size_t)i * p->rdist, *h = p->host + (size_t)(i % p->c) * hw;
        float *o = out + (size_t)i * hw;
        for (size_t q = 0; q < hw; q++) o[q] = h[q] + d[q];
    }
}

static int run(fesf_ihm *p, float *out, int n)
{
    forward(p);
    for (int i = 0; i < n * p->c; i++)
        make_delta(p, i % p->c, p->spec + (size_t)i * p->cdist, p->ntags ? &p->tags[i / p->c] : NULL);
    p->ntags = 0;
    inverse_add_host(p, out, n);
    return 0;
}

static int check_call(fesf_ihm *p, int n)
{
    if (!p->host_set) return fesf_error("ihm: no host set");
    if (n < 0 || n > p->batch) return fesf_error("ihm: %d images for a plan of batch %d", n, p->batch);
    if (p->ntags && p->ntags != n) {
        fesf_error("ihm: %d tags for %d images", p->ntags, n);
        p->ntags = 0;
        return -1;
    }
    if (p->prm.noise > 0 && !p->ntags) return fesf_error("ihm: noise = %g needs the images' tags", p->prm.noise);
    return 0;
}

int fesf_ihm_set_tags(fesf_ihm *p, const fesf_ihm_tag *tags, int n)
{
    if (n < 0 || n > p->batch) return fesf_error("ihm: %d tags for a plan of batch %d", n, p->batch);
    for (int i = 0; i < n; i++)
        if (!(tags[i].beta >= 0 && tags[i].beta <= p->prm.beta))
            return fesf_error("ihm: image beta %g outside [0, %g] (the plan's beta)", tags[i].beta, p->prm.beta);
    memcpy(p->tags, tags, sizeof *tags * (size_t)n);
    p->ntags = n;
    return 0;
}

double fesf_ihm_draw_beta(uint64_t key, uint64_t id, double lo, double hi)
{
    fesf_rng r;
    keyed_stream(&r, key, id, FESF_STREAM_BETA);
    return lo < hi ? lo + (hi - lo) * fesf_rng_uniform(&r) : lo;
}

int64_t fesf_ihm_draw_host(uint64_t key, uint64_t id, int64_t n)
{
    fesf_rng r;
    keyed_stream(&r, key, id, FESF_STREAM_KEYED_HOST);
    return (int64_t)fesf_rng_below(&r, (uint64_t)n);
}

/* Copy n float images [n, C, H, W] into the plan's slots. */
static void load_f32(fesf_ihm *p, const float *x, int n)
{
    size_t hw = (size_t)p->h * (size_t)p->w;
    for (int i = 0; i < n * p->c; i++) memcpy(p->real + (size_t)i * p->rdist, x + (size_t)i * hw, sizeof(float) * hw);
}

int fesf_ihm_mask_amplitude(fesf_ihm *p, const float *x, int n, float *amp)
{
    if (n < 0 || n > p->batch) return fesf_error("ihm: %d images for a plan of batch %d", n, p->batch);
    load_f32(p, x, n);
    if (n) forward(p);
    for (int i = 0; i < n * p->c; i++) {
        const fftwf_complex *s = p->spec + (size_t)i * p->cdist;
        for (int64_t j = 0; j < p->nmask; j++) amp[(size_t)i * (size_t)p->nmask + (size_t)j] = cabsf(s[p->mask_idx[j]]);
    }
    return 0;
}

int fesf_ihm_apply(fesf_ihm *p, const float *x, float *out, int n)
{
    if (check_call(p, n)) return -1;
    load_f32(p, x, n);
    return n ? run(p, out, n) : 0;
}

int fesf_ihm_apply_u8(fesf_ihm *p, const uint8_t *x, float *out, int n)
{
    if (check_call(p, n)) return -1;
    size_t hw = (size_t)p->h * (size_t)p->w;
    for (int i = 0; i < n * p->c; i++) {
        float *dst = p->real + (size_t)i * p->rdist;
        const uint8_t *src = x + (size_t)i * hw;
        for (size_t q = 0; q < hw; q++) dst[q] = (float)src[q] / 255.0f;
    }
    return n ? run(p, out, n) : 0;
}
