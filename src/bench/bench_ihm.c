/* fesf bench ihm: IHM throughput against bare FFTW on the same batch.
 * The candidates are measured in interleaved rounds and each reports its
 * median rate, so a noisy neighbour on a shared machine hits all alike. */
#include "fesf/bench.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/ihm.h"
#include "fesf/log.h"
#include "fesf/rng.h"

#include <stdlib.h>

#define ROUNDS 7

/* One timed round of IHM on the batch; rate in images/s. With tags (the
 * keyed options: noise, per-image beta), every batch is tagged first. */
static double time_ihm(fesf_ihm *p, const float *x, float *y, int batch, double secs, const fesf_ihm_tag *tags)
{
    long reps = 0;
    double t0 = fesf_now(), t = t0;
    while (t - t0 < secs || reps < 2) {
        if (tags) fesf_ihm_set_tags(p, tags, batch);
        fesf_ihm_apply(p, x, y, batch);
        reps++;
        t = fesf_now();
    }
    return (double)reps * batch / (t - t0);
}

/* One timed round of the bare FFTW reference (fesf_fft_ref) on the same batch. */
static double time_bare(fesf_fft_ref *b, const float *x, int batch, double secs)
{
    long reps = 0;
    double t0 = fesf_now(), t = t0;
    while (t - t0 < secs || reps < 2) {
        fesf_fft_ref_execute(b, x);
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
    fesf_ihm *p = NULL, *pk = NULL;
    fesf_ihm_tag *tags = malloc(sizeof(fesf_ihm_tag) * (size_t)a->batch);
    fesf_fft_ref *est = NULL, *meas = NULL;
    double r_ihm[ROUNDS], r_key[ROUNDS], r_est[ROUNDS], r_meas[ROUNDS], secs = a->seconds / ROUNDS;
    int rc = -1;
    if (!x || !y || !host || !tags) {
        fesf_error("out of memory");
        goto done;
    }
    fesf_rng r;
    fesf_rng_init(&r, 0, 0, FESF_STREAM_INIT);
    for (size_t i = 0; i < len; i++) x[i] = (float)fesf_rng_uniform(&r);
    for (size_t i = 0; i < img; i++) host[i] = (float)fesf_rng_uniform(&r);
    fesf_ihm_params prm = {0.3, 1.0, FESF_MASK_SQUARE, 0}, keyed = {0.3, 1.0, FESF_MASK_SQUARE, 1.0};
    for (int i = 0; i < a->batch; i++) /* noise sigma 1, beta in [0.5, 1] */
        tags[i] = (fesf_ihm_tag){42, (uint64_t)i, fesf_ihm_draw_beta(42, (uint64_t)i, 0.5, 1.0)};
    if (fesf_ihm_create(&p, a->size, a->size, a->channels, a->batch, &prm) || fesf_ihm_set_host(p, host) ||
        fesf_ihm_create(&pk, a->size, a->size, a->channels, a->batch, &keyed) || fesf_ihm_set_host(pk, host) ||
        fesf_fft_ref_create(&est, a->batch, a->channels, a->size, a->size, 0) ||
        fesf_fft_ref_create(&meas, a->batch, a->channels, a->size, a->size, 1))
        goto done;
    for (int k = 0; k < ROUNDS; k++) {
        r_ihm[k] = time_ihm(p, x, y, a->batch, secs, NULL);
        r_key[k] = time_ihm(pk, x, y, a->batch, secs, tags);
        r_est[k] = time_bare(est, x, a->batch, secs);
        r_meas[k] = time_bare(meas, x, a->batch, secs);
    }
    double ihm = median(r_ihm, ROUNDS), key = median(r_key, ROUNDS), e = median(r_est, ROUNDS), m = median(r_meas, ROUNDS);
    double best = e > m ? e : m;
    fprintf(out,
            "bench ihm size=%d channels=%d batch=%d alpha=0.3 beta=1 mask=square images_per_s=%.1f fftw_images_per_s=%.1f "
            "fftw_estimate_images_per_s=%.1f fftw_measure_images_per_s=%.1f ratio_fftw=%.3f "
            "keyed_images_per_s=%.1f ratio_keyed=%.3f\n",
            a->size, a->channels, a->batch, ihm, best, e, m, ihm / best, key, key / ihm);
    rc = 0;
done:
    fesf_fft_ref_destroy(est);
    fesf_fft_ref_destroy(meas);
    fesf_ihm_destroy(p);
    fesf_ihm_destroy(pk);
    free(tags);
    free(x);
    free(y);
    free(host);
    return rc;
}
