/* fesf bench train: training throughput of the C engine. */
#include "fesf/bench.h"
#include "fesf/blas.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/log.h"
#include "fesf/model.h"
#include "fesf/optim.h"
#include "fesf/rng.h"

#include <stdlib.h>
#include <sys/resource.h>

#define WARMUP_STEPS 3

int fesf_bench_train(const fesf_bench_train_args *a, FILE *out)
{
    fesf_model *m = NULL;
    size_t img = (size_t)a->channels * (size_t)a->size * (size_t)a->size;
    float *x = malloc(sizeof(float) * img * (size_t)a->batch), *state = NULL;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)a->batch);
    int rc = -1;
    fesf_blas_set_threads(a->threads);
    if (!x || !labels || fesf_model_create(&m, a->model, a->width, a->channels, a->size, a->size, a->classes, a->batch))
        goto done;
    fesf_model_init(m, 0);
    fesf_optim_config oc;
    fesf_optim_defaults(&oc, FESF_OPT_SGD, 0.01f);
    oc.momentum = 0.9f;
    state = calloc(fesf_model_n_params(m) * (size_t)fesf_optim_state_per_param(&oc) + 1, sizeof(float));
    if (!state) {
        fesf_error("out of memory");
        goto done;
    }
    fesf_rng r;
    fesf_rng_init(&r, 0, 0, FESF_STREAM_INIT);
    for (size_t i = 0; i < img * (size_t)a->batch; i++) x[i] = (float)fesf_rng_uniform(&r);
    for (int i = 0; i < a->batch; i++) labels[i] = (int32_t)fesf_rng_below(&r, (uint64_t)a->classes);
    int64_t t = 0;
    for (; t < WARMUP_STEPS; t++) fesf_model_train_step(m, x, labels, a->batch, NULL, &oc, t, state);
    double t0 = fesf_now(), now = t0;
    int64_t steps = 0;
    while (now - t0 < a->seconds || steps < 3) {
        fesf_model_train_step(m, x, labels, a->batch, NULL, &oc, t++, state);
        steps++;
        now = fesf_now();
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double secs = now - t0;
    fprintf(out,
            "bench train model=%s width=%d size=%d channels=%d batch=%d threads=%d images_per_s=%.1f "
            "ms_per_step=%.2f gflop_per_s=%.2f params=%zu model_mb=%.1f peak_rss_mb=%.1f\n",
            a->model, a->width, a->size, a->channels, a->batch, a->threads, (double)steps * a->batch / secs,
            1e3 * secs / (double)steps,
            fesf_model_train_flops(m) * (double)steps * a->batch / secs / 1e9, fesf_model_n_params(m), (double)fesf_model_bytes(m) / 1e6,
            (double)ru.ru_maxrss / 1024.0);
    rc = 0;
done:
    fesf_model_destroy(m);
    free(x);
    free(labels);
    free(state);
    return rc;
}
