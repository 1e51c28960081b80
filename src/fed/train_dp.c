/* DP-SGD at the sites (train_internal.h): record-level differential privacy
 * of each site's training images, one accountant per site.
 *
 * One DP-SGD step of a site (what fesf/accountant.h assumes, exactly):
 * - Poisson sampling: each of the site's n training images is in the batch
 *   independently with probability q = min(1, train.batch / n), drawn from
 *   the site's secret key (an attacker who knew the batch would lose the
 *   amplification by sampling); the batch runs in pieces of at most
 *   train.batch through the model;
 * - each image's gradient of its own loss clipped to train.dp_clip
 *   (fesf_model_dp_backward), then multiplied by its class weight over the
 *   largest class weight (train.class_weights: a weight in the loss would
 *   be undone by the clipping, which measured as a model that predicts the
 *   majority class), so that each image still adds at most dp_clip; the
 *   clipped gradients summed;
 * - Gaussian noise of std dp_noise * dp_clip added to the sum at the site,
 *   from the site's key (the site adds it, not the coordinator: the
 *   guarantee must not rest on the coordinator, nor on other sites);
 * - divided by the expected batch size q n, a public constant.
 * FedSGD: one step per round; FedAvg: round(n / batch) steps per local epoch.
 * Steps compose over rounds (RDP); the sites' keys make the noise and the
 * batches reproducible for a rerun or a resume, and secret to anyone
 * without the key file. */
#include "train_internal.h"

#include "fesf/dp.h"
#include "fesf/error.h"
#include "fesf/log.h"
#include "fesf/loss.h"
#include "fesf/rng.h"
#include "fesf/run_dir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_SAMPLE 0x44500001u /* "DP" 1: the Poisson batches */
#define STREAM_NOISE 0x44500002u  /* "DP" 2: the Gaussian noise */

static double site_delta(const fesf_config *cfg, double n)
{
    return cfg->train.dp_delta > 0 ? cfg->train.dp_delta : fmin(1e-5, 0.1 / fmax(n, 1));
}

/* Site i's accounting: q, steps per round, delta, sigma (given or solved
 * for the planned rounds), one step's RDP curve. */
static int site_accounting(trainer *t, int i)
{
    const fesf_config *cfg = t->cfg;
    dp_state *d = &t->dp;
    double n = t->site_n[i];
    d->q[i] = n > 0 ? fmin(1.0, cfg->train.batch / n) : 1.0;
    int64_t per_epoch = n > cfg->train.batch ? (int64_t)llround(n / cfg->train.batch) : 1; /* about n images an epoch */
    d->steps_round[i] = cfg->train.algo == FESF_ALGO_FEDAVG ? per_epoch * cfg->train.local_epochs : 1;
    d->delta[i] = site_delta(cfg, n);
    d->sigma[i] = cfg->train.dp_noise;
    long planned = (long)fesf_train_round_limit(cfg) * (long)d->steps_round[i];
    if (cfg->train.dp_epsilon > 0 &&
        fesf_rdp_solve_sigma(d->q[i], planned, d->delta[i], cfg->train.dp_epsilon, &d->sigma[i]))
        return fesf_error("site %d: no noise multiplier up to 2^14 reaches train.dp_epsilon = %g over %ld steps "
                          "(q = %.4g, delta = %.3g)", i + 1, cfg->train.dp_epsilon, planned, d->q[i], d->delta[i]);
    double *curve = d->rdp1 + (size_t)i * FESF_RDP_NORDERS;
    memset(curve, 0, sizeof(double) * FESF_RDP_NORDERS);
    return fesf_rdp_compose(d->q[i], d->sigma[i], 1, d->orders, FESF_RDP_NORDERS, curve);
}

static void log_setup(const trainer *t)
{
    const dp_state *d = &t->dp;
    int worst = 0;
    for (int i = 1; i < t->n_sites; i++) worst = d->q[i] > d->q[worst] ? i : worst;
    long planned = (long)fesf_train_round_limit(t->cfg) * (long)d->steps_round[worst];
    double eps = NAN;
    fesf_rdp_epsilon(d->q[worst], d->sigma[worst], planned, d->delta[worst], &eps, NULL);
    fesf_info("DP-SGD: clip %g, noise multiplier %.4g, Poisson sampling q = %.4g (site %d, the highest), %lld "
              "step%s a round; epsilon %.3g at delta %.3g after the %ld planned steps", t->cfg->train.dp_clip,
              d->sigma[worst], d->q[worst], worst + 1, (long long)d->steps_round[worst],
              d->steps_round[worst] > 1 ? "s" : "", eps, d->delta[worst], planned);
}

