/* IHM on single-precision FFTW (see ihm.h for the method and invariants).
 *
 * Pruned transforms. Only the bins inside M change, and they all lie in the
 * half-spectrum columns 0..b (b = the largest |v| in M). By linearity
 *     x_sy = h + F^-1(D),   D = beta (|X| - A_h) U inside M, 0 outside,
 * with U = H/|H| (U = 1 where H = 0). So per image channel:
 *   forward  DFTs along every row, then complex DFTs down columns 0..b only;
 *   inverse  complex DFTs down columns 0..b of D, then DFTs along every row
 *            (input 0 outside columns 0..b and their mirrors); add h.
 * Rows go two at a time as one complex row (row 2j real, row 2j+1 imaginary):
 * one complex DFT of length W gives both rows' spectra, parted at columns
 * 0..b only (A = (Z(l) + conj Z(-l)) / 2, B = (Z(l) - conj Z(-l)) / 2i), and
 * the inverse of A + iB gives row 2j in its real part, row 2j+1 in its
 * imaginary part. FFTW's complex codelets are SIMD where its real-to-complex
 * ones for composite sizes mostly are not: with ESTIMATE plans the rows of a
 * 64 px image take 1.4 us this way against 7.7 us as r2c, 224 px 47 against
 * 80 us. Columns 0..b are kept column-major ([l][k]), where ESTIMATE's
 * column DFTs are twice as fast as strided ones, and so are the mask bins'
 * loops. The inverses' inputs (D, and the pair rows of a chunk) live in
 * buffers whose bins outside the mask (columns) are zeroed once at creation
 * and never written: every transform is out of place, so none of them is
 * zeroed per image. The load (interleaving two rows) and the host add
 * (parting them again) are the only passes over the image. Rows are
 * transformed a chunk of pairs at a time (about 2048 bins) so the buffers
 * stay in cache whatever the image size. Every image channel runs the chain
 * alone with plans for one channel: its bits depend on the sizes only, never
 * on the batch, its position in it, or timing.
 *
 * `fesf bench ihm` ratio_fftw (against the faster of an ESTIMATE and a
 * MEASURE plan of a batched 2-D r2c + c2r; loaded 2-core EPYC, medians of
 * interleaved runs, 5 rounds): 28 px 0.93 -> 2.3, 64 px 0.85 -> 2.3, 224 px 0.96 -> 1.6
 * (r2c/c2r rows and strided columns before). At 224 px ESTIMATE still picks
 * 8 x 28 for the rows where MEASURE finds 16 x 14 (31 against 47 us); no
 * layout or planner flag moved it, and a 7 x 32 prime-factor split (40 us)
 * would cost its index permutations in the load and the host add.
 *
 * beta = 0 gives h exactly (D = 0). The 1/(H W) of the inverse is folded into
 * the precomputed beta U / (H W): the only place it appears. */
#include "fesf/ihm.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/rng.h"

#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef IHM_FLAGS
#define IHM_FLAGS FFTW_ESTIMATE
#endif

