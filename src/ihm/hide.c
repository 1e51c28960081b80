/* The IHM stage on shards (see hide.h). */
#include "fesf/hide.h"
#include "fesf/config.h"
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/shard.h"
#include "fesf/log.h"
#include "fesf/rng.h"
#include "fesf/run_dir.h"
#include "fesf/world.h"

#include <stdlib.h>
#include <string.h>

/* Buffers and plan for one split, sized for a batch. */
typedef struct {
    const fesf_hide_args *a;
    fesf_ihm *plan;
    int site_id, sp;
    uint64_t key;      /* the site's secret key (keyed options) */
    fesf_ihm_tag *tags; /* [batch] */
    void *in;          /* [batch, C, H, W] uint8 or float */
    float *out;        /* [batch, C, H, W] */
    int32_t *ints;     /* [batch] labels or host indices */
} hide_ctx;

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

/* One batch through IHM; with a host per image (random, keyed) one image at
 * a time. Keyed: every image carries its tag. */
static int hide_batch(hide_ctx *x, int u8, int64_t start, int k)
{
    const fesf_hide_args *a = x->a;
    size_t img = (size_t)a->c * (size_t)a->h * (size_t)a->w;
    if (a->keyed) make_tags(x, start, k);
    if (a->host_mode == FESF_HOST_FIXED) {
        if (a->keyed && fesf_ihm_set_tags(x->plan, x->tags, k)) return -1;
        return u8 ? fesf_ihm_apply_u8(x->plan, x->in, x->out, k) : fesf_ihm_apply(x->plan, x->in, x->out, k);
    }
    for (int i = 0; i < k; i++) {
        x->ints[i] = a->host_mode == FESF_HOST_KEYED
                         ? (int32_t)fesf_ihm_draw_host(x->key, fesf_ihm_tag_id(x->sp, start + i), a->n_hosts)
                         : random_host(a, x->site_id, x->sp, start + i);
        const void *src = u8 ? (const void *)((const uint8_t *)x->in + img * (size_t)i)
                             : (const void *)((const float *)x->in + img * (size_t)i);
        if (fesf_ihm_set_host(x->plan, a->hosts + img * (size_t)x->ints[i])) return -1;
        if (a->keyed && fesf_ihm_set_tags(x->plan, x->tags + i, 1)) return -1;
        int rc = u8 ? fesf_ihm_apply_u8(x->plan, src, x->out + img * (size_t)i, 1)
                    : fesf_ihm_apply(x->plan, src, x->out + img * (size_t)i, 1);
        if (rc) return -1;
    }
    return 0;
}

static int hide_split(hide_ctx *x, fesf_shard *sh)
{
    const fesf_hide_args *a = x->a;
    const char *split = fesf_split_names[x->sp];
    fesf_shard_split in;
    if (fesf_shard_info(sh, "plain", x->sp, &in)) return -1;
    if (in.c != a->c || in.h != a->h || in.w != a->w)
        return fesf_error("'%s': images are %dx%dx%d but the host is %dx%dx%d", fesf_shard_name(sh), in.c, in.h, in.w,
                          a->c, a->h, a->w);
    int u8 = in.dtype == FESF_U8, random = a->host_mode != FESF_HOST_FIXED;
    if (fesf_shard_create_split(sh, "synthetic", x->sp, in.n, a->c, a->h, a->w, random)) return -1;
    double t0 = fesf_now();
    for (int64_t s = 0; s < in.n; s += a->batch) {
        int k = (int)(in.n - s < a->batch ? in.n - s : a->batch);
        if (fesf_shard_read_images(sh, "plain", x->sp, s, k, &in, in.dtype, x->in) || hide_batch(x, u8, s, k) ||
            fesf_shard_write_images(sh, "synthetic", x->sp, s, k, x->out) ||
            (random && fesf_shard_write_hosts(sh, "synthetic", x->sp, s, k, x->ints)) ||
            fesf_shard_read_labels(sh, "plain", x->sp, s, k, x->ints) ||
            fesf_shard_write_labels(sh, "synthetic", x->sp, s, k, x->ints))
            return fesf_error("'%s' %s: %s", fesf_shard_name(sh), split, fesf_errmsg());
    }
    double dt = fesf_now() - t0;
    fesf_info("%s %s: %lld images hidden (%.0f images/s)", fesf_shard_name(sh), split, (long long)in.n,
              dt > 0 ? (double)in.n / dt : 0.0);
    return 0;
}

