/* The IHM stage on shards (see hide.h). */
#include "hide_internal.h"

#include "fesf/config.h"
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/shard.h"
#include "fesf/log.h"
#include "fesf/rng.h"
#include "fesf/run_dir.h"
#include "fesf/world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Random mode: the host of image i of split sp at site s, from its own counter. */
static int32_t random_host(const fesf_hide_args *a, int site_id, int sp, int64_t i)
{
    fesf_rng r;
    fesf_rng_init(&r, a->seed, (uint32_t)site_id, FESF_STREAM_HOST + 16u * (uint32_t)(sp + 1));
    fesf_rng_at(&r, 4 * (uint64_t)i);
    return (int32_t)fesf_rng_below(&r, (uint64_t)a->n_hosts);
}

fesf_ihm_params fesf_hide_params(const fesf_config *cfg)
{
    return (fesf_ihm_params){cfg->ihm.alpha, fesf_config_keyed(cfg) ? cfg->ihm.beta_max : cfg->ihm.beta, cfg->ihm.mask,
                             cfg->ihm.noise};
}

fesf_ihm_tag fesf_hide_tag(uint64_t key, uint64_t id, double beta_min, double beta_max)
{
    return (fesf_ihm_tag){key, id, fesf_ihm_draw_beta(key, id, beta_min, beta_max)};
}

/* The keyed tags of images start..start+k-1 of the split. */
static void make_tags(hide_ctx *x, int64_t start, int k)
{
    for (int i = 0; i < k; i++)
        x->tags[i] = fesf_hide_tag(x->key, fesf_ihm_tag_id(x->sp, start + i), x->a->beta_min, x->a->beta_max);
}

size_t fesf_hide_item_elems(const fesf_hide_args *a)
{
    return (size_t)a->c * (size_t)(a->d > 1 ? a->d : 1) * (size_t)a->h * (size_t)a->w;
}

/* k images (or volumes: float only) through the plan of their kind. */
static int apply_plan(hide_ctx *x, int u8, const void *in, float *out, int k)
{
    if (x->plan3) return fesf_ihm3d_apply(x->plan3, in, out, k);
    return u8 ? fesf_ihm_apply_u8(x->plan, in, out, k) : fesf_ihm_apply(x->plan, in, out, k);
}

static int set_host(hide_ctx *x, const float *host)
{
    return x->plan3 ? fesf_ihm3d_set_host(x->plan3, host) : fesf_ihm_set_host(x->plan, host);
}

int32_t fesf_hide_host_of(const hide_ctx *x, int64_t i)
{
    const fesf_hide_args *a = x->a;
    return a->host_mode == FESF_HOST_KEYED ? (int32_t)fesf_ihm_draw_host(x->key, fesf_ihm_tag_id(x->sp, i), a->n_hosts)
                                           : random_host(a, x->site_id, x->sp, i);
}

/* One batch through IHM; with a host per image (random, keyed) one image at
 * a time. Keyed: every image carries its tag. */
int fesf_hide_batch(hide_ctx *x, int u8, int64_t start, int k)
{
    const fesf_hide_args *a = x->a;
    size_t img = fesf_hide_item_elems(a);
    if (a->keyed) make_tags(x, start, k);
    if (a->host_mode == FESF_HOST_FIXED) {
        if (a->keyed && fesf_ihm_set_tags(x->plan, x->tags, k)) return -1;
        return apply_plan(x, u8, x->in, x->out, k);
    }
    for (int i = 0; i < k; i++) {
        x->ints[i] = fesf_hide_host_of(x, start + i);
        const void *src = u8 ? (const void *)((const uint8_t *)x->in + img * (size_t)i)
                             : (const void *)((const float *)x->in + img * (size_t)i);
        if (set_host(x, a->hosts + img * (size_t)x->ints[i])) return -1;
        if (a->keyed && fesf_ihm_set_tags(x->plan, x->tags + i, 1)) return -1;
        if (apply_plan(x, u8, src, x->out + img * (size_t)i, 1)) return -1;
    }
    return 0;
}

