/* fesf bench agg: fesf's aggregation round against bare blocking MPI (see
 * bench.h). It makes no MPI call itself: rounds and barriers are src/fed's. */
#include "fesf/bench.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/log.h"
#include "fesf/secagg.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum { KIND_FESF, KIND_BARE, KIND_SECURE, KINDS };

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

/* The same under secure aggregation (train.secure_agg): each site rank
 * quantises its buffer (one site), adds its masks, rank 0 decodes the sum. */
static int round_secure(const fesf_world *w, fesf_secagg *sa, float *buf, size_t n)
{
    if (fesf_fed_bcast_f32(w, buf, n)) return -1;
    fesf_secagg_begin(sa, n);
    if (w->rank > 0) fesf_secagg_add_f32(sa, buf);
    return fesf_secagg_finish_f32(sa, buf);
}

/* One round of the given kind; the bare one is fesf_fed_bare_round (src/fed). */
static int run(int kind, const fesf_world *w, fesf_secagg *sa, float *buf, size_t n)
{
    if (kind == KIND_SECURE) return round_secure(w, sa, buf, n);
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

int fesf_bench_agg(const fesf_world *w, size_t params, int rounds, int secure, FILE *out)
{
    if (params == 0 || rounds < 1) return fesf_error("bench agg: params and rounds must be positive");
    /* zeros: the sums stay zero round after round (no overflow, no denormals) */
    float *buf = malloc(sizeof(float) * params);
    double *ms = malloc(sizeof(double) * KINDS * (size_t)rounds);
    double bad = !buf || !ms, cpu[KINDS] = {0, 0, 0};
    int kinds = secure ? KINDS : KIND_SECURE;
    fesf_secagg *sa = NULL;
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
    if (secure && fesf_secagg_create(&sa, w, params)) goto fail;
    for (int kind = 0; kind < kinds; kind++) /* warm-up: connections, pinned buffers, caches */
        if (fesf_world_barrier(w) || run(kind, w, sa, buf, params)) goto fail;
    for (int i = 0; i < rounds; i++)
        for (int j = 0; j < kinds; j++) {
            int kind = (i + j) % kinds; /* alternate which kind goes first */
            if (fesf_world_barrier(w)) goto fail;
            double t0 = fesf_now(), c0 = cpu_seconds();
            if (run(kind, w, sa, buf, params)) goto fail;
            ms[kind * rounds + i] = 1e3 * (fesf_now() - t0);
            cpu[kind] += cpu_seconds() - c0;
        }
    if (fesf_world_barrier(w)) goto fail;
    if (w->rank == 0) {
        double f = median(ms, rounds), b = median(ms + rounds, rounds);
        fprintf(out,
                "bench agg ranks=%d params=%zu fesf_ms=%.3f bare_ms=%.3f ratio=%.3f "
                "coord_cpu_s_per_round_fesf=%.4f coord_cpu_s_per_round_bare=%.4f",
                w->size, params, f, b, b > 0 ? f / b : 0.0, cpu[KIND_FESF] / rounds, cpu[KIND_BARE] / rounds);
        if (secure) {
            double s = median(ms + 2 * rounds, rounds);
            fprintf(out, " secure_ms=%.3f secure_over_fesf=%.3f", s, f > 0 ? s / f : 0.0);
        }
        fprintf(out, "\n");
        fflush(out);
    }
    fesf_secagg_free(sa);
    free(buf), free(ms);
    return 0;
fail:
    fesf_secagg_free(sa);
    free(buf), free(ms);
    return -1;
}