struct fesf_ihm {
    int h, w, c, batch, wc;  /* wc = w/2 + 1 half-spectrum columns */
    int np;                  /* (h + 1) / 2 row pairs; an odd h pairs its last row with 0 */
    int rchunk;              /* pairs per chunk of the row transforms */
    int ncol;                /* b + 1: columns holding mask bins */
    fesf_ihm_params prm;
    fftwf_complex *za;       /* [rchunk][w] a chunk of pairs, pair j: row 2j + i row 2j+1 */
    fftwf_complex *zb;       /* [rchunk][w] their DFTs; the row inverse's output */
    fftwf_complex *zc;       /* [rchunk][w] row inverse input: columns 0..b and w-b..w-1, the rest 0 */
    fftwf_complex *half;     /* [ncol][h] the rows' DFTs at columns 0..b, column-major; then
                                F^-1(D) down the columns */
    fftwf_complex *cols;     /* [ncol][h] the 2-D half spectrum at columns 0..b, column-major */
    fftwf_complex *delta;    /* [ncol][h] D: mask bins written per image, the rest 0 */
    fftwf_plan rows_fwd[2], rows_inv[2]; /* a whole chunk, the last one (np % rchunk pairs) */
    fftwf_plan cols_fwd, cols_inv;
    int32_t *mask_idx;       /* [nmask] bins inside M as their place l * h + k in cols, ascending */
    int32_t *noise_idx;      /* [nmask] their noise field index: min(k, (H-k) mod H) * W + l on the
                                conjugate-paired columns 0 and W/2, k * W + l elsewhere */
    int32_t *row_idx;        /* [nmask] the same bins in row-major (k, l) order, for mask_amplitude */
    int64_t nmask;
    fesf_ihm_tag *tags;      /* [batch] for the next apply */
    int ntags;
    float *host;             /* [c][h*w] the host image */
    float *host_amp;         /* [c][nmask] A_h at the mask bins */
    fftwf_complex *host_u;   /* [c][nmask] beta U / (H W) at the mask bins */
    float u8_scale[256];     /* v / 255.0f: the u8 input, as the float path divides */
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

/* The mask bins, column by column (the order of cols, so the per-image loops
 * run through memory), and row by row for mask_amplitude. */
static int build_mask(fesf_ihm *p)
{
    size_t n = (size_t)p->h * (size_t)p->wc;
    p->mask_idx = malloc(sizeof(int32_t) * n);
    p->noise_idx = malloc(sizeof(int32_t) * n);
    p->row_idx = malloc(sizeof(int32_t) * n);
    if (!p->mask_idx || !p->noise_idx || !p->row_idx) return fesf_error("out of memory");
    p->nmask = 0;
    p->ncol = 1;
    for (int l = 0; l < p->wc; l++)
        for (int k = 0; k < p->h; k++)
            if (fesf_ihm_in_mask(centred(k, p->h), centred(l, p->w), p->h, p->w, &p->prm)) {
                p->noise_idx[p->nmask] = noise_index(p, k, l);
                p->mask_idx[p->nmask++] = l * p->h + k;
                p->ncol = l + 1;
            }
    int64_t q = 0;
    for (int k = 0; k < p->h; k++)
        for (int l = 0; l < p->ncol; l++)
            if (fesf_ihm_in_mask(centred(k, p->h), centred(l, p->w), p->h, p->w, &p->prm))
                p->row_idx[q++] = l * p->h + k;
    return 0;
}

/* Plans for one image channel: the row DFTs of a chunk of pairs (and of the
 * last, shorter chunk), the column DFTs of columns 0..b. ESTIMATE: the
 * algorithm depends on the sizes only, never on timing, so the same sizes
 * always give the same bits (and planning leaves the arrays alone). All are
 * out of place (ESTIMATE buffers in-place ones); the inverses keep their
 * input (the default for complex DFTs, asked for anyway). */
static int make_plans(fesf_ihm *p)
{
    fftwf_iodim row = {p->w, 1, 1}, col = {p->h, 1, 1}, cols = {p->ncol, p->h, p->h};
    unsigned keep = IHM_FLAGS | FFTW_PRESERVE_INPUT;
    int tail = p->np % p->rchunk;
    for (int t = 0; t < 1 + (tail > 0); t++) {
        fftwf_iodim rows = {t ? tail : p->rchunk, p->w, p->w};
        p->rows_fwd[t] = fftwf_plan_guru_dft(1, &row, 1, &rows, p->za, p->zb, FFTW_FORWARD, IHM_FLAGS);
        p->rows_inv[t] = fftwf_plan_guru_dft(1, &row, 1, &rows, p->zc, p->zb, FFTW_BACKWARD, keep);
        if (!p->rows_fwd[t] || !p->rows_inv[t]) return fesf_error("cannot plan FFTs of %d x %d", p->h, p->w);
    }
    p->cols_fwd = fftwf_plan_guru_dft(1, &col, 1, &cols, p->half, p->cols, FFTW_FORWARD, IHM_FLAGS);
    p->cols_inv = fftwf_plan_guru_dft(1, &col, 1, &cols, p->delta, p->half, FFTW_BACKWARD, keep);
    if (!p->cols_fwd || !p->cols_inv) return fesf_error("cannot plan FFTs of %d x %d", p->h, p->w);
    return 0;
}

#ifndef IHM_CHUNK_BINS
#define IHM_CHUNK_BINS 2048 /* complex bins per chunk buffer (16 KiB): three stay in L1/L2 */
#endif

int fesf_ihm_create(fesf_ihm **out, int h, int w, int c, int batch, const fesf_ihm_params *prm)
{
    *out = NULL;
    if (fesf_ihm_check(prm)) return -1;
    if (h < 1 || w < 1 || (c != 1 && c != 3) || batch < 1 || (int64_t)h * w > (1 << 26) ||
        (int64_t)batch * c * h * w > ((int64_t)1 << 31))
        return fesf_error("ihm: unsupported image shape %d x %d x %d (batch %d)", c, h, w, batch);
    fesf_ihm *p = calloc(1, sizeof *p);
    if (!p) return fesf_error("out of memory");
    p->h = h, p->w = w, p->c = c, p->batch = batch, p->wc = w / 2 + 1, p->np = (h + 1) / 2, p->prm = *prm;
    p->rchunk = IHM_CHUNK_BINS / w < 1 ? 1 : IHM_CHUNK_BINS / w;
    if (p->rchunk > p->np) p->rchunk = p->np;
    for (int v = 0; v < 256; v++) p->u8_scale[v] = (float)v / 255.0f;
    size_t chunk = (size_t)p->rchunk * (size_t)w, ncb, nm;
    if (build_mask(p)) goto fail;
    ncb = (size_t)p->ncol * (size_t)h, nm = (size_t)c * (size_t)p->nmask;
    p->za = fftwf_alloc_complex(chunk);
    p->zb = fftwf_alloc_complex(chunk);
    p->zc = fftwf_alloc_complex(chunk);
    p->half = fftwf_alloc_complex(ncb);
    p->cols = fftwf_alloc_complex(ncb);
    p->delta = fftwf_alloc_complex(ncb);
    p->host = malloc(sizeof(float) * (size_t)c * (size_t)h * (size_t)w);
    p->host_amp = malloc(sizeof(float) * nm);
    p->host_u = fftwf_alloc_complex(nm);
    p->tags = malloc(sizeof(fesf_ihm_tag) * (size_t)batch);
    if (!p->za || !p->zb || !p->zc || !p->half || !p->cols || !p->delta || !p->host || !p->host_amp ||
        !p->host_u || !p->tags) {
        fesf_error("out of memory for IHM buffers (%d x %d x %d)", c, h, w);
        goto fail;
    }
    if (make_plans(p)) goto fail;
    memset(p->zc, 0, sizeof(fftwf_complex) * chunk);
    memset(p->delta, 0, sizeof(fftwf_complex) * ncb);
    *out = p;
    return 0;
fail:
    fesf_ihm_destroy(p);
    return -1;
}

void fesf_ihm_destroy(fesf_ihm *p)
{
    if (!p) return;
    fftwf_plan plans[] = {p->rows_fwd[0], p->rows_fwd[1], p->rows_inv[0],
                          p->rows_inv[1], p->cols_fwd, p->cols_inv};
    for (int i = 0; i < 6; i++)
        if (plans[i]) fftwf_destroy_plan(plans[i]);
    fftwf_complex *bufs[] = {p->za, p->zb, p->zc, p->half, p->cols, p->delta, p->host_u};
    for (int i = 0; i < 7; i++) fftwf_free(bufs[i]);
    free(p->host);
    free(p->host_amp);
    free(p->mask_idx);
    free(p->noise_idx);
    free(p->row_idx);
    free(p->tags);
    free(p);
}

int64_t fesf_ihm_mask_bins(const fesf_ihm *p) { return p->nmask; }

/* |z| as glibc's hypotf computes it for finite z (in double, rounded once),
 * without the call: the squares cannot overflow in double. */
static inline float amp(fftwf_complex z)
{
    double re = crealf(z), im = cimagf(z);
    return (float)sqrt(re * re + im * im);
}

/* 16-byte vectors (unaligned, may_alias: plain SSE loads and stores at the
 * default -march) for the interleaving copies: -O2 does not vectorise loops
 * of unknown trip count. GCC and clang turn these element lists into shuffles. */
typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));

