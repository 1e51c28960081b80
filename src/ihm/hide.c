/* The IHM stage on shards (see hide.h). */
#include "fesf/hide.h"
#include "fesf/config.h"
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/h5io.h"
#include "fesf/log.h"
#include "fesf/rng.h"
#include "fesf/run_dir.h"
#include "fesf/version.h"
#include "fesf/fsutil.h"
#include "fesf/world.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

int fesf_hosts_load(const char *path, int host_mode, int host_index, float **out, int64_t *k, int *c, int *h,
                    int *w)
{
    *out = NULL;
    hid_t f = fesf_h5_open(path, "fesf-hosts", FESF_HOSTS_VERSION, 0), d = H5I_INVALID_HID;
    hsize_t dims[8];
    int rc = -1;
    if (f < 0) return -1;
    d = H5Dopen2(f, "images", H5P_DEFAULT);
    if (d < 0 || fesf_h5_dims(d, dims) != 4 || dims[0] == 0) {
        fesf_error("'%s': no host images", path);
        goto done;
    }
    if (host_mode == FESF_HOST_FIXED && (hsize_t)host_index >= dims[0]) {
        fesf_error("ihm.host_index = %d but '%s' holds %llu host images", host_index, path,
                   (unsigned long long)dims[0]);
        goto done;
    }
    *k = host_mode == FESF_HOST_FIXED ? 1 : (int64_t)dims[0];
    *c = (int)dims[1], *h = (int)dims[2], *w = (int)dims[3];
    *out = malloc(sizeof(float) * (size_t)*k * dims[1] * dims[2] * dims[3]);
    if (!*out) {
        fesf_error("out of memory for %lld host images", (long long)*k);
        goto done;
    }
    if (fesf_h5_read_rows(d, host_mode == FESF_HOST_FIXED ? host_index : 0, *k, H5T_NATIVE_FLOAT, *out)) {
        fesf_error("'%s': %s", path, fesf_errmsg());
        goto done;
    }
    rc = 0;
done:
    if (rc) {
        free(*out);
        *out = NULL;
    }
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return rc;
}