static int hide_split(hide_ctx *x, fesf_shard *sh)
{
    const fesf_hide_args *a = x->a;
    const char *split = fesf_split_names[x->sp];
    fesf_shard_split in;
    if (fesf_shard_info(sh, "plain", x->sp, &in)) return -1;
    int dp = a->d > 1 ? a->d : 1;
    if (in.c != a->c || in.d != dp || in.h != a->h || in.w != a->w) {
        char s1[FESF_SHAPE_STR], s2[FESF_SHAPE_STR];
        return fesf_error("'%s': images are %s but the host is %s", fesf_shard_name(sh),
                          fesf_shape_str(s1, in.c, in.d, in.h, in.w), fesf_shape_str(s2, a->c, dp, a->h, a->w));
    }
    /* volumes are read as float (the 3-D IHM has no uint8 entry); the shard widens */
    fesf_dtype as = x->plan3 ? FESF_F32 : in.dtype;
    int u8 = as == FESF_U8, random = a->host_mode != FESF_HOST_FIXED;
    if (fesf_shard_create_split(sh, "synthetic", x->sp, in.n, a->c, dp, a->h, a->w, random)) return -1;
    double t0 = fesf_now();
    for (int64_t s = 0; s < in.n; s += x->batch) {
        int k = (int)(in.n - s < x->batch ? in.n - s : x->batch);
        if (fesf_shard_read_images(sh, "plain", x->sp, s, k, &in, as, x->in) || fesf_hide_batch(x, u8, s, k) ||
            fesf_shard_write_images(sh, "synthetic", x->sp, s, k, x->out) ||
            (random && fesf_shard_write_hosts(sh, "synthetic", x->sp, s, k, x->ints)) ||
            fesf_shard_read_labels(sh, "plain", x->sp, s, k, x->ints) ||
            fesf_shard_write_labels(sh, "synthetic", x->sp, s, k, x->ints))
            return fesf_error("'%s' %s: %s", fesf_shard_name(sh), split, fesf_errmsg());
    }
    double dt = fesf_now() - t0;
    fesf_info("%s %s: %lld %s hidden (%.0f per s)", fesf_shard_name(sh), split, (long long)in.n,
              x->plan3 ? "volumes" : "images", dt > 0 ? (double)in.n / dt : 0.0);
    return 0;
}

int fesf_hide_attrs(fesf_shard *sh, const fesf_hide_args *a)
{
    static const char *const objs[2] = {"/", "/synthetic"};
    const char *mask = fesf_config_enum_name("ihm.mask", a->prm.mask);
    const char *mode = fesf_config_enum_name("ihm.host_mode", a->host_mode);
    int64_t index = a->host_mode == FESF_HOST_FIXED ? a->host_index : -1;
    for (int i = 0; i < 2; i++)
        if (fesf_shard_set_f64(sh, objs[i], "alpha", a->prm.alpha) || fesf_shard_set_f64(sh, objs[i], "beta", a->prm.beta) ||
            fesf_shard_set_str(sh, objs[i], "mask", mask) || fesf_shard_set_str(sh, objs[i], "host_mode", mode) ||
            fesf_shard_set_i64(sh, objs[i], "host_index", index) || fesf_shard_set_f64(sh, objs[i], "noise", a->prm.noise) ||
            fesf_shard_set_f64(sh, objs[i], "beta_min", a->beta_min) || fesf_shard_set_f64(sh, objs[i], "beta_max", a->beta_max))
            return -1;
    return fesf_shard_stamp(sh, "/synthetic", a->stage);
}

int fesf_hide_shard(const char *path, const fesf_hide_args *a)
{
    static const char *const drop[] = {"synthetic", "surrogate", NULL}; /* surrogates derive from synthetic */
    fesf_shard *sh = NULL;
    hide_ctx x = {a, NULL, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL};
    size_t img = fesf_hide_item_elems(a);
    int batch = a->host_mode == FESF_HOST_FIXED ? a->batch : 1, rc = -1;
    if (fesf_ihm_check(&a->prm)) return -1;
    if (a->d > 1 && a->keyed)
        return fesf_error("volumes: the keyed options (ihm.noise, a beta range, ihm.host_mode = keyed) are 2-D only");
    /* volumes: strips of at most 32 MiB a buffer (a batch of 64 256^3 volumes would not fit) */
    x.batch = a->batch;
    while (a->d > 1 && x.batch > 1 && img * sizeof(float) * (size_t)x.batch > ((size_t)32 << 20)) x.batch /= 2;
    int64_t site_id = 0;
    if (fesf_shard_rewrite(&sh, path, drop, a->config_text)) return -1;
    if (fesf_hide_ctx_alloc(&x, img)) goto done;
    if (fesf_shard_get_i64(sh, "site_id", &site_id)) goto done;
    x.site_id = (int)site_id;
    if (a->keyed && fesf_run_site_key(a->run_out, x.site_id, a->key_mode, a->seed, &x.key)) goto done;
    if (a->d > 1 ? fesf_ihm3d_create(&x.plan3, a->d, a->h, a->w, a->c, &a->prm)
                 : fesf_ihm_create(&x.plan, a->h, a->w, a->c, batch < x.batch ? batch : x.batch, &a->prm))
        goto done;
    if (a->host_mode == FESF_HOST_FIXED && set_host(&x, a->hosts)) goto done;
    for (x.sp = 0; x.sp < FESF_NSPLITS; x.sp++)
        if (hide_split(&x, sh)) goto done;
    if (fesf_hide_attrs(sh, a) || fesf_shard_commit(sh)) goto done;
    rc = 0;
done:
    fesf_shard_close(sh);
    fesf_hide_ctx_free(&x);
    return rc;
}