/* Pairs j0..j0+n-1 of an image channel (float or u8) into za: row 2j real,
 * row 2j+1 imaginary (0 past an odd h). */
static void load(fesf_ihm *p, const float *xf, const uint8_t *x8, int j0, int n)
{
    int w = p->w;
    for (int j = j0; j < j0 + n; j++) {
        size_t k = 2 * (size_t)j, pair = k + 1 < (size_t)p->h;
        float *restrict z = (float *)(p->za + (size_t)(j - j0) * (size_t)w);
        int q = 0;
        if (x8) {
            const uint8_t *a = x8 + k * (size_t)w, *b = pair ? a + w : NULL;
            for (; q < w; q++) z[2 * q] = p->u8_scale[a[q]], z[2 * q + 1] = b ? p->u8_scale[b[q]] : 0.0f;
            continue;
        }
        const float *restrict a = xf + k * (size_t)w, *restrict b = a + w;
        if (pair)
            for (; q + 4 <= w; q += 4) {
                v4f va = *(const v4f *)(a + q), vb = *(const v4f *)(b + q);
                *(v4f *)(z + 2 * q) = (v4f){va[0], vb[0], va[1], vb[1]};
                *(v4f *)(z + 2 * q + 4) = (v4f){va[2], vb[2], va[3], vb[3]};
            }
        for (; q < w; q++) z[2 * q] = a[q], z[2 * q + 1] = pair ? b[q] : 0.0f;
    }
}

