/* The enhance stage's second IHM pass (iqem.h): every split of a site's
 * shard as /surrogate = IHM(x, G(x_sy); alpha2, beta2), image by image
 * (the 3-D IHM for volumes), with the quality measures as attributes and
 * the site's figure. Volumes: PSNR over the whole volume, SSIM the mean
 * over its planes, features and figures of the middle plane. A site of k
 * ranks (data.ranks_per_site) splits every split into k runs of whole
 * items, read and written through parallel HDF5 as the hide stage does. */
#include "enhance_internal.h"

#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/ihm.h"
#include "fesf/ihm3d.h"
#include "fesf/iqem.h"
#include "fesf/log.h"
#include "fesf/png.h"
#include "fesf/quality.h"
#include "fesf/run_dir.h"
#include "fesf/shard.h"
#include "fesf/volume.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double n, psnr[4], ssim[4], outside[2]; /* [syn-plain, sur-plain, syn-host, sur-host], [syn, sur] */
    double *fsyn, *fsur;                    /* the rank's feature statistics (quality.h) */
    float *fscratch;
    float *plane;                           /* [C, H, W]: a volume's middle plane */
    float *grid;                            /* [4 * grid_cols, C, H, W]: the figure's 4 rows */
    int grid_rows, grid_cols;               /* 4: host | plaintext | synthetic | surrogate; 3 without a fixed host */
} quality_sums;

const float *fesf_enh_plane(const enhancer *e, const float *item, float *buf)
{
    if (e->d == 1) return item;
    fesf_volume_mid_plane(item, e->c, e->d, e->h, e->wd, buf);
    return buf;
}

/* The measures of one item (a volume's planes as channels for PSNR and SSIM). */
static void add_quality(quality_sums *q, const enhancer *e, const float *plain, const float *syn, const float *sur,
                        const float *host, float *scratch)
{
    int c = e->c * e->d, h = e->h, w = e->wd;
    size_t len = fesf_enh_item(e), plane = (size_t)e->c * h * w;
    const float *a[4] = {syn, sur, syn, sur}, *b[4] = {plain, plain, host, host};
    for (int k = 0; k < 4; k++) {
        if (!b[k]) continue;
        double p = fesf_psnr(a[k], b[k], c, h, w);
        q->psnr[k] += isfinite(p) ? p : 100.0; /* identical images: cap at 100 dB */
        q->ssim[k] += h >= FESF_SSIM_WIN && w >= FESF_SSIM_WIN ? fesf_ssim(a[k], b[k], c, h, w, scratch) : NAN;
    }
    q->outside[0] += fesf_fraction_outside01(syn, len), q->outside[1] += fesf_fraction_outside01(sur, len);
    q->n += 1;
    double f[FESF_FEAT_DIM];
    if (!fesf_features(fesf_enh_plane(e, syn, q->plane), e->c, h, w, f, q->fscratch))
        fesf_feat_stats_add(q->fsyn, FESF_FEAT_DIM, f);
    if (!fesf_features(fesf_enh_plane(e, sur, q->plane), e->c, h, w, f, q->fscratch))
        fesf_feat_stats_add(q->fsur, FESF_FEAT_DIM, f);
    if (q->grid_rows < 4) { /* the figure: the first images of the split written first (train) */
        const float *row[4] = {host, plain, syn, sur}, **cell = row + 4 - q->grid_cols;
        for (int k = 0; k < q->grid_cols; k++)
            memcpy(q->grid + (size_t)(q->grid_cols * q->grid_rows + k) * plane, fesf_enh_plane(e, cell[k], q->plane),
                   sizeof(float) * plane);
        q->grid_rows++;
    }
}

void fesf_iqem_pass2_range(const fesf_config *cfg, double *lo, double *hi)
{
    int ranged = cfg->iqem.beta2_auto && cfg->ihm.beta_min < cfg->ihm.beta_max;
    *lo = ranged ? cfg->ihm.beta_min : cfg->iqem.beta2;
    *hi = ranged ? cfg->ihm.beta_max : cfg->iqem.beta2;
}

fesf_ihm_tag fesf_iqem_pass2_tag(const fesf_config *cfg, uint64_t key, uint64_t id)
{
    double lo, hi;
    fesf_iqem_pass2_range(cfg, &lo, &hi);
    return (fesf_ihm_tag){key, id, fesf_ihm_draw_beta(key, id, lo, hi)};
}

fesf_ihm_params fesf_iqem_pass2_params(const fesf_config *cfg)
{
    double lo, hi;
    fesf_iqem_pass2_range(cfg, &lo, &hi);
    return (fesf_ihm_params){cfg->iqem.alpha2, hi, cfg->ihm.mask, cfg->ihm.noise};
}

