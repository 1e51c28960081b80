/* fesf hide: IHM on every site's shard (see hide.h). Rank 0 coordinates:
 * it holds no images, loads the host and broadcasts it; ranks 1..N each hide
 * their own shards (a world of one does everything itself). */
#include "fesf/cli.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"
#include "fesf/hide.h"
#include "fesf/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIDE_BATCH 64

typedef struct {
    int64_t n_hosts, n_shards;
    int c, h, w;
} hide_meta;

/* Rank 0: config, host(s) and the number of shards, then broadcast all. */
static int share_inputs(fesf_cli *c, hide_meta *m, float **hosts)
{
    int64_t ok = 1;
    if (c->world.rank == 0) {
        char path[FESF_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/hosts.h5", c->cfg.run.out);
        int shards = 0;
        if (fesf_count_shards(c->cfg.run.out, &shards) ||
            fesf_hosts_load(path, c->cfg.ihm.host_mode, c->cfg.ihm.host_index, hosts, &m->n_hosts, &m->c, &m->h,
                            &m->w))
            return -1;
        m->n_shards = shards;
        fesf_info("host %s: %lld image%s of %d x %d x %d; %lld shard%s, %d worker rank%s",
                  c->cfg.ihm.host_mode == FESF_HOST_FIXED ? "fixed" : "pool (random per image)",
                  (long long)m->n_hosts, m->n_hosts > 1 ? "s" : "", m->c, m->h, m->w, (long long)m->n_shards,
                  m->n_shards > 1 ? "s" : "", fesf_world_workers(&c->world),
                  fesf_world_workers(&c->world) > 1 ? "s" : "");
    }
    if (fesf_world_bcast(&c->world, &c->cfg, sizeof c->cfg, 0) || fesf_world_bcast(&c->world, m, sizeof *m, 0))
        return -1;
    size_t len = (size_t)m->n_hosts * (size_t)m->c * (size_t)m->h * (size_t)m->w;
    if (c->world.rank != 0 && !(*hosts = malloc(sizeof(float) * len))) ok = 0;
    if (!ok) return fesf_error("out of memory for the host images");
    return fesf_world_bcast(&c->world, *hosts, sizeof(float) * len, 0);
}

int fesf_cmd_hide(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c);
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "hide", argc, argv, &i);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r) return fesf_cli_usage("hide", "unknown option '%s'", argv[i]);
    }
    if (fesf_world_init(&c.world, &argc, &argv)) return fesf_cli_fail(&c);
    c.mpi = 1;
    if (c.world.rank == 0 && fesf_cli_config_ready(&c)) return fesf_cli_fail(&c);
    hide_meta m = {0};
    float *hosts = NULL;
    char *text = NULL;
    double t0 = fesf_now();
    if (share_inputs(&c, &m, &hosts)) goto fail;
    if (c.world.rank) fesf_cli_apply_log_level(&c);
    text = fesf_config_text_alloc(&c.cfg);
    fesf_hide_args a = {{c.cfg.ihm.alpha, c.cfg.ihm.beta, c.cfg.ihm.mask}, c.cfg.ihm.host_mode, c.cfg.ihm.host_index,
                        hosts, m.n_hosts, m.c, m.h, m.w, c.cfg.data.seed, HIDE_BATCH, text};
    for (int s = 1; s <= m.n_shards; s++) {
        char path[FESF_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/site-%03d.h5", c.cfg.run.out, s);
        if (fesf_world_owns_shard(&c.world, s) && fesf_hide_shard(path, &a)) goto fail;
    }
    if (fesf_world_barrier(&c.world)) goto fail;
    if (c.world.rank == 0)
        fesf_info("hid %lld shard%s in %.1f s (alpha %g, beta %g)", (long long)m.n_shards, m.n_shards > 1 ? "s" : "",
                  fesf_now() - t0, c.cfg.ihm.alpha, c.cfg.ihm.beta);
    free(hosts);
    free(text);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
fail:
    free(hosts);
    free(text);
    return fesf_cli_fail(&c);
}
