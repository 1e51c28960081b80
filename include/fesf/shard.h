/* A site's shard, site-NNN.h5 (format "fesf-shard", DESIGN section 3), as
 * the stages that read and write it see it: groups /plain (prepare),
 * /synthetic (hide) and /surrogate (enhance), each with splits
 * train/val/test holding `images` [N, C, H, W] (uint8 or float32; volumes
 * [N, C, D, H, W]),
 * `labels` int32 [N] and, for random hosts, `host_index` int32 [N].
 * Only the site's own ranks open it. Images are read and written in row
 * strips; uint8 images are widened to float as x / 255 (correctly rounded,
 * as NumPy), here and nowhere else. Every function returns 0 or -1 with a
 * message that names the shard. */
#ifndef FESF_SHARD_H
#define FESF_SHARD_H

#include <stdint.h>

#include "fesf/dataset.h"
#include "fesf/stage.h"

typedef struct fesf_shard fesf_shard;

/* Open PATH read-only. */
int fesf_shard_open(fesf_shard **sh, const char *path);
/* Start a rewrite: PATH.tmp holds PATH's attributes and every group but
 * those in `drop` (NULL-terminated); writes go there; commit renames it over
 * PATH, close without commit removes it (PATH stays as it was). */
int fesf_shard_rewrite(fesf_shard **sh, const char *path, const char *const *drop, const char *config_text);
int fesf_shard_commit(fesf_shard *sh);
void fesf_shard_close(fesf_shard *sh); /* NULL-safe */

const char *fesf_shard_name(const fesf_shard *sh); /* "site-001.h5" */

/* Does group ("synthetic") exist? 1 or 0. */
int fesf_shard_has(fesf_shard *sh, const char *group);

/* Root integer attribute (site_id, n_classes, ...). */
int fesf_shard_get_i64(fesf_shard *sh, const char *name, int64_t *v);

/* What a site's rank tells the others about its shard when the shard set
 * is checked (fed.h's fesf_fed_count_shards): metadata, never data. */
#define FESF_SHARD_NAMES_MAX 256
typedef struct {
    int64_t site_id, n_sites, n_classes;
    int c, h, w;                          /* /plain's images */
    int d;                                /* their depth (1: 2-D images) */
    uint64_t names_hash;                  /* FNV-1a over the class names, each with its terminator */
    char names[FESF_SHARD_NAMES_MAX];     /* "'normal', 'pneumonia'" (cut with "..." if longer) */
} fesf_shard_meta;
/* Read and check the root attributes site_id, n_sites, n_classes (integer
 * scalars) and class_names (n_classes strings), and every /plain split
 * (fesf_shard_info; one image size in all). 0 or -1. */
int fesf_shard_meta_read(fesf_shard *sh, fesf_shard_meta *m);

typedef struct {
    int64_t n;
    int c, h, w;
    fesf_dtype dtype;
    int d; /* depth of volumes; 1 for 2-D images (0 in a caller's `want` means 1) */
} fesf_shard_split;

/* Elements of one image or volume of a split: c*d*h*w. */
static inline int64_t fesf_shard_item_elems(const fesf_shard_split *s)
{
    return (int64_t)s->c * (s->d > 1 ? s->d : 1) * s->h * s->w;
}

/* Shape and type of group/split's images, checked: images [N, C, H, W] or
 * [N, C, D, H, W]
 * uint8 or float32 (any other type, int16 say, is refused, never read as
 * unscaled floats), labels integers [N], host_index (if any) integers [N],
 * and the split's `count` attribute (if any) N. */
int fesf_shard_info(fesf_shard *sh, const char *group, int split, fesf_shard_split *info);

/* Rows [start, start+count) of group/split's images into buf as `as`:
 * FESF_F32 widens uint8 images; FESF_U8 needs uint8 images. buf holds
 * count images of want's c x h x w (want->n and dtype are not used): a
 * dataset of images of another size is refused, not read. Labels and hosts
 * are read as int32 rows of the split's [N]. */
int fesf_shard_read_images(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                           const fesf_shard_split *want, fesf_dtype as, void *buf);
int fesf_shard_read_labels(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int32_t *buf);
/* The host index of each image (images hidden with a host per image). */
int fesf_shard_read_hosts(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int32_t *buf);

/* A rewrite: create group/split with float32 images [n, c, h, w] (d = 1)
 * or [n, c, d, h, w], labels
 * and (with_hosts) host_index, its `count` attribute set to n; then write
 * their rows. */
int fesf_shard_create_split(fesf_shard *sh, const char *group, int split, int64_t n, int c, int d, int h, int w,
                            int with_hosts);
int fesf_shard_write_images(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                            const float *buf);
int fesf_shard_write_labels(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                            const int32_t *buf);
int fesf_shard_write_hosts(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                           const int32_t *buf);

/* Attributes of a group ("/" = the root); read f64 fails if absent. */
int fesf_shard_set_f64(fesf_shard *sh, const char *group, const char *name, double v);
int fesf_shard_set_i64(fesf_shard *sh, const char *group, const char *name, int64_t v);
int fesf_shard_set_str(fesf_shard *sh, const char *group, const char *name, const char *v);
int fesf_shard_get_f64(fesf_shard *sh, const char *group, const char *name, double *v);
/* The stage that made group (run_dir.h checks it). */
int fesf_shard_stamp(fesf_shard *sh, const char *group, const fesf_stage *s);

/* A site's ranks together (data.ranks_per_site; src/io/shard_par.c). The
 * leader suspends its rewrite (PATH.tmp closed and kept) while every rank
 * of the group opens PATH (rewritten = 0) or PATH.tmp (1) with `fapl`, an
 * MPI-IO file access list (collective), reads and writes its part, and
 * closes it (collective, checked); then the leader resumes and commits.
 * Slabs: planes [d0, d0 + nd) of volumes [start, start + count) of a
 * split, buf [count, C, nd, H, W] float (uint8 widened; 2-D images are
 * one plane: d0 = 0, nd = 1, or 0 for none), through the
 * transfer list dxpl (a collective one: every rank of the group calls, an
 * empty slab with nd = 0 or count = 0). fapl and dxpl are HDF5 ids. */
int fesf_shard_suspend(fesf_shard *sh);
/* The group's lists on its communicator (a Fortran handle): an MPI-IO file
 * access list and a collective transfer list; release is idempotent. */
int fesf_shard_mpio_lists(int comm, int64_t *fapl, int64_t *dxpl);
void fesf_shard_mpio_release(int64_t *fapl, int64_t *dxpl);
int fesf_shard_resume(fesf_shard *sh);
int fesf_shard_open_par(fesf_shard **sh, const char *path, int64_t fapl, int rewritten);
int fesf_shard_close_par(fesf_shard *sh); /* NULL-safe; 0 or -1 */
int fesf_shard_read_slab(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int d0, int nd,
                         int64_t dxpl, float *buf);
int fesf_shard_write_slab(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int d0, int nd,
                          int64_t dxpl, const float *buf);

/* uint8 [n] to float x / 255 (the shard's widening, for other uint8 data too). */
void fesf_u8_to_f32(const uint8_t *src, float *dst, size_t n);

#endif
