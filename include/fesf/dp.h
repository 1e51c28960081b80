/* DP-SGD's randomised parts (the clipping is the engine's:
 * fesf_model_dp_backward in model.h; the accounting is accountant.h), on
 * caller-owned buffers with a caller-owned keyed stream, so that a site's
 * batches and noise are a function of its key and the step. */
#ifndef FESF_DP_H
#define FESF_DP_H

#include <stddef.h>
#include <stdint.h>

#include "fesf/rng.h"

/* Poisson sampling of one step: record j < n is in the batch iff the j-th
 * uniform of r is below q, independently (the sampling accountant.h
 * assumes). Writes the ids in ascending order; returns their count. */
int64_t fesf_dp_poisson(fesf_rng *r, int64_t n, double q, int32_t *ids);

/* The Gaussian mechanism on a sum of clipped gradients, then its mean over
 * the expected batch: g[i] = (g[i] + std * z_i) * scale, z_i ~ N(0, 1)
 * independent, z_2p and z_2p+1 Box-Muller's pair from the uniforms at words
 * 4p .. 4p+3 of r's stream (r itself is not advanced): a function of the
 * stream alone, whatever the thread count. */
void fesf_dp_noise(fesf_rng *r, float *g, size_t n, double std, double scale);

#endif
