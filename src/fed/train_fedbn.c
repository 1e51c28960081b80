/* FedBN (Li et al. 2021): the batch-norm layers' weights, biases and running
 * statistics stay at each site (train_internal.h). They are found from the
 * model's tensors (a layer with running statistics is a batch norm), kept
 * per site in the site's own state (train_scaffold.c: checkpointed in its
 * folder), put into the model before the site's local steps and its
 * evaluation, and left out of what the site adds to the round's sum (zero
 * there), so the coordinator never receives them and keeps the global
 * model's initial ones. */
#include "train_internal.h"

#include "fesf/error.h"

#include <stdlib.h>
#include <string.h>

/* Does the layer of tensor `name` ("layer1.0.bn1.weight") have running statistics? */
static int has_running_stats(const fesf_tensor_list *l, const char *name)
{
    const char *dot = strrchr(name, '.');
    size_t len = dot ? (size_t)(dot - name) : strlen(name);
    for (int i = 0; i < l->n; i++)
        if (l->t[i].buffer && !strncmp(l->t[i].name, name, len) && !strcmp(l->t[i].name + len, ".running_mean"))
            return 1;
    return 0;
}

int fesf_train_fedbn_setup(trainer *t)
{
    if (!t->cfg->train.fedbn) return 0;
    const fesf_tensor_list *l = fesf_model_tensors(t->m);
    t->bn_mask = calloc(t->np + t->nb, 1);
    t->bn = malloc(sizeof(size_t) * (t->np + t->nb));
    if (!t->bn_mask || !t->bn) return fesf_error("out of memory");
    for (int i = 0; i < l->n; i++) {
        const fesf_tensor_info *ti = &l->t[i];
        if (!ti->buffer && !has_running_stats(l, ti->name)) continue;
        size_t base = ti->buffer ? t->np + ti->off : ti->off;
        for (size_t q = 0; q < ti->len; q++) t->bn_mask[base + q] = 1, t->bn[t->nbn++] = base + q;
    }
    if (!t->nbn) return fesf_error("train.fedbn keeps batch norm at the sites, but %s has none", fesf_model_arch(t->m));
    return 0;
}

/* The entry q of [params, buffers] of the model. */
static float *entry(trainer *t, size_t q)
{
    return q < t->np ? fesf_model_params(t->m) + q : fesf_model_buffers(t->m) + (q - t->np);
}

static float *site_bn(trainer *t, int i) { return t->site_state + (size_t)i * t->ss + (t->ss - t->nbn); }

void fesf_train_fedbn_init(trainer *t)
{
    for (int i = 0; t->nbn && i < t->n_mine; i++)
        for (size_t k = 0; k < t->nbn; k++) site_bn(t, i)[k] = t->global[t->bn[k]];
}

void fesf_train_fedbn_apply(trainer *t, int i)
{
    for (size_t k = 0; k < t->nbn; k++) *entry(t, t->bn[k]) = site_bn(t, i)[k];
}

void fesf_train_fedbn_keep(trainer *t, int i)
{
    for (size_t k = 0; k < t->nbn; k++) site_bn(t, i)[k] = *entry(t, t->bn[k]);
}