/* Where a site's splits are read and written: alone, the rewrite's own
 * handle; a site's ranks together (g), the shard and its PATH.tmp opened
 * by every rank of the group, each rank a contiguous run of every split,
 * whole items read and written as collective slabs. */
typedef struct {
    fesf_shard *in, *out;
    const fesf_site_group *g; /* NULL: alone */
} site_io;

static int read_items(const enhancer *e, const site_io *io, const char *group, int sp, int64_t s, int k, float *buf)
{
    fesf_shard_split want = {0, e->c, e->h, e->wd, FESF_F32, e->d}; /* the buffers' item size */
    if (io->g) return fesf_shard_read_slab(io->in, group, sp, s, k, 0, e->d, io->g->dxpl, buf);
    return fesf_shard_read_images(io->in, group, sp, s, k, &want, FESF_F32, buf);
}

static int write_items(const enhancer *e, const site_io *io, int sp, int64_t s, int k, const float *buf,
                       const int32_t *lab)
{
    if (io->g) return fesf_shard_write_slab(io->out, "surrogate", sp, s, k, 0, e->d, io->g->dxpl, buf);
    return fesf_shard_write_images(io->out, "surrogate", sp, s, k, buf) ||
                   fesf_shard_write_labels(io->out, "surrogate", sp, s, k, lab)
               ? -1
               : 0;
}

/* One split of a shard: /surrogate = IHM(x, G(x_sy)) image by image, this
 * rank's run of it (the whole split alone); with a group every rank makes
 * as many steps as the longest run, the last ones empty (collective). */
static int surrogate_split(enhancer *e, fesf_model *gen, const site_io *io, int sp, fesf_ihm_any *plan, const float *host,
                           uint64_t key, quality_sums *q, float *bufs, float *scratch)
{
    int keyed = fesf_config_keyed(e->cfg);
    size_t img = fesf_enh_item(e);
    float *x = bufs, *syn = x + img * IQEM_BATCH, *sur = syn + img * IQEM_BATCH;
    int32_t lab[IQEM_BATCH];
    fesf_shard_split in, plain;
    if (fesf_shard_info(io->in, "synthetic", sp, &in) || fesf_shard_info(io->in, "plain", sp, &plain)) return -1;
    if (plain.n != in.n)
        return fesf_error("'%s': /synthetic/%s holds %lld images but /plain/%s %lld (run 'fesf hide' again)",
                          fesf_shard_name(io->in), fesf_split_names[sp], (long long)in.n, fesf_split_names[sp],
                          (long long)plain.n);
    if (!io->g && fesf_shard_create_split(io->out, "surrogate", sp, in.n, e->c, e->d, e->h, e->wd, 0)) return -1;
    int64_t lo = 0, hi = in.n, span = in.n;
    if (io->g) { /* runs of whole batches: G sees the batches one rank makes, so the bits are the same */
        int64_t nb = (in.n + IQEM_BATCH - 1) / IQEM_BATCH, m = io->g->member, k = io->g->k;
        lo = IQEM_BATCH * (nb * m / k), hi = IQEM_BATCH * (nb * (m + 1) / k);
        lo = lo < in.n ? lo : in.n, hi = hi < in.n ? hi : in.n, span = IQEM_BATCH * ((nb + k - 1) / k);
    }
    for (int64_t off = 0; off < span; off += IQEM_BATCH) {
        int64_t s = lo + off;
        int k = (int)(s >= hi ? 0 : hi - s < IQEM_BATCH ? hi - s : IQEM_BATCH);
        if (read_items(e, io, "synthetic", sp, s, k, syn) || (!io->g && fesf_shard_read_labels(io->in, "plain", sp, s, k, lab)) ||
            read_items(e, io, "plain", sp, s, k, x))
            return -1;
        const float *gout = k ? fesf_model_forward(gen, syn, k, 1) : NULL;
        for (int i = 0; i < k; i++) { /* the enhanced image is this image's host */
            fesf_ihm_tag t;
            if (keyed) t = fesf_iqem_pass2_tag(e->cfg, key, fesf_ihm_tag_id(sp, s + i));
            if (fesf_ihm_any_set_host(plan, gout + img * (size_t)i) || (keyed && fesf_ihm_any_set_tags(plan, &t, 1)) ||
                fesf_ihm_any_apply(plan, x + img * (size_t)i, sur + img * (size_t)i, 1))
                return -1;
            add_quality(q, e, x + img * (size_t)i, syn + img * (size_t)i, sur + img * (size_t)i, host, scratch);
        }
        if (write_items(e, io, sp, s, k, sur, lab)) return -1;
    }
    return 0;
}

/* A group's leader: the rewrite, /surrogate's empty splits and their
 * labels, left suspended for the group (shard.h). */