int fesf_train_dp_setup(trainer *t)
{
    const fesf_config *cfg = t->cfg;
    dp_state *d = &t->dp;
    if (!(d->on = fesf_config_dp(cfg))) return 0;
    size_t n = (size_t)t->n_sites;
    d->q = calloc(3 * n, sizeof(double));
    d->steps_round = calloc(2 * n, sizeof(int64_t));
    d->rdp1 = calloc(n * FESF_RDP_NORDERS, sizeof(double));
    d->weight = malloc(sizeof(float) * (size_t)cfg->train.batch);
    if (!d->q || !d->steps_round || !d->rdp1 || !d->weight) return fesf_error("out of memory");
    d->sigma = d->q + n, d->delta = d->q + 2 * n, d->rounds = d->steps_round + n;
    fesf_rdp_default_orders(d->orders);
    for (int i = 0; i < t->n_sites; i++)
        if (site_accounting(t, i)) return -1;
    for (int i = 0; i < t->n_mine; i++) {
        site_data *s = &t->sites[i];
        if (fesf_run_site_key(cfg->run.out, s->id, cfg->ihm.key, cfg->data.seed, &s->dp_key)) return -1;
    }
    if (t->w->rank == 0) {
        log_setup(t);
        if (cfg->ihm.key == FESF_KEY_SEED)
            fesf_warn("ihm.key = seed: DP-SGD's noise and batches derive from data.seed, which anyone with the "
                      "config knows: no privacy guarantee (research only)");
    }
    return 0;
}

void fesf_train_dp_free(trainer *t)
{
    free(t->dp.q), free(t->dp.steps_round), free(t->dp.rdp1), free(t->dp.weight);
    t->dp.q = t->dp.rdp1 = NULL, t->dp.steps_round = NULL, t->dp.weight = NULL;
}

/* A keyed stream of site s for DP step `step` of the repeat of `seed` */
static void dp_stream(fesf_rng *r, const site_data *s, uint64_t seed, int64_t step, uint32_t kind)
{
    fesf_rng_init(r, s->dp_key ^ (seed * 0x9E3779B97F4A7C15ull), (uint32_t)step ^ ((uint32_t)(step >> 32) * 0x85EBCA6Bu),
                  kind);
}

/* The Poisson batch of the step into t->idx; its size */
static int64_t poisson_batch(trainer *t, const site_data *s, uint64_t seed, int64_t step)
{
    fesf_rng r;
    dp_stream(&r, s, seed, step, STREAM_SAMPLE);
    return fesf_dp_poisson(&r, s->n[SPLIT_TRAIN], t->dp.q[s->id - 1], t->idx);
}

/* The n examples' class weights over the largest (NULL without class weights) */
static const float *example_weights(trainer *t, int n)
{
    if (!t->class_w) return NULL;
    float top = 0;
    for (int c = 0; c < t->shape.k; c++) top = t->class_w[c] > top ? t->class_w[c] : top;
    for (int i = 0; i < n; i++) t->dp.weight[i] = top > 0 ? t->class_w[t->yb[i]] / top : 0;
    return t->dp.weight;
}

double fesf_train_dp_gradient(trainer *t, const site_data *s, uint64_t seed, int64_t step, int *used)
{
    const int B = t->cfg->train.batch, k = t->shape.k;
    const float clip = (float)t->cfg->train.dp_clip;
    int64_t total = poisson_batch(t, s, seed, step);
    double loss = 0;
    fesf_model_zero_grad(t->m);
    for (int64_t off = 0; off < total; off += B) {
        int n = (int)(total - off < B ? total - off : B);
        fesf_train_gather(t, s, t->idx + off, n);
        fesf_train_augment(t, s, seed, (uint64_t)step * (uint64_t)s->n[SPLIT_TRAIN] + (uint64_t)off, n);
        const float *logits = fesf_model_forward(t->m, t->xb, n, 1);
        float *dl = fesf_model_dlogits(t->m);
        loss += fesf_softmax_xent_sum(n, k, logits, t->yb, NULL, dl);
        fesf_model_dp_backward(t->m, dl, n, clip, example_weights(t, n), NULL);
    }
    /* noise on the sum, then the mean over the expected batch size */
    fesf_rng r;
    dp_stream(&r, s, seed, step, STREAM_NOISE);
    fesf_dp_noise(&r, fesf_model_grads(t->m), t->np, t->dp.sigma[s->id - 1] * clip,
                  1.0 / (t->dp.q[s->id - 1] * (double)s->n[SPLIT_TRAIN]));
    *used = (int)total;
    return total ? loss / (double)total : 0;
}