/* An image channel's spectrum at columns 0..b into cols (column-major): the
 * pairs' DFTs chunk by chunk, parted there: A(l) = (Z(l) + conj Z(-l)) / 2
 * for row 2j, B(l) = (Z(l) - conj Z(-l)) / 2i for row 2j+1; then down the
 * columns. */
static void forward(fesf_ihm *p, const float *xf, const uint8_t *x8)
{
    int h = p->h, w = p->w;
    float *c = (float *)p->half;
    for (int j0 = 0; j0 < p->np; j0 += p->rchunk) {
        int n = p->np - j0 < p->rchunk ? p->np - j0 : p->rchunk;
        load(p, xf, x8, j0, n);
        fftwf_execute(p->rows_fwd[n < p->rchunk]);
        for (int l = 0; l < p->ncol; l++) {
            int m = l ? w - l : 0;
            for (int j = j0; j < j0 + n; j++) {
                const float *z = (const float *)(p->zb + (size_t)(j - j0) * (size_t)w);
                float zr = z[2 * l], zi = z[2 * l + 1], mr = z[2 * m], mi = z[2 * m + 1];
                float *a = c + 2 * ((size_t)l * (size_t)h + 2 * (size_t)j);
                a[0] = 0.5f * (zr + mr), a[1] = 0.5f * (zi - mi);
                if (2 * j + 1 < h) a[2] = 0.5f * (zi + mi), a[3] = 0.5f * (mr - zr);
            }
        }
    }
    fftwf_execute(p->cols_fwd);
}

