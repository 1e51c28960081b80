/* The shard handle's insides, shared by shard.c (the serial stages) and
 * shard_par.c (a site's ranks together through MPI-IO). */
#ifndef FESF_SHARD_INTERNAL_H
#define FESF_SHARD_INTERNAL_H

#include <stdint.h>

#include "fesf/h5io.h"
#include "fesf/shard.h"

#define MAX_OPEN 24

struct fesf_shard {
    hid_t file;            /* read-only file, or the rewrite's PATH.tmp */
    fesf_h5out out;        /* the rewrite (out.file == file), else unused */
    int rewriting;
    char name[64];
    int n_open;
    char key[MAX_OPEN][48]; /* "group/split/kind" */
    hid_t dset[MAX_OPEN];
    int has_info[MAX_OPEN]; /* an images slot: its shape and type, read once */
    fesf_shard_split info[MAX_OPEN];
    uint8_t *scratch;       /* widening buffer */
    size_t scratch_len;
};
fesf_shard *fesf_shard_new(const char *path); /* file invalid, name set */
/* The dataset group/split/kind, opened on first use and kept in a slot; or an invalid id (message set). */
hid_t fesf_shard_dataset(fesf_shard *sh, const char *group, int split, const char *kind);
/* Close every dataset kept open: 0, or -1 with the first failure's message. */
int fesf_shard_close_datasets(fesf_shard *sh);

#endif
