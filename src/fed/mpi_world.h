/* The MPI side of fesf_world, for src/fed only (world.h keeps mpi.h out of
 * every other room). */
#ifndef FESF_MPI_WORLD_H
#define FESF_MPI_WORLD_H

#include <mpi.h>

#include "fesf/world.h"

struct fesf_world_mpi {
    MPI_Comm comm; /* duplicate of MPI_COMM_WORLD, errors returned */
};

/* The world's communicator (MPI_COMM_NULL before fesf_world_init). */
static inline MPI_Comm fesf_world_comm(const fesf_world *w) { return w->mpi ? w->mpi->comm : MPI_COMM_NULL; }

/* Wait for a request, sleeping between tests; 0 or -1. */
int fesf_world_wait(MPI_Request *req);

#endif