static int lead_prepare(const enhancer *e, const char *path, const char *config_text, fesf_shard **out)
{
    static const char *const drop[] = {"surrogate", NULL};
    int32_t *lab = NULL;
    int rc = -1;
    if (fesf_shard_rewrite(out, path, drop, config_text)) return -1;
    for (int sp = 0; sp < FESF_NSPLITS; sp++) {
        fesf_shard_split in;
        if (fesf_shard_info(*out, "plain", sp, &in)) goto done;
        free(lab);
        if (!(lab = malloc(sizeof(int32_t) * (size_t)(in.n ? in.n : 1)))) {
            fesf_error("out of memory");
            goto done;
        }
        if (fesf_shard_create_split(*out, "surrogate", sp, in.n, e->c, e->d, e->h, e->wd, 0) ||
            fesf_shard_read_labels(*out, "plain", sp, 0, in.n, lab) ||
            fesf_shard_write_labels(*out, "surrogate", sp, 0, in.n, lab))
            goto done;
    }
    rc = fesf_shard_suspend(*out);
done:
    free(lab);
    return rc;
}

static const char *const pn[4] = {"psnr_synthetic_plain", "psnr_surrogate_plain", "psnr_synthetic_host",
                                  "psnr_surrogate_host"};
static const char *const sn[4] = {"ssim_synthetic_plain", "ssim_surrogate_plain", "ssim_synthetic_host",
                                  "ssim_surrogate_host"};

static int quality_attrs(fesf_shard *sh, const quality_sums *q, const enhancer *e, const char *name)
{
    const fesf_config *cfg = e->cfg;
    const char *g = "/surrogate";
    double lo, hi;
    fesf_iqem_pass2_range(cfg, &lo, &hi);
    int rc = fesf_shard_stamp(sh, g, e->stage) || fesf_shard_set_f64(sh, g, "alpha2", cfg->iqem.alpha2) ||
             fesf_shard_set_f64(sh, g, "beta2", cfg->iqem.beta2) || fesf_shard_set_f64(sh, g, "noise", cfg->ihm.noise) ||
             fesf_shard_set_f64(sh, g, "beta2_min", lo) || fesf_shard_set_f64(sh, g, "beta2_max", hi) ||
             fesf_shard_set_f64(sh, g, "outside01_synthetic", q->outside[0] / q->n) ||
             fesf_shard_set_f64(sh, g, "outside01_surrogate", q->outside[1] / q->n);
    for (int k = 0; k < 4 && !rc; k++)
        rc = fesf_shard_set_f64(sh, g, pn[k], q->psnr[k] / q->n) || fesf_shard_set_f64(sh, g, sn[k], q->ssim[k] / q->n);
    fesf_info("%s quality (mean over %.0f images): synthetic vs plaintext PSNR %.2f dB SSIM %.3f; surrogate vs "
              "plaintext PSNR %.2f dB SSIM %.3f; vs host: synthetic %.2f dB / %.3f, surrogate %.2f dB / %.3f; "
              "outside [0,1]: %.4f -> %.4f",
              name, q->n, q->psnr[0] / q->n, q->ssim[0] / q->n, q->psnr[1] / q->n, q->ssim[1] / q->n, q->psnr[2] / q->n,
              q->ssim[2] / q->n, q->psnr[3] / q->n, q->ssim[3] / q->n, q->outside[0] / q->n, q->outside[1] / q->n);
    return rc ? fesf_error("cannot write the quality attributes") : 0;
}

/* site-NNN/figures/iqem.png: per row one training image as host | plaintext |
 * synthetic | surrogate (random host mode: no single host, no host column). */
static int write_figure(const enhancer *e, int site_id, const quality_sums *q)
{
    static const char *const titles[4] = {"host", "plaintext", "synthetic", "surrogate"};
    char path[FESF_RUN_PATH_MAX];
    if (fesf_run_site_figure_path(path, e->cfg->run.out, site_id, "iqem.png")) return -1;
    return fesf_png_write_grid_titled(path, q->grid, q->grid_cols * q->grid_rows, e->c, e->h, e->wd, q->grid_cols,
                                      titles + 4 - q->grid_cols);
}

/* The measures the shard's attributes report: with a group the leader's sum of its ranks'. */
static int group_quality(const fesf_site_group *g, quality_sums *q)
{
    double v[11] = {q->n};
    memcpy(v + 1, q->psnr, sizeof q->psnr), memcpy(v + 5, q->ssim, sizeof q->ssim), memcpy(v + 9, q->outside, sizeof q->outside);
    if (fesf_site_group_sum_f64(g, v, 11)) return -1;
    q->n = v[0];
    memcpy(q->psnr, v + 1, sizeof q->psnr), memcpy(q->ssim, v + 5, sizeof q->ssim), memcpy(q->outside, v + 9, sizeof q->outside);
    return 0;
}

/* Open the site's shard: alone, the rewrite; a group, the leader's
 * suspended rewrite and every rank's parallel handles. */
