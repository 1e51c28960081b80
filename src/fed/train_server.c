/* The coordinator's step of a training round (train_internal.h): FedSGD's
 * optimizer on the weighted gradient; FedAvg's weighted average, with
 * server momentum (FedAvgM) or an adaptive server optimizer (FedAdam,
 * FedYogi) on the round's delta. */
#include "train_internal.h"

#include <string.h>

/* FedAdam / FedYogi on the round's delta (optim.h), m and v inside opt_state. */
static void server_adaptive(trainer *t)
{
    float *m = t->velocity, *v = t->velocity + t->np;
    fesf_optim_server_adaptive(t->np, t->global, t->acc, m, v, (float)t->cfg->train.server_lr,
                               (float)t->cfg->train.server_tau, t->cfg->train.server_optimizer == FESF_SOPT_YOGI);
}

/* A repeat's fresh server state: zeros, and FedAdam/FedYogi's v = tau^2. */
void fesf_train_server_init(trainer *t)
{
    memset(t->opt_state, 0, sizeof(float) * opt_floats(t));
    if (t->cfg->train.server_optimizer == FESF_SOPT_NONE) return;
    float tau = (float)t->cfg->train.server_tau;
    for (size_t q = 0; q < t->np; q++) t->velocity[t->np + q] = tau * tau;
}

/* Coordinator: the new global state from the round's sums, the optimizer
 * step on the weighted gradient (FedSGD) or the weighted average of the
 * sites' parameters (FedAvg, with server momentum: FedAvgM). */
void fesf_train_server_step(trainer *t, int64_t round, double *loss, double *images)
{
    for (size_t k = 0; k < t->nbn; k++) t->acc[t->bn[k]] = t->global[t->bn[k]]; /* FedBN: no delta for them */
    size_t np = t->np, nb = t->nb;
    if (t->cfg->train.algo == FESF_ALGO_FEDSGD) {
        fesf_optim_step(&t->oc, round, np, t->global, t->acc, t->opt_state);
    } else if (t->cfg->train.server_optimizer != FESF_SOPT_NONE) {
        server_adaptive(t);
    } else if (t->cfg->train.server_momentum == 0) {
        memcpy(t->global, t->acc, sizeof(float) * np); /* the weighted average */
    } else { /* FedAvgM: v = mu v + (global - average); global -= v */
        float mu = (float)t->cfg->train.server_momentum;
        for (size_t q = 0; q < np; q++) {
            t->velocity[q] = mu * t->velocity[q] + (t->global[q] - t->acc[q]);
            t->global[q] -= t->velocity[q];
        }
    }
    memcpy(t->global + np, t->acc + np, sizeof(float) * nb);
    fesf_train_scaffold_server(t);
    *loss = t->acc[np + nb];
    *images = t->acc[np + nb + 1];
}
