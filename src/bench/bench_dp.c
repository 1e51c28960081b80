/* fesf bench train --dp: the wall time of a DP-SGD step over a non-private
 * one (DESIGN section 6: at most 2x), measured interleaved in one run:
 *   plain     the model as trained without DP (batch norm), a training step;
 *   instance  the same with instance norm (DP's normalisation), a step;
 *   dp        instance norm, per-example clipping (fesf_model_dp_backward),
 *             Gaussian noise on the sum (fesf_dp_noise), the same update.
 * ROUNDS rounds, each timing every variant in turn for seconds / ROUNDS
 * (at least 2 steps); medians of the rounds' ms per step. */
#include "fesf/bench.h"
#include "fesf/blas.h"
#include "fesf/config.h"
#include "fesf/dp.h"
#include "fesf/error.h"
#include "fesf/log.h"
#include "fesf/loss.h"
#include "fesf/model.h"
#include "fesf/optim.h"
#include "fesf/rng.h"

#include <stdlib.h>
#include <string.h>

#define ROUNDS 5
#define VARIANTS 3

typedef struct {
    fesf_model *m;
    float *state;
    int dp;
    int64_t t;
} variant;

static void dp_step(variant *v, const float *x, const int32_t *y, int n, const fesf_optim_config *oc, fesf_rng *r)
{
    fesf_model *m = v->m;
    fesf_model_zero_grad(m);
    const float *logits = fesf_model_forward(m, x, n, 1);
    float *dl = fesf_model_dlogits(m);
    fesf_softmax_xent_sum(n, fesf_model_classes(m), logits, y, NULL, dl);
    fesf_model_dp_backward(m, dl, n, 1.0f, NULL, NULL);
    fesf_dp_noise(r, fesf_model_grads(m), fesf_model_n_params(m), 1.0, 1.0 / n);
    fesf_optim_step(oc, v->t, fesf_model_n_params(m), fesf_model_params(m), fesf_model_grads(m), v->state);
}

static void step(variant *v, const float *x, const int32_t *y, int n, const fesf_optim_config *oc, fesf_rng *r)
{
    if (v->dp) dp_step(v, x, y, n, oc, r);
    else fesf_model_train_step(v->m, x, y, n, NULL, oc, v->t, v->state);
    v->t++;
}

/* ms per step of variant v over about `secs` seconds */
static double time_variant(variant *v, const float *x, const int32_t *y, int n, const fesf_optim_config *oc,
                           fesf_rng *r, double secs)
{
    double t0 = fesf_now(), now = t0;
    int steps = 0;
    while (now - t0 < secs || steps < 2) step(v, x, y, n, oc, r), steps++, now = fesf_now();
    return 1e3 * (now - t0) / steps;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int fesf_bench_dp(const fesf_bench_train_args *a, FILE *out)
{
    static const int flags[VARIANTS] = {0, FESF_MODEL_INSTANCE_NORM, FESF_MODEL_INSTANCE_NORM | FESF_MODEL_DP};
    variant v[VARIANTS] = {{0}};
    size_t img = (size_t)a->channels * (size_t)a->size * (size_t)a->size;
    float *x = malloc(sizeof(float) * img * (size_t)a->batch);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)a->batch);
    double ms[VARIANTS][ROUNDS];
    int rc = -1;
    fesf_optim_config oc;
    fesf_optim_defaults(&oc, FESF_OPT_SGD, 0.01f);
    oc.momentum = 0.9f;
    fesf_blas_set_threads(a->threads);
    if (!x || !y) goto done;
    for (int k = 0; k < VARIANTS; k++) {
        if (fesf_model_create_flags(&v[k].m, a->model, a->width, a->channels, a->size, a->size, a->classes, a->batch,
                                    flags[k]))
            goto done;
        fesf_model_init(v[k].m, 0);
        v[k].dp = k == 2;
        v[k].state = calloc(fesf_model_n_params(v[k].m) + 1, sizeof(float));
        if (!v[k].state) goto done;
    }
    fesf_rng r;
    fesf_rng_init(&r, 0, 0, FESF_STREAM_INIT);
    for (size_t i = 0; i < img * (size_t)a->batch; i++) x[i] = (float)fesf_rng_uniform(&r);
    for (int i = 0; i < a->batch; i++) y[i] = (int32_t)fesf_rng_below(&r, (uint64_t)a->classes);
    for (int k = 0; k < VARIANTS; k++) time_variant(&v[k], x, y, a->batch, &oc, &r, 0); /* warm-up */
    for (int round = 0; round < ROUNDS; round++)
        for (int j = 0; j < VARIANTS; j++) { /* the order rotates each round */
            int k = (j + round) % VARIANTS;
            ms[k][round] = time_variant(&v[k], x, y, a->batch, &oc, &r, a->seconds / ROUNDS);
        }
    for (int k = 0; k < VARIANTS; k++) qsort(ms[k], ROUNDS, sizeof(double), cmp_double);
    double plain = ms[0][ROUNDS / 2], inst = ms[1][ROUNDS / 2], dp = ms[2][ROUNDS / 2];
    fprintf(out,
            "bench train-dp model=%s width=%d size=%d channels=%d batch=%d threads=%d images_per_s=%.1f "
            "plain_ms=%.2f instance_ms=%.2f dp_ms=%.2f dp_over_plain=%.3f dp_over_instance=%.3f\n",
            a->model, a->width, a->size, a->channels, a->batch, a->threads, 1e3 * a->batch / dp, plain, inst, dp,
            dp / plain, dp / inst);
    rc = 0;
done:
    for (int k = 0; k < VARIANTS; k++) fesf_model_destroy(v[k].m), free(v[k].state);
    free(x), free(y);
    return rc;
}
