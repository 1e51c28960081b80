/* DP-SGD's sampling and noise (see fesf/dp.h). */
#define _GNU_SOURCE /* sincos */
#include "fesf/dp.h"

#include <math.h>

#define NOISE_BLOCK 4096 /* values per block: each block starts at its own stream position */

int64_t fesf_dp_poisson(fesf_rng *r, int64_t n, double q, int32_t *ids)
{
    int64_t k = 0;
    for (int64_t j = 0; j < n; j++)
        if (fesf_rng_uniform(r) < q) ids[k++] = (int32_t)j;
    return k;
}

/* Values [i0, i1) of the noise: pair p (values 2p, 2p + 1) is Box-Muller's
 * cosine and sine of the two uniforms at words 4p .. 4p + 3 of r's stream. */
static void noise_block(const fesf_rng *r, float *g, size_t i0, size_t i1, double std, double scale)
{
    fesf_rng b = *r;
    fesf_rng_at(&b, 2 * (uint64_t)i0); /* i0 is even */
    for (size_t i = i0; i < i1; i += 2) {
        double u1 = 1.0 - fesf_rng_uniform(&b), u2 = fesf_rng_uniform(&b); /* u1 in (0, 1] */
        double rad = std * sqrt(-2.0 * log(u1)), s, c;
        sincos(6.283185307179586 * u2, &s, &c);
        g[i] = (float)(((double)g[i] + rad * c) * scale);
        if (i + 1 < i1) g[i + 1] = (float)(((double)g[i + 1] + rad * s) * scale);
    }
}

void fesf_dp_noise(fesf_rng *r, float *g, size_t n, double std, double scale)
{
    const size_t blocks = (n + NOISE_BLOCK - 1) / NOISE_BLOCK;
#pragma omp parallel for schedule(static) if (blocks > 4)
    for (size_t k = 0; k < blocks; k++) {
        size_t i0 = k * NOISE_BLOCK, i1 = i0 + NOISE_BLOCK < n ? i0 + NOISE_BLOCK : n;
        noise_block(r, g, i0, i1, std, scale);
    }
}
