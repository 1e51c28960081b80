/* IQEM, the stage (`fesf enhance`, src/iqem/enhance.c): the GAN of gan.h
 * trained over the sites' synthetic images, and the surrogates it makes. */
#ifndef FESF_IQEM_H
#define FESF_IQEM_H

#include "fesf/gan.h"

/* `fesf enhance`: train G and D federatedly (iqem.epochs passes over the
 * largest site's synthetic images, batch 16, Adam lr iqem.lr, beta1 0.5)
 * or, with `load`, take G from that iqem.h5; then write every site's
 * /surrogate/{train,val,test} = IHM(x, G(x_sy); iqem.alpha2, iqem.beta2)
 * with quality measures as attributes; G is saved to run.out/iqem.h5.
 * Each site draws run.out/site-NNN/figures/iqem.png, its first four training
 * images as columns titled host | plaintext | synthetic | surrogate (random
 * host mode: no host column), png.h's titled grid. */
#include "fesf/config.h"
#include "fesf/world.h"
int fesf_iqem_enhance(const fesf_config *cfg, const fesf_world *w, const char *load);

/* The second IHM pass (x, G(x_sy); alpha2, beta2) with the keyed options:
 * its plan (noise = ihm.noise; beta = beta2, or ihm.beta_max when beta2 is
 * auto and images have a beta range) and image id's tag (the first pass's
 * key and id, so the same noise field; beta2 or the image's own beta). */
#include "fesf/ihm.h"
void fesf_iqem_pass2_range(const fesf_config *cfg, double *lo, double *hi); /* the images' beta2 range */
fesf_ihm_params fesf_iqem_pass2_params(const fesf_config *cfg);
fesf_ihm_tag fesf_iqem_pass2_tag(const fesf_config *cfg, uint64_t key, uint64_t id);

/* Image quality, in the order of fesf_iqem_quality_names: PSNR/SSIM of
 * synthetic and surrogate against the plaintext and the host, and the
 * fractions outside [0, 1]. Each site writes its own means (all splits) on
 * its shard's /surrogate; the coordinator writes run.out/quality.tsv, the
 * image-weighted means over all sites, from the sites' summed measures.
 * fesf_iqem_quality_read reads quality.tsv: 0, or -1 (all NaN) if absent. */
enum { FESF_IQEM_QUALITY_N = 10 };
extern const char *const fesf_iqem_quality_names[FESF_IQEM_QUALITY_N];
int fesf_iqem_quality_read(const char *run_out, double v[FESF_IQEM_QUALITY_N]);

#endif
