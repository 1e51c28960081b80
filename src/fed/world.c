/* MPI start-up and job-wide helpers (see world.h). */
#include "fesf/world.h"
#include "mpi_world.h"
#include "fesf/error.h"
#include "fesf/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int fesf_world_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int fesf_world_init(fesf_world *w, int *argc, char ***argv)
{
    w->rank = 0;
    w->size = 1;
    if (!(w->mpi = malloc(sizeof *w->mpi))) return fesf_error("out of memory");
    w->mpi->comm = MPI_COMM_NULL;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return fesf_error("MPI_Init failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (MPI_Comm_dup(MPI_COMM_WORLD, &w->mpi->comm) != MPI_SUCCESS) return fesf_error("MPI_Comm_dup failed");
    MPI_Comm_set_errhandler(w->mpi->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(w->mpi->comm, &w->rank);
    MPI_Comm_size(w->mpi->comm, &w->size);
    char role[32];
    if (w->rank == 0) snprintf(role, sizeof role, "coord");
    else snprintf(role, sizeof role, "site %d", w->rank);
    fesf_log_set_role(role);
    return 0;
}

void fesf_world_finalize(fesf_world *w)
{
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (!up || down) return;
    if (w->mpi && w->mpi->comm != MPI_COMM_NULL) MPI_Comm_free(&w->mpi->comm);
    free(w->mpi);
    w->mpi = NULL;
    MPI_Finalize();
}

void fesf_world_abort(const fesf_world *w, int code)
{
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down && w->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

/* The failure the ranks agreed on: who reports it, the exit code, and this
 * rank's message then (a later, unrelated error does not match it). */
static struct {
    int set, reporter, code;
    char msg[FESF_ERRMSG_MAX];
} together;

int fesf_world_fail_together(const fesf_world *w, int reporter, int code)
{
    if (w->rank != reporter) fesf_error("rank %d reports the failure", reporter);
    together.set = 1, together.reporter = reporter, together.code = code;
    snprintf(together.msg, sizeof together.msg, "%s", fesf_errmsg());
    return -1;
}

int fesf_world_agree(const fesf_world *w, int failed, int code)
{
    int mine[2] = {failed ? w->rank : w->size, failed ? -code : 0}, all[2] = {mine[0], mine[1]};
    MPI_Request req;
    if (w->size > 1) {
        if (MPI_Iallreduce(mine, all, 2, MPI_INT, MPI_MIN, fesf_world_comm(w), &req) != MPI_SUCCESS)
            return fesf_error("MPI_Iallreduce failed");
        if (fesf_world_wait(&req)) return -1;
    }
    return all[0] == w->size ? 0 : fesf_world_fail_together(w, all[0], -all[1]);
}

int fesf_world_failed_together(int *code)
{
    if (!together.set || !strstr(fesf_errmsg(), together.msg)) return -1;
    *code = together.code;
    return together.reporter;
}

int fesf_world_wait(MPI_Request *req)
{
    /* spin briefly, then sleep 0.2 ms; after ~1 s (a long wait, e.g. the
     * sites while the coordinator trains the audit's attacker) sleep 2 ms */
    const struct timespec nap = {0, 200000}, long_nap = {0, 2000000};
    int done = 0;
    long polls = 0;
    while (!done) {
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return fesf_error("MPI wait failed");
        if (!done && ++polls > 50) nanosleep(polls > 5000 ? &long_nap : &nap, NULL);
    }
    return 0;
}

int fesf_world_bcast_i64(const fesf_world *w, int64_t *v, int root)
{
    MPI_Request req;
    if (MPI_Ibcast(v, 1, MPI_INT64_T, root, fesf_world_comm(w), &req) != MPI_SUCCESS)
        return fesf_error("MPI_Ibcast failed");
    return fesf_world_wait(&req);
}

/* Wait in a sleeping barrier, then move the data in a blocking MPI_Bcast at
 * full speed (see src/fed/agg.c for why not a polled MPI_Ibcast). */
int fesf_world_bcast(const fesf_world *w, void *buf, size_t bytes, int root)
{
    char *p = buf;
    if (w->size > 1 && fesf_world_barrier(w)) return -1;
    while (bytes > 0) { /* counts are int: send in pieces of at most 1 GiB */
        int n = bytes > (1u << 30) ? (1 << 30) : (int)bytes;
        if (MPI_Bcast(p, n, MPI_BYTE, root, fesf_world_comm(w)) != MPI_SUCCESS) return fesf_error("MPI_Bcast failed");
        p += n;
        bytes -= (size_t)n;
    }
    return 0;
}

int fesf_world_barrier(const fesf_world *w)
{
    MPI_Request req;
    if (MPI_Ibarrier(fesf_world_comm(w), &req) != MPI_SUCCESS) return fesf_error("MPI_Ibarrier failed");
    return fesf_world_wait(&req);
}

int fesf_world_workers(const fesf_world *w) { return w->size > 1 ? w->size - 1 : 1; }

int fesf_world_shard_owner(const fesf_world *w, int shard)
{
    return w->size == 1 ? 0 : 1 + (shard - 1) % fesf_world_workers(w);
}

int fesf_world_owns_shard(const fesf_world *w, int shard)
{
    int worker = (shard - 1) % fesf_world_workers(w);
    return w->size > 1 ? w->rank == worker + 1 : 1;
}

/* The MPI library's version, first clause only ("Open MPI v4.1.4"), for
 * `fesf version`; callable before MPI_Init. */
void fesf_world_mpi_version(char *buf, size_t n)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(v, &len);
    char *comma = strchr(v, ',');
    if (comma) *comma = '\0';
    snprintf(buf, n, "%s", v);
}
