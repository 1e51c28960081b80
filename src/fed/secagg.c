/* Secure aggregation by pairwise masks (see secagg.h). Keys and seeds come
 * from libsodium (crypto_kx: X25519 and BLAKE2b); masks are ChaCha20
 * keystreams (crypto_stream_chacha20), one 8-byte nonce per block of a sum:
 * (sum number << 24) | block, so no keystream byte is ever used twice. */
#include "fesf/secagg.h"

#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/log.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define FRAC_F32 32                /* fixed-point fraction bits of float sums */
#define FRAC_F64 16                /* of double sums */
#define BLOCK_WORDS 1024           /* 64-bit words per keystream block (8 KiB) */
#define MAX_BLOCKS ((size_t)1 << 24) /* blocks per sum the nonce can number */

struct fesf_secagg {
    const fesf_world *w;
    unsigned char *seeds; /* [size][32] seed shared with each other site rank (sodium_malloc) */
    uint64_t sums;        /* sums done: the high part of every nonce */
    uint64_t *acc;        /* [cap + 1] this rank's integer sum; the last word counts clamped entries */
    float *scratch;       /* [cap] */
    size_t cap, n;
};

/* x * 2^frac rounded to the nearest integer (halves away from zero), in
 * two's complement; entries beyond +-2^(63 - frac) or not finite are
 * clamped and counted. Plain arithmetic, not llrint (a libm call per entry
 * with errno: 3x slower). */
static inline uint64_t quantise(double x, int frac, uint64_t *clamped)
{
    const double scale = ldexp(1.0, frac), lim = 9223372036854773760.0; /* 2^63 - 2^11: converts exactly */
    double y = x * scale;
    if (!(fabs(y) < lim)) {
        ++*clamped;
        y = isnan(y) ? 0 : copysign(lim, y);
    }
    return (uint64_t)(int64_t)(y + copysign(0.5, y));
}

static double dequantise(uint64_t q, int frac) { return ldexp((double)(int64_t)q, -frac); }

/* acc[n] += sign * (the keystream of seed for this sum), block by block. */
static void mask(uint64_t *acc, size_t n, const unsigned char *seed, uint64_t sum, int add)
{
    size_t blocks = (n + BLOCK_WORDS - 1) / BLOCK_WORDS;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        uint64_t ks[BLOCK_WORDS];
        unsigned char nonce[crypto_stream_chacha20_NONCEBYTES];
        uint64_t id = sum << 24 | (uint64_t)b;
        for (int i = 0; i < 8; i++) nonce[i] = (unsigned char)(id >> (8 * i));
        size_t k = n - b * BLOCK_WORDS < BLOCK_WORDS ? n - b * BLOCK_WORDS : BLOCK_WORDS;
        crypto_stream_chacha20((unsigned char *)ks, k * sizeof(uint64_t), nonce, seed);
        uint64_t *a = acc + b * BLOCK_WORDS;
        if (add)
            for (size_t i = 0; i < k; i++) a[i] += ks[i];
        else
            for (size_t i = 0; i < k; i++) a[i] -= ks[i];
    }
}

/* The public keys through rank 0: each site rank's key in its slot, summed
 * at rank 0 (the others give zeros) and broadcast. */
static int exchange_keys(const fesf_world *w, const unsigned char *pk, unsigned char *all)
{
    size_t words = (size_t)w->size * crypto_kx_PUBLICKEYBYTES / 8;
    uint64_t *buf = calloc(words, sizeof(uint64_t));
    if (!buf) return fesf_error("out of memory");
    if (w->rank > 0) memcpy((unsigned char *)buf + (size_t)w->rank * crypto_kx_PUBLICKEYBYTES, pk, crypto_kx_PUBLICKEYBYTES);
    int rc = fesf_fed_sum_to_coord_u64(w, buf, words) || fesf_fed_bcast_u64(w, buf, words);
    if (!rc) memcpy(all, buf, words * 8);
    free(buf);
    return rc;
}

/* Seeds with every other site rank: this rank is the crypto_kx client of
 * higher ranks and the server of lower ones; the client's transmit key is
 * the server's receive key. */
static int derive_seeds(fesf_secagg *sa, const unsigned char *pk, const unsigned char *sk, const unsigned char *all)
{
    const fesf_world *w = sa->w;
    unsigned char rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
    for (int r = 1; r < w->size; r++) {
        if (r == w->rank) continue;
        const unsigned char *peer = all + (size_t)r * crypto_kx_PUBLICKEYBYTES;
        int bad = w->rank < r ? crypto_kx_client_session_keys(rx, tx, pk, sk, peer)
                              : crypto_kx_server_session_keys(rx, tx, pk, sk, peer);
        if (bad) return fesf_error("secure aggregation: the public key of rank %d is not valid", r);
        memcpy(sa->seeds + (size_t)r * 32, w->rank < r ? tx : rx, 32);
    }
    sodium_memzero(rx, sizeof rx), sodium_memzero(tx, sizeof tx);
    return 0;
}

