/* Secure aggregation: the coordinator learns only the sum of the site
 * ranks' buffers (pairwise masking, Bonawitz et al., CCS 2017, without the
 * dropout recovery; src/fed/secagg.c).
 *
 * At creation (collective) every site rank makes an X25519 key pair
 * (libsodium's crypto_kx), the public keys travel through rank 0 to every
 * rank, and each pair of site ranks derives a shared 32-byte seed that rank
 * 0 never learns. A sum quantises each site's contribution to fixed point
 * (step 2^-32 for floats, 2^-16 for doubles, two's complement in 64 bits),
 * adds it to the rank's integer sum, adds for every other site rank r the
 * ChaCha20 keystream of their seed (+ if this rank is lower, - if higher),
 * and reduces modulo 2^64 at rank 0, where the masks cancel. Integer sums
 * are exact and associative: the result does not depend on how sites are
 * spread over ranks. Error of a sum entry against the exact sum of S sites'
 * values: at most S * 2^-33 (floats) or S * 2^-17 (doubles), then the
 * rounding to float. Entries beyond +-2^31 (floats, +-2^47 doubles) or not
 * finite are clamped (to +-range, or 0) and counted; rank 0 warns.
 *
 * What it protects against: an honest-but-curious coordinator (it follows
 * the protocol, relays the keys unchanged, reads everything it receives).
 * A coordinator that substitutes public keys, or colluding site ranks,
 * are out of scope; a site that fails aborts the job (no Shamir shares of
 * the seeds). With several sites on one rank (a simulation) the
 * coordinator learns that rank's sum of its sites. */
#ifndef FESF_SECAGG_H
#define FESF_SECAGG_H

#include <stddef.h>
#include <stdint.h>

#include "fesf/world.h"

typedef struct fesf_secagg fesf_secagg;

/* Collective over w (needs at least 2 site ranks: a world of 3 or more).
 * cap: the most entries of a float sum. 0 or -1 (on every rank). */
int fesf_secagg_create(fesf_secagg **out, const fesf_world *w, size_t cap);
void fesf_secagg_free(fesf_secagg *sa);
/* Room for float sums of up to cap entries (this rank only; not inside a
 * step). 0 or -1. */
int fesf_secagg_reserve(fesf_secagg *sa, size_t cap);

/* A float sum in three steps: begin (n <= cap entries, the rank's integer
 * sum zeroed), add each of this rank's site contributions x[n] (quantised
 * on its own, so the order of adds does not matter), then finish
 * (collective: masks, reduction, decoding into rank 0's out[n]; other
 * ranks' out untouched). scratch: [cap] floats a caller may use to build
 * one site's contribution between adds. 0 or -1. */
void fesf_secagg_begin(fesf_secagg *sa, size_t n);
float *fesf_secagg_scratch(fesf_secagg *sa);
void fesf_secagg_add_f32(fesf_secagg *sa, const float *x);
int fesf_secagg_finish_f32(fesf_secagg *sa, float *out);

/* Sum n doubles (n <= cap) of every rank into rank 0's buf, masked
 * (counts and moments: this rank's buf is its contribution). Collective;
 * 0 or -1. */
int fesf_secagg_sum_f64(fesf_secagg *sa, double *buf, size_t n);

/* The pooled sum every stage uses for counts and moments: masked through
 * sa (fesf_secagg_sum_f64), or with sa NULL in the clear
 * (fesf_fed_sum_to_coord_f64). Collective; 0 or -1. */
int fesf_secagg_pool_f64(fesf_secagg *sa, const fesf_world *w, double *buf, size_t n);

#endif
