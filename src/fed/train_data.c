/* The sites' shards for `fesf train` (train_internal.h): the image shape of
 * site-001.h5, every split of this rank's sites as floats in [0,1], then
 * normalised (train.normalise: by the per-channel mean and std pooled over
 * all sites, or each image by its own). */
#include "train_internal.h"

#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/layers.h"
#include "fesf/run_dir.h"
#include "fesf/shard.h"
#include "fesf/log.h"
#include "fesf/secagg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *rerun_hint(const char *group) { return !strcmp(group, "synthetic") ? "hide" : "enhance"; }

/* Shape of site `site`'s images and its class count (metadata only). */
int fesf_train_read_shape(const char *dir, const char *group, int site, data_shape *s)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_shard *sh = NULL;
    fesf_shard_split in;
    int64_t k = 0;
    fesf_run_shard_path(path, dir, site);
    if (fesf_shard_open(&sh, path)) return -1;
    int rc = -1;
    if (!fesf_shard_has(sh, group)) fesf_error("'%s' has no /%s images (run 'fesf %s' first)", path, group, rerun_hint(group));
    else if (!fesf_shard_info(sh, group, FESF_SPLIT_TRAIN, &in) && !fesf_shard_get_i64(sh, "n_classes", &k)) rc = 0;
    if (!rc) *s = (data_shape){in.c, in.h, in.w, (int)k, site, in.d};
    fesf_shard_close(sh);
    return rc;
}

/* Load one split of a site (images as float in [0,1], labels). */
static int load_split(fesf_shard *sh, const char *group, int sp, const data_shape *want, site_data *s)
{
    const char *name = fesf_shard_name(sh);
    fesf_shard_split in;
    if (!fesf_shard_has(sh, group)) return fesf_error("'%s' has no /%s images", name, group);
    if (fesf_shard_info(sh, group, sp, &in)) return -1; /* the message names the file and the dataset */
    if (in.c != want->c || in.d != want->d || in.h != want->h || in.w != want->w) {
        char s1[FESF_SHAPE_STR], s2[FESF_SHAPE_STR];
        return fesf_error("'%s': images are %s but site-%03d.h5 has %s", name, fesf_shape_str(s1, in.c, in.d, in.h, in.w),
                          want->ref, fesf_shape_str(s2, want->c, want->d, want->h, want->w));
    }
    size_t len = (size_t)in.n * fesf_train_img(want);
    s->n[sp] = in.n;
    s->x[sp] = malloc(sizeof(float) * (len ? len : 1));
    s->y[sp] = malloc(sizeof(int32_t) * (size_t)(in.n ? in.n : 1));
    if (!s->x[sp] || !s->y[sp]) return fesf_error("out of memory loading '%s'", name);
    if (fesf_shard_read_images(sh, group, sp, 0, in.n, &in, FESF_F32, s->x[sp]) ||
        fesf_shard_read_labels(sh, group, sp, 0, in.n, s->y[sp]))
        return -1;
    for (int64_t i = 0; i < in.n; i++)
        if (s->y[sp][i] < 0 || s->y[sp][i] >= want->k)
            return fesf_error("'%s': label %d outside the %d classes of site-%03d.h5", name, s->y[sp][i], want->k,
                              want->ref);
    return 0;
}

int fesf_train_load_site(trainer *t, site_data *s)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_shard *sh = NULL;
    fesf_run_shard_path(path, t->cfg->run.out, s->id);
    if (fesf_shard_open(&sh, path)) return fesf_error("site %d: %s", s->id, fesf_errmsg());
    const char *name = fesf_shard_name(sh);
    int64_t k = 0;
    int rc = fesf_shard_get_i64(sh, "n_classes", &k);
    if (!rc && k != t->shape.k)
        rc = fesf_error("'%s' has %lld classes but site-%03d.h5 has %d", name, (long long)k, t->shape.ref, t->shape.k);
    for (int sp = 0; sp < 3 && !rc; sp++) rc = load_split(sh, input_group(t->cfg), sp, &t->shape, s);
    if (!rc && s->n[SPLIT_TRAIN] == 0) rc = fesf_error("'%s' has no training images", name);
    fesf_shard_close(sh);
    return rc ? fesf_error("site %d: %s", s->id, fesf_errmsg()) : 0;
}

/* train.normalise = image: each channel of each image to zero mean, unit std. */
static void normalise_images(trainer *t)
{
    size_t hw = fesf_train_plane(&t->shape);
    for (int i = 0; i < t->n_mine; i++)
        for (int sp = 0; sp < 3; sp++) fesf_input_normalise_image(t->sites[i].n[sp], t->shape.c, hw, t->sites[i].x[sp]);
}

/* Per-channel mean and std over all sites' training images, from reduced sums
 * (train.normalise = pooled), or each image by its own (image). */
int fesf_train_normalise(trainer *t)
{
    if (t->cfg->train.normalise == FESF_NORM_IMAGE) {
        normalise_images(t);
        if (t->w->rank == 0) fesf_info("normalisation: each image by its own mean and std");
        return 0;
    }
    int c = t->shape.c;
    size_t hw = fesf_train_plane(&t->shape);
    if (t->norm_given && t->norm_given != c)
        return fesf_error("the checkpoint's normalisation has %d channels, the images %d", t->norm_given, c);
    if (t->norm_given) { /* a partial federation's resume: the checkpoint's, not the remaining sites' */
        for (int i = 0; i < t->n_mine; i++)
            for (int sp = 0; sp < 3; sp++) fesf_input_normalise_pooled(t->sites[i].n[sp], c, hw, t->norm, t->sites[i].x[sp]);
        if (t->w->rank == 0) fesf_info("normalisation from the checkpoint: mean %.4f, std %.4f (channel 0)", t->norm[0], t->norm[c]);
        return 0;
    }
    double sums[2 * MAX_CHANNELS + 1] = {0};
    for (int i = 0; i < t->n_mine; i++) {
        const site_data *s = &t->sites[i];
        for (int64_t j = 0; j < s->n[SPLIT_TRAIN]; j++)
            for (int ch = 0; ch < c; ch++) {
                const float *p = s->x[SPLIT_TRAIN] + ((size_t)j * c + ch) * hw;
                for (size_t q = 0; q < hw; q++) sums[ch] += p[q], sums[c + ch] += (double)p[q] * p[q];
            }
        sums[2 * c] += (double)s->n[SPLIT_TRAIN] * hw;
    }
    if (fesf_secagg_pool_f64(t->sa, t->w, sums, (size_t)(2 * c + 1))) return -1;
    float ms[2 * MAX_CHANNELS];
    for (int ch = 0; ch < c; ch++) {
        double mean = sums[ch] / sums[2 * c], var = sums[c + ch] / sums[2 * c] - mean * mean;
        ms[ch] = (float)mean;
        ms[c + ch] = (float)sqrt(var > 1e-12 ? var : 1e-12);
    }
    if (fesf_fed_bcast_f32(t->w, ms, (size_t)(2 * c))) return -1;
    memcpy(t->norm, ms, sizeof(float) * (size_t)(2 * c));
    if (t->w->rank == 0)
        fesf_info("normalisation from %d sites' sums: mean %.4f, std %.4f (channel 0)", t->n_sites, ms[0], ms[c]);
    for (int i = 0; i < t->n_mine; i++)
        for (int sp = 0; sp < 3; sp++) fesf_input_normalise_pooled(t->sites[i].n[sp], c, hw, ms, t->sites[i].x[sp]);
    return 0;
}

