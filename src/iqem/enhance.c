/* fesf enhance: IQEM on every site (see iqem.h). The GAN trains federatedly
 * by default: each round the coordinator broadcasts G and D, every site
 * computes both gradients on a batch of its own synthetic images against a
 * batch of augmented public host images, the weighted sums reach the
 * coordinator, which steps Adam for both. Then every site writes
 * /surrogate/{train,val,test} = IHM(x, G(x_sy); alpha2, beta2) with quality
 * measures as attributes, and the coordinator saves G to iqem.h5. */
#include "enhance_internal.h"

#include "fesf/config.h"
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/shard.h"
#include "fesf/hide.h"
#include "fesf/ihm.h"
#include "fesf/iqem.h"
#include "fesf/log.h"
#include "fesf/model_io.h"
#include "fesf/optim.h"
#include "fesf/png.h"
#include "fesf/quality.h"
#include "fesf/rng.h"
#include "fesf/secagg.h"
#include "fesf/run_dir.h"
#include "fesf/version.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A host image, flipped, shifted by up to 2 pixels (circularly) and scaled
 * in intensity by U(0.9, 1.1), all drawn from the counter RNG; a volume's
 * planes all alike (W flipped, H and W shifted). */
static void augment(const enhancer *e, int site, int64_t round, int j, float *out)
{
    fesf_rng r;
    fesf_rng_init(&r, e->cfg->run.seed, (uint32_t)site, FESF_STREAM_AUGMENT + 256u * (uint32_t)j);
    fesf_rng_at(&r, 16 * (uint64_t)round);
    const float *src = e->hosts + (size_t)fesf_rng_below(&r, (uint64_t)e->n_hosts) * fesf_enh_item(e);
    int flip = (int)fesf_rng_below(&r, 2), dy = (int)fesf_rng_below(&r, 5) - 2, dx = (int)fesf_rng_below(&r, 5) - 2;
    float gain = (float)(0.9 + 0.2 * fesf_rng_uniform(&r));
    for (int ch = 0; ch < e->c * e->d; ch++) /* the planes of every channel */
        for (int y = 0; y < e->h; y++)
            for (int x = 0; x < e->wd; x++) {
                int sy = (y + dy + e->h) % e->h, sx = (x + dx + e->wd) % e->wd;
                if (flip) sx = e->wd - 1 - sx;
                out[((size_t)ch * e->h + y) * e->wd + x] = gain * src[((size_t)ch * e->h + sy) * e->wd + sx];
            }
}

static int load_sites(enhancer *e)
{
    size_t img = fesf_enh_item(e);
    int64_t most = 1;
    for (int id = 1; id <= e->n_sites; id++) {
        if (!fesf_world_owns_shard(e->w, id)) continue;
        gan_site *s = &e->sites[e->n_mine++];
        char path[FESF_RUN_PATH_MAX];
        fesf_run_shard_path(path, e->cfg->run.out, id);
        fesf_shard *sh = NULL;
        fesf_shard_split in;
        if (fesf_shard_open(&sh, path)) return fesf_error("site %d: %s", id, fesf_errmsg());
        int rc = !fesf_shard_has(sh, "synthetic");
        if (rc) fesf_error("site %d: '%s' has no /synthetic images (run 'fesf hide' first)", id, path);
        else if (fesf_shard_info(sh, "synthetic", FESF_SPLIT_TRAIN, &in)) rc = fesf_error("site %d: %s", id, fesf_errmsg());
        else if (in.c != e->c || in.d != e->d || in.h != e->h || in.w != e->wd) {
            char s1[FESF_SHAPE_STR], s2[FESF_SHAPE_STR];
            rc = fesf_error("site %d: images are %s but the hosts are %s", id, fesf_shape_str(s1, in.c, in.d, in.h, in.w),
                            fesf_shape_str(s2, e->c, e->d, e->h, e->wd));
        }
        if (!rc) {
            s->id = id, s->n = in.n;
            s->x = malloc(sizeof(float) * img * (size_t)(s->n ? s->n : 1));
            rc = !s->x ? fesf_error("site %d: out of memory for its synthetic images", id)
                       : fesf_shard_read_images(sh, "synthetic", FESF_SPLIT_TRAIN, 0, s->n, &in, FESF_F32, s->x);
            if (rc && s->x) fesf_error("site %d: %s", id, fesf_errmsg());
        }
        fesf_shard_close(sh);
        if (rc) return -1;
        e->site_n[id - 1] = (double)s->n;
        most = s->n > most ? s->n : most;
    }
    e->order = malloc(sizeof(int32_t) * (size_t)most);
    if (!e->order) return fesf_error("out of memory");
    if (fesf_fed_share_sum_f64(e->w, e->site_n, (size_t)e->n_sites)) return -1;
    return 0;
}

