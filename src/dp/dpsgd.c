/* DP-SGD's sampling and noise (see fesf/dp.h). */
#include "fesf/dp.h"

int64_t fesf_dp_poisson(fesf_rng *r, int64_t n, double q, int32_t *ids)
{
    int64_t k = 0;
    for (int64_t j = 0; j < n; j++)
        if (fesf_rng_uniform(r) < q) ids[k++] = (int32_t)j;
    return k;
}

void fesf_dp_noise(fesf_rng *r, float *g, size_t n, double std, double scale)
{
    for (size_t i = 0; i < n; i++) g[i] = (float)(((double)g[i] + std * fesf_rng_normal(r)) * scale);
}
