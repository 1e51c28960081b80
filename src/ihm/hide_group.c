/* The IHM stage for a site that owns several ranks (data.ranks_per_site =
 * k; hide.h). The leader rewrites the shard alone: /synthetic's datasets,
 * labels, host indices, attributes and stamp. Then every rank of the group
 * opens the shard and its PATH.tmp through MPI-IO (shard.h) and hides its
 * part: 2-D images split into k contiguous runs per split, each image
 * through the serial IHM (so the shard is the one a single rank writes);
 * volumes by slab, planes [d0, d0 + nd) of every volume on each rank,
 * through FFTW's MPI interface (ihm3d.h), read and written collectively, so
 * no rank holds a whole volume. The leader then commits. */
#include "hide_internal.h"

#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/log.h"
#include "fesf/run_dir.h"

#include <stdlib.h>
#include <string.h>

/* Leader: /synthetic/<split> with the plain labels and the hosts, the
 * attributes and stamp; the rewrite left suspended for the group. */
static int lead_prepare(const char *path, hide_ctx *x, fesf_shard **out)
{
    static const char *const drop[] = {"synthetic", "surrogate", NULL};
    const fesf_hide_args *a = x->a;
    int random = a->host_mode != FESF_HOST_FIXED, rc = -1;
    int32_t *ints = NULL;
    if (fesf_shard_rewrite(out, path, drop, a->config_text)) return -1;
    fesf_shard *sh = *out;
    for (x->sp = 0; x->sp < FESF_NSPLITS; x->sp++) {
        fesf_shard_split in;
        if (fesf_shard_info(sh, "plain", x->sp, &in)) goto done;
        free(ints);
        if (!(ints = malloc(sizeof(int32_t) * (size_t)(in.n ? in.n : 1)))) {
            fesf_error("out of memory");
            goto done;
        }
        if (fesf_shard_create_split(sh, "synthetic", x->sp, in.n, in.c, in.d, in.h, in.w, random) ||
            fesf_shard_read_labels(sh, "plain", x->sp, 0, in.n, ints) ||
            fesf_shard_write_labels(sh, "synthetic", x->sp, 0, in.n, ints))
            goto done;
        for (int64_t i = 0; random && i < in.n; i++) ints[i] = fesf_hide_host_of(x, i);
        if (random && fesf_shard_write_hosts(sh, "synthetic", x->sp, 0, in.n, ints)) goto done;
    }
    rc = fesf_hide_attrs(sh, a) || fesf_shard_suspend(sh) ? -1 : 0;
done:
    free(ints);
    return rc;
}

/* This rank's run [lo, hi) of the split's n images. */
static void run_of(const fesf_site_group *g, int64_t n, int64_t *lo, int64_t *hi)
{
    *lo = n * g->member / g->k, *hi = n * (g->member + 1) / g->k;
}

/* 2-D: this rank's run of a split, image by image as on one rank, read and
 * written collectively (the chunks of /synthetic are allocated as they are
 * written, which MPI-IO allows only together): every rank makes as many
 * steps as the longest run, the last ones empty. */
static int hide_run(hide_ctx *x, const fesf_site_group *g, fesf_shard *in, fesf_shard *out)
{
    fesf_shard_split sp, made;
    if (fesf_shard_info(in, "plain", x->sp, &sp) || fesf_shard_info(out, "synthetic", x->sp, &made)) return -1;
    int64_t lo, hi, longest = (sp.n + g->k - 1) / g->k;
    run_of(g, sp.n, &lo, &hi);
    for (int64_t step = 0; step * x->batch < longest; step++) {
        int64_t s = lo + step * x->batch;
        int k = (int)(s >= hi ? 0 : hi - s < x->batch ? hi - s : x->batch);
        if (fesf_shard_read_slab(in, "plain", x->sp, s, k, 0, 1, g->dxpl, x->in) || fesf_hide_batch(x, 0, s, k) ||
            fesf_shard_write_slab(out, "synthetic", x->sp, s, k, 0, 1, g->dxpl, x->out))
            return -1;
    }
    return 0;
}

/* The slab [d0, d0 + nd) of host [C, D, H, W] into buf [C, nd, H, W]. */
static void host_slab(const hide_ctx *x, const float *host, int d0, int nd, float *buf)
{
    const fesf_hide_args *a = x->a;
    size_t plane = (size_t)a->h * (size_t)a->w;
    for (int c = 0; c < a->c; c++)
        memcpy(buf + (size_t)c * nd * plane, host + ((size_t)c * a->d + (size_t)d0) * plane, sizeof(float) * nd * plane);
}

static int set_slab_host(hide_ctx *x, int d0, int nd, int32_t index, float *buf)
{
    host_slab(x, x->a->hosts + fesf_hide_item_elems(x->a) * (size_t)index, d0, nd, buf);
    return fesf_ihm3d_dist_set_host(x->dist, buf);
}