static fesf_optim_config adam(const fesf_config *cfg)
{
    fesf_optim_config oc;
    fesf_optim_defaults(&oc, FESF_OPT_ADAM, (float)cfg->iqem.lr);
    oc.beta1 = 0.5f;
    return oc;
}

/* Site i's batches of round `round`: its synthetic images and augmented hosts. */
static int site_batch(enhancer *e, const gan_site *s, int64_t round)
{
    size_t img = fesf_enh_item(e);
    int k = fesf_fed_sgd_batch(e->cfg->run.seed, s->id, s->n, round, IQEM_BATCH, e->order, e->ids);
    for (int j = 0; j < k; j++) {
        memcpy(e->sb + img * (size_t)j, s->x + img * (size_t)e->ids[j], sizeof(float) * img);
        augment(e, s->id, round, j, e->kb + img * (size_t)j);
    }
    return k;
}

/* iqem.mode = local: every site steps its own GAN; nothing leaves the site. */
static void local_round(enhancer *e, int64_t round)
{
    fesf_optim_config oc = adam(e->cfg);
    for (int i = 0; i < e->n_mine; i++) {
        fesf_gan *g = &e->local[i];
        int k = site_batch(e, &e->sites[i], round);
        fesf_gan_losses l;
        fesf_gan_grads(g, e->sb, e->kb, k, &l);
        fesf_optim_step(&oc, round, e->ng, fesf_model_params(g->g), fesf_model_grads(g->g), e->lsg[i]);
        fesf_optim_step(&oc, round, e->nd, fesf_model_params(g->d), fesf_model_grads(g->d), e->lsd[i]);
    }
}

typedef struct {
    enhancer *e;
    int64_t round;
} gan_round_ctx;

/* Site i's share of a federated round (fesf_fed_site_fn): weight * its G
 * and D gradients and its three losses, at the broadcast G and D. */
static void add_gan_site(void *ctx, int i, float wgt, float *acc)
{
    const gan_round_ctx *c = ctx;
    enhancer *e = c->e;
    size_t ng = e->ng, nd = e->nd;
    memcpy(fesf_model_params(e->gan.g), e->state, sizeof(float) * ng);
    memcpy(fesf_model_params(e->gan.d), e->state + ng, sizeof(float) * nd);
    int k = site_batch(e, &e->sites[i], c->round);
    fesf_gan_losses l;
    fesf_gan_grads(&e->gan, e->sb, e->kb, k, &l);
    const float *gg = fesf_model_grads(e->gan.g), *gd = fesf_model_grads(e->gan.d);
    for (size_t q = 0; q < ng; q++) acc[q] += wgt * gg[q];
    for (size_t q = 0; q < nd; q++) acc[ng + q] += wgt * gd[q];
    acc[ng + nd] += wgt * (float)l.d, acc[ng + nd + 1] += wgt * (float)l.g_adv;
    acc[ng + nd + 2] += wgt * (float)l.g_id;
}

/* One federated round (fesf_fed_round): G and D to every site, the sites'
 * weighted gradients to the coordinator, which steps Adam for both. */
static int gan_round(enhancer *e, int64_t round, fesf_gan_losses *mean)
{
    size_t ng = e->ng, nd = e->nd;
    float *pg = fesf_model_params(e->gan.g), *pd = fesf_model_params(e->gan.d);
    memcpy(e->state, pg, sizeof(float) * ng), memcpy(e->state + ng, pd, sizeof(float) * nd);
    gan_round_ctx c = {e, round};
    fesf_fed_round_args a = {.state = e->state, .n_state = ng + nd, .acc = e->acc, .n_acc = ng + nd + 3,
                             .n_sites = e->n_sites, .site_n = e->site_n, .add = add_gan_site, .ctx = &c,
                             .secagg = e->sa};
    if (fesf_fed_round(e->w, &a)) return -1;
    if (e->w->rank == 0) {
        fesf_optim_config oc = adam(e->cfg);
        fesf_optim_step(&oc, round, ng, pg, e->acc, e->sg);
        fesf_optim_step(&oc, round, nd, pd, e->acc + ng, e->sd);
        *mean = (fesf_gan_losses){e->acc[ng + nd], e->acc[ng + nd + 1], e->acc[ng + nd + 2]};
    }
    return 0;
}

