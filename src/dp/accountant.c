/* RDP accountant of the sampled Gaussian mechanism (see fesf/accountant.h).
 * Everything is in log space: A_alpha reaches exp(alpha^2 / (2 sigma^2)) for
 * small sigma and is 1 + O(q^2) for small q, where log(A) must keep its
 * relative precision. */
#include "fesf/accountant.h"

#include <math.h>

#include "fesf/error.h"

#define MAX_ORDER 65536.0
#define TAIL_LEVELS 48       /* fractional alpha: averaging rounds for the series' alternating tail */
#define SIGMA_MIN 0x1p-10    /* fesf_rdp_solve_sigma's search range */
#define SIGMA_MAX 0x1p14
#define SIGMA_RTOL 1e-6

/* log(e^a + e^b); -INFINITY stands for 0 */
static double log_add(double a, double b)
{
    if (a < b) {
        double t = a;
        a = b, b = t;
    }
    if (b == -INFINITY) return a;
    return a + log1p(exp(b - a));
}

/* log(e^a - e^b), -INFINITY if b >= a; log(1 - e^d) two ways, each where it is exact */
static double log_sub(double a, double b)
{
    if (b == -INFINITY) return a;
    if (b >= a) return -INFINITY;
    double d = b - a;
    return a + (d > -M_LN2 ? log(-expm1(d)) : log1p(-exp(d)));
}

/* log(e^y - 1) for y > 0 */
static double log_expm1(double y)
{
    return y > 40 ? y + log1p(-exp(-y)) : log(expm1(y));
}

/* log Phi(x), Phi the standard normal CDF, to full relative precision deep
 * into the lower tail (where erfc underflows) */
static double log_ndtr(double x)
{
    if (x > 5) return log1p(-0.5 * erfc(x / M_SQRT2));
    if (x > -30) return log(0.5 * erfc(-x / M_SQRT2));
    /* Phi(x) = phi(x) / |x| * (1 - 1/x^2 + 3/x^4 - 15/x^6 + ...): 12 terms reach 1e-20 at x = -30 */
    double r = 1 / (x * x), term = 1, sum = 1;
    for (int n = 1; n <= 12; n++) {
        term *= -(2 * n - 1) * r;
        sum += term;
    }
    return -0.5 * x * x - log(-x) - 0.5 * log(2 * M_PI) + log(sum);
}

/* log(A_alpha - 1) for integer alpha >= 2: since the binomial weights
 * C(alpha,k) (1-q)^(alpha-k) q^k sum to 1,
 *   A - 1 = sum_{k=2..alpha} C(alpha,k) (1-q)^(alpha-k) q^k (exp(k(k-1) / (2 sigma^2)) - 1),
 * every term positive: no cancellation however small q is. */
static double log_a1_int(double q, double sigma, long alpha)
{
    double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma;
    double lc = log((double)alpha), acc = -INFINITY; /* lc = log C(alpha, k), from k = 1 */
    for (long k = 2; k <= alpha; k++) {
        lc += log((double)(alpha - k + 1)) - log((double)k);
        double e = (double)k * (double)(k - 1) / s2;
        acc = log_add(acc, lc + (double)(alpha - k) * l1q + (double)k * lq + log_expm1(e));
    }
    return acc;
}

/* log of the k-th term's magnitude of the fractional series below, and its
 * sign; *lc carries log |C(alpha, k)| from k - 1 (start at 0 for k = 0). */
static double frac_term(double q, double sigma, double alpha, long k, double *lc, int *sign)
{
    double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma;
    double z0 = sigma * sigma * (l1q - lq) + 0.5;
    if (k > 0) {
        double f = alpha - (double)(k - 1); /* C(alpha,k) = C(alpha,k-1) f / k */
        *lc += log(fabs(f)) - log((double)k);
        if (f < 0) *sign = -*sign;
    }
    double i = (double)k, j = alpha - i;
    double t0 = *lc + i * lq + j * l1q + i * (i - 1) / s2 + log_ndtr((z0 - i) / sigma);
    double t1 = *lc + j * lq + i * l1q + j * (j - 1) / s2 + log_ndtr((j - z0) / sigma);
    return log_add(t0, t1);
}

