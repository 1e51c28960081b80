/* IHM, the image hidden module (DESIGN section 1), on single-precision FFTW.
 *
 *   A_sy = A_h (1 - M) + ((1 - beta) A_h + beta A_x) M
 *   x_sy = Re F^-1( A_sy exp(j P_h) )
 *
 * with M the low-frequency mask of size alpha (square by default, circle as
 * an option) over centred frequencies u in [-floor(H/2), ceil(H/2)); its
 * boundary is inclusive, with a 1e-12 relative tolerance so that boundaries
 * exact in decimal arithmetic stay inside (fesf_ihm_in_mask). The
 * host's phase is kept; the plaintext contributes only |F(x)| inside M.
 *
 * Implementation: M is symmetric, so the output is real and the half
 * spectrum (H x (W/2+1)) holds everything; only its columns 0..b (b = the
 * largest |v| in M) change, so only those are transformed down the columns
 * (ihm.c: rows two at a time as one complex DFT, then columns 0..b). Inside M
 * the output bin is
 *     (1 - beta) H(k) + beta |X(k)| U(k),   U = H / |H| (U = 1 where H = 0)
 * which needs no trigonometry; outside M it is the host's H(k). Every term is
 * precomputed per host with the 1/(H W) normalisation of the inverse
 * transform folded in: this is the only place the normalisation appears.
 *
 * A plan is made once per (H, W, C, batch) and executed many times; it owns
 * aligned buffers for one image channel and allocates nothing per image. Each
 * image channel goes through the whole chain alone, with FFTW plans made for
 * one channel with FFTW_ESTIMATE, whose choice of algorithm depends only on
 * the sizes: an image's output has the same bits whatever the batch it came
 * in, its position there, and across reruns. */
#ifndef FESF_IHM_H
#define FESF_IHM_H

#include <stdint.h>

typedef struct {
    double alpha; /* mask size in [0, 1]: 0 = DC only, 1 = whole spectrum */
    double beta;  /* amplitude mixing ratio in [0, 1] */
    int mask;     /* FESF_MASK_SQUARE | FESF_MASK_CIRCLE (config.h) */
    double noise; /* sigma of the keyed log-normal amplitude noise (0 = none; needs tags) */
} fesf_ihm_params;

typedef struct fesf_ihm fesf_ihm;

/* Keyed per-image options (ihm.noise, ihm.beta_min/beta_max, the keyed
 * host): what makes a release depend on a secret the site holds.
 *
 * Noise: inside M the plaintext's amplitude |X(u, v)| is multiplied by
 * exp(sigma z(u, v)), z standard normal from the counter RNG keyed by `key`
 * at stream `id`, one z per channel and per centred frequency with
 * z(u, v) = z(-u, -v) (Hermitian symmetry: the output stays real). The
 * field depends on (key, id, channel, u, v) only, so two passes over the same
 * image (IHM, then IQEM's second pass with another alpha) draw the same z at
 * the frequencies they share. `beta` replaces the plan's beta for this image
 * (the plan's beta must then be >= every tag's beta and > 0). */
typedef struct {
    uint64_t key; /* the site's secret key */
    uint64_t id;  /* the image: (split << 32) | index within the split */
    double beta;  /* this image's mixing ratio */
} fesf_ihm_tag;

/* Tags for the n images of the next fesf_ihm_apply* call (n <= batch),
 * consumed by it; without them an apply uses the plan's beta and no noise. */
int fesf_ihm_set_tags(fesf_ihm *p, const fesf_ihm_tag *tags, int n);

/* Keyed draws of the per-image options, from streams apart from the noise's:
 * beta uniform in [lo, hi] (lo when lo == hi), a host index in [0, n). */
double fesf_ihm_draw_beta(uint64_t key, uint64_t id, double lo, double hi);
int64_t fesf_ihm_draw_host(uint64_t key, uint64_t id, int64_t n);

/* The tag id of image `index` of split `split`. */
static inline uint64_t fesf_ihm_tag_id(int split, int64_t index) { return ((uint64_t)split << 32) | (uint64_t)index; }

/* Check alpha, beta and mask; 0 or -1 with a message naming the value. */
int fesf_ihm_check(const fesf_ihm_params *prm);

/* Plan for images [C, H, W] (C = 1 or 3, H, W >= 1), `batch` at a time. */
int fesf_ihm_create(fesf_ihm **out, int h, int w, int c, int batch, const fesf_ihm_params *prm);
void fesf_ihm_destroy(fesf_ihm *p);

/* Set the host image [C, H, W] (float, [0,1]) used by later fesf_ihm_apply
 * calls: one forward transform per channel. */
int fesf_ihm_set_host(fesf_ihm *p, const float *host_chw);

/* x_sy for n images (n <= batch): x and out are [n, C, H, W] float (they may
 * be the same array). */
int fesf_ihm_apply(fesf_ihm *p, const float *x, float *out, int n);

/* Same, for uint8 images in [0, 255] (taken as x / 255). */
int fesf_ihm_apply_u8(fesf_ihm *p, const uint8_t *x, float *out, int n);

/* Naive reference in double precision: direct O((HW)^2) DFTs of the full
 * complex spectrum, straight from the equations, for tests on small images.
 * x, out [n, C, H, W]; host [C, H, W]. */
int fesf_ihm_naive(const float *x, const float *host, float *out, int n, int c, int h, int w,
                   const fesf_ihm_params *prm);

/* Number of half-spectrum bins inside the mask (for tests and logs). */
int64_t fesf_ihm_mask_bins(const fesf_ihm *p);

/* |F(x)| at the plan's mask bins for n images (n <= batch): amp is
 * [n, C, fesf_ihm_mask_bins(p)], bins of the half spectrum (columns 0..W/2)
 * in row-major order. Needs no host. The linkage attack's feature. */
int fesf_ihm_mask_amplitude(fesf_ihm *p, const float *x, int n, float *amp);

/* 1 if centred frequency (u, v) of an H x W image is inside the mask. */
int fesf_ihm_in_mask(int u, int v, int h, int w, const fesf_ihm_params *prm);

/* Bare FFTW reference for benchmarks (`fesf bench ihm`): a batched r2c
 * forward + c2r inverse of `batch` images [C, H, W], planned once with
 * FFTW_ESTIMATE (measure 0) or FFTW_MEASURE (measure 1) and executed many
 * times. It lives here so that only src/ihm talks to FFTW. */
typedef struct fesf_fft_ref fesf_fft_ref;

/* Plan the reference; 0 or -1 (*out NULL). */
int fesf_fft_ref_create(fesf_fft_ref **out, int batch, int c, int h, int w, int measure);
/* One forward + inverse of x [batch, C, H, W] (copied in first; x is not
 * modified). */
void fesf_fft_ref_execute(fesf_fft_ref *r, const float *x);
void fesf_fft_ref_destroy(fesf_fft_ref *r);

/* FFTW's version string (fftwf_version), for `fesf version`. */
const char *fesf_ihm_fftw_version(void);

#endif
