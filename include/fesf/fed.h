/* Federated training (DESIGN section 2): rank 0 coordinates, ranks 1..N
 * hold sites. Every rank issues the same collectives in the same order, and
 * every wait sleeps between polls so idle ranks do not burn a core.
 *
 * Sites are the run directory's shards; shard s belongs to worker rank
 * 1 + (s-1) mod N (a world of one does everything itself), so a rank may
 * hold several sites and sums their contributions before sending. All
 * site-to-coordinator traffic goes through fesf_fed_sum_to_coord: one
 * model-sized (or fixed-size statistics) buffer per call, summed with
 * MPI_Reduce. */
#ifndef FESF_FED_H
#define FESF_FED_H

#include <stddef.h>

#include "fesf/config.h"
#include "fesf/world.h"

/* Sum `n` doubles or floats of every rank into rank 0's `buf` (in place at
 * rank 0; other ranks' buffers are left as they were). The only path from
 * sites to the coordinator. 0 or -1. */
int fesf_fed_sum_to_coord(const fesf_world *w, float *buf, size_t n);
int fesf_fed_sum_to_coord_f64(const fesf_world *w, double *buf, size_t n);

/* Broadcast `n` floats from the coordinator. 0 or -1. */
int fesf_fed_bcast_f32(const fesf_world *w, float *buf, size_t n);

/* `fesf train`: train the diagnostic model on the sites' cfg->train.input
 * images; writes run.out/metrics.jsonl, model.h5 (the best-validation
 * round's model), report.md, and ckpt-RRRR.h5 every run.checkpoint_every
 * rounds. resume: continue from the newest checkpoint (refused if the
 * config differs beyond train.rounds, run.checkpoint_every, run.threads,
 * run.log); the result is bit-identical to an uninterrupted run. 0 or -1. */
int fesf_fed_train(const fesf_config *cfg, const fesf_world *w, int resume);

#endif
