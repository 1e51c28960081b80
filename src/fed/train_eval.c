/* Evaluation of a training round (train_internal.h): every site scores its
 * own val and test splits at the broadcast parameters (eval mode), computes
 * its own figures and adds its statistics to the pooled ones; the
 * coordinator gets both in one sum. */
#include "train_internal.h"

#include "fesf/fed.h"
#include "fesf/loss.h"

#include <string.h>


/* Stats of one split of one site at the current parameters (eval mode). */
static void eval_split(trainer *t, const site_data *s, int sp, double *stats)
{
    int B = t->cfg->train.batch, k = t->shape.k;
    size_t img = fesf_train_img(&t->shape);
    float *probs = t->xb + img * (size_t)B; /* xb has room for a batch of probabilities after the images */
    for (int64_t start = 0; start < s->n[sp]; start += B) {
        int n = (int)(s->n[sp] - start < B ? s->n[sp] - start : B);
        const float *logits = fesf_model_forward(t->m, s->x[sp] + img * (size_t)start, n, 0);
        fesf_softmax_xent(n, k, logits, s->y[sp] + start, NULL, NULL, probs);
        fesf_eval_stats_add(stats, k, probs, s->y[sp] + start, n);
    }
}

/* The evaluation buffers (t->stats): the pooled statistics of val and test
 * [2][L], each site's figures [2][n_sites][SITE_FIG] (each site computes its
 * own: nothing grows with sites x bins), then one site's scratch [L]. The
 * first two blocks are summed at the coordinator in one reduce. */
enum { SITE_FIG = 7 }; /* accuracy, balanced accuracy, macro-F1, AUC, loss, count, loss sum */

static double *site_fig(const trainer *t, int v, int s)
{
    return t->stats + 2 * t->stats_len + ((size_t)v * (size_t)t->n_sites + (size_t)s) * SITE_FIG;
}

size_t fesf_train_eval_doubles(const trainer *t) { return 2 * t->stats_len + 2 * (size_t)t->n_sites * SITE_FIG; }

void fesf_train_site_figures(const trainer *t, int v, int s, fesf_metrics *m)
{
    const double *f = site_fig(t, v, s);
    *m = (fesf_metrics){f[0], f[1], f[2], f[3], f[4], (int64_t)f[5]};
}

/* One site's split v into its figures and the pooled statistics. */
static void eval_site(trainer *t, const site_data *s, int v)
{
    size_t L = t->stats_len;
    double *one = t->stats + fesf_train_eval_doubles(t), *pool = t->stats + (size_t)v * L, *f = site_fig(t, v, s->id - 1);
    fesf_metrics m;
    memset(one, 0, sizeof(double) * L);
    eval_split(t, s, v ? SPLIT_TEST : SPLIT_VAL, one);
    for (size_t q = 0; q < L; q++) pool[q] += one[q];
    fesf_metrics_compute(one, t->shape.k, &m);
    const double fig[SITE_FIG] = {m.accuracy, m.balanced_accuracy, m.macro_f1, m.auc, m.loss, (double)m.count,
                                  one[L - 2]}; /* the loss sum (metrics.h layout: loss_sum, count last) */
    memcpy(f, fig, sizeof fig);
}

int fesf_train_evaluate(trainer *t)
{
    if (fesf_fed_bcast_f32(t->w, t->global, t->np + t->nb)) return -1;
    memcpy(fesf_model_params(t->m), t->global, sizeof(float) * t->np);
    memcpy(fesf_model_buffers(t->m), t->global + t->np, sizeof(float) * t->nb);
    memset(t->stats, 0, sizeof(double) * fesf_train_eval_doubles(t));
    for (int i = 0; i < t->n_mine; i++) {
        fesf_train_fedbn_apply(t, i); /* FedBN: each site scores with its own batch norm */
        for (int v = 0; v < 2; v++) eval_site(t, &t->sites[i], v);
    }
    return fesf_fed_sum_to_coord_f64(t->w, t->stats, fesf_train_eval_doubles(t));
}

/* Pooled figures of split v (0 val, 1 test) from the summed statistics;
 * the loss sum is added site by site in id order, so that it does not
 * depend on how the sites are spread over the ranks (the counts are exact). */
void fesf_train_pooled(const trainer *t, int v, fesf_metrics *out)
{
    size_t L = t->stats_len;
    double *sum = t->stats + fesf_train_eval_doubles(t), loss = 0; /* the scratch row */
    memcpy(sum, t->stats + (size_t)v * L, sizeof(double) * L);
    for (int s = 0; s < t->n_sites; s++) loss += site_fig(t, v, s)[6];
    sum[L - 2] = loss;
    fesf_metrics_compute(sum, t->shape.k, out);
}
