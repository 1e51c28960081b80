/* The MPI side of fesf_world, for src/fed only (world.h keeps mpi.h out of
 * every other room). */
#ifndef FESF_MPI_WORLD_H
#define FESF_MPI_WORLD_H

#include <mpi.h>

#include "fesf/world.h"

struct fesf_world_mpi {
    MPI_Comm comm; /* duplicate of MPI_COMM_WORLD, errors returned */
    MPI_Comm meet; /* another duplicate: the gathered barrier's arrivals (bounded waits) */
    MPI_Comm site; /* this rank's site group (data.ranks_per_site > 1), else MPI_COMM_NULL */
    int per_site;  /* ranks per site: 1 until fesf_world_set_ranks_per_site */
};

/* The site group's communicator (MPI_COMM_NULL with one rank per site or on the coordinator). */
static inline MPI_Comm fesf_world_site_comm(const fesf_world *w) { return w->mpi ? w->mpi->site : MPI_COMM_NULL; }

/* The world's communicator (MPI_COMM_NULL before fesf_world_init). */
static inline MPI_Comm fesf_world_comm(const fesf_world *w) { return w->mpi ? w->mpi->comm : MPI_COMM_NULL; }

/* Wait for a request, sleeping between tests; 0 or -1. Under a timeout
 * (fesf_world_set_timeout) -1 with "timeout: ..." when it passes. */
int fesf_world_wait(MPI_Request *req);
/* The same without sleeping, for data that moves while every rank is
 * present (after a barrier): as fast as Open MPI's blocking calls. */
int fesf_world_wait_busy(MPI_Request *req);
/* Is a timeout set (the round path then moves data by polled non-blocking collectives)? */
int fesf_world_bounded(void);

#endif
