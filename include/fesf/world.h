/* The MPI world of one fesf job: start-up, roles, and the few job-wide
 * collectives the CLI needs. World rank 0 is the coordinator, ranks 1..N are
 * sites. Waiting ranks poll non-blocking operations with a short sleep, so
 * an idle rank does not burn a core (Open MPI's blocking calls busy-poll).
 * This module and the rest of src/fed are the only places that call MPI. */
#ifndef FESF_WORLD_H
#define FESF_WORLD_H

#include <stddef.h>
#include <stdint.h>

/* The communicator lives behind an opaque pointer (src/fed/mpi_world.h), so
 * no header outside src/fed exposes MPI. rank and size are read-only. */
typedef struct fesf_world_mpi fesf_world_mpi;
typedef struct {
    int rank, size;
    fesf_world_mpi *mpi; /* NULL until fesf_world_init */
} fesf_world;

/* Was this process started by an MPI launcher (mpirun, srun: its rank is in
 * the environment)? Callable before MPI_Init. */
int fesf_world_launched(void);

/* MPI_Init, MPI_ERRORS_RETURN, log role "coord" / "site N". 0 or -1. */
int fesf_world_init(fesf_world *w, int *argc, char ***argv);
void fesf_world_finalize(fesf_world *w);
/* End the whole job with `code` (MPI_Abort when more than one rank). */
void fesf_world_abort(const fesf_world *w, int code);

/* Failures every rank meets at the same point are reported once, and the
 * job ends with MPI_Finalize and a non-zero exit on every rank rather than
 * with MPI_Abort (fesf_cli_fail). fesf_world_agree (collective): if any
 * rank says `failed`, every rank returns -1; the lowest failing rank keeps
 * its message and reports it, the others stay quiet; the exit code is the
 * largest `code` of the failing ranks. fesf_world_fail_together: the same
 * without communication, for a verdict every rank reached on the same data
 * (each rank names the same reporter); returns -1. */
int fesf_world_agree(const fesf_world *w, int failed, int code);
int fesf_world_fail_together(const fesf_world *w, int reporter, int code);
/* Is the current error (fesf_errmsg) such a failure? The reporting rank
 * (and *code), or -1 for a failure of this rank alone. */
int fesf_world_failed_together(int *code);

/* The exit code of a job that a signal stopped after writing a checkpoint
 * (EX_TEMPFAIL: rerun the same command to resume). */
enum { FESF_EXIT_STOPPED = 75 };

/* Bounded waits: with a timeout of `seconds` > 0 (run.timeout; 0 = wait
 * forever), every wait of this rank for the others (fesf_world_barrier,
 * the broadcasts, sums and agreements of fed.h) gives up after that long:
 * the barrier, the meeting point before each collective, is gathered at the
 * coordinator, which names the ranks that did not arrive and do not answer
 * its roll call (a ping every site answers from any bounded wait: "timeout:
 * rank 3 did not arrive within 20 s (run.timeout) in round 7 and does not
 * answer"; after a collective's deadline, "rank 3 did not answer the
 * coordinator within 2 s after a collective did not complete ..."); the sites wait 5 s
 * longer, so that it speaks first, and name the coordinator if it is the one
 * missing); the failing call returns -1 with that message, and the caller
 * ends the job (fesf_cli_fail: MPI_Abort, exit 1). fesf_world_set_phase
 * names where the job is ("round 7 of repeat 1"; printf format) for the
 * message. Per process; set by the training for its rounds. */
void fesf_world_set_timeout(double seconds);
void fesf_world_set_phase(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The maximum of *v over every rank, into *v on every rank. 0 or -1. */
int fesf_world_max_i64(const fesf_world *w, int64_t *v);

/* Broadcast one int64 from `root`, waiting with a sleeping poll. 0 or -1. */
int fesf_world_bcast_i64(const fesf_world *w, int64_t *v, int root);

/* Broadcast `bytes` bytes from `root` (any size), sleeping while waiting. */
int fesf_world_bcast(const fesf_world *w, void *buf, size_t bytes, int root);

/* Barrier with a sleeping wait. 0 or -1. */
int fesf_world_barrier(const fesf_world *w);

/* Ranks that work on sites: 1..size-1, or rank 0 alone in a world of one.
 * With data.ranks_per_site = k the workers are groups of k consecutive
 * ranks (1..k, k+1..2k, ...), each with a communicator of its own; the
 * first rank of a group is its leader. Shard s (1-based) goes to group
 * (s-1) % workers: its leader owns it (opens it in every stage), and the
 * group's other ranks join the stages that split a site's work (the IHM:
 * images, or volumes' slabs). fesf_world_set_ranks_per_site is collective
 * (MPI_Comm_split); a world that is not 1 + a multiple of k ranks fails on
 * every rank with one message. fesf_world_site_member: this rank's place
 * 0..k-1 in shard s's group, or -1. */
int fesf_world_set_ranks_per_site(fesf_world *w, int k);
int fesf_world_ranks_per_site(const fesf_world *w);
int fesf_world_workers(const fesf_world *w);
int fesf_world_owns_shard(const fesf_world *w, int shard);
int fesf_world_site_member(const fesf_world *w, int shard);

/* Shard s's group as the stages that split a site's work take it, without
 * MPI in their headers (src/fed/site_group.c): this rank's place, the
 * group's size, its communicator's Fortran handle (ihm3d.h's distributed
 * IHM), an MPI-IO file access list and a collective transfer list on it
 * (HDF5 ids, shard.h's parallel calls). For a rank of the group only. */
typedef struct {
    int member, k;
    int comm;
    int64_t fapl, dxpl;
} fesf_site_group;
int fesf_world_site_group(const fesf_world *w, int shard, fesf_site_group *g);
/* The whole world's communicator as a Fortran handle (a benchmark's group). */
int fesf_world_comm_handle(const fesf_world *w);
void fesf_site_group_release(fesf_site_group *g);
int fesf_site_group_barrier(const fesf_site_group *g); /* the group's ranks only, sleeping */
/* v[n] summed over the group's ranks, the sum on every one (collective, bounded wait). */
int fesf_site_group_sum_f64(const fesf_site_group *g, double *v, size_t n);
int fesf_world_shard_owner(const fesf_world *w, int shard); /* the rank that holds shard s */

/* The MPI library's version, its first clause ("Open MPI v4.1.4"), into
 * buf[n] (truncated); may be called before fesf_world_init. */
void fesf_world_mpi_version(char *buf, size_t n);

#endif
