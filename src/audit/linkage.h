/* Internal to src/audit: the linkage attack at one site (see audit.h).
 *
 * The attacker knows everything but the site's key: the algorithm, alpha,
 * the beta range, the noise's sigma, the host (fixed mode; with a host per
 * image it is assumed to identify each release's host, which the spectrum
 * outside the mask shows exactly), G, alpha2 and beta2. Its feature is the
 * log amplitude inside the mask of the pass it attacks (alpha for the
 * synthetic images, alpha2 for the surrogates), where the equations give
 *     A_released = (1 - b) A_ref + b A_x exp(sigma z)
 * with A_ref the host's amplitude (synthetic) or G's output's (surrogate),
 * b the image's beta and z the keyed noise. For a gallery image g it
 * simulates the keyless release, L(g, b) = log((1 - b) A_ref + b A_g + eps),
 * and scores a released image q against g by
 *     d(q, g) = min over b in the beta grid of mean over bins (L_q - L(g, b))^2,
 * the maximum-likelihood match under log-normal noise. For the surrogate,
 * A_ref = |F(G(IHM(g, host; mid beta)))| (with a host per image, the pool's
 * first image: exact only when beta2 = 1, where A_ref drops out).
 *
 * Re-identification: rank of the true plaintext among the gallery (the
 * site's plaintext test images, then the public images as distractors) by
 * d(q, .), ties broken at random (the expected hit rate). Membership: a gallery image's score
 * is its smallest d over the site's released images; members are the site's
 * test images, non-members the public images. */
#ifndef FESF_AUDIT_LINKAGE_H
#define FESF_AUDIT_LINKAGE_H

#include <stddef.h>
#include <stdint.h>

#include "fesf/ihm.h"
#include "fesf/ihm3d.h"
#include "fesf/model.h"

typedef struct {
    int c, h, w;
    int d;                    /* volumes' depth (1: images): the 3-D spectrum's mask */
    int surrogate;            /* 0: attack /synthetic, 1: /surrogate */
    fesf_ihm_params feat;     /* the attacked pass: its alpha and mask (beta, noise unused) */
    double beta_lo, beta_hi;  /* the attacked pass's beta range */
    fesf_ihm_params pass1;    /* the first pass (mid beta), for G's input */
    const float *pub;         /* [n_pub, C, H, W] distractors and non-members */
    int64_t n_pub;
    const float *host;        /* fixed host, or NULL: a host per image */
    fesf_model *gen;          /* G (surrogate), NULL otherwise */
} fesf_linkage_setup;

/* Per-site results: sums that leave the site, and membership scores. */
enum { LK_N, LK_TOP1, LK_TOP5, LK_CHANCE1, LK_CHANCE5, LK_LEN };

/* Attack n released test images rel [n, C, H, W] against the site's
 * plaintext x [n, C, H, W]; host_of[i] is image i's host in pub (NULL: the
 * fixed host). Adds to sums[LK_LEN]; writes member[n] and nonmember[n_pub]
 * scores (distances: lower = more likely a member). 0 or -1. */
int fesf_linkage_site(const fesf_linkage_setup *s, const float *x, const float *rel, const int32_t *host_of, int64_t n,
                      double *sums, double *member, double *nonmember);

#endif
