/* Micro-benchmarks behind `fesf bench KIND` (src/bench): each prints exactly
 * one line to `out` (agg: at rank 0 only), "bench KIND key=value ...", with
 * its rate and, for comparisons, the reference measured in the same run and
 * the ratio. The CLI (src/cli/cmd_bench.c) parses the options; the
 * references belong to their rooms (fesf_fft_ref in src/ihm,
 * fesf_fed_bare_round in src/fed), so this room calls neither FFTW nor MPI. */
#ifndef FESF_BENCH_H
#define FESF_BENCH_H

#include <stddef.h>
#include <stdio.h>

#include "fesf/world.h"

typedef struct {
    int size, channels, batch;
    double seconds; /* minimum time per measurement */
} fesf_bench_ihm_args;

/* IHM images/s against a bare FFTW forward + inverse of the same batch. */
int fesf_bench_ihm(const fesf_bench_ihm_args *a, FILE *out);

/* `fesf bench ihm3d`, collective over the world (mpirun -np k: one site of
 * k ranks): volumes/s of the distributed 3-D IHM (ihm3d.h) on a size^3
 * volume against the bare distributed forward + inverse, interleaved
 * rounds (the order alternating), medians, each timed between barriers;
 * the plan's bytes and the peak RSS per rank (the largest rank's). Rank 0
 * prints one line:
 *   bench ihm3d size=S ranks=K volumes_per_s=.. fftw_volumes_per_s=.. ratio=..
 *       plan_mib_per_rank=.. peak_rss_mib_per_rank=.. images_per_s=.. */
int fesf_bench_ihm3d(const fesf_world *w, int size, int rounds, FILE *out);

typedef struct {
    const char *model;
    int width, size, channels, batch, threads, classes;
    double seconds; /* time per measurement, after warm-up */
} fesf_bench_train_args;

/* Training images/s (forward + backward + SGD-momentum step) of a model on
 * random data; also the peak RSS. */
int fesf_bench_train(const fesf_bench_train_args *a, FILE *out);

/* `fesf bench train --dp`: ms per step of a DP-SGD step (instance norm,
 * per-example clipping, noise) against a non-private step of the same
 * model with batch norm and with instance norm, interleaved, medians; the
 * line is "bench train-dp ... dp_over_plain=R dp_over_instance=R". */
int fesf_bench_dp(const fesf_bench_train_args *a, FILE *out);

/* IQEM's inference: images/s of G on a batch plus the second IHM pass
 * (one host per image, the enhanced image), as `fesf enhance` writes
 * surrogates. */
int fesf_bench_iqem(const fesf_bench_ihm_args *a, FILE *out);

/* Aggregation benchmark (DESIGN section 6, "Aggregation" and "Idle ranks"):
 * one federated round's communication as fesf's trainer does it against a
 * bare blocking MPI_Bcast + MPI_Reduce of the same buffer.
 * Collective over the world: every rank calls it with the same arguments.
 * Times `rounds` repetitions of each kind, interleaved (the order alternates
 * every repetition), each after a barrier, on a buffer of `params` floats:
 *   fesf: fesf_fed_bcast_f32 then fesf_fed_sum_to_coord (sleeping waits);
 *   bare: fesf_fed_bare_round, blocking MPI_Bcast then MPI_Reduce (MPI_SUM
 *         at rank 0, in place), in the same pieces of at most 2^28 elements.
 * One warm-up round of each kind is not timed. Times are rank 0's (its
 * reduce completes only once every rank's data has arrived); medians per
 * kind. Rank 0 also measures the CPU seconds (user + system, getrusage) it
 * uses per round in each kind (mean), and prints exactly one line to `out`:
 *   bench agg ranks=R params=P fesf_ms=.. bare_ms=.. ratio=..
 *       coord_cpu_s_per_round_fesf=.. coord_cpu_s_per_round_bare=..
 * (ratio = fesf_ms / bare_ms; one line, wrapped here). With secure, a
 * third kind, the round under secure aggregation (bcast; each site rank
 * quantises and masks its buffer; the masked sum decoded at rank 0), and
 * " secure_ms=.. secure_over_fesf=.." at the end of the line. 0 or -1. */
int fesf_bench_agg(const fesf_world *w, size_t params, int rounds, int secure, FILE *out);

#endif
