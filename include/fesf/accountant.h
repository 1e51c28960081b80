/* The privacy accountant of DP-SGD: Renyi differential privacy (RDP) of the
 * sampled Gaussian mechanism, composed over steps and converted to
 * (epsilon, delta).
 *
 * What it assumes (the caller's training must do exactly this):
 * - Poisson sampling: at each step every training record of the site is in
 *   the batch independently with probability q (the batch size varies); not a
 *   fixed-size batch, not a shuffled pass over the data;
 * - each record's contribution is clipped to L2 norm <= clip, the clipped
 *   contributions are summed and Gaussian noise of standard deviation
 *   sigma * clip is added to the sum (sigma: the noise multiplier);
 * - record-level guarantee under add/remove adjacency (two datasets are
 *   neighbours when one is the other with one record more); one site's
 *   records, one accountant per site.
 * One step at order alpha costs (Mironov, Talwar, Zhang 2019, "Renyi
 * Differential Privacy of the Sampled Gaussian Mechanism", Sec. 3.3)
 *   rdp(alpha) = log(A_alpha) / (alpha - 1),
 *   A_alpha = E_{z ~ N(0, sigma^2)} [((1 - q) + q exp((2z - 1) / (2 sigma^2)))^alpha],
 * the Renyi divergence of (1-q) N(0, sigma^2) + q N(1, sigma^2) from
 * N(0, sigma^2), the direction the paper computes (tests/py/rdp_mpmath.py
 * integrates both directions and finds it the larger on all its grid).
 * Integer alpha: the exact binomial sum; other alpha: the paper's two
 * convergent series, split where the two mixture components are equal. All
 * in log space. T steps cost T times one step; steps of different
 * (q, sigma) add up order by order. Precision: log(A) is
 * off by about 1e-18 to 1e-16 (the rounding of terms near 1), so one step's
 * RDP is good to 1e-12 relative when it is above 1e-6, to 1e-9 near 1e-9
 * (e.g. q = 1e-3, sigma = 10); the composition keeps that relative error.
 *
 * Conversion to (epsilon, delta), minimised over a list of orders:
 * - FESF_RDP_IMPROVED (what fesf reports; Balle et al. 2020 "Hypothesis
 *   testing interpretations and Renyi differential privacy", Thm. 21; also
 *   Canonne, Kamath, Steinke 2020, Prop. 12; what Opacus and Google's
 *   dp_accounting use):
 *     eps = rdp + log((alpha - 1) / alpha) - (log(delta) + log(alpha)) / (alpha - 1),
 *   and eps = 0 when 1 - exp(-rdp) <= delta^2 (then the total variation
 *   distance is at most delta: Bretagnolle-Huber, KL <= rdp);
 * - FESF_RDP_CLASSIC (Mironov 2017, Prop. 3; what TF Privacy's older published
 *   figures use, e.g. its MNIST tutorial's): eps = rdp + log(1/delta) / (alpha - 1),
 *   always larger.
 *
 * Plain functions on caller-owned arrays; 0 or -1 with fesf_errmsg() set. */
#ifndef FESF_ACCOUNTANT_H
#define FESF_ACCOUNTANT_H

typedef enum { FESF_RDP_IMPROVED = 0, FESF_RDP_CLASSIC = 1 } fesf_rdp_conversion;

/* The default orders: 1.1, 1.2, ..., 10.9, 11, 12, ..., 64, 128, 256, 512, a
 * superset of Opacus's DEFAULT_ALPHAS (1.1 .. 10.9, 12 .. 63): never a larger
 * epsilon than Opacus's for the same run. */
#define FESF_RDP_NORDERS 156

/* Fill orders[FESF_RDP_NORDERS] with the default orders, ascending. */
void fesf_rdp_default_orders(double *orders);

/* RDP of one step at order alpha (1 < alpha <= 65536), for a sampling rate
 * q in [0, 1] and a noise multiplier sigma > 0. q = 0 gives 0, q = 1 the
 * Gaussian mechanism's alpha / (2 sigma^2). */
int fesf_rdp_sgm(double q, double sigma, double alpha, double *rdp);

/* rdp[i] += steps * (RDP of one step at orders[i]), i < n: adds `steps`
 * compositions to an RDP curve the caller zeroed first. */
int fesf_rdp_compose(double q, double sigma, long steps, const double *orders, int n, double *rdp);

/* The smallest epsilon over the n orders (each > 1) of the RDP curve rdp[]
 * (each >= 0) at delta in (0, 1), and the order that gives it (the first
 * one on a tie). */
int fesf_rdp_to_dp(const double *orders, const double *rdp, int n, double delta, fesf_rdp_conversion conv,
                   double *eps, double *best_alpha);

/* epsilon at delta after `steps` steps of rate q and noise multiplier sigma,
 * over the default orders, improved conversion. best_alpha may be NULL. */
int fesf_rdp_epsilon(double q, double sigma, long steps, double delta, double *eps, double *best_alpha);

/* The smallest noise multiplier (to 1e-6 relative, searched in
 * [2^-10, 2^14]; never below the true one) for which fesf_rdp_epsilon gives
 * eps <= target_eps. -1 when even sigma = 2^14 is not enough (target_eps too
 * small for the orders) or when nothing needs noise (q = 0 or no steps). */
int fesf_rdp_solve_sigma(double q, long steps, double delta, double target_eps, double *sigma);

#endif