void fesf_train_dp_count(trainer *t, const unsigned char *part)
{
    for (int i = 0; t->dp.on && i < t->n_sites; i++) t->dp.rounds[i] += !part || part[i];
}

static double site_epsilon(const trainer *t, int i)
{
    const dp_state *d = &t->dp;
    double curve[FESF_RDP_NORDERS], eps = NAN;
    double steps = (double)d->rounds[i] * (double)d->steps_round[i];
    if (steps == 0) return 0;
    for (int o = 0; o < FESF_RDP_NORDERS; o++) curve[o] = steps * d->rdp1[(size_t)i * FESF_RDP_NORDERS + o];
    fesf_rdp_to_dp(d->orders, curve, FESF_RDP_NORDERS, d->delta[i], FESF_RDP_IMPROVED, &eps, NULL);
    return eps;
}

double fesf_train_dp_epsilon(const trainer *t, int site)
{
    if (!t->dp.on) return NAN;
    if (site >= 0) return site_epsilon(t, site);
    double most = 0;
    for (int i = 0; i < t->n_sites; i++) most = fmax(most, site_epsilon(t, i));
    return most;
}

void fesf_train_dp_report(const trainer *t, FILE *md, FILE *tsv)
{
    const dp_state *d = &t->dp;
    if (!d->on) {
        fprintf(md, "\n## Differential privacy\n\nOff (train.dp_noise = 0, train.dp_epsilon = 0): nothing bounds "
                    "what the model updates reveal about one training image beyond the surrogates.\n");
        fprintf(tsv, "# privacy dp=off\n");
        return;
    }
    double most = fesf_train_dp_epsilon(t, -1), delta = 0;
    for (int i = 0; i < t->n_sites; i++) delta = fmax(delta, d->delta[i]);
    fprintf(md, "\n## Differential privacy\n\nDP-SGD at every site: each training image's gradient clipped to "
                "L2 norm %g, Gaussian noise of std noise multiplier x %g added to each site's sum, Poisson "
                "sampling; record-level (add/remove one image), per site, RDP accountant of the sampled Gaussian "
                "mechanism converted with Balle et al. 2020 (Thm. 21).\n\n"
                "| site | training images | q | noise multiplier | steps | epsilon | delta |\n"
                "| --- | --- | --- | --- | --- | --- | --- |\n",
            t->cfg->train.dp_clip, t->cfg->train.dp_clip);
    for (int i = 0; i < t->n_sites; i++)
        fprintf(md, "| %d | %.0f | %.4g | %.4g | %lld | %.3f | %.3g |\n", i + 1, t->site_n[i], d->q[i], d->sigma[i],
                (long long)(d->rounds[i] * d->steps_round[i]), site_epsilon(t, i), d->delta[i]);
    fprintf(md, "\nThe epsilon covers each site's training images in the model updates that leave the site and "
                "so in the final model (of the last repeat's steps). It does not cover: the surrogates themselves "
                "(IHM is measured by the audit, not bounded), the public host pool, the federated IQEM "
                "generator's training, the evaluation statistics, the label counts behind the class weights "
                "and the normalisation sums (train.normalise = pooled), which reach the coordinator as exact "
                "sums. The noise is floating point (Mironov 2012's attack on low-order bits is not "
                "addressed) and its stream is Philox keyed by the site's 64-bit key, not a vetted "
                "cryptographic generator.\n");
    fprintf(tsv, "# privacy dp=on epsilon=%.6g delta=%.6g clip=%.6g noise=%.6g\n", most, delta, t->cfg->train.dp_clip,
            d->sigma[0]);
}
