/* Image-quality measures (IQEM report): PSNR, SSIM, the fraction of pixels
 * outside [0,1], and a Frechet distance between feature statistics of two
 * image sets under a fixed, documented feature extractor.
 *
 * Images are float32, layout [C][H][W] (C >= 1, channel-major), nominally in
 * [0,1]; every measure uses data range L = 1 and treats channels
 * independently. The per-image functions allocate nothing: buffers belong to
 * the caller, scratch sizes come from the *_scratch_floats helpers. PSNR,
 * SSIM, the statistics and the Frechet distance compute in double.
 *
 * Cross-checked against an independent NumPy implementation of the same
 * definitions (tests/py/quality_ref.py, run by tests/unit/test_quality.c). */
#ifndef FESF_QUALITY_H
#define FESF_QUALITY_H

#include <stddef.h>
#include <stdint.h>

/* ---- PSNR ---------------------------------------------------------------
 * PSNR(a, b) = 10 log10(L^2 / MSE), L = 1, MSE = mean over all C*H*W values
 * of (a - b)^2 (accumulated in double). Returns +INFINITY when the images are
 * identical (MSE = 0), NaN if any value is NaN. Same as
 * skimage.metrics.peak_signal_noise_ratio(b, a, data_range=1). */
double fesf_psnr(const float *a, const float *b, int c, int h, int w);

/* ---- SSIM ---------------------------------------------------------------
 * Wang et al. 2004 SSIM with the constants and window of
 * skimage.metrics.structural_similarity(a, b, data_range=1,
 * gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 * channel_axis=0):
 *   window   separable Gaussian, sigma 1.5, truncated at 3.5 sigma: 11 taps
 *            g[k] = exp(-k^2 / (2 * 1.5^2)) / sum_j exp(-j^2 / 4.5), k = -5..5
 *   moments  mu_a = g*a, mu_b = g*b, s_aa = g*(a^2) - mu_a^2,
 *            s_bb = g*(b^2) - mu_b^2, s_ab = g*(ab) - mu_a mu_b
 *            (population moments under the window: no n/(n-1) factor)
 *   map      S = (2 mu_a mu_b + C1)(2 s_ab + C2) /
 *                ((mu_a^2 + mu_b^2 + C1)(s_aa + s_bb + C2)),
 *            C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 1
 *   borders  'valid': S is evaluated only at the (H-10) x (W-10) pixels
 *            where the 11x11 window lies inside the image (no padding).
 *            This equals skimage's convention exactly: skimage filters with
 *            reflect padding but then averages S after cropping 5 pixels
 *            from every border, i.e. over the same pixels, whose windows
 *            never touch the padding.
 *   result   mean of S over those pixels, then mean over the C channels.
 * Requires c >= 1, h >= 11 and w >= 11; otherwise records an error and
 * returns NaN (and fesf_ssim_scratch_floats returns 0 for such sizes).
 * Symmetric in a and b; 1 for identical images (up to rounding, ~1e-15).
 * scratch: fesf_ssim_scratch_floats(h, w) = 10 * h * (w - 10) floats, any
 * alignment (it holds the horizontal pass of the five moment planes as
 * doubles, copied in and out with memcpy); all arithmetic is in double. */
#define FESF_SSIM_WIN 11
size_t fesf_ssim_scratch_floats(int h, int w);
double fesf_ssim(const float *a, const float *b, int c, int h, int w, float *scratch);

/* ---- Range --------------------------------------------------------------
 * Fraction of the n values x[i] that are not in [0,1] (x < 0, x > 1, or
 * NaN). NaN when n == 0. */
double fesf_fraction_outside01(const float *x, size_t n);

