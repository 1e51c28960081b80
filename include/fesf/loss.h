/* Losses: value and gradient with respect to the prediction, PyTorch's
 * "mean" reduction. Gradients are WRITTEN (not accumulated): a loss starts
 * the backward pass. Values are accumulated in double. */
#ifndef FESF_LOSS_H
#define FESF_LOSS_H

#include <stdint.h>

/* Softmax cross-entropy: logits [N, K], labels [N] in [0, K). weights [K]
 * or NULL: with weights the mean is weighted as torch's
 * CrossEntropyLoss(weight=...): sum_i w[y_i] l_i / sum_i w[y_i].
 * dlogits [N, K] (or NULL). probs [N, K] (or NULL) receives the softmax.
 * Returns the loss. */
double fesf_softmax_xent(int n, int k, const float *logits, const int32_t *labels, const float *weights,
                         float *dlogits, float *probs);

/* The same loss summed, not averaged: sum_i w[y_i] l_i (w = 1 without
 * weights), dlogits [N, K] each sample's gradient of its own term, the input
 * of DP-SGD's per-example clipping (model.h fesf_model_dp_backward). */
double fesf_softmax_xent_sum(int n, int k, const float *logits, const int32_t *labels, const float *weights,
                             float *dlogits);

/* L1: mean |p - t| over len values; dp = sign(p - t) / len (0 at ties). */
double fesf_l1_loss(int64_t len, const float *p, const float *t, float *dp);
/* MSE: mean (p - t)^2; dp = 2 (p - t) / len. */
double fesf_mse_loss(int64_t len, const float *p, const float *t, float *dp);
/* MSE against a constant target (least-squares GAN terms: target 1 for
 * "real", 0 for "fake"): mean (p - target)^2. */
double fesf_mse_const_loss(int64_t len, const float *p, float target, float *dp);

#endif