/* log A_alpha for fractional alpha > 1 (Mironov et al. 2019, Sec. 3.3): split
 * the integral at z0, where (1-q) N(0, s^2) = q N(1, s^2), and expand the
 * mixture's power in the binomial series that converges on each side:
 *   A = sum_k C(alpha,k) [ (1-q)^(alpha-k) q^k e^((k^2-k)/2s^2) Phi((z0-k)/s)
 *                        + q^(alpha-k) (1-q)^k e^((j^2-j)/2s^2) Phi((j-z0)/s) ],  j = alpha - k.
 * The terms are positive up to k = floor(alpha) + 1 and alternate after it.
 * Their magnitude is |C(alpha,k)| (1-q)^alpha e^(-z0^2/2s^2) (R(u0) + R(u1)) /
 * sqrt(2 pi), R the Mills ratio, u0 = (k - z0)/s and u1 = (z0 - j)/s: for
 * k > alpha a product of completely monotone sequences, i.e. a moment
 * sequence a_k = int t^k dmu(t) on [0, 1]. Its alternating tail from a
 * positive term converges as slowly as k^-(alpha+2) for large sigma, so it is
 * summed by TAIL_LEVELS rounds of averaging of TAIL_LEVELS + 1 partial sums
 * (Euler's transform in its stable form), which overestimates the tail by at
 * most 2^-TAIL_LEVELS / (e (TAIL_LEVELS + 1)) of its first term: the result
 * errs on the safe side. */
static double log_a_frac(double q, double sigma, double alpha)
{
    long tail = (long)floor(alpha) + 3; /* the first positive term of the alternating tail */
    double pos = -INFINITY, neg = -INFINITY, lc = 0, lt[TAIL_LEVELS + 1], part[TAIL_LEVELS + 1];
    int sign = 1;
    for (long k = 0; k < tail; k++) {
        double t = frac_term(q, sigma, alpha, k, &lc, &sign);
        if (sign > 0) pos = log_add(pos, t);
        else neg = log_add(neg, t);
    }
    for (int i = 0; i <= TAIL_LEVELS; i++) {
        lt[i] = frac_term(q, sigma, alpha, tail + i, &lc, &sign);
        double r = exp(lt[i] - lt[0]);
        part[i] = (i ? part[i - 1] : 0) + (i % 2 ? -r : r);
    }
    for (int level = 1; level <= TAIL_LEVELS; level++)
        for (int i = 0; i + level <= TAIL_LEVELS; i++) part[i] = 0.5 * (part[i] + part[i + 1]);
    pos = log_add(pos, lt[0] + log(part[0]));
    return log_sub(pos, neg);
}

static int check_q_sigma(double q, double sigma)
{
    if (!(q >= 0 && q <= 1)) return fesf_error("dp accountant: sampling rate q = %g outside [0, 1]", q);
    if (!(sigma > 0 && isfinite(sigma)))
        return fesf_error("dp accountant: noise multiplier sigma = %g must be > 0 and finite", sigma);
    return 0;
}

static int check_delta(double delta)
{
    if (!(delta > 0 && delta < 1)) return fesf_error("dp accountant: delta = %g outside (0, 1)", delta);
    return 0;
}

static int check_steps(long steps)
{
    if (steps < 0) return fesf_error("dp accountant: steps = %ld must be >= 0", steps);
    return 0;
}

static int check_order(double alpha)
{
    if (!(alpha > 1 && alpha <= MAX_ORDER))
        return fesf_error("dp accountant: order alpha = %g outside (1, %g]", alpha, MAX_ORDER);
    return 0;
}

int fesf_rdp_sgm(double q, double sigma, double alpha, double *rdp)
{
    if (check_q_sigma(q, sigma) || check_order(alpha)) return -1;
    if (q == 0) {
        *rdp = 0;
        return 0;
    }
    if (q == 1) {
        *rdp = alpha / (2 * sigma * sigma);
        return 0;
    }
    double log_a = 0;
    if (alpha == floor(alpha)) {
        double l1 = log_a1_int(q, sigma, (long)alpha); /* log A = log(1 + e^l1) */
        log_a = l1 > 0 ? l1 + log1p(exp(-l1)) : log1p(exp(l1));
    } else {
        log_a = log_a_frac(q, sigma, alpha);
    }
    *rdp = fmax(log_a, 0) / (alpha - 1); /* A >= 1: a rounding below 0 is 0 */
    return 0;
}

int fesf_rdp_compose(double q, double sigma, long steps, const double *orders, int n, double *rdp)
{
    if (check_q_sigma(q, sigma) || check_steps(steps)) return -1;
    for (int i = 0; i < n; i++) {
        double r;
        if (fesf_rdp_sgm(q, sigma, orders[i], &r)) return -1;
        rdp[i] += (double)steps * r;
    }
    return 0;
}

/* epsilon at one order */
static double order_eps(double alpha, double rdp, double delta, fesf_rdp_conversion conv)
{
    if (conv == FESF_RDP_CLASSIC) return rdp - log(delta) / (alpha - 1);
    if (-expm1(-rdp) <= delta * delta) return 0;
    return fmax(0, rdp + log1p(-1 / alpha) - (log(delta) + log(alpha)) / (alpha - 1));
}

