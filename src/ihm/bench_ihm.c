/* fesf bench ihm: IHM throughput against bare FFTW on the same batch.
 * The candidates are measured in interleaved rounds and each reports its
 * median rate, so a noisy neighbour on a shared machine hits all alike. */
#include "fesf/bench.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/ihm.h"
#include "fesf/log.h"
#include "fesf/rng.h"

#include <fftw3.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 7

/* A bare batched r2c + c2r over contiguous images. */
typedef struct {
    fftwf_plan fwd, inv;
    float *real;
    fftwf_complex *spec;
} bare;

static int bare_create(bare *b, const fesf_bench_ihm_args *a, unsigned flags)
{
    int n[2] = {a->size, a->size}, howmany = a->batch * a->channels;
    size_t hw = (size_t)a->size * (size_t)a->size, hwc = (size_t)a->size * (size_t)(a->size / 2 + 1);
    b->real = fftwf_alloc_real((size_t)howmany * hw);
    b->spec = fftwf_alloc_complex((size_t)howmany * hwc);
    if (!b->real || !b->spec) return fesf_error("out of memory for the FFTW reference");
    b->fwd = fftwf_plan_many_dft_r2c(2, n, howmany, b->real, NULL, 1, (int)hw, b->spec, NULL, 1, (int)hwc, flags);
    b->inv = fftwf_plan_many_dft_c2r(2, n, howmany, b->spec, NULL, 1, (int)hwc, b->real, NULL, 1, (int)hw, flags);
    return b->fwd && b->inv ? 0 : fesf_error("cannot plan the FFTW reference");
}

static void bare_destroy(bare *b)
{
    if (b->fwd) fftwf_destroy_plan(b->fwd);
    if (b->inv) fftwf_destroy_plan(b->inv);
    fftwf_free(b->real);
    fftwf_free(b->spec);
}

/* One timed round of each candidate; rates in images/s. */
static double time_ihm(fesf_ihm *p, const float *x, float *y, int batch, double secs)
{
    long reps = 0;
    double t0 = fesf_now(), t = t0;
    while (t - t0 < secs || reps < 2) {
        fesf_ihm_apply(p, x, y, batch);
        reps++;
        t = fesf_now();
    }
    return (double)reps * batch / (t - t0);
}

static double time_bare(bare *b, const float *x, size_t len, int batch, double secs)
{
    long reps = 0;
    double t0 = fesf_now(), t = t0;
    while (t - t0 < secs || reps < 2) {
        memcpy(b->real, x, sizeof(float) * len); /* the c2r leaves its output there */
        fftwf_execute(b->fwd);
        fftwf_execute(b->inv);
        reps++;
        t = fesf_now();
    }
    return (double)reps * batch / (t - t0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

int fesf_bench_ihm(const fesf_bench_ihm_args *a, FILE *out)
{
    size_t img = (size_t)a->channels * (size_t)a->size * (size_t)a->size, len = img * (size_t)a->batch;
    float *x = malloc(sizeof(float) * len), *y = malloc(sizeof(float) * len), *host = malloc(sizeof(float) * img);
    fesf_ihm *p = NULL;
    bare est = {0}, meas = {0};
    double r_ihm[ROUNDS], r_est[ROUNDS], r_meas[ROUNDS], secs = a->seconds / ROUNDS;
    int rc = -1;
    if (!x || !y || !host) {
        fesf_error("out of memory");
        goto done;
    }
    fesf_rng r;
    fesf_rng_init(&r, 0, 0, FESF_STREAM_INIT);
    for (size_t i = 0; i < len; i++) x[i] = (float)fesf_rng_uniform(&r);
    for (size_t i = 0; i < img; i++) host[i] = (float)fesf_rng_uniform(&r);
    fesf_ihm_params prm = {0.3, 1.0, FESF_MASK_SQUARE};
    if (fesf_ihm_create(&p, a->size, a->size, a->channels, a->batch, &prm) || fesf_ihm_set_host(p, host) ||
        bare_create(&est, a, FFTW_ESTIMATE) || bare_create(&meas, a, FFTW_MEASURE))
        goto done;
    for (int k = 0; k < ROUNDS; k++) {
        r_ihm[k] = time_ihm(p, x, y, a->batch, secs);
        r_est[k] = time_bare(&est, x, len, a->batch, secs);
        r_meas[k] = time_bare(&meas, x, len, a->batch, secs);
    }
    double ihm = median(r_ihm, ROUNDS), e = median(r_est, ROUNDS), m = median(r_meas, ROUNDS);
    double best = e > m ? e : m;
    fprintf(out,
            "bench ihm size=%d channels=%d batch=%d alpha=0.3 beta=1 mask=square images_per_s=%.1f fftw_images_per_s=%.1f "
            "fftw_estimate_images_per_s=%.1f fftw_measure_images_per_s=%.1f ratio_fftw=%.3f\n",
            a->size, a->channels, a->batch, ihm, best, e, m, ihm / best);
    rc = 0;
done:
    bare_destroy(&est);
    bare_destroy(&meas);
    fesf_ihm_destroy(p);
    free(x);
    free(y);
    free(host);
    return rc;
}
