/* Optimizers over one flat parameter buffer (one allocation for the
 * parameters, one for the gradients, one for the optimizer state), with
 * PyTorch's update rules so that runs can be checked against torch.optim:
 *   sgd    momentum, dampening 0, optional Nesterov; weight decay added to the
 *          gradient (L2)
 *   adam   bias-corrected moments; weight decay added to the gradient (L2)
 *   adamw  decoupled weight decay: p -= lr * wd * p before the Adam step
 * Learning-rate schedules: constant, step (times gamma every step_size
 * steps) and cosine annealing from lr to lr_min over total steps. */
#ifndef FESF_OPTIM_H
#define FESF_OPTIM_H

#include <stddef.h>
#include <stdint.h>

typedef enum { FESF_SCHED_CONSTANT, FESF_SCHED_STEP, FESF_SCHED_COSINE } fesf_sched_kind;

typedef struct fesf_optim_config {
    int kind;              /* FESF_OPT_SGD | FESF_OPT_ADAM | FESF_OPT_ADAMW (config.h) */
    float lr, momentum, weight_decay;
    int nesterov;
    float beta1, beta2, eps; /* adam(w): 0.9, 0.999, 1e-8 */
    fesf_sched_kind sched;
    int step_size;         /* step schedule */
    float gamma;           /* step schedule */
    int64_t total_steps;   /* cosine schedule */
    float lr_min;          /* cosine schedule */
} fesf_optim_config;

/* Defaults (lr given by the caller): momentum 0, no Nesterov, weight decay 0
 * (torch's AdamW defaults to 1e-2; fesf's train.weight_decay decides),
 * betas 0.9 / 0.999, eps 1e-8, constant schedule. */
void fesf_optim_defaults(fesf_optim_config *c, int kind, float lr);

/* Floats of state per parameter: sgd 1 (momentum buffer; 0 without
 * momentum), adam/adamw 2: all first moments, then all second moments
 * ([m_0 .. m_{n-1}, v_0 .. v_{n-1}]), which is how checkpoints store it. */
int fesf_optim_state_per_param(const fesf_optim_config *c);

/* Learning rate of step t (t = 0 for the first step). */
float fesf_optim_lr(const fesf_optim_config *c, int64_t t);

/* One update of n parameters: p and state are updated in place from g; t is
 * the number of steps taken before this one (0 for the first). state holds
 * n * fesf_optim_state_per_param floats, zeroed before the first step. */
void fesf_optim_step(const fesf_optim_config *c, int64_t t, size_t n, float *p, const float *g, float *state);

/* FedProx's proximal term (Li et al. 2020): g += mu (p - anchor) over n
 * parameters, the gradient of (mu / 2) |p - anchor|^2 added to a site's
 * local loss, anchor the round's global parameters. mu = 0 leaves g as it
 * was, bit for bit (a finite value plus 0 is itself). */
void fesf_optim_prox(size_t n, float *g, const float *p, const float *anchor, float mu);

/* FedAdam / FedYogi's server step (Reddi et al. 2021, Algorithm 2) over n
 * parameters: the pseudo-gradient d = p - avg (the global model minus the
 * sites' weighted average); m = b1 m + (1 - b1) d; v = b2 v + (1 - b2) d^2
 * (Adam) or v - (1 - b2) d^2 sign(v - d^2) (Yogi); p -= lr m / (sqrt(v) +
 * tau). m starts at 0 and v at tau^2; no bias correction. */
void fesf_optim_server_adaptive(size_t n, float *p, const float *avg, float *m, float *v, float lr, float tau,
                                int yogi);

#endif
