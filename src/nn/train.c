/* One training step of a model (see model.h). */
#include "fesf/loss.h"
#include "fesf/model.h"
#include "fesf/optim.h"

double fesf_model_train_step(fesf_model *m, const float *x, const int32_t *labels, int n, const float *class_weights,
                             const fesf_optim_config *oc, int64_t t, float *state)
{
    return fesf_model_train_step_prox(m, x, labels, n, class_weights, oc, t, state, NULL, 0, NULL);
}

double fesf_model_train_step_prox(fesf_model *m, const float *x, const int32_t *labels, int n,
                                  const float *class_weights, const fesf_optim_config *oc, int64_t t, float *state,
                                  const float *anchor, float mu, const float *corr)
{
    fesf_model_zero_grad(m);
    const float *logits = fesf_model_forward(m, x, n, 1);
    float *dlogits = fesf_model_dlogits(m);
    double loss = fesf_softmax_xent(n, fesf_model_classes(m), logits, labels, class_weights, dlogits, NULL);
    fesf_model_backward(m, dlogits, n);
    size_t np = fesf_model_n_params(m);
    float *g = fesf_model_grads(m);
    if (anchor) fesf_optim_prox(np, g, fesf_model_params(m), anchor, mu);
    for (size_t q = 0; corr && q < np; q++) g[q] += corr[q]; /* SCAFFOLD: + (c - c_i) */
    fesf_optim_step(oc, t, np, fesf_model_params(m), g, state);
    return loss;
}