/* Buffers and plan for one split, sized for a batch. */
typedef struct {
    const fesf_hide_args *a;
    fesf_ihm *plan;
    int site_id, sp;
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

/* One batch through IHM; in random mode one image at a time, each with its host. */
static int hide_batch(hide_ctx *x, int u8, int64_t start, int k)
{
    const fesf_hide_args *a = x->a;
    size_t img = (size_t)a->c * (size_t)a->h * (size_t)a->w;
    if (a->host_mode == FESF_HOST_FIXED)
        return u8 ? fesf_ihm_apply_u8(x->plan, x->in, x->out, k) : fesf_ihm_apply(x->plan, x->in, x->out, k);
    for (int i = 0; i < k; i++) {
        x->ints[i] = random_host(a, x->site_id, x->sp, start + i);
        const void *src = u8 ? (const void *)((const uint8_t *)x->in + img * (size_t)i)
                             : (const void *)((const float *)x->in + img * (size_t)i);
        if (fesf_ihm_set_host(x->plan, a->hosts + img * (size_t)x->ints[i])) return -1;
        int rc = u8 ? fesf_ihm_apply_u8(x->plan, src, x->out + img * (size_t)i, 1)
                    : fesf_ihm_apply(x->plan, src, x->out + img * (size_t)i, 1);
        if (rc) return -1;
    }
    return 0;
}

static int hide_split(hide_ctx *x, hid_t file, const char *name)
{
    const fesf_hide_args *a = x->a;
    char path[64];
    hid_t src = H5I_INVALID_HID, lab = H5I_INVALID_HID, g = H5I_INVALID_HID, di = H5I_INVALID_HID,
          dl = H5I_INVALID_HID, dh = H5I_INVALID_HID, t = H5I_INVALID_HID;
    hsize_t dims[8];
    int rc = -1;
    snprintf(path, sizeof path, "/plain/%s/images", fesf_split_names[x->sp]);
    src = H5Dopen2(file, path, H5P_DEFAULT);
    snprintf(path, sizeof path, "/plain/%s/labels", fesf_split_names[x->sp]);
    lab = H5Dopen2(file, path, H5P_DEFAULT);
    if (src < 0 || lab < 0 || fesf_h5_dims(src, dims) != 4) {
        fesf_error("'%s' has no /plain/%s images and labels", name, fesf_split_names[x->sp]);
        goto done;
    }
    if ((int)dims[1] != a->c || (int)dims[2] != a->h || (int)dims[3] != a->w) {
        fesf_error("'%s': images are %dx%dx%d but the host is %dx%dx%d", name, (int)dims[1], (int)dims[2],
                   (int)dims[3], a->c, a->h, a->w);
        goto done;
    }
    t = H5Dget_type(src);
    int u8 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1;
    int64_t n = (int64_t)dims[0];
    snprintf(path, sizeof path, "/synthetic/%s", fesf_split_names[x->sp]);
    g = fesf_h5_group(file, path);
    if (g < 0) goto done;
    di = fesf_h5_create_images(g, "images", FESF_F32, n, a->c, a->h, a->w);
    dl = fesf_h5_create_labels(g, "labels", n);
    if (a->host_mode == FESF_HOST_RANDOM) dh = fesf_h5_create_labels(g, "host_index", n);
    if (di < 0 || dl < 0 || (a->host_mode == FESF_HOST_RANDOM && dh < 0)) goto done;
    double t0 = fesf_now();
    for (int64_t s = 0; s < n; s += a->batch) {
        int k = (int)(n - s < a->batch ? n - s : a->batch);
        if (fesf_h5_read_rows(src, s, k, u8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, x->in) || hide_batch(x, u8, s, k) ||
            fesf_h5_write_rows(di, s, k, H5T_NATIVE_FLOAT, x->out) ||
            (dh >= 0 && fesf_h5_write_rows(dh, s, k, H5T_NATIVE_INT32, x->ints)) ||
            fesf_h5_read_rows(lab, s, k, H5T_NATIVE_INT32, x->ints) ||
            fesf_h5_write_rows(dl, s, k, H5T_NATIVE_INT32, x->ints))
            goto done;
    }
    if (fesf_h5_attr_i64(g, "count", n)) goto done;
    double dt = fesf_now() - t0;
    fesf_info("%s %s: %lld images hidden (%.0f images/s)", name, fesf_split_names[x->sp], (long long)n,
              dt > 0 ? (double)n / dt : 0.0);
    rc = 0;
done:
    if (rc && !strstr(fesf_errmsg(), name)) fesf_error("'%s' %s: %s", name, fesf_split_names[x->sp], fesf_errmsg());
    hid_t ids[] = {src, lab, di, dl, dh};
    for (int i = 0; i < 5; i++)
        if (ids[i] >= 0) H5Dclose(ids[i]);
    if (g >= 0) H5Gclose(g);
    if (t >= 0) H5Tclose(t);
    return rc;
}

static int hide_attrs(hid_t file, const fesf_hide_args *a)
{
    hid_t g = H5Gopen2(file, "/synthetic", H5P_DEFAULT);
    hid_t objs[2] = {file, g};
    int rc = g < 0;
    for (int i = 0; i < 2 && !rc; i++)
        rc = fesf_h5_attr_f64(objs[i], "alpha", a->prm.alpha) || fesf_h5_attr_f64(objs[i], "beta", a->prm.beta) ||
             fesf_h5_attr_str(objs[i], "mask", fesf_config_enum_name("ihm.mask", a->prm.mask)) ||
             fesf_h5_attr_str(objs[i], "host_mode", fesf_config_enum_name("ihm.host_mode", a->host_mode)) ||
             fesf_h5_attr_i64(objs[i], "host_index", a->host_mode == FESF_HOST_FIXED ? a->host_index : -1);
    if (!rc) rc = fesf_h5_stamp(g, a->stage);
    if (g >= 0) H5Gclose(g);
    return rc ? -1 : 0;
}

int fesf_hide_shard(const char *path, const fesf_hide_args *a)
{
    static const char *const drop[] = {"synthetic", "surrogate", NULL}; /* surrogates derive from synthetic */
    char base[1100];
    snprintf(base, sizeof base, "%s", path);
    const char *name = basename(base);
    fesf_h5out o = FESF_H5OUT_INIT;
    hide_ctx x = {a, NULL, 0, 0, NULL, NULL, NULL};
    size_t img = (size_t)a->c * (size_t)a->h * (size_t)a->w;
    int batch = a->host_mode == FESF_HOST_FIXED ? a->batch : 1, rc = -1;
    int64_t site_id = 0;
    if (fesf_h5out_rewrite(&o, path, "fesf-shard", FESF_SHARD_VERSION, drop, a->config_text)) return -1;
    x.in = malloc(sizeof(float) * img * (size_t)a->batch);
    x.out = malloc(sizeof(float) * img * (size_t)a->batch);
    x.ints = malloc(sizeof(int32_t) * (size_t)a->batch);
    if (!x.in || !x.out || !x.ints) {
        fesf_error("out of memory");
        goto done;
    }
    if (fesf_h5_attr_get_i64(o.file, "site_id", &site_id)) {
        fesf_error("'%s': %s", path, fesf_errmsg());
        goto done;
    }
    x.site_id = (int)site_id;
    if (fesf_ihm_create(&x.plan, a->h, a->w, a->c, batch, &a->prm)) goto done;
    if (a->host_mode == FESF_HOST_FIXED && fesf_ihm_set_host(x.plan, a->hosts)) goto done;
    for (x.sp = 0; x.sp < FESF_NSPLITS; x.sp++)
        if (hide_split(&x, o.file, name)) goto done;
    if (hide_attrs(o.file, a) || fesf_h5out_commit(&o)) goto done;
    rc = 0;
done:
    fesf_h5out_abort(&o);
    fesf_ihm_destroy(x.plan);
    free(x.in);
    free(x.out);
    free(x.ints);
    return rc;
}

/* ---- the stage over the world ---------------------------------------------- */

#define HIDE_BATCH 64

int fesf_hosts_share(const char *run_out, const fesf_world *w, int host_mode, int host_index, int64_t meta[5],
                     float **hosts)
{
    *hosts = NULL;
    if (w->rank == 0) {
        char path[FESF_RUN_PATH_MAX];
        fesf_run_hosts_path(path, run_out);
        int shards = 0, c = 0, h = 0, wd = 0;
        if (fesf_count_shards(run_out, &shards) ||
            fesf_hosts_load(path, host_mode, host_index, hosts, &meta[1], &c, &h, &wd))
            return -1;
        meta[0] = shards, meta[2] = c, meta[3] = h, meta[4] = wd;
    }
    if (fesf_world_bcast(w, meta, sizeof(int64_t) * 5, 0)) return -1;
    size_t len = (size_t)meta[1] * (size_t)meta[2] * (size_t)meta[3] * (size_t)meta[4];
    if (w->rank != 0 && !(*hosts = malloc(sizeof(float) * len))) return fesf_error("out of memory for the host images");
    return fesf_world_bcast(w, *hosts, sizeof(float) * len, 0);
}

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
                  cfg->ihm.host_mode == FESF_HOST_FIXED ? "fixed" : "pool (random per image)", (long long)meta[1],
                  meta[1] > 1 ? "s" : "", (int)meta[2], (int)meta[3], (int)meta[4], (long long)meta[0],
                  meta[0] > 1 ? "s" : "", fesf_world_workers(w), fesf_world_workers(w) > 1 ? "s" : "");
    fesf_hide_args a = {{cfg->ihm.alpha, cfg->ihm.beta, cfg->ihm.mask}, cfg->ihm.host_mode, cfg->ihm.host_index, hosts,
                        meta[1], (int)meta[2], (int)meta[3], (int)meta[4], cfg->data.seed, HIDE_BATCH, text, &st};
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
