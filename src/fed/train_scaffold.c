/* SCAFFOLD (Karimireddy et al. 2020, Algorithm 1 with option II), on
 * FedAvg's local steps (train_internal.h). The coordinator holds c, which
 * travels with the round's state; site i holds c_i, which never leaves its
 * rank (only its change, summed with the others', does). A local step adds
 * c - c_i to the gradient; after its K steps at learning rate lr from the
 * global x to y_i, the site sets c_i+ = c_i - c + (x - y_i) / (K lr) and
 * contributes (c_i+ - c_i) / N; the coordinator adds the sum to c. So c stays
 * the mean of the N sites' c_i, up to rounding (measured within 1e-8 of the
 * sites' own). With one site, c - c_i is 0 up to that rounding: SCAFFOLD is
 * FedAvg, i.e. local training. */
#include "train_internal.h"

#include "fesf/error.h"
#include "fesf/model_io.h"
#include "fesf/run_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sites' own state, [n_mine][ss]: SCAFFOLD's c_i [np], then FedBN's
 * batch-norm entries [nbn] (train_fedbn.c). */
int fesf_train_site_state_setup(trainer *t)
{
    t->ss = (t->cfg->train.scaffold ? t->np : 0) + t->nbn;
    if (!t->ss) return 0;
    t->site_state = calloc((size_t)(t->n_mine ? t->n_mine : 1) * t->ss, sizeof(float));
    t->ctl_corr = calloc(t->np + 1, sizeof(float));
    return t->site_state && t->ctl_corr ? 0 : fesf_error("out of memory for the sites' own state");
}

void fesf_train_site_state_free(trainer *t) { free(t->site_state), free(t->ctl_corr); }

/* c (after the state's parameters and buffers) - c_i of this rank's site i. */
const float *fesf_train_scaffold_correction(trainer *t, int i)
{
    if (!t->cfg->train.scaffold) return NULL;
    const float *c = t->global + t->np + t->nb, *ci = t->site_state + (size_t)i * t->ss;
    for (size_t q = 0; q < t->np; q++) t->ctl_corr[q] = c[q] - ci[q];
    return t->ctl_corr;
}

/* After site i's `steps` local steps (its parameters in the model): its new
 * c_i, and (c_i+ - c_i) / N into acc's control part. */
void fesf_train_scaffold_update(trainer *t, int i, int64_t steps, float *acc_ctl)
{
    if (!t->cfg->train.scaffold || steps == 0) return;
    const float *x = t->global, *y = fesf_model_params(t->m), *c = t->global + t->np + t->nb;
    float *ci = t->site_state + (size_t)i * t->ss;
    float scale = 1.0f / ((float)steps * (float)t->cfg->train.lr), share = 1.0f / (float)t->n_sites;
    for (size_t q = 0; q < t->np; q++) {
        float next = ci[q] - c[q] + (x[q] - y[q]) * scale;
        acc_ctl[q] += (next - ci[q]) * share;
        ci[q] = next;
    }
}

/* The coordinator's c: last in its server state (opt_floats). */
static float *server_c(const trainer *t)
{
    return t->velocity + t->np * (t->cfg->train.server_optimizer == FESF_SOPT_NONE ? 1 : 2);
}

/* Coordinator, after the round's sum: c += the sites' summed changes. */
void fesf_train_scaffold_server(trainer *t)
{
    if (!t->cfg->train.scaffold) return;
    float *c = server_c(t);
    const float *d = t->acc + t->np + t->nb + 2;
    for (size_t q = 0; q < t->np; q++) c[q] += d[q];
}

/* Coordinator, before a round: c into the state the round broadcasts. */
void fesf_train_scaffold_stage(trainer *t)
{
    if (!t->cfg->train.scaffold) return;
    const float *c = server_c(t);
    memcpy(t->global + t->np + t->nb, c, sizeof(float) * t->np);
}

/* After site `id` wrote state number `above`: drop those numbered beyond it
 * (another training's) and all but the newest `keep` (<= 0: all kept), as
 * the coordinator prunes its checkpoints. */
static void prune(const trainer *t, int id, long above, int keep)
{
    long *idx = NULL;
    char path[FESF_RUN_PATH_MAX];
    int n = fesf_run_site_state_list(t->out, id, &idx), kept = 0;
    for (int i = 0; i < n; i++) {
        if (idx[i] <= above && (keep <= 0 || kept++ < keep)) continue;
        if (!fesf_run_site_state_path(path, t->out, id, idx[i])) remove(path);
    }
    free(idx);
}

/* Every site rank: its sites' own state to their own folders, numbered as
 * the coordinator's checkpoint of (repeat, done); load: from them on resume
 * (done 0: a fresh repeat, all zero; FedBN then starts from the global). */
int fesf_train_site_state_save(trainer *t, int repeat, int64_t done, uint64_t hash)
{
    char path[FESF_RUN_PATH_MAX];
    long number = fesf_train_ckpt_number(t, repeat, done);
    for (int i = 0; t->ss && i < t->n_mine; i++) {
        int id = t->sites[i].id;
        if (fesf_train_excluded_ever(t, id) && !t->sites[i].n[SPLIT_TRAIN]) continue; /* a site that left */
        if (fesf_run_site_state_path(path, t->out, id, number) ||
            fesf_site_state_save(path, t->site_state + (size_t)i * t->ss, t->ss, repeat, done, hash))
            return fesf_error("site %d: %s", id, fesf_errmsg());
        prune(t, id, number, t->cfg->run.keep_checkpoints);
    }
    return 0;
}

int fesf_train_site_state_load(trainer *t, int repeat, int64_t done, uint64_t hash)
{
    char path[FESF_RUN_PATH_MAX];
    if (!t->ss) return 0;
    memset(t->site_state, 0, sizeof(float) * (size_t)(t->n_mine ? t->n_mine : 1) * t->ss);
    for (int i = 0; done > 0 && i < t->n_mine; i++) {
        int id = t->sites[i].id;
        if (fesf_train_excluded_ever(t, id) && !t->sites[i].n[SPLIT_TRAIN]) continue;
        if (fesf_run_site_state_path(path, t->out, id, fesf_train_ckpt_number(t, repeat, done)) ||
            fesf_site_state_load(path, t->site_state + (size_t)i * t->ss, t->ss, repeat, done, hash))
            return fesf_error("site %d: %s", id, fesf_errmsg());
    }
    return 0;
}