int fesf_rdp_to_dp(const double *orders, const double *rdp, int n, double delta, fesf_rdp_conversion conv,
                   double *eps, double *best_alpha)
{
    if (check_delta(delta)) return -1;
    if (n < 1) return fesf_error("dp accountant: no orders to convert");
    if (conv != FESF_RDP_IMPROVED && conv != FESF_RDP_CLASSIC)
        return fesf_error("dp accountant: unknown conversion %d", (int)conv);
    double best = INFINITY, at = orders[0];
    for (int i = 0; i < n; i++) {
        if (check_order(orders[i])) return -1;
        if (!(rdp[i] >= 0)) return fesf_error("dp accountant: rdp = %g at alpha = %g must be >= 0", rdp[i], orders[i]);
        double e = order_eps(orders[i], rdp[i], delta, conv);
        if (e < best) best = e, at = orders[i];
    }
    *eps = best;
    if (best_alpha) *best_alpha = at;
    return 0;
}

void fesf_rdp_default_orders(double *orders)
{
    int n = 0;
    for (int i = 11; i <= 109; i++) orders[n++] = i / 10.0; /* 1.1 .. 10.9: exact integers at 2.0, 3.0, ... */
    for (int a = 11; a <= 64; a++) orders[n++] = a;
    for (int a = 128; a <= 512; a *= 2) orders[n++] = a;
}

int fesf_rdp_epsilon(double q, double sigma, long steps, double delta, double *eps, double *best_alpha)
{
    double orders[FESF_RDP_NORDERS], rdp[FESF_RDP_NORDERS] = {0};
    fesf_rdp_default_orders(orders);
    if (check_delta(delta) || fesf_rdp_compose(q, sigma, steps, orders, FESF_RDP_NORDERS, rdp)) return -1;
    return fesf_rdp_to_dp(orders, rdp, FESF_RDP_NORDERS, delta, FESF_RDP_IMPROVED, eps, best_alpha);
}

/* *meets = epsilon at sigma <= target */
static int meets(double q, double sigma, long steps, double delta, double target, int *ok)
{
    double e;
    if (fesf_rdp_epsilon(q, sigma, steps, delta, &e, NULL)) return -1;
    *ok = e <= target;
    return 0;
}

/* Bracket the solution by doubling or halving from sigma = 1: eps(*lo) >
 * target >= eps(*hi). 1 if even SIGMA_MIN meets the target (then *hi = it). */
static int bracket(double q, long steps, double delta, double target, double *lo, double *hi)
{
    int ok;
    if (meets(q, 1, steps, delta, target, &ok)) return -1;
    double s = 1, step = ok ? 0.5 : 2;
    for (;;) {
        double next = s * step;
        if (next < SIGMA_MIN) {
            *hi = s;
            return 1;
        }
        if (next > SIGMA_MAX) {
            double e;
            if (fesf_rdp_epsilon(q, SIGMA_MAX, steps, delta, &e, NULL)) return -1;
            return fesf_error("dp accountant: target epsilon %g out of reach at delta = %g (q = %g, %ld steps): "
                              "epsilon is still %g at sigma = %g", target, delta, q, steps, e, SIGMA_MAX);
        }
        int was = ok;
        if (meets(q, next, steps, delta, target, &ok)) return -1;
        if (ok != was) {
            *lo = ok ? s : next;
            *hi = ok ? next : s;
            return 0;
        }
        s = next;
    }
}

int fesf_rdp_solve_sigma(double q, long steps, double delta, double target_eps, double *sigma)
{
    if (check_q_sigma(q, 1) || check_steps(steps) || check_delta(delta)) return -1;
    if (!(target_eps > 0 && isfinite(target_eps)))
        return fesf_error("dp accountant: target epsilon = %g must be > 0 and finite", target_eps);
    if (q == 0 || steps == 0)
        return fesf_error("dp accountant: nothing to calibrate: with q = %g and %ld steps no record is used", q,
                          steps);
    double lo = 0, hi = 0;
    int r = bracket(q, steps, delta, target_eps, &lo, &hi);
    if (r < 0) return -1;
    while (r == 0 && hi - lo > SIGMA_RTOL * hi) { /* bisection: eps is non-increasing in sigma */
        double mid = 0.5 * (lo + hi);
        int ok;
        if (meets(q, mid, steps, delta, target_eps, &ok)) return -1;
        if (ok) hi = mid;
        else lo = mid;
    }
    *sigma = hi;
    return 0;
}
