/* IQEM's GAN (DESIGN section 1): a residual generator G: S -> K (iqem-g)
 * against a PatchGAN discriminator D_K (iqem-d), least-squares losses
 *   L_D = E[(D(k) - 1)^2] + E[D(G(s))^2]
 *   L_G = E[(D(G(s)) - 1)^2] + lambda_id |G(s) - s|_1     (means over elements)
 * Both gradients are taken at the same parameters (simultaneous, as FedSGD
 * sums them across sites), so a site's contribution is one pair of
 * gradient vectors. Pure: no MPI, HDF5 or files (the enhance stage, iqem.h,
 * runs it over shards). */
#ifndef FESF_GAN_H
#define FESF_GAN_H

#include "fesf/model.h"

#define FESF_IQEM_WIDTH 16 /* base width of G and D */

typedef struct {
    fesf_model *g, *d;   /* owned */
    int batch, c, h, w;  /* a volume's h is D x H */
    float lambda_id;
    float *gs;           /* [batch, C, H, W] G(s) of the last call */
    float *dgs;          /* [batch, C, H, W] dL_G / dG(s) */
    float *dy;           /* [batch, D outputs] loss gradients */
} fesf_gan;

/* Build G and D of base width `width` for images [c, h, w] (h, w even),
 * initialised from `seed`. 0 or -1. */
int fesf_gan_create(fesf_gan *gan, int width, int c, int h, int w, int batch, float lambda_id, uint64_t seed);
/* The same for volumes [c, d, h, w] (d > 1: G and D in 3-D; h above is then d * h). */
int fesf_gan_create_vol(fesf_gan *gan, int width, int c, int d, int h, int w, int batch, float lambda_id,
                        uint64_t seed);
void fesf_gan_destroy(fesf_gan *gan);

typedef struct {
    double d, g_adv, g_id; /* L_D, the adversarial part of L_G, the L1 identity part (unweighted) */
} fesf_gan_losses;

/* Gradients of L_D (into D's grads) and L_G (into G's grads) on synthetic
 * images s [n] and host-domain images k [n], n <= batch. Allocates nothing. */
void fesf_gan_grads(fesf_gan *gan, const float *s, const float *k, int n, fesf_gan_losses *out);

#endif
