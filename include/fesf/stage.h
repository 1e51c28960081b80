/* The stages of a run and what makes their outputs valid (DESIGN section 3:
 * "every output carries the hash of the config keys, and upstream stage
 * hashes, that determine it").
 *
 *   prepare -> hide -> enhance -> train-<input>
 *                 \-------\----> audit
 *
 * A stage's identity is its name, the text of exactly the config keys its
 * outputs depend on ("section.key = value" lines) and the hashes of the
 * stages it reads; its hash is FNV-1a over all of that. Every writer stamps
 * the hash into each output it makes (src/io/run_dir: an HDF5 attribute, or
 * the first line of a text file), and `fesf run` skips a stage only when all
 * its outputs carry the current hash. Pure: no I/O, no MPI. */
#ifndef FESF_STAGE_H
#define FESF_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "fesf/config.h"

typedef enum { FESF_STAGE_PREPARE, FESF_STAGE_HIDE, FESF_STAGE_ENHANCE, FESF_STAGE_TRAIN, FESF_STAGE_AUDIT } fesf_stage_id;

#define FESF_STAGE_KEYS_MAX 4096

typedef struct {
    fesf_stage_id id;
    char name[32];                  /* "prepare", "hide", "enhance", "train-surrogate", "audit" */
    char kind[16];                  /* "prepare", ..., "train": the word in a text stamp */
    uint64_t hash;
    char hex[17];                   /* hash as 16 hex digits */
    char keys[FESF_STAGE_KEYS_MAX]; /* "upstream.<stage> = <hex>" lines, then the config keys */
} fesf_stage;

/* The stage `id` of cfg (train: for cfg->train.input). 0 or -1 (keys too long). */
int fesf_stage_make(const fesf_config *cfg, fesf_stage_id id, fesf_stage *out);

/* Why `now` differs from a record of the same stage made earlier (its keys
 * text): "ihm.mask: square -> circle", "upstream.prepare changed", "data.seed:
 * 0 -> 1, data.sites: 4 -> 3"; "" when the keys are equal. */
void fesf_stage_diff(const char *old_keys, const fesf_stage *now, char *why, size_t size);

#endif
