/* A site's group of ranks for the stages that split a site's work
 * (world.h): its communicator as the MPI-free handles src/ihm and src/io
 * take, the MPI-IO file access list and the collective transfer list. */
#include "mpi_world.h"

#include "fesf/error.h"
#include "fesf/shard.h"

int fesf_world_site_group(const fesf_world *w, int shard, fesf_site_group *g)
{
    *g = (fesf_site_group){-1, 0, 0, -1, -1};
    MPI_Comm c = fesf_world_site_comm(w);
    int member = fesf_world_site_member(w, shard);
    if (c == MPI_COMM_NULL || member < 0) return fesf_error("rank %d is not one of site %d's ranks", w->rank, shard);
    g->member = member, g->k = fesf_world_ranks_per_site(w), g->comm = (int)MPI_Comm_c2f(c);
    if (fesf_shard_mpio_lists(g->comm, &g->fapl, &g->dxpl))
        return fesf_error("site %d's ranks have no parallel file access", shard);
    return 0;
}

int fesf_world_comm_handle(const fesf_world *w) { return (int)MPI_Comm_c2f(fesf_world_comm(w)); }

void fesf_site_group_release(fesf_site_group *g)
{
    fesf_shard_mpio_release(&g->fapl, &g->dxpl);
}

int fesf_site_group_barrier(const fesf_site_group *g)
{
    MPI_Request req;
    if (MPI_Ibarrier(MPI_Comm_f2c((MPI_Fint)g->comm), &req) != MPI_SUCCESS) return fesf_error("MPI_Ibarrier failed");
    return fesf_world_wait(&req);
}

int fesf_site_group_sum_f64(const fesf_site_group *g, double *v, size_t n)
{
    MPI_Request req;
    if (MPI_Iallreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM, MPI_Comm_f2c((MPI_Fint)g->comm), &req) != MPI_SUCCESS)
        return fesf_error("MPI_Iallreduce failed");
    return fesf_world_wait(&req);
}
