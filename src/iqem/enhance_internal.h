/* Internals of the enhance stage shared by enhance.c (the GAN's rounds and
 * the stage) and surrogate.c (the second IHM pass and its quality
 * measures); not installed. Items are images [C, H, W] or volumes
 * [C, D, H, W] (d > 1). */
#ifndef FESF_ENHANCE_INTERNAL_H
#define FESF_ENHANCE_INTERNAL_H

#include "fesf/config.h"
#include "fesf/gan.h"
#include "fesf/iqem.h"
#include "fesf/secagg.h"
#include "fesf/stage.h"
#include "fesf/world.h"

#include <stddef.h>
#include <stdint.h>

#define IQEM_BATCH 16

typedef struct {
    int id;
    int64_t n;
    float *x; /* [n, C, D, H, W] synthetic training images */
} gan_site;

typedef struct {
    const fesf_config *cfg;
    const fesf_world *w;
    int n_sites, n_mine, c, d, h, wd; /* the items' shape: d = 1 for images, D of volumes */
    int64_t n_hosts;
    float *hosts;       /* [K, C, D, H, W] public pool */
    gan_site *sites;
    double *site_n;
    fesf_gan gan;
    size_t ng, nd;
    float *state;       /* [ng + nd] G and D, broadcast every federated round */
    float *acc;         /* [ng + nd + 3] */
    float *sg, *sd;     /* Adam states */
    fesf_gan *local;    /* iqem.mode = local: one GAN per site of this rank ([n_mine]) */
    float **lsg, **lsd; /* their Adam states */
    float *kb;          /* [B, C, D, H, W] augmented host batch */
    float *sb;          /* [B, C, D, H, W] synthetic batch */
    int32_t *order, ids[IQEM_BATCH];
    const fesf_stage *stage; /* stamped on /surrogate and the G files; NULL with --load (not this config's G) */
    double qsum[1 + FESF_IQEM_QUALITY_N]; /* images, then the quality measures summed over this rank's images */
    fesf_secagg *sa;    /* train.secure_agg: the rounds' and the statistics' sums masked (secagg.h) */
} enhancer;

/* Floats of one item: C D H W. */
static inline size_t fesf_enh_item(const enhancer *e) { return (size_t)e->c * e->d * e->h * e->wd; }

/* The item's 2-D view for the figures and the feature statistics: an image
 * itself, a volume's middle plane D / 2 of each channel (into buf [C, H, W]). */
const float *fesf_enh_plane(const enhancer *e, const float *item, float *buf);

/* Site site_id's /surrogate splits = IHM(x, G(x_sy)), its quality
 * attributes and figure; adds this rank's feature statistics to fstats and
 * its summed measures to e->qsum. g: the site's group of ranks (every rank
 * of it calls; each makes a run of every split), or NULL alone. */
int fesf_enh_write_surrogates(enhancer *e, fesf_model *gen, int site_id, const fesf_site_group *g, const float *host,
                              const char *config_text, double *fstats);

#endif
