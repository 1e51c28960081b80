/* Philox4x32-10 (Salmon et al., SC'11): a counter-based generator. The
 * 128-bit counter is (block index lo, block index hi, stream_a, stream_b) and
 * the 64-bit key is the seed, so every (seed, stream_a, stream_b) names an
 * independent stream of 2^64 blocks. */
#include "fesf/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void fesf_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4])
{
    uint32_t k0 = key[0], k1 = key[1];
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void fesf_rng_init(fesf_rng *r, uint64_t seed, uint32_t stream_a, uint32_t stream_b)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = r->ctr[1] = 0;
    r->ctr[2] = stream_a;
    r->ctr[3] = stream_b;
    r->idx = 4;
}

void fesf_rng_at(fesf_rng *r, uint64_t pos)
{
    uint64_t block = pos / 4;
    r->ctr[0] = (uint32_t)block;
    r->ctr[1] = (uint32_t)(block >> 32);
    r->idx = 4;
    if (pos % 4) {
        fesf_philox4x32(r->key, r->ctr, r->buf);
        if (++r->ctr[0] == 0) r->ctr[1]++;
        r->idx = (int)(pos % 4);
    }
}

uint32_t fesf_rng_u32(fesf_rng *r)
{
    if (r->idx == 4) {
        fesf_philox4x32(r->key, r->ctr, r->buf);
        if (++r->ctr[0] == 0) r->ctr[1]++;
        r->idx = 0;
    }
    return r->buf[r->idx++];
}

uint64_t fesf_rng_u64(fesf_rng *r)
{
    uint64_t hi = fesf_rng_u32(r);
    return (hi << 32) | fesf_rng_u32(r);
}

uint64_t fesf_rng_below(fesf_rng *r, uint64_t n)
{
    /* rejection sampling: accept x < n * floor(2^64 / n) */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = fesf_rng_u64(r); while (x >= limit);
    return x % n;
}

double fesf_rng_uniform(fesf_rng *r)
{
    return (double)(fesf_rng_u64(r) >> 11) * 0x1.0p-53;
}

double fesf_rng_normal(fesf_rng *r)
{
    /* Box-Muller, one value per call: keeps the stream position a pure
     * function of the number of calls. */
    double u1 = 1.0 - fesf_rng_uniform(r); /* (0, 1] */
    double u2 = fesf_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double fesf_rng_gamma(fesf_rng *r, double shape)
{
    if (shape < 1.0) {
        /* Gamma(a) = Gamma(a+1) * U^(1/a) */
        double u = 1.0 - fesf_rng_uniform(r);
        return fesf_rng_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = fesf_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = 1.0 - fesf_rng_uniform(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
    }
}

void fesf_rng_shuffle_i32(fesf_rng *r, int32_t *v, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)fesf_rng_below(r, (uint64_t)i + 1);
        int32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}
