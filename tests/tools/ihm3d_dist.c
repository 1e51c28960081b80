/* Test tool: the distributed 3-D IHM (fesf_ihm3d_dist) under mpirun, for
 * tests/e2e/ihm3d.sh's comparison with the serial plan. Each rank reads only
 * its slab of planes of every volume and of the host from raw float32 files
 * and writes its slab of the output in place (the file is sized by rank 0
 * first), then prints "rank R planes D0 ND" on stdout.
 * usage: mpirun -np K ihm3d_dist N C D H W ALPHA BETA square|circle X.f32 HOST.f32 OUT.f32 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/ihm3d.h"

static void die(const char *what)
{
    fprintf(stderr, "ihm3d_dist: %s: %s\n", what, fesf_errmsg());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* the slab [d0, d0 + nd) of each of the `vols` [D, H, W] blocks of a file, in or out */
static void slabs(const char *path, int out, float *buf, size_t vols, size_t plane, int d, int d0, int nd)
{
    int fd = open(path, out ? O_WRONLY : O_RDONLY);
    if (fd < 0) die(path);
    size_t len = sizeof(float) * plane * (size_t)nd;
    for (size_t v = 0; v < vols && nd > 0; v++) {
        off_t at = (off_t)(sizeof(float) * plane * ((size_t)v * d + (size_t)d0));
        ssize_t k = out ? pwrite(fd, buf + v * plane * nd, len, at) : pread(fd, buf + v * plane * nd, len, at);
        if (k != (ssize_t)len) die(path);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (argc != 12) {
        fprintf(stderr, "usage: ihm3d_dist N C D H W ALPHA BETA square|circle X.f32 HOST.f32 OUT.f32\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int rank, n = atoi(argv[1]), c = atoi(argv[2]), d = atoi(argv[3]), h = atoi(argv[4]), w = atoi(argv[5]);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fesf_ihm_params prm = {atof(argv[6]), atof(argv[7]), strcmp(argv[8], "circle") ? FESF_MASK_SQUARE : FESF_MASK_CIRCLE, 0};
    fesf_ihm3d_dist *p;
    if (fesf_ihm3d_dist_create(&p, (int)MPI_Comm_c2f(MPI_COMM_WORLD), d, h, w, c, &prm)) die("create");
    int d0, nd;
    fesf_ihm3d_dist_slab(p, &d0, &nd);
    size_t plane = (size_t)h * w, vols = (size_t)n * c;
    float *host = malloc(sizeof(float) * plane * (size_t)(nd ? nd : 1) * c);
    float *x = malloc(sizeof(float) * plane * (size_t)(nd ? nd : 1) * vols);
    slabs(argv[10], 0, host, (size_t)c, plane, d, d0, nd);
    slabs(argv[9], 0, x, vols, plane, d, d0, nd);
    if (fesf_ihm3d_dist_set_host(p, host) || fesf_ihm3d_dist_apply(p, x, x, n)) die("apply");
    if (rank == 0) {
        int fd = open(argv[11], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)(sizeof(float) * plane * (size_t)d * vols)) || close(fd)) die(argv[11]);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    slabs(argv[11], 1, x, vols, plane, d, d0, nd);
    printf("rank %d planes %d %d\n", rank, d0, nd);
    fesf_ihm3d_dist_destroy(p);
    free(host), free(x);
    MPI_Finalize();
    return 0;
}
