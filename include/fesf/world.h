/* The MPI world of one fesf job: start-up, roles, and the few job-wide
 * collectives the CLI needs. World rank 0 is the coordinator, ranks 1..N are
 * sites. Waiting ranks poll non-blocking operations with a short sleep, so
 * an idle rank does not burn a core (Open MPI's blocking calls busy-poll).
 * This module and the rest of src/fed are the only places that call MPI
 * collectives. */
#ifndef FESF_WORLD_H
#define FESF_WORLD_H

#include <mpi.h>
#include <stdint.h>

typedef struct {
    MPI_Comm comm; /* duplicate of MPI_COMM_WORLD, errors returned */
    int rank, size;
} fesf_world;

/* MPI_Init, MPI_ERRORS_RETURN, log role "coord" / "site N". 0 or -1. */
int fesf_world_init(fesf_world *w, int *argc, char ***argv);
void fesf_world_finalize(fesf_world *w);
/* End the whole job with `code` (MPI_Abort when more than one rank). */
void fesf_world_abort(const fesf_world *w, int code);

/* Broadcast one int64 from `root`, waiting with a sleeping poll. 0 or -1. */
int fesf_world_bcast_i64(const fesf_world *w, int64_t *v, int root);

/* Wait for a request, sleeping between tests; 0 or -1. */
int fesf_world_wait(MPI_Request *req);

#endif