/* ---- the stage ----------------------------------------------------------------- */

/* Coordinator: features of the public pool, the two Frechet distances, and
 * iqem.h5 (G, with the distances as attributes). */
static int frechet_report(enhancer *e, const double *fstats, int64_t rounds, const char *text, int save)
{
    const int d = FESF_FEAT_DIM;
    size_t L = fesf_feat_stats_len(d), img = fesf_enh_item(e);
    double *pool = calloc(L, sizeof(double)), *mu = malloc(sizeof(double) * 3 * d), *cov = malloc(sizeof(double) * 3 * d * d);
    float *scratch = malloc(sizeof(float) * (fesf_features_scratch_floats(e->h, e->wd) + 1));
    float *plane = malloc(sizeof(float) * (size_t)e->c * e->h * e->wd);
    double f[FESF_FEAT_DIM], fd[2] = {NAN, NAN};
    int rc = -1;
    if (!pool || !mu || !cov || !scratch || !plane) {
        fesf_error("out of memory");
        goto done;
    }
    for (int64_t i = 0; i < e->n_hosts; i++)
        if (!fesf_features(fesf_enh_plane(e, e->hosts + img * (size_t)i, plane), e->c, e->h, e->wd, f, scratch))
            fesf_feat_stats_add(pool, d, f);
    if (fesf_feat_stats_finish(pool, d, mu, cov)) goto done;
    for (int k = 0; k < 2; k++)
        if (fesf_feat_stats_finish(fstats + k * L, d, mu + (k + 1) * d, cov + (size_t)(k + 1) * d * d) ||
            fesf_frechet(mu + (k + 1) * d, cov + (size_t)(k + 1) * d * d, mu, cov, d, &fd[k]))
            goto done;
    fesf_info("Frechet distance to the host pool's features (quality.h extractor): synthetic %.5f, surrogate %.5f",
              fd[0], fd[1]);
    if (!save) { /* G came from --load: leave its file alone */
        rc = 0;
        goto done;
    }
    char path[FESF_RUN_PATH_MAX];
    fesf_run_iqem_path(path, e->cfg->run.out, 0);
    static const char *const fd_names[2] = {"frechet_synthetic_hosts", "frechet_surrogate_hosts"};
    fesf_model_save_info info = {e->sg, 2 * e->ng, "adam", rounds, text, e->stage, 2, fd_names, fd, NULL, 0};
    rc = fesf_model_save_gan(path, fesf_model_tensors(e->gan.g), fesf_model_tensors(e->gan.d), &info);
done:
    free(pool), free(mu), free(cov), free(scratch), free(plane);
    return rc ? -1 : 0;
}

static int setup(enhancer *e)
{
    int64_t meta[6] = {0}; /* the public pool, to every rank */
    if (fesf_hosts_share(e->cfg->run.out, e->w, FESF_HOST_RANDOM, 0, meta, &e->hosts)) return -1;
    e->n_sites = (int)meta[0], e->n_hosts = meta[1], e->c = (int)meta[2], e->h = (int)meta[3], e->wd = (int)meta[4];
    e->d = meta[5] > 1 ? (int)meta[5] : 1;
    size_t img = fesf_enh_item(e);
    e->sites = calloc((size_t)e->n_sites, sizeof(gan_site));
    e->site_n = calloc((size_t)e->n_sites, sizeof(double));
    if (!e->sites || !e->site_n) return fesf_error("out of memory");
    if (load_sites(e)) return -1;
    if (fesf_gan_create_vol(&e->gan, FESF_IQEM_WIDTH, e->c, e->d, e->h, e->wd, IQEM_BATCH, (float)e->cfg->iqem.lambda_id,
                        e->cfg->run.seed))
        return -1;
    e->ng = fesf_model_n_params(e->gan.g), e->nd = fesf_model_n_params(e->gan.d);
    e->state = malloc(sizeof(float) * (e->ng + e->nd));
    e->acc = calloc(e->ng + e->nd + 3, sizeof(float));
    e->sg = calloc(2 * e->ng, sizeof(float)), e->sd = calloc(2 * e->nd, sizeof(float));
    e->kb = malloc(sizeof(float) * img * IQEM_BATCH), e->sb = malloc(sizeof(float) * img * IQEM_BATCH);
    if (!e->state || !e->acc || !e->sg || !e->sd || !e->kb || !e->sb) return fesf_error("out of memory");
    size_t stats = 2 * fesf_feat_stats_len(FESF_FEAT_DIM), cap = e->ng + e->nd + 3;
    if (e->cfg->train.secure_agg && fesf_secagg_create(&e->sa, e->w, cap > stats ? cap : stats)) return -1;
    if (e->cfg->iqem.mode != FESF_IQEM_LOCAL) return 0;
    e->local = calloc((size_t)e->n_mine + 1, sizeof(fesf_gan));
    e->lsg = calloc((size_t)e->n_mine + 1, sizeof(float *)), e->lsd = calloc((size_t)e->n_mine + 1, sizeof(float *));
    if (!e->local || !e->lsg || !e->lsd) return fesf_error("out of memory");
    for (int i = 0; i < e->n_mine; i++) { /* the same initial G and D as the federated run */
        if (fesf_gan_create_vol(&e->local[i], FESF_IQEM_WIDTH, e->c, e->d, e->h, e->wd, IQEM_BATCH, (float)e->cfg->iqem.lambda_id,
                            e->cfg->run.seed))
            return -1;
        e->lsg[i] = calloc(2 * e->ng, sizeof(float)), e->lsd[i] = calloc(2 * e->nd, sizeof(float));
        if (!e->lsg[i] || !e->lsd[i]) return fesf_error("out of memory");
    }
    return 0;
}