int fesf_ihm_set_host(fesf_ihm *p, const float *host_chw)
{
    size_t hw = (size_t)p->h * (size_t)p->w;
    float scale = (float)p->prm.beta / (float)hw;
    memcpy(p->host, host_chw, sizeof(float) * hw * (size_t)p->c);
    for (int ch = 0; ch < p->c; ch++) {
        forward(p, p->host + (size_t)ch * hw, NULL);
        for (int64_t j = 0; j < p->nmask; j++) {
            fftwf_complex z = p->cols[p->mask_idx[j]];
            float a = amp(z);
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
static void delta_tagged(fesf_ihm *p, int ch, const fesf_ihm_tag *t)
{
    const float *ah = p->host_amp + ch * p->nmask;
    const fftwf_complex *u = p->host_u + ch * p->nmask, *x = p->cols;
    fftwf_complex *d = p->delta;
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
        d[k] = (amp(x[k]) * g - ah[j]) * (u[j] * f);
    }
}

/* D at the mask bins of delta from the spectrum in cols (delta's other bins
 * stay 0 from creation). */
static void make_delta(fesf_ihm *p, int ch, const fesf_ihm_tag *t)
{
    if (t) {
        delta_tagged(p, ch, t);
        return;
    }
    const float *ah = p->host_amp + ch * p->nmask;
    const fftwf_complex *u = p->host_u + ch * p->nmask, *x = p->cols;
    fftwf_complex *d = p->delta;
    for (int64_t j = 0; j < p->nmask; j++) {
        int32_t k = p->mask_idx[j];
        d[k] = (amp(x[k]) - ah[j]) * u[j];
    }
}

/* out = h + F^-1(D): down columns 0..b, then along the rows chunk by chunk:
 * pair j's input is A + iB with A, B the Hermitian rows 2j, 2j+1 (A(-l) =
 * conj A(l); the imaginary parts of columns 0 and W/2 dropped, as a
 * complex-to-real inverse does), so its output holds row 2j in the real
 * parts and row 2j+1 in the imaginary ones. */
static void inverse_add_host(fesf_ihm *p, int ch, float *out)
{
    fftwf_execute(p->cols_inv);
    int h = p->h, w = p->w;
    const float *c = (const float *)p->half, *hc = p->host + (size_t)ch * (size_t)h * (size_t)w;
    for (int j0 = 0; j0 < p->np; j0 += p->rchunk) {
        int n = p->np - j0 < p->rchunk ? p->np - j0 : p->rchunk;
        for (int l = 0; l < p->ncol; l++)
            for (int j = j0; j < j0 + n; j++) {
                float *z = (float *)(p->zc + (size_t)(j - j0) * (size_t)w);
                const float *a = c + 2 * ((size_t)l * (size_t)h + 2 * (size_t)j);
                int pair = 2 * j + 1 < h;
                float ar = a[0], ai = a[1], br = pair ? a[2] : 0.0f, bi = pair ? a[3] : 0.0f;
                if (l == 0 || 2 * l == w) {
                    z[2 * l] = ar, z[2 * l + 1] = br;
                    continue;
                }
                z[2 * l] = ar - bi, z[2 * l + 1] = ai + br;
                z[2 * (w - l)] = ar + bi, z[2 * (w - l) + 1] = br - ai;
            }
        fftwf_execute(p->rows_inv[n < p->rchunk]);
        for (int j = j0; j < j0 + n; j++) {
            size_t k = 2 * (size_t)j;
            const float *restrict z = (const float *)(p->zb + (size_t)(j - j0) * (size_t)w);
            const float *restrict ha = hc + k * (size_t)w, *restrict hb = ha + w;
            float *restrict oa = out + k * (size_t)w, *restrict ob = oa + w;
            int q = 0, pair = k + 1 < (size_t)h;
            if (pair)
                for (; q + 4 <= w; q += 4) {
                    v4f z0 = *(const v4f *)(z + 2 * q), z1 = *(const v4f *)(z + 2 * q + 4);
                    *(v4f *)(oa + q) = *(const v4f *)(ha + q) + (v4f){z0[0], z0[2], z1[0], z1[2]};
                    *(v4f *)(ob + q) = *(const v4f *)(hb + q) + (v4f){z0[1], z0[3], z1[1], z1[3]};
                }
            for (; q < w; q++) {
                oa[q] = ha[q] + z[2 * q];
                if (pair) ob[q] = hb[q] + z[2 * q + 1];
            }
        }
    }
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

int fesf_ihm_mask_amplitude(fesf_ihm *p, const float *x, int n, float *out_amp)
{
    if (n < 0 || n > p->batch) return fesf_error("ihm: %d images for a plan of batch %d", n, p->batch);
    size_t hw = (size_t)p->h * (size_t)p->w;
    for (int i = 0; i < n * p->c; i++) {
        forward(p, x + (size_t)i * hw, NULL);
        float *o = out_amp + (size_t)i * (size_t)p->nmask;
        for (int64_t j = 0; j < p->nmask; j++) o[j] = amp(p->cols[p->row_idx[j]]);
    }
    return 0;
}

/* x_sy of n images, float or u8, one image channel at a time: channel i is
 * read whole before its output is written (x and out may be one array). */
static int apply(fesf_ihm *p, const float *xf, const uint8_t *x8, float *out, int n)
{
    if (check_call(p, n)) return -1;
    size_t hw = (size_t)p->h * (size_t)p->w;
    for (int i = 0; i < n * p->c; i++) {
        forward(p, xf ? xf + (size_t)i * hw : NULL, x8 ? x8 + (size_t)i * hw : NULL);
        make_delta(p, i % p->c, p->ntags ? &p->tags[i / p->c] : NULL);
        inverse_add_host(p, i % p->c, out + (size_t)i * hw);
    }
    p->ntags = 0;
    return 0;
}

int fesf_ihm_apply(fesf_ihm *p, const float *x, float *out, int n) { return apply(p, x, NULL, out, n); }

int fesf_ihm_apply_u8(fesf_ihm *p, const uint8_t *x, float *out, int n) { return apply(p, NULL, x, out, n); }