/* Volumes: every volume of the split, this rank's slab of it (collective). */
static int hide_slabs(hide_ctx *x, const fesf_site_group *g, fesf_shard *in, fesf_shard *out, float *hbuf)
{
    fesf_shard_split sp, made;
    int d0, nd;
    if (fesf_shard_info(in, "plain", x->sp, &sp) || fesf_shard_info(out, "synthetic", x->sp, &made)) return -1;
    fesf_ihm3d_dist_slab(x->dist, &d0, &nd);
    int random = x->a->host_mode != FESF_HOST_FIXED;
    for (int64_t s = 0; s < sp.n; s += x->batch) {
        int k = (int)(sp.n - s < x->batch ? sp.n - s : x->batch);
        if (fesf_shard_read_slab(in, "plain", x->sp, s, k, d0, nd, g->dxpl, x->in)) return -1;
        size_t slab = (size_t)x->a->c * (size_t)nd * (size_t)x->a->h * (size_t)x->a->w;
        for (int i = 0; i < k; i += random ? 1 : k) /* a host per volume: one at a time */
            if ((random && set_slab_host(x, d0, nd, fesf_hide_host_of(x, s + i), hbuf)) ||
                fesf_ihm3d_dist_apply(x->dist, (const float *)x->in + slab * (size_t)i, x->out + slab * (size_t)i,
                                      random ? 1 : k))
                return -1;
        if (fesf_shard_write_slab(out, "synthetic", x->sp, s, k, d0, nd, g->dxpl, x->out)) return -1;
    }
    return 0;
}

/* The plan of this rank's part, its buffers and the fixed host. */
static int group_setup(hide_ctx *x, float **hbuf)
{
    const fesf_hide_args *a = x->a;
    int d0 = 0, nd = 0, fixed = a->host_mode == FESF_HOST_FIXED;
    size_t elems = fesf_hide_item_elems(a);
    if (a->d > 1) {
        if (fesf_ihm3d_dist_create(&x->dist, x->dist_comm, a->d, a->h, a->w, a->c, &a->prm)) return -1;
        fesf_ihm3d_dist_slab(x->dist, &d0, &nd);
        elems = (size_t)a->c * (size_t)nd * (size_t)a->h * (size_t)a->w;
        if (!(*hbuf = malloc(sizeof(float) * (elems ? elems : 1)))) return fesf_error("out of memory");
    } else if (fesf_ihm_create(&x->plan, a->h, a->w, a->c, fixed ? a->batch : 1, &a->prm)) {
        return -1;
    }
    x->batch = a->batch; /* with a host per image fesf_hide_batch goes one at a time */
    while (a->d > 1 && x->batch > 1 && elems * sizeof(float) * (size_t)x->batch > ((size_t)32 << 20)) x->batch /= 2;
    if (fesf_hide_ctx_alloc(x, elems)) return -1;
    if (!fixed) return 0;
    return a->d > 1 ? set_slab_host(x, d0, nd, 0, *hbuf) : fesf_ihm_set_host(x->plan, a->hosts);
}

int fesf_hide_shard_group(const char *path, const fesf_hide_args *a, const fesf_site_group *g)
{
    fesf_shard *lead = NULL, *in = NULL, *out = NULL;
    hide_ctx x = {a, NULL, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL};
    x.dist_comm = g->comm;
    float *hbuf = NULL;
    int64_t site_id = 0;
    int rc = -1;
    if (fesf_ihm_check(&a->prm)) return -1;
    if (a->d > 1 && a->keyed)
        return fesf_error("volumes: the keyed options (ihm.noise, a beta range, ihm.host_mode = keyed) are 2-D only");
    /* the leader first: the site id and key (made on first use), then the rewrite */
    if (g->member == 0 && (fesf_shard_open(&in, path) || fesf_shard_get_i64(in, "site_id", &site_id))) goto done;
    fesf_shard_close(in), in = NULL;
    x.site_id = (int)site_id;
    if (g->member == 0 && a->keyed && fesf_run_site_key(a->run_out, x.site_id, a->key_mode, a->seed, &x.key)) goto done;
    if (g->member == 0 && lead_prepare(path, &x, &lead)) goto done;
    if (fesf_site_group_barrier(g) || fesf_shard_open_par(&in, path, g->fapl, 0) ||
        fesf_shard_open_par(&out, path, g->fapl, 1) || fesf_shard_get_i64(in, "site_id", &site_id))
        goto done;
    x.site_id = (int)site_id;
    if (a->keyed && fesf_run_site_key(a->run_out, x.site_id, a->key_mode, a->seed, &x.key)) goto done;
    if (group_setup(&x, &hbuf)) goto done;
    for (x.sp = 0; x.sp < FESF_NSPLITS; x.sp++)
        if (a->d > 1 ? hide_slabs(&x, g, in, out, hbuf) : hide_run(&x, g, in, out)) goto done;
    int closed = fesf_shard_close_par(in);
    in = NULL;
    closed |= fesf_shard_close_par(out);
    out = NULL;
    if (closed || fesf_site_group_barrier(g)) goto done;
    if (g->member == 0 && (fesf_shard_resume(lead) || fesf_shard_commit(lead))) goto done;
    if (g->member == 0)
        fesf_info("%s: hidden by %d ranks together (%s)", fesf_shard_name(lead), g->k,
                  a->d > 1 ? "each a slab of every volume" : "each a run of every split");
    rc = 0;
done:
    fesf_shard_close_par(in);
    fesf_shard_close_par(out);
    fesf_shard_close(lead);
    fesf_hide_ctx_free(&x);
    free(hbuf);
    return rc;
}