int fesf_secagg_create(fesf_secagg **out, const fesf_world *w, size_t cap)
{
    unsigned char pk[crypto_kx_PUBLICKEYBYTES], sk[crypto_kx_SECRETKEYBYTES], *all = NULL;
    *out = NULL;
    if (w->size < 3) { /* every rank's verdict: one line, from rank 0 */
        fesf_error("train.secure_agg needs at least 2 site ranks (mpirun -np 3 or more): with %s the "
                          "coordinator would see a site's update itself", w->size < 2 ? "no site rank" : "one site rank");
        return fesf_world_fail_together(w, 0, 1);
    }
    if (sodium_init() < 0) return fesf_error("libsodium failed to initialise");
    fesf_secagg *sa = calloc(1, sizeof *sa);
    all = malloc((size_t)w->size * crypto_kx_PUBLICKEYBYTES);
    if (sa) {
        sa->w = w, sa->cap = cap;
        sa->seeds = sodium_malloc((size_t)w->size * 32);
        sa->acc = malloc(sizeof(uint64_t) * (cap + 1));
        sa->scratch = malloc(sizeof(float) * (cap ? cap : 1));
    }
    int rc = !sa || !all || !sa->seeds || !sa->acc || !sa->scratch ? fesf_error("out of memory") : 0;
    if (fesf_world_agree(w, rc != 0, 1)) goto fail; /* before the exchange, so that no rank waits in it alone */
    if (w->rank > 0) crypto_kx_keypair(pk, sk);
    else memset(pk, 0, sizeof pk);
    rc = exchange_keys(w, pk, all);
    if (!rc && w->rank > 0) rc = derive_seeds(sa, pk, sk, all);
    sodium_memzero(sk, sizeof sk);
    if (fesf_world_agree(w, rc != 0, 1)) goto fail;
    free(all);
    *out = sa;
    return 0;
fail:
    free(all);
    fesf_secagg_free(sa);
    return -1;
}

void fesf_secagg_free(fesf_secagg *sa)
{
    if (!sa) return;
    if (sa->seeds) sodium_free(sa->seeds);
    free(sa->acc), free(sa->scratch), free(sa);
}

int fesf_secagg_reserve(fesf_secagg *sa, size_t cap)
{
    if (cap <= sa->cap) return 0;
    uint64_t *acc = realloc(sa->acc, sizeof(uint64_t) * (cap + 1));
    if (acc) sa->acc = acc;
    float *scratch = realloc(sa->scratch, sizeof(float) * cap);
    if (scratch) sa->scratch = scratch;
    if (!acc || !scratch) return fesf_error("out of memory");
    sa->cap = cap;
    return 0;
}

void fesf_secagg_begin(fesf_secagg *sa, size_t n)
{
    sa->n = n < sa->cap ? n : sa->cap;
    memset(sa->acc, 0, sizeof(uint64_t) * (sa->n + 1));
}

float *fesf_secagg_scratch(fesf_secagg *sa) { return sa->scratch; }

void fesf_secagg_add_f32(fesf_secagg *sa, const float *x)
{
    uint64_t clamped = 0;
    for (size_t i = 0; i < sa->n; i++) sa->acc[i] += quantise(x[i], FRAC_F32, &clamped);
    sa->acc[sa->n] += clamped;
}

/* Masks on the rank's integer sum, the reduction at rank 0; acc[n + 1]. */
static int masked_sum(fesf_secagg *sa, size_t words)
{
    const fesf_world *w = sa->w;
    uint64_t sum = sa->sums++;
    if (words > MAX_BLOCKS * BLOCK_WORDS) return fesf_error("secure aggregation: %zu entries are too many", words);
    if (w->rank > 0)
        for (int r = 1; r < w->size; r++)
            if (r != w->rank) mask(sa->acc, words, sa->seeds + (size_t)r * 32, sum, w->rank < r);
    return fesf_fed_sum_to_coord_u64(w, sa->acc, words);
}

static void warn_clamped(const fesf_secagg *sa, size_t n, const char *range)
{
    if (sa->w->rank == 0 && sa->acc[n])
        fesf_warn("secure aggregation: %llu of %zu entries were not finite or beyond %s and were clamped",
                  (unsigned long long)sa->acc[n], n, range);
}

int fesf_secagg_finish_f32(fesf_secagg *sa, float *out)
{
    size_t n = sa->n;
    if (masked_sum(sa, n + 1)) return -1;
    if (sa->w->rank != 0) return 0;
    for (size_t i = 0; i < n; i++) out[i] = (float)dequantise(sa->acc[i], FRAC_F32);
    warn_clamped(sa, n, "+-2^31");
    return 0;
}

int fesf_secagg_sum_f64(fesf_secagg *sa, double *buf, size_t n)
{
    uint64_t clamped = 0;
    if (n > sa->cap) return fesf_error("secure aggregation: a sum of %zu entries, at most %zu", n, sa->cap);
    sa->n = n;
    for (size_t i = 0; i < n; i++) sa->acc[i] = quantise(buf[i], FRAC_F64, &clamped);
    sa->acc[n] = clamped;
    if (masked_sum(sa, n + 1)) return -1;
    if (sa->w->rank != 0) return 0;
    for (size_t i = 0; i < n; i++) buf[i] = dequantise(sa->acc[i], FRAC_F64);
    warn_clamped(sa, n, "+-2^47");
    return 0;
}

int fesf_secagg_pool_f64(fesf_secagg *sa, const fesf_world *w, double *buf, size_t n)
{
    return sa ? fesf_secagg_sum_f64(sa, buf, n) : fesf_fed_sum_to_coord_f64(w, buf, n);
}
