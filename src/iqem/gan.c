/* IQEM's least-squares GAN gradients (see gan.h). */
#include "fesf/gan.h"
#include "fesf/error.h"
#include "fesf/loss.h"

#include <stdlib.h>
#include <string.h>

int fesf_gan_create(fesf_gan *gan, int width, int c, int h, int w, int batch, float lambda_id, uint64_t seed)
{
    return fesf_gan_create_vol(gan, width, c, 1, h, w, batch, lambda_id, seed);
}

int fesf_gan_create_vol(fesf_gan *gan, int width, int c, int d, int h, int w, int batch, float lambda_id,
                        uint64_t seed)
{
    memset(gan, 0, sizeof *gan);
    gan->batch = batch, gan->c = c, gan->h = d * h, gan->w = w, gan->lambda_id = lambda_id;
    if (fesf_model_create_vol(&gan->g, "iqem-g", width, c, d, h, w, 0, batch, 0) ||
        fesf_model_create_vol(&gan->d, "iqem-d", width, c, d, h, w, 0, batch, 0)) {
        fesf_gan_destroy(gan);
        return -1;
    }
    fesf_model_init(gan->g, seed);
    fesf_model_init(gan->d, seed + 1);
    fesf_model_set_input_grad(gan->d, 1); /* dL/dG(s) comes through D */
    size_t img = (size_t)batch * (size_t)c * (size_t)gan->h * (size_t)w;
    gan->gs = malloc(sizeof(float) * img);
    gan->dgs = malloc(sizeof(float) * img);
    gan->dy = malloc(sizeof(float) * (size_t)batch * (size_t)fesf_model_classes(gan->d));
    if (!gan->gs || !gan->dgs || !gan->dy) {
        fesf_gan_destroy(gan);
        return fesf_error("out of memory for the IQEM GAN");
    }
    return 0;
}

void fesf_gan_destroy(fesf_gan *gan)
{
    fesf_model_destroy(gan->g);
    fesf_model_destroy(gan->d);
    free(gan->gs), free(gan->dgs), free(gan->dy);
    memset(gan, 0, sizeof *gan);
}

/* L_D's term for `x` labelled `target` (1 real, 0 fake): forward D, accumulate its gradients. */
static double d_term(fesf_gan *gan, const float *x, int n, float target)
{
    int64_t len = (int64_t)n * fesf_model_classes(gan->d);
    const float *y = fesf_model_forward(gan->d, x, n, 1);
    double l = fesf_mse_const_loss(len, y, target, gan->dy);
    fesf_model_backward(gan->d, gan->dy, n);
    return l;
}

void fesf_gan_grads(fesf_gan *gan, const float *s, const float *k, int n, fesf_gan_losses *out)
{
    int64_t img = (int64_t)n * gan->c * gan->h * gan->w, dlen = (int64_t)n * fesf_model_classes(gan->d);
    fesf_model_zero_grad(gan->g);
    fesf_model_zero_grad(gan->d);
    /* generator: adversarial term through D, plus the L1 identity term */
    memcpy(gan->gs, fesf_model_forward(gan->g, s, n, 1), sizeof(float) * (size_t)img);
    const float *y = fesf_model_forward(gan->d, gan->gs, n, 1);
    out->g_adv = fesf_mse_const_loss(dlen, y, 1.0f, gan->dy);
    fesf_model_backward(gan->d, gan->dy, n);
    memcpy(gan->dgs, fesf_model_input_grad(gan->d), sizeof(float) * (size_t)img);
    out->g_id = fesf_l1_loss(img, gan->gs, s, NULL);
    for (int64_t i = 0; i < img; i++) { /* d|G(s)-s|_1/dG(s) = sign / len, as fesf_l1_loss */
        float diff = gan->gs[i] - s[i];
        gan->dgs[i] += gan->lambda_id * (float)((diff > 0) - (diff < 0)) / (float)img;
    }
    fesf_model_backward(gan->g, gan->dgs, n);
    /* discriminator, on its own gradients */
    fesf_model_zero_grad(gan->d);
    out->d = d_term(gan, k, n, 1.0f) + d_term(gan, gan->gs, n, 0.0f);
}
