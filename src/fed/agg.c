/* Site-to-coordinator sums and coordinator broadcasts (see fed.h). Large
 * buffers go in pieces of at most 2^28 elements (int counts).
 *
 * Waiting and moving data are separate: every rank first meets in a
 * sleeping barrier (an idle coordinator sleeps there while the sites
 * compute), then the data moves in a blocking MPI_Reduce / MPI_Bcast at full
 * speed. A non-blocking MPI_Ireduce polled with sleeps only progresses while
 * MPI_Test runs, which measured 10x slower than the bare call for 11.2M
 * floats on 2 ranks (46x for 0.1M). */
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/run_dir.h"
#include "mpi_world.h"

#define PIECE ((size_t)1 << 28)

static int reduce(const fesf_world *w, void *buf, size_t n, MPI_Datatype t, size_t size)
{
    for (size_t off = 0; off < n; off += PIECE) {
        int k = (int)(n - off < PIECE ? n - off : PIECE);
        char *p = (char *)buf + off * size;
        if (off == 0 && fesf_world_barrier(w)) return -1;
        int rc = w->rank == 0 ? MPI_Reduce(MPI_IN_PLACE, p, k, t, MPI_SUM, 0, fesf_world_comm(w))
                              : MPI_Reduce(p, NULL, k, t, MPI_SUM, 0, fesf_world_comm(w));
        if (rc != MPI_SUCCESS) return fesf_error("MPI_Reduce failed");
    }
    return 0;
}

int fesf_fed_sum_to_coord(const fesf_world *w, float *buf, size_t n)
{
    return w->size > 1 ? reduce(w, buf, n, MPI_FLOAT, sizeof(float)) : 0;
}

int fesf_fed_sum_to_coord_f64(const fesf_world *w, double *buf, size_t n)
{
    return w->size > 1 ? reduce(w, buf, n, MPI_DOUBLE, sizeof(double)) : 0;
}

int fesf_fed_bcast_f32(const fesf_world *w, float *buf, size_t n)
{
    return w->size > 1 ? fesf_world_bcast(w, buf, n * sizeof(float), 0) : 0;
}

int fesf_fed_share_sum_f64(const fesf_world *w, double *buf, size_t n)
{
    if (fesf_fed_sum_to_coord_f64(w, buf, n)) return -1;
    return w->size > 1 ? fesf_world_bcast(w, buf, n * sizeof(double), 0) : 0;
}

int fesf_fed_count_shards(const fesf_world *w, const char *run_out, int *n)
{
    int64_t mine = 0, most = 0;
    if (w->rank != 0 || w->size == 1) mine = fesf_run_highest_shard(run_out); /* the site ranks' disks only */
    if (MPI_Allreduce(&mine, &most, 1, MPI_INT64_T, MPI_MAX, fesf_world_comm(w)) != MPI_SUCCESS)
        return fesf_error("MPI_Allreduce failed");
    *n = (int)most;
    return most > 0 ? 0 : fesf_error("no site-001.h5 in '%s' on any site rank (run 'fesf prepare' first)", run_out);
}

/* The benchmark's reference round (see fed.h): Open MPI's blocking
 * (busy-polling) collectives with no barrier, in the same pieces as above. */
int fesf_fed_bare_round(const fesf_world *w, float *buf, size_t n)
{
    for (size_t off = 0; off < n; off += PIECE) {
        int k = (int)(n - off < PIECE ? n - off : PIECE);
        if (MPI_Bcast(buf + off, k, MPI_FLOAT, 0, fesf_world_comm(w)) != MPI_SUCCESS) return fesf_error("MPI_Bcast failed");
    }
    for (size_t off = 0; off < n; off += PIECE) {
        int k = (int)(n - off < PIECE ? n - off : PIECE);
        int rc = w->rank == 0 ? MPI_Reduce(MPI_IN_PLACE, buf + off, k, MPI_FLOAT, MPI_SUM, 0, fesf_world_comm(w))
                              : MPI_Reduce(buf + off, NULL, k, MPI_FLOAT, MPI_SUM, 0, fesf_world_comm(w));
        if (rc != MPI_SUCCESS) return fesf_error("MPI_Reduce failed");
    }
    return 0;
}
