/* The IHM stage's insides, shared by hide.c (a site on one rank) and
 * hide_group.c (a site's ranks together, data.ranks_per_site). */
#ifndef FESF_HIDE_INTERNAL_H
#define FESF_HIDE_INTERNAL_H

#include "fesf/hide.h"
#include "fesf/ihm.h"
#include "fesf/ihm3d.h"
#include "fesf/shard.h"
#include "fesf/world.h"

#include <stddef.h>
#include <stdint.h>

/* Buffers and plan for one split, sized for a batch. */
typedef struct {
    const fesf_hide_args *a;
    fesf_ihm *plan;
    fesf_ihm3d *plan3; /* volumes (a->d > 1): the 3-D IHM instead of plan */
    fesf_ihm3d_dist *dist; /* volumes over a site's ranks (hide_group.c) */
    int dist_comm;         /* their communicator's Fortran handle */
    int site_id, sp;
    int batch;         /* images (volumes) per strip */
    uint64_t key;      /* the site's secret key (keyed options) */
    fesf_ihm_tag *tags; /* [batch] */
    void *in;          /* [batch, C, (D,) H, W] uint8 or float (volumes: float) */
    float *out;        /* [batch, C, (D,) H, W] */
    int32_t *ints;     /* [batch] labels or host indices */
} hide_ctx;

/* Elements of one image or volume. */
size_t fesf_hide_item_elems(const fesf_hide_args *a);
/* The buffers of x for x->batch items of `elems` floats each. 0 or -1. */
int fesf_hide_ctx_alloc(hide_ctx *x, size_t elems);
void fesf_hide_ctx_free(hide_ctx *x); /* and the plans */
/* The host of image i of the split (random: from its counter; keyed: the site's key). */
int32_t fesf_hide_host_of(const hide_ctx *x, int64_t i);
/* k images [start, start + k) of x->in through IHM into x->out (2-D or the serial 3-D plan). */
int fesf_hide_batch(hide_ctx *x, int u8, int64_t start, int k);
/* The IHM parameters on the root and /synthetic, and the stage stamp. */
int fesf_hide_attrs(fesf_shard *sh, const fesf_hide_args *a);
/* A site's ranks together (hide_group.c): every rank of shard `path`'s group calls. */
int fesf_hide_shard_group(const char *path, const fesf_hide_args *a, const fesf_site_group *g);

#endif
