/* Aggregation benchmark (DESIGN section 6, "Aggregation" and "Idle ranks"):
 * one federated round's communication as fesf's trainer does it against a
 * bare blocking MPI_Bcast + MPI_Reduce of the same buffer. */
#ifndef FESF_BENCH_AGG_H
#define FESF_BENCH_AGG_H

#include <stddef.h>
#include <stdio.h>

#include "fesf/world.h"

/* Collective over w->comm: every rank calls it with the same arguments.
 * Times `rounds` repetitions of each kind, interleaved (the order alternates
 * every repetition), each after a barrier, on a buffer of `params` floats:
 *   fesf: fesf_fed_bcast_f32 then fesf_fed_sum_to_coord (sleeping waits);
 *   bare: blocking MPI_Bcast then MPI_Reduce (MPI_SUM at rank 0, in place),
 *         in the same pieces of at most 2^28 elements.
 * One warm-up round of each kind is not timed. Times are rank 0's (its
 * reduce completes only once every rank's data has arrived); medians per
 * kind. Rank 0 also measures the CPU seconds (user + system, getrusage) it
 * uses per round in each kind (mean), and prints exactly one line to `out`:
 *   bench agg ranks=R params=P fesf_ms=.. bare_ms=.. ratio=..
 *       coord_cpu_s_per_round_fesf=.. coord_cpu_s_per_round_bare=..
 * (ratio = fesf_ms / bare_ms; one line, wrapped here). 0 or -1. */
int fesf_bench_agg(const fesf_world *w, size_t params, int rounds, FILE *out);

#endif