static void enhancer_free(enhancer *e)
{
    for (int i = 0; e->sites && i < e->n_mine; i++) free(e->sites[i].x);
    free(e->sites), free(e->site_n), free(e->hosts), free(e->acc), free(e->sg), free(e->sd), free(e->kb), free(e->sb);
    free(e->order), free(e->state);
    fesf_secagg_free(e->sa);
    for (int i = 0; e->local && i < e->n_mine; i++) {
        if (e->local[i].g) fesf_gan_destroy(&e->local[i]);
        free(e->lsg[i]), free(e->lsd[i]);
    }
    free(e->local), free(e->lsg), free(e->lsd);
    fesf_gan_destroy(&e->gan);
}

/* Coordinator: quality.tsv, the image-weighted means over every site's images
 * (from the sites' summed measures; no image leaves a site). */
static int write_quality(const enhancer *e)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, e->cfg->run.out, FESF_RUN_QUALITY);
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    if (e->stage) fesf_stamp_text(f, e->stage, 0);
    fprintf(f, "measure\tvalue\n");
    for (int k = 0; k < FESF_IQEM_QUALITY_N; k++)
        fprintf(f, "%s\t%.6f\n", fesf_iqem_quality_names[k], e->qsum[0] > 0 ? e->qsum[1 + k] / e->qsum[0] : NAN);
    return fesf_atomic_commit(f, path);
}

/* Sites of k ranks (data.ranks_per_site), federated G (on every rank): each
 * site's ranks make its surrogates together. */
static int group_surrogates(enhancer *e, const float *host, const char *text, double *fstats)
{
    for (int s = 1; s <= e->n_sites; s++) {
        fesf_site_group g;
        if (fesf_world_site_member(e->w, s) < 0) continue;
        if (fesf_world_site_group(e->w, s, &g)) return -1;
        int rc = fesf_enh_write_surrogates(e, e->gan.g, s, &g, host, text, fstats);
        fesf_site_group_release(&g);
        if (rc) return -1;
    }
    return 0;
}

