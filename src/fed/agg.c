/* Site-to-coordinator sums and coordinator broadcasts (see fed.h). Large
 * buffers go in pieces of at most 2^28 elements (int counts). */
#include "fesf/error.h"
#include "fesf/fed.h"

#define PIECE ((size_t)1 << 28)

static int reduce(const fesf_world *w, void *buf, size_t n, MPI_Datatype t, size_t size)
{
    for (size_t off = 0; off < n; off += PIECE) {
        int k = (int)(n - off < PIECE ? n - off : PIECE);
        char *p = (char *)buf + off * size;
        MPI_Request req;
        int rc = w->rank == 0 ? MPI_Ireduce(MPI_IN_PLACE, p, k, t, MPI_SUM, 0, w->comm, &req)
                              : MPI_Ireduce(p, NULL, k, t, MPI_SUM, 0, w->comm, &req);
        if (rc != MPI_SUCCESS) return fesf_error("MPI_Ireduce failed");
        if (fesf_world_wait(&req)) return -1;
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