int fesf_hide_ctx_alloc(hide_ctx *x, size_t elems)
{
    x->in = malloc(sizeof(float) * (elems ? elems : 1) * (size_t)x->batch);
    x->out = malloc(sizeof(float) * (elems ? elems : 1) * (size_t)x->batch);
    x->ints = malloc(sizeof(int32_t) * (size_t)x->batch);
    x->tags = malloc(sizeof(fesf_ihm_tag) * (size_t)x->batch);
    return x->in && x->out && x->ints && x->tags ? 0 : fesf_error("out of memory");
}

void fesf_hide_ctx_free(hide_ctx *x)
{
    fesf_ihm_destroy(x->plan);
    fesf_ihm3d_destroy(x->plan3);
    fesf_ihm3d_dist_destroy(x->dist);
    free(x->in), free(x->out), free(x->ints), free(x->tags);
    x->plan = NULL, x->plan3 = NULL, x->dist = NULL, x->in = x->out = NULL, x->ints = NULL, x->tags = NULL;
}

/* ---- the stage over the world ---------------------------------------------- */

#define HIDE_BATCH 64

/* Does shard s need hiding? Always, unless only_stale and its /synthetic is current. */
static int needs_hiding(const fesf_config *cfg, const fesf_stage *st, int s, int only_stale)
{
    char why[FESF_RUN_PATH_MAX + 64];
    if (!only_stale) return 1;
    int cur = fesf_run_stage_current(cfg, st, s, why, sizeof why);
    if (cur == 1) fesf_info("site-%03d.h5: /synthetic is current, kept", s);
    return cur != 1;
}

int fesf_hide_run(const fesf_config *cfg, const fesf_world *w, int only_stale)
{
    int64_t meta[6] = {0}; /* shards, hosts, c, h, w, d */
    float *hosts = NULL;
    char *text = fesf_config_text_alloc(cfg);
    double t0 = fesf_now();
    int rc = -1;
    fesf_stage st;
    if (!text || fesf_stage_make(cfg, FESF_STAGE_HIDE, &st) || fesf_hosts_share(cfg->run.out, w, cfg->ihm.host_mode, cfg->ihm.host_index, meta, &hosts)) goto done;
    char depth[24] = "";
    if (meta[5] > 1) snprintf(depth, sizeof depth, "%d x ", (int)meta[5]);
    if (w->rank == 0)
        fesf_info("host %s: %lld %s%s of %d x %s%d x %d; %lld shard%s, %d worker rank%s",
                  cfg->ihm.host_mode == FESF_HOST_FIXED   ? "fixed"
                  : cfg->ihm.host_mode == FESF_HOST_KEYED ? "pool (drawn per image with the site's key)"
                                                          : "pool (random per image)", (long long)meta[1],
                  meta[5] > 1 ? "volume" : "image", meta[1] > 1 ? "s" : "", (int)meta[2], depth, (int)meta[3],
                  (int)meta[4], (long long)meta[0],
                  meta[0] > 1 ? "s" : "", fesf_world_workers(w), fesf_world_workers(w) > 1 ? "s" : "");
    int keyed = fesf_config_keyed(cfg);
    fesf_hide_args a = {fesf_hide_params(cfg), keyed, cfg->ihm.beta_min, cfg->ihm.beta_max, cfg->run.out, cfg->ihm.key, cfg->ihm.host_mode,
                        cfg->ihm.host_index, hosts, meta[1], (int)meta[2], (int)meta[3], (int)meta[4], cfg->data.seed,
                        HIDE_BATCH, text, &st, (int)meta[5]};
    if (w->rank == 0 && keyed)
        fesf_info("keyed options (each site's key, ihm.key = %s): amplitude noise sigma %g, beta in [%g, %g]%s",
                  fesf_config_enum_name("ihm.key", cfg->ihm.key), cfg->ihm.noise, cfg->ihm.beta_min, cfg->ihm.beta_max,
                  cfg->ihm.key == FESF_KEY_SEED ? "; the key derives from data.seed: reproducible, NOT secret" : "");
    for (int s = 1; s <= meta[0]; s++) {
        char path[FESF_RUN_PATH_MAX];
        fesf_run_shard_path(path, cfg->run.out, s);
        if (fesf_world_ranks_per_site(w) > 1) { /* the site's ranks together */
            fesf_site_group g;
            if (fesf_world_site_member(w, s) < 0 || !needs_hiding(cfg, &st, s, only_stale)) continue;
            if (fesf_world_site_group(w, s, &g)) goto done;
            int failed = fesf_hide_shard_group(path, &a, &g);
            fesf_site_group_release(&g);
            if (failed) goto done;
        } else if (fesf_world_owns_shard(w, s) && needs_hiding(cfg, &st, s, only_stale) && fesf_hide_shard(path, &a)) {
            goto done;
        }
    }
    if (fesf_world_barrier(w)) goto done;
    if (w->rank == 0)
        fesf_info("hid %lld shard%s in %.1f s (alpha %g, beta %g)", (long long)meta[0], meta[0] > 1 ? "s" : "",
                  fesf_now() - t0, cfg->ihm.alpha, cfg->ihm.beta);
    rc = 0;
done:
    free(hosts);
    free(text);
    return rc;
}
