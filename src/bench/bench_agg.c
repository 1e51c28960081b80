/* fesf bench agg: fesf's aggregation round against bare blocking MPI (see
 * bench.h). It makes no MPI call itself: rounds and barriers are src/fed's. */
#include "fesf/bench.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum { KIND_FESF, KIND_BARE, KINDS };

/* CPU seconds (user + system) this process has used so far. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

/* The trainer's round: broadcast the model, sum the sites' buffers at rank 0. */
static int round_fesf(const fesf_world *w, float *buf, size_t n)
{
    if (fesf_fed_bcast_f32(w, buf, n) || fesf_fed_sum_to_coord(w, buf, n)) return -1;
    return 0;
}

/* One round of the given kind; the bare one is fesf_fed_bare_round (src/fed). */
static int run(int kind, const fesf_world *w, float *buf, size_t n)
{
    return kind == KIND_FESF ? round_fesf(w, buf, n) : fesf_fed_bare_round(w, buf, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int fesf_bench_agg(const fesf_world *w, size_t params, int rounds, FILE *out)
{
    if (params == 0 || rounds < 1) return fesf_error("bench agg: params and rounds must be positive");
    /* zeros: the sums stay zero round after round (no overflow, no denormals) */
    float *buf = malloc(sizeof(float) * params);
    double *ms = malloc(sizeof(double) * 2 * (size_t)rounds);
    double bad = !buf || !ms, cpu[KINDS] = {0, 0};
    if (buf) memset(buf, 0, sizeof(float) * params); /* touch every page before timing */
    /* every rank learns whether any rank lacks memory, so none is left waiting */
    int64_t any = 0;
    if (fesf_fed_sum_to_coord_f64(w, &bad, 1)) goto fail;
    any = bad > 0;
    if (fesf_world_bcast_i64(w, &any, 0)) goto fail;
    if (any) {
        fesf_error("bench agg: out of memory for %zu floats", params);
        goto fail;
    }
    for (int kind = 0; kind < KINDS; kind++) /* warm-up: connections, pinned buffers, caches */
        if (fesf_world_barrier(w) || run(kind, w, buf, params)) goto fail;
    for (int i = 0; i < rounds; i++)
        for (int j = 0; j < KINDS; j++) {
            int kind = (i + j) % KINDS; /* alternate which kind goes first */
            if (fesf_world_barrier(w)) goto fail;
            double t0 = fesf_now(), c0 = cpu_seconds();
            if (run(kind, w, buf, params)) goto fail;
            ms[kind * rounds + i] = 1e3 * (fesf_now() - t0);
            cpu[kind] += cpu_seconds() - c0;
        }
    if (fesf_world_barrier(w)) goto fail;
    if (w->rank == 0) {
        double f = median(ms, rounds), b = median(ms + rounds, rounds);
        fprintf(out,
                "bench agg ranks=%d params=%zu fesf_ms=%.3f bare_ms=%.3f ratio=%.3f "
                "coord_cpu_s_per_round_fesf=%.4f coord_cpu_s_per_round_bare=%.4f\n",
                w->size, params, f, b, b > 0 ? f / b : 0.0, cpu[KIND_FESF] / rounds, cpu[KIND_BARE] / rounds);
        fflush(out);
    }
    free(buf), free(ms);
    return 0;
fail:
    free(buf), free(ms);
    return -1;
}
