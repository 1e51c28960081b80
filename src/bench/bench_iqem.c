/* fesf bench iqem: G inference plus the second IHM pass, images/s. */
#include "fesf/bench.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/ihm.h"
#include "fesf/iqem.h"
#include "fesf/log.h"
#include "fesf/rng.h"

#include <stdlib.h>

int fesf_bench_iqem(const fesf_bench_ihm_args *a, FILE *out)
{
    size_t img = (size_t)a->channels * (size_t)a->size * (size_t)a->size, len = img * (size_t)a->batch;
    float *x = malloc(sizeof(float) * len), *syn = malloc(sizeof(float) * len), *sur = malloc(sizeof(float) * len);
    fesf_gan gan = {0};
    fesf_ihm *plan = NULL;
    fesf_ihm_params prm = {0.3, 1.0, FESF_MASK_SQUARE, 0};
    int rc = -1;
    if (!x || !syn || !sur) {
        fesf_error("out of memory");
        goto done;
    }
    fesf_rng r;
    fesf_rng_init(&r, 0, 0, FESF_STREAM_INIT);
    for (size_t i = 0; i < len; i++) x[i] = (float)fesf_rng_uniform(&r), syn[i] = (float)fesf_rng_uniform(&r);
    if (fesf_gan_create(&gan, 16, a->channels, a->size, a->size, a->batch, 10.0f, 0) ||
        fesf_ihm_create(&plan, a->size, a->size, a->channels, 1, &prm))
        goto done;
    long reps = 0;
    double t0 = fesf_now(), t = t0;
    while (t - t0 < a->seconds || reps < 2) {
        const float *g = fesf_model_forward(gan.g, syn, a->batch, 1);
        for (int i = 0; i < a->batch; i++)
            if (fesf_ihm_set_host(plan, g + img * (size_t)i) ||
                fesf_ihm_apply(plan, x + img * (size_t)i, sur + img * (size_t)i, 1))
                goto done;
        reps++;
        t = fesf_now();
    }
    fprintf(out, "bench iqem size=%d channels=%d batch=%d g_width=16 images_per_s=%.1f\n", a->size, a->channels,
            a->batch, (double)reps * a->batch / (t - t0));
    rc = 0;
done:
    if (gan.g) fesf_gan_destroy(&gan);
    fesf_ihm_destroy(plan);
    free(x), free(syn), free(sur);
    return rc;
}
