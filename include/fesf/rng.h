/* Counter-based RNG (Philox4x32-10). A stream is fully determined by
 * (seed, stream_a, stream_b): e.g. (run seed, site id, purpose). The same
 * triple always gives the same sequence, on any rank, in any order of
 * creation, so no generator state needs to be shared or saved beyond the
 * counter. fesf_rng_at() jumps to any position in O(1). */
#ifndef FESF_RNG_H
#define FESF_RNG_H

#include <stdint.h>

typedef struct {
    uint32_t key[2];     /* from seed */
    uint32_t ctr[4];     /* ctr[0..1] block index, ctr[2..3] stream ids */
    uint32_t buf[4];     /* current output block */
    int idx;             /* next unused word of buf, 4 = empty */
} fesf_rng;

/* Well-known stream purposes (stream_b); stream_a is usually a site id. */
enum {
    FESF_STREAM_PARTITION = 1,
    FESF_STREAM_PHANTOM = 2,
    FESF_STREAM_HOST = 3,
    FESF_STREAM_DATA_ORDER = 4,
    FESF_STREAM_INIT = 5,
    FESF_STREAM_AUGMENT = 6,
    FESF_STREAM_AUDIT = 7,
    FESF_STREAM_NOISE = 8,      /* keyed: ihm.noise */
    FESF_STREAM_BETA = 9,       /* keyed: ihm.beta_min/beta_max */
    FESF_STREAM_KEYED_HOST = 10, /* keyed: ihm.host_mode = keyed */
    FESF_STREAM_TRAIN_AUGMENT = 11 /* train.augment */
};

void fesf_rng_init(fesf_rng *r, uint64_t seed, uint32_t stream_a, uint32_t stream_b);
/* Position the stream at 32-bit word index `pos` (0 = start). */
void fesf_rng_at(fesf_rng *r, uint64_t pos);

uint32_t fesf_rng_u32(fesf_rng *r);
uint64_t fesf_rng_u64(fesf_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t fesf_rng_below(fesf_rng *r, uint64_t n);
/* Uniform double in [0, 1), 53 random bits. */
double fesf_rng_uniform(fesf_rng *r);
/* Standard normal (Box-Muller, both values consumed deterministically). */
double fesf_rng_normal(fesf_rng *r);
/* Gamma(shape, 1), shape > 0 (Marsaglia-Tsang). */
double fesf_rng_gamma(fesf_rng *r, double shape);
/* Fisher-Yates shuffle of n int32 values. */
void fesf_rng_shuffle_i32(fesf_rng *r, int32_t *v, int64_t n);

/* The raw Philox4x32-10 block function, exposed for known-answer tests. */
void fesf_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

#endif
