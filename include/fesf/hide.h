/* `fesf hide`: the IHM stage. The coordinator loads the public host (or the
 * whole pool in random mode) from hosts.h5 and broadcasts it; every site
 * streams its own /plain/{train,val,test} images in batches through IHM and
 * writes /synthetic/{train,val,test} (float32 images, the same labels) into
 * its shard. A shard is rewritten as NAME.tmp and renamed, so an interrupted
 * run leaves the previous shard intact. */
#ifndef FESF_HIDE_H
#define FESF_HIDE_H

#include <stdint.h>

#include "fesf/ihm.h"
#include "fesf/stage.h"

typedef struct {
    fesf_ihm_params prm;    /* beta = beta_max when keyed; noise = ihm.noise */
    int keyed;              /* tag every image: noise, a beta range or the keyed host */
    double beta_min, beta_max;
    const char *run_out;    /* where the site's key lives */
    int key_mode;           /* ihm.key */
    int host_mode;          /* FESF_HOST_FIXED | FESF_HOST_RANDOM | FESF_HOST_KEYED */
    int host_index;         /* fixed mode: index in the pool */
    const float *hosts;     /* fixed: the host [C,(D,)H,W]; random, keyed: the pool [K,C,(D,)H,W] */
    int64_t n_hosts;        /* 1 in fixed mode, K otherwise */
    int c, h, w;
    uint64_t seed;          /* data.seed: random mode's host draws, ihm.key = seed */
    int batch;              /* images per IHM call */
    const char *config_text;
    const fesf_stage *stage; /* stamped on /synthetic (NULL: none) */
    int d;                  /* depth of volumes (3-D IHM, ihm3d.h; no keyed options); 1 (or 0) for images */
} fesf_hide_args;

/* The stage: every rank of `w` hides the shards it owns (shard s on worker
 * 1 + (s-1) mod N; a world of one does all) with the host rank 0 broadcast,
 * stamping each /synthetic with the hide stage. only_stale: keep the shards
 * whose /synthetic already carries the current stamp (a rerun after a crash
 * half-way redoes the rest only). */
#include "fesf/config.h"
#include "fesf/world.h"
int fesf_hide_run(const fesf_config *cfg, const fesf_world *w, int only_stale);

/* The first pass's plan parameters (beta = ihm.beta_max with keyed options,
 * noise = ihm.noise) and an image's tag: its key, id and beta drawn in
 * [beta_min, beta_max]. The audit's attacker makes releases with these too. */
fesf_ihm_params fesf_hide_params(const fesf_config *cfg);
fesf_ihm_tag fesf_hide_tag(uint64_t key, uint64_t id, double beta_min, double beta_max);

/* Hide one shard (site-NNN.h5): /synthetic from /plain. */
int fesf_hide_shard(const char *path, const fesf_hide_args *a);

#endif
