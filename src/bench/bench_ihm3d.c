/* fesf bench ihm3d (bench.h): the distributed 3-D IHM against the bare
 * distributed transforms, over the world's ranks. */
#include "fesf/bench.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/ihm3d.h"
#include "fesf/log.h"
#include "fesf/rng.h"

#include <stdlib.h>
#include <sys/resource.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds of one volume through IHM (ihm) or the bare transforms, between barriers. */
static int time_one(const fesf_world *w, fesf_ihm3d_dist *p, fesf_fft3d_dist_ref *r, const float *x, float *y,
                    double *secs)
{
    if (fesf_world_barrier(w)) return -1;
    double t0 = fesf_now();
    if (p && fesf_ihm3d_dist_apply(p, x, y, 1)) return -1;
    if (!p) fesf_fft3d_dist_ref_run(r, x, 1);
    if (fesf_world_barrier(w)) return -1;
    *secs = fesf_now() - t0;
    return 0;
}

static double peak_rss_mib(const fesf_world *w)
{
    struct rusage ru;
    int64_t kib = getrusage(RUSAGE_SELF, &ru) ? 0 : (int64_t)ru.ru_maxrss;
    return fesf_world_max_i64(w, &kib) ? -1 : (double)kib / 1024.0;
}

int fesf_bench_ihm3d(const fesf_world *w, int size, int rounds, FILE *out)
{
    fesf_ihm3d_dist *p = NULL;
    fesf_fft3d_dist_ref *ref = NULL;
    float *x = NULL, *y = NULL;
    double *t_ihm = malloc(sizeof(double) * (size_t)rounds), *t_ref = malloc(sizeof(double) * (size_t)rounds);
    int comm = fesf_world_comm_handle(w), d0, nd, rc = -1;
    fesf_ihm_params prm = {0.3, 1.0, FESF_MASK_SQUARE, 0};
    if (!t_ihm || !t_ref || fesf_ihm3d_dist_create(&p, comm, size, size, size, 1, &prm) ||
        fesf_fft3d_dist_ref_create(&ref, comm, size, size, size))
        goto done;
    fesf_ihm3d_dist_slab(p, &d0, &nd);
    size_t slab = (size_t)nd * (size_t)size * (size_t)size;
    x = malloc(sizeof(float) * (slab ? slab : 1)), y = malloc(sizeof(float) * (slab ? slab : 1));
    if (!x || !y) {
        fesf_error("out of memory for a %d^3 slab", size);
        goto done;
    }
    fesf_rng r;
    fesf_rng_init(&r, 0, (uint32_t)w->rank, FESF_STREAM_INIT);
    for (size_t i = 0; i < slab; i++) x[i] = (float)fesf_rng_uniform(&r);
    if (fesf_ihm3d_dist_set_host(p, x) || time_one(w, p, ref, x, y, &t_ihm[0]) || time_one(w, NULL, ref, x, y, &t_ref[0]))
        goto done; /* a warm-up of each */
    for (int k = 0; k < rounds; k++) {
        int first = k % 2; /* the order alternates */
        if (time_one(w, first ? NULL : p, ref, x, y, first ? &t_ref[k] : &t_ihm[k]) ||
            time_one(w, first ? p : NULL, ref, x, y, first ? &t_ihm[k] : &t_ref[k]))
            goto done;
    }
    qsort(t_ihm, (size_t)rounds, sizeof(double), cmp_double);
    qsort(t_ref, (size_t)rounds, sizeof(double), cmp_double);
    int64_t plan = (int64_t)fesf_ihm3d_dist_bytes(p);
    double rss = peak_rss_mib(w);
    if (rss < 0 || fesf_world_max_i64(w, &plan)) goto done;
    double v = 1.0 / t_ihm[rounds / 2], f = 1.0 / t_ref[rounds / 2];
    if (w->rank == 0)
        fprintf(out, "bench ihm3d size=%d ranks=%d alpha=0.3 beta=1 mask=square volumes_per_s=%.3f fftw_volumes_per_s=%.3f "
                     "ratio=%.3f plan_mib_per_rank=%.1f peak_rss_mib_per_rank=%.1f images_per_s=%.3f\n",
                size, w->size, v, f, v / f, (double)plan / 1048576.0, rss, v);
    rc = 0;
done:
    fesf_ihm3d_dist_destroy(p);
    fesf_fft3d_dist_ref_destroy(ref);
    free(x), free(y), free(t_ihm), free(t_ref);
    return rc;
}