/* The IHM parameters on the root and on /synthetic, and the stage stamp. */
static int hide_attrs(fesf_shard *sh, const fesf_hide_args *a)
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
    hide_ctx x = {a, NULL, 0, 0, 0, NULL, NULL, NULL, NULL};
    size_t img = (size_t)a->c * (size_t)a->h * (size_t)a->w;
    int batch = a->host_mode == FESF_HOST_FIXED ? a->batch : 1, rc = -1;
    if (fesf_ihm_check(&a->prm)) return -1;
    int64_t site_id = 0;
    if (fesf_shard_rewrite(&sh, path, drop, a->config_text)) return -1;
    x.in = malloc(sizeof(float) * img * (size_t)a->batch);
    x.out = malloc(sizeof(float) * img * (size_t)a->batch);
    x.ints = malloc(sizeof(int32_t) * (size_t)a->batch);
    x.tags = malloc(sizeof(fesf_ihm_tag) * (size_t)a->batch);
    if (!x.in || !x.out || !x.ints || !x.tags) {
        fesf_error("out of memory");
        goto done;
    }
    if (fesf_shard_get_i64(sh, "site_id", &site_id)) goto done;
    x.site_id = (int)site_id;
    if (a->keyed && fesf_run_site_key(a->run_out, x.site_id, a->key_mode, a->seed, &x.key)) goto done;
    if (fesf_ihm_create(&x.plan, a->h, a->w, a->c, batch, &a->prm)) goto done;
    if (a->host_mode == FESF_HOST_FIXED && fesf_ihm_set_host(x.plan, a->hosts)) goto done;
    for (x.sp = 0; x.sp < FESF_NSPLITS; x.sp++)
        if (hide_split(&x, sh)) goto done;
    if (hide_attrs(sh, a) || fesf_shard_commit(sh)) goto done;
    rc = 0;
done:
    fesf_shard_close(sh);
    fesf_ihm_destroy(x.plan);
    free(x.in);
    free(x.out);
    free(x.ints);
    free(x.tags);
    return rc;
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
    int64_t meta[5] = {0}; /* shards, hosts, c, h, w */
    float *hosts = NULL;
    char *text = fesf_config_text_alloc(cfg);
    double t0 = fesf_now();
    int rc = -1;
    fesf_stage st;
    if (!text || fesf_stage_make(cfg, FESF_STAGE_HIDE, &st) || fesf_hosts_share(cfg->run.out, w, cfg->ihm.host_mode, cfg->ihm.host_index, meta, &hosts)) goto done;
    if (w->rank == 0)
        fesf_info("host %s: %lld image%s of %d x %d x %d; %lld shard%s, %d worker rank%s",
                  cfg->ihm.host_mode == FESF_HOST_FIXED   ? "fixed"
                  : cfg->ihm.host_mode == FESF_HOST_KEYED ? "pool (drawn per image with the site's key)"
                                                          : "pool (random per image)", (long long)meta[1],
                  meta[1] > 1 ? "s" : "", (int)meta[2], (int)meta[3], (int)meta[4], (long long)meta[0],
                  meta[0] > 1 ? "s" : "", fesf_world_workers(w), fesf_world_workers(w) > 1 ? "s" : "");
    int keyed = fesf_config_keyed(cfg);
    fesf_hide_args a = {fesf_hide_params(cfg), keyed, cfg->ihm.beta_min, cfg->ihm.beta_max, cfg->run.out, cfg->ihm.key, cfg->ihm.host_mode,
                        cfg->ihm.host_index, hosts, meta[1], (int)meta[2], (int)meta[3], (int)meta[4], cfg->data.seed,
                        HIDE_BATCH, text, &st};
    if (w->rank == 0 && keyed)
        fesf_info("keyed options (each site's key, ihm.key = %s): amplitude noise sigma %g, beta in [%g, %g]%s",
                  fesf_config_enum_name("ihm.key", cfg->ihm.key), cfg->ihm.noise, cfg->ihm.beta_min, cfg->ihm.beta_max,
                  cfg->ihm.key == FESF_KEY_SEED ? "; the key derives from data.seed: reproducible, NOT secret" : "");
    for (int s = 1; s <= meta[0]; s++) {
        char path[FESF_RUN_PATH_MAX];
        fesf_run_shard_path(path, cfg->run.out, s);
        if (fesf_world_owns_shard(w, s) && needs_hiding(cfg, &st, s, only_stale) && fesf_hide_shard(path, &a))
            goto done;
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