/* ---- Feature extractor for the Frechet distance --------------------------
 * A fixed, untrained two-level random convolutional feature map (no learned
 * weights, nothing to download). For an image [C][H][W] (any C, H, W >= 1):
 *  1. grey   g(y,x) = mean over channels of x[c][y][x]; values are NOT
 *            clipped (out-of-range surrogates should show in the features).
 *  2. resize to 32x32 by exact area averaging: the image is taken as
 *            piecewise constant on unit pixels; output pixel (i,j) is the mean
 *            of g over the box [i*H/32, (i+1)*H/32) x [j*W/32, (j+1)*W/32)
 *            (fractional overlaps weighted; works for up- and down-sampling;
 *            separable: rows first, then columns).
 *  3. level 1: 16 filters 5x5, 'valid' correlation (no padding) -> 16 x 28x28,
 *            no bias, ReLU.  y1[f][i][j] = max(0, sum_{u,v} W1[f][u][v] r[i+u][j+v]).
 *  4. 2x2 average pooling (stride 2) of y1 -> 16 x 14x14.
 *  5. level 2: 16 filters 16x3x3, 'valid' correlation -> 16 x 12x12, no bias,
 *            ReLU. y2[f][i][j] = max(0, sum_{k,u,v} W2[f][k][u][v] p[k][i+u][j+v]).
 *  6. features (FESF_FEAT_DIM = 64, double):
 *            feat[f]      = mean of y1[f] over its 28x28 positions,  f = 0..15
 *            feat[16 + f] = population std of y1[f] (sqrt(E y^2 - (E y)^2)),
 *            feat[32 + f] = mean of y2[f] over its 12x12 positions,
 *            feat[48 + f] = population std of y2[f].
 * Weights: one stream fesf_rng_init(&r, FESF_FEAT_SEED, 0, FESF_FEAT_STREAM)
 * (include/fesf/rng.h); W1 in order [f][u][v] then W2 in order [f][k][u][v],
 * each value fesf_rng_normal(&r) / 5 for W1 and fesf_rng_normal(&r) / 12
 * for W2 (1/sqrt(fan-in)), rounded to float. Sums in float within a filter
 * window, features accumulated in double.
 * Returns 0, or -1 with an error if c, h or w < 1.
 * scratch: fesf_features_scratch_floats(h, w) floats. */
#define FESF_FEAT_DIM 64
#define FESF_FEAT_SIDE 32
#define FESF_FEAT_SEED 0x46455346u   /* "FESF" */
#define FESF_FEAT_STREAM 0x46454154u /* "FEAT" */
size_t fesf_features_scratch_floats(int h, int w);
int fesf_features(const float *x, int c, int h, int w, double *feat, float *scratch);

/* ---- Feature statistics (mergeable by plain addition) --------------------
 * A flat buffer of fesf_feat_stats_len(d) = 1 + d + d*d doubles, zeroed by
 * the caller:
 *   st[0]                 n, the number of feature vectors added
 *   st[1 .. d]            sum of f
 *   st[1 + d + i*d + j]   sum of f_i f_j (full symmetric matrix)
 * Buffers of several sites combine by element-wise addition (MPI_SUM of a
 * fixed-size buffer, or fesf_feat_stats_merge). */
size_t fesf_feat_stats_len(int d);
/* Add one feature vector f[d]. */
void fesf_feat_stats_add(double *st, int d, const double *f);
/* dst += src, element-wise over fesf_feat_stats_len(d) values. */
void fesf_feat_stats_merge(double *dst, const double *src, int d);
/* mu[d] = sum / n; cov[d*d] = (sum_outer - n mu mu^T) / (n - 1) (sample
 * covariance, row-major, symmetric). Returns -1 with an error if n < 2. */
int fesf_feat_stats_finish(const double *st, int d, double *mu, double *cov);

/* ---- Frechet distance ----------------------------------------------------
 * Frechet (2-Wasserstein) distance between Gaussians N(mu1, C1), N(mu2, C2):
 *   FD = |mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1^1/2 C2 C1^1/2)^1/2)
 * computed with LAPACK dsyev (OpenBLAS): C1 = V diag(l) V^T, C1^1/2 =
 * V diag(sqrt(max(l,0))) V^T; M = C1^1/2 C2 C1^1/2 (symmetrised);
 * tr(M^1/2) = sum sqrt(max(eig(M), 0)). C1 and C2 are symmetrised
 * ((C + C^T) / 2) before use and should be positive semi-definite, as
 * fesf_feat_stats_finish gives; negative eigenvalues from rounding count as 0.
 * A result below 0 from rounding is returned as 0. This is the FID formula
 * (Heusel et al. 2017) on this module's features, not Inception features:
 * values are comparable only with other values of this extractor.
 * Allocates O(d^2) workspace. Returns 0, or -1 with an error (d < 1, out of
 * memory, LAPACK failure). */
int fesf_frechet(const double *mu1, const double *cov1, const double *mu2, const double *cov2,
                 int d, double *out);

#endif