static int open_site(const enhancer *e, const char *path, const char *config_text, fesf_shard **lead, site_io *io)
{
    static const char *const drop[] = {"surrogate", NULL};
    const fesf_site_group *g = io->g;
    if (!g) {
        if (fesf_shard_rewrite(lead, path, drop, config_text)) return -1;
        io->in = io->out = *lead;
        return 0;
    }
    if (g->member == 0 && lead_prepare(e, path, config_text, lead)) return -1;
    return fesf_site_group_barrier(g) || fesf_shard_open_par(&io->in, path, g->fapl, 0) ||
                   fesf_shard_open_par(&io->out, path, g->fapl, 1)
               ? -1
               : 0;
}

/* Every split, then (alone, or a group's leader) the attributes, the commit and the figure. */
static int site_splits(enhancer *e, fesf_model *gen, int site_id, site_io *io, fesf_shard *lead, const float *host,
                       uint64_t key, quality_sums *q, float *bufs, float *scratch)
{
    char base[64];
    snprintf(base, sizeof base, "site-%03d.h5", site_id);
    fesf_ihm_any plan;
    fesf_ihm_params prm = fesf_iqem_pass2_params(e->cfg);
    int rc = fesf_ihm_any_create(&plan, e->d, e->h, e->wd, e->c, 1, &prm);
    for (int sp = 0; sp < FESF_NSPLITS && !rc; sp++)
        if (surrogate_split(e, gen, io, sp, &plan, host, key, q, bufs, scratch))
            rc = fesf_error("'%s' %s: %s", base, fesf_split_names[sp], fesf_errmsg());
    fesf_ihm_any_destroy(&plan);
    const double qv[FESF_IQEM_QUALITY_N] = {q->psnr[0], q->ssim[0], q->psnr[1], q->ssim[1], q->psnr[2],
                                            q->ssim[2], q->psnr[3], q->ssim[3], q->outside[0], q->outside[1]};
    if (!rc) { /* this rank's own measures (fesf_iqem_quality_names order); only these sums leave the site */
        e->qsum[0] += q->n;
        for (int k = 0; k < FESF_IQEM_QUALITY_N; k++) e->qsum[1 + k] += qv[k];
    }
    if (io->g) {
        int closed = fesf_shard_close_par(io->in);
        closed |= fesf_shard_close_par(io->out);
        io->in = io->out = NULL;
        if (rc || closed || fesf_site_group_barrier(io->g) || group_quality(io->g, q)) return -1;
        if (io->g->member) return 0;
        if (fesf_shard_resume(lead)) return -1;
    }
    if (rc || quality_attrs(lead, q, e, base) || fesf_shard_commit(lead) || write_figure(e, site_id, q)) return -1;
    if (io->g) fesf_info("%s: surrogates made by %d ranks together (each a run of every split)", base, io->g->k);
    return 0;
}

int fesf_enh_write_surrogates(enhancer *e, fesf_model *gen, int site_id, const fesf_site_group *g, const float *host,
                              const char *config_text, double *fstats)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_shard_path(path, e->cfg->run.out, site_id);
    size_t img = fesf_enh_item(e), plane = (size_t)e->c * e->h * e->wd;
    fesf_shard *lead = NULL;
    site_io io = {NULL, NULL, g};
    uint64_t key = 0;
    float *bufs = malloc(sizeof(float) * img * IQEM_BATCH * 3); /* plaintext, synthetic, surrogate */
    float *scratch = malloc(sizeof(float) * (fesf_ssim_scratch_floats(e->h, e->wd) + 1));
    quality_sums q = {0};
    q.fsyn = fstats, q.fsur = fstats + fesf_feat_stats_len(FESF_FEAT_DIM);
    q.fscratch = malloc(sizeof(float) * (fesf_features_scratch_floats(e->h, e->wd) + 1));
    q.grid_cols = host ? 4 : 3;
    q.grid = malloc(sizeof(float) * plane * 16);
    q.plane = malloc(sizeof(float) * plane);
    int rc = -1;
    if (!bufs || !scratch || !q.fscratch || !q.grid || !q.plane) {
        fesf_error("out of memory");
        goto done;
    }
    if (fesf_config_keyed(e->cfg) &&
        fesf_run_site_key(e->cfg->run.out, site_id, e->cfg->ihm.key, e->cfg->data.seed, &key))
        goto done;
    if (open_site(e, path, config_text, &lead, &io) ||
        site_splits(e, gen, site_id, &io, lead, host, key, &q, bufs, scratch))
        goto done;
    rc = 0;
done:
    if (g) fesf_shard_close_par(io.in), fesf_shard_close_par(io.out);
    fesf_shard_close(lead);
    free(bufs), free(scratch), free(q.fscratch), free(q.grid), free(q.plane);
    return rc ? fesf_error("site %d: %s", site_id, fesf_errmsg()) : 0;
}