int fesf_iqem_enhance(const fesf_config *cfg, const fesf_world *w, const char *load)
{
    enhancer e;
    memset(&e, 0, sizeof e);
    e.cfg = cfg, e.w = w;
    int rc = -1;
    double *fstats = NULL;
    char *text = fesf_config_text_alloc(cfg);
    fesf_stage st;
    if (!text || fesf_stage_make(cfg, FESF_STAGE_ENHANCE, &st) || setup(&e)) goto done;
    e.stage = load ? NULL : &st;
    int local = cfg->iqem.mode == FESF_IQEM_LOCAL;
    if (local && load) {
        fesf_error("--load applies one G to every site; it does not go with iqem.mode = local");
        goto done;
    }
    double most = 0;
    for (int i = 0; i < e.n_sites; i++) most = e.site_n[i] > most ? e.site_n[i] : most;
    int64_t rounds = load ? 0 : (int64_t)cfg->iqem.epochs * (int64_t)ceil(most / IQEM_BATCH);
    if (load && w->rank == 0 && fesf_model_load(load, fesf_model_tensors(e.gan.g), NULL, 0, NULL)) goto done;
    if (w->rank == 0)
        fesf_info("IQEM: %s G on %d sites' synthetic %s against %lld public hosts, %lld rounds (G and D hold %.0f MiB "
                  "on each rank)",
                  load ? "loaded" : "training", e.n_sites, e.d > 1 ? "volumes" : "images", (long long)e.n_hosts,
                  (long long)rounds, (double)(fesf_model_bytes(e.gan.g) + fesf_model_bytes(e.gan.d)) / (1 << 20));
    double t0 = fesf_now();
    for (int64_t r = 0; r < rounds; r++) {
        fesf_gan_losses l = {0};
        if (local) {
            local_round(&e, r);
            continue;
        }
        if (gan_round(&e, r, &l)) goto done;
        if (w->rank == 0 && ((r + 1) % 20 == 0 || r + 1 == rounds))
            fesf_info("IQEM round %lld/%lld: L_D %.4f, L_G adversarial %.4f, identity L1 %.4f, %.1f s", (long long)r + 1,
                      (long long)rounds, l.d, l.g_adv, l.g_id, fesf_now() - t0);
    }
    /* the final (or loaded) G to every rank */
    if (fesf_fed_bcast_f32(w, fesf_model_params(e.gan.g), e.ng)) goto done;
    /* the host of the hide stage, for the "against the host" measures (fixed mode) */
    const float *host = cfg->ihm.host_mode == FESF_HOST_FIXED && cfg->ihm.host_index < e.n_hosts
                            ? e.hosts + (size_t)cfg->ihm.host_index * fesf_enh_item(&e)
                            : NULL;
    size_t L = fesf_feat_stats_len(FESF_FEAT_DIM);
    fstats = calloc(2 * L, sizeof(double));
    if (!fstats) {
        fesf_error("out of memory");
        goto done;
    }
    if (!local && fesf_world_ranks_per_site(w) > 1 && group_surrogates(&e, host, text, fstats)) goto done;
    for (int i = 0; i < e.n_mine && (local || fesf_world_ranks_per_site(w) == 1); i++) {
        fesf_model *gen = local ? e.local[i].g : e.gan.g;
        if (fesf_enh_write_surrogates(&e, gen, e.sites[i].id, NULL, host, text, fstats)) goto done;
        if (local) { /* each site keeps its own G */
            char path[FESF_RUN_PATH_MAX];
            fesf_run_iqem_path(path, cfg->run.out, e.sites[i].id);
            fesf_model_save_info info = {e.lsg[i], 2 * e.ng, "adam", rounds, text, e.stage, 0, NULL, NULL, NULL, 0};
            if (fesf_model_save_gan(path, fesf_model_tensors(gen), fesf_model_tensors(e.local[i].d), &info)) goto done;
        }
    }
    /* Frechet distances of synthetic and surrogate features to the host pool's (summed statistics) */
    if (fesf_secagg_pool_f64(e.sa, w, fstats, 2 * L) || fesf_secagg_pool_f64(e.sa, w, e.qsum, 1 + FESF_IQEM_QUALITY_N))
        goto done;
    if (w->rank == 0 && write_quality(&e)) goto done;
    if (w->rank == 0 && frechet_report(&e, fstats, rounds, text, load == NULL && !local)) goto done;
    if (fesf_world_barrier(w)) goto done;
    rc = 0;
done:
    enhancer_free(&e);
    free(text);
    free(fstats);
    return rc;
}

const char *const fesf_iqem_quality_names[FESF_IQEM_QUALITY_N] = {
    "psnr_synthetic_plain", "ssim_synthetic_plain", "psnr_surrogate_plain", "ssim_surrogate_plain",
    "psnr_synthetic_host",  "ssim_synthetic_host",  "psnr_surrogate_host",  "ssim_surrogate_host",
    "outside01_synthetic",  "outside01_surrogate"};

int fesf_iqem_quality_read(const char *run_out, double v[FESF_IQEM_QUALITY_N])
{
    char path[FESF_RUN_PATH_MAX], line[256], name[64];
    for (int k = 0; k < FESF_IQEM_QUALITY_N; k++) v[k] = NAN;
    fesf_run_file(path, run_out, FESF_RUN_QUALITY);
    FILE *f = fopen(path, "r");
    int found = 0;
    double x;
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%63s %lf", name, &x) == 2)
            for (int k = 0; k < FESF_IQEM_QUALITY_N; k++)
                if (!strcmp(name, fesf_iqem_quality_names[k])) v[k] = x, found++;
    if (f) fclose(f);
    return found ? 0 : -1;
}
