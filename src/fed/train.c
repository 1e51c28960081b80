/* fesf train: federated training of the diagnostic model (see fed.h).
 * Per round: the coordinator broadcasts parameters and BN buffers; each
 * site computes its contribution (FedSGD: a minibatch gradient; FedAvg: its
 * parameters after E local epochs), weighted by its share of the round's
 * training images; the weighted sums reach the coordinator in one reduce;
 * the coordinator steps its optimizer (FedSGD) or takes the average
 * (FedAvg). Data order comes from the counter RNG keyed by (seed, site,
 * epoch), so nothing but the round number is needed to continue a run.
 * Here: the rounds, evaluation and the entry points; the shards, the
 * checkpoints and the report files are train_data.c, train_ckpt.c and
 * train_report.c (train_internal.h). */
#include "train_internal.h"

#include "fesf/augment.h"
#include "fesf/error.h"
#include "fesf/run_dir.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/log.h"
#include "fesf/loss.h"
#include "fesf/model_io.h"
#include "fesf/rng.h"
#include "fesf/secagg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- one site's contribution ------------------------------------------------ */

static void epoch_order(const trainer *t, const site_data *s, int64_t epoch, uint64_t seed)
{
    fesf_fed_epoch_order(seed, s->id, epoch, s->n[SPLIT_TRAIN], t->idx);
}

void fesf_train_gather(trainer *t, const site_data *s, const int32_t *ids, int n)
{
    size_t img = fesf_train_img(&t->shape);
    for (int i = 0; i < n; i++) {
        memcpy(t->xb + img * (size_t)i, s->x[SPLIT_TRAIN] + img * (size_t)ids[i], sizeof(float) * img);
        t->yb[i] = s->y[SPLIT_TRAIN][ids[i]];
    }
}

/* train.augment on the batch in xb: its n images start at position pos of the site's stream. */
void fesf_train_augment(trainer *t, const site_data *s, uint64_t seed, uint64_t pos, int n)
{
    const data_shape *d = &t->shape;
    /* a volume's planes as channels: one flip (along W) and one shift (in H, W) for the whole volume */
    fesf_augment_batch(t->cfg->train.augment, d->c * d->d, d->h, d->w, seed, s->id, pos, t->xb, n, t->aug);
}

/* FedSGD: one minibatch gradient at the global parameters (positions
 * round*B .. round*B+B-1 of the site's stream). */
static double site_fedsgd(trainer *t, const site_data *s, int64_t round, uint64_t seed, int *used)
{
    if (t->dp.on) return fesf_train_dp_gradient(t, s, seed, round, used);
    int32_t ids[65536];
    int n = fesf_fed_sgd_batch(seed, s->id, s->n[SPLIT_TRAIN], round, t->cfg->train.batch, t->idx, ids);
    fesf_train_gather(t, s, ids, n);
    fesf_train_augment(t, s, seed, (uint64_t)round * (uint64_t)t->cfg->train.batch, n);
    fesf_model_zero_grad(t->m);
    const float *logits = fesf_model_forward(t->m, t->xb, n, 1);
    float *dl = fesf_model_dlogits(t->m);
    double loss = fesf_softmax_xent(n, t->shape.k, logits, t->yb, t->class_w, dl, NULL);
    fesf_model_backward(t->m, dl, n);
    *used = n;
    return loss;
}

/* FedAvg under DP-SGD: the site's steps of the round, each on a Poisson batch */
static double site_fedavg_dp(trainer *t, const site_data *s, int64_t round, uint64_t seed, int *used)
{
    int64_t steps = t->dp.steps_round[s->id - 1];
    double loss = 0;
    for (int64_t j = 0; j < steps; j++) {
        int n = 0;
        loss += fesf_train_dp_gradient(t, s, seed, round * steps + j, &n);
        fesf_optim_prox(t->np, fesf_model_grads(t->m), fesf_model_params(t->m), t->global, (float)t->cfg->train.prox_mu);
        fesf_optim_step(&t->local, j, t->np, fesf_model_params(t->m), fesf_model_grads(t->m), t->local_state);
        *used += n;
    }
    return steps ? loss / (double)steps : 0;
}

/* FedAvg: E local epochs of minibatch training from the global parameters
 * (FedProx's term, SCAFFOLD's correction corr); *k: the steps taken. */
static double site_fedavg(trainer *t, const site_data *s, int64_t round, uint64_t seed, int *used, const float *corr,
                          int64_t *k)
{
    int B = t->cfg->train.batch;
    int64_t ns = s->n[SPLIT_TRAIN], steps = 0;
    double loss = 0;
    memset(t->local_state, 0, sizeof(float) * t->np * (size_t)fesf_optim_state_per_param(&t->local));
    if (t->dp.on) return site_fedavg_dp(t, s, round, seed, used);
    for (int e = 0; e < t->cfg->train.local_epochs; e++) {
        int64_t epoch = round * t->cfg->train.local_epochs + e;
        epoch_order(t, s, epoch, seed);
        for (int64_t start = 0; start < ns; start += B) {
            int n = (int)(ns - start < B ? ns - start : B);
            if (n < 2 && start > 0) break; /* batch norm needs two samples */
            fesf_train_gather(t, s, t->idx + start, n);
            fesf_train_augment(t, s, seed, (uint64_t)(epoch * ns + start), n);
            loss += fesf_model_train_step_prox(t->m, t->xb, t->yb, n, t->class_w, &t->local, steps++, t->local_state,
                                               t->global, (float)t->cfg->train.prox_mu, corr); /* mu 0: FedAvg */
            *used += n;
        }
    }
    *k = steps;
    return steps ? loss / (double)steps : 0;
}

/* ---- a round ------------------------------------------------------------- */

/* The sites of a round (part[id - 1] = 1): with train.participation p < 1,
 * the first round(p * n) of a shuffle keyed by (seed, round) of the n sites
 * that take part (all, or those not excluded: train_sites.c); NULL when
 * every site takes part. */
static const unsigned char *participants(const trainer *t, int64_t round, unsigned char *part)
{
    double p = t->cfg->train.participation;
    int32_t order[4096];
    int n = 0;
    for (int id = 1; id <= t->n_sites; id++)
        if (!fesf_train_excluded_at(t, id, t->repeat, round)) order[n++] = id;
    if (p >= 1 && n == t->n_sites) return NULL;
    int m = p >= 1 ? n : (int)lround(p * n);
    if (m < 1) m = 1;
    if (p < 1) {
        fesf_rng r;
        fesf_rng_init(&r, t->cfg->run.seed, (uint32_t)round, 7);
        fesf_rng_shuffle_i32(&r, order, n);
    }
    memset(part, 0, (size_t)t->n_sites);
    for (int i = 0; i < m; i++) part[order[i] - 1] = 1;
    return part;
}

typedef struct {
    trainer *t;
    int64_t round;
    uint64_t seed;
} round_ctx;

/* Site i's share of the round (fesf_fed_site_fn), from the broadcast state:
 * weight * its gradient (FedSGD) or its parameters (FedAvg), its buffers
 * and its loss, and the images it used. */
static void add_site(void *ctx, int i, float wgt, float *acc)
{
    const round_ctx *c = ctx;
    trainer *t = c->t;
    const site_data *s = &t->sites[i];
    size_t np = t->np, nb = t->nb;
    int sgd = t->cfg->train.algo == FESF_ALGO_FEDSGD, used = 0;
    memcpy(fesf_model_params(t->m), t->global, sizeof(float) * np);
    memcpy(fesf_model_buffers(t->m), t->global + np, sizeof(float) * nb);
    fesf_train_fedbn_apply(t, i); /* FedBN: the site's own batch norm */
    int64_t steps = 0;
    double l = sgd ? site_fedsgd(t, s, c->round, c->seed, &used)
                   : site_fedavg(t, s, c->round, c->seed, &used, fesf_train_scaffold_correction(t, i), &steps);
    fesf_train_scaffold_update(t, i, steps, acc + np + nb + 2);
    fesf_train_fedbn_keep(t, i);
    const float *src = sgd ? fesf_model_grads(t->m) : fesf_model_params(t->m), *buf = fesf_model_buffers(t->m);
    const unsigned char *local = t->bn_mask; /* FedBN's entries never leave the site */
    for (size_t q = 0; q < np; q++) acc[q] += local && local[q] ? 0.0f : wgt * src[q];
    for (size_t q = 0; q < nb; q++) acc[np + q] += local && local[np + q] ? 0.0f : wgt * buf[q];
    acc[np + nb] += wgt * (float)l;
    acc[np + nb + 1] += (float)used;
}

static int run_round(trainer *t, int64_t round, uint64_t seed, double *loss, double *images)
{
    unsigned char part[4096]; /* setup caps n_sites at 4096 */
    round_ctx c = {t, round, seed};
    if (t->w->rank == 0) fesf_train_scaffold_stage(t); /* c travels with the state */
    fesf_fed_round_args a = {.state = t->global, .n_state = state_floats(t), .acc = t->acc, .n_acc = t->nacc,
                             .n_sites = t->n_sites, .site_n = t->site_n, .part = participants(t, round, part),
                             .add = add_site, .ctx = &c, .secagg = t->sa};
    if (fesf_fed_round(t->w, &a)) return -1;
    fesf_train_dp_count(t, a.part);
    if (t->w->rank == 0) fesf_train_server_step(t, round, loss, images);
    return 0;
}

/* ---- setup ------------------------------------------------------------------ */

/* train.class_weights = balanced: weights from the sites' summed training
 * label counts (each site counts its own; only the sums travel), never from
 * pooled labels. */
static int class_weights(trainer *t)
{
    if (t->cfg->train.class_weights != FESF_CW_BALANCED) return 0;
    int k = t->shape.k;
    double *counts = calloc((size_t)k, sizeof(double));
    t->class_w = malloc(sizeof(float) * (size_t)k);
    if (!counts || !t->class_w) return free(counts), fesf_error("out of memory");
    for (int i = 0; i < t->n_mine; i++)
        for (int64_t j = 0; j < t->sites[i].n[SPLIT_TRAIN]; j++) {
            int32_t y = t->sites[i].y[SPLIT_TRAIN][j];
            if (y >= 0 && y < k) counts[y] += 1;
        }
    int rc = fesf_secagg_pool_f64(t->sa, t->w, counts, (size_t)k) ||
             fesf_world_bcast(t->w, counts, sizeof(double) * (size_t)k, 0);
    if (!rc) {
        int empty = fesf_balanced_weights(counts, k, t->class_w);
        if (t->w->rank == 0) {
            char line[512];
            int len = 0;
            for (int c = 0; c < k && len < (int)sizeof line - 40; c++)
                len += snprintf(line + len, sizeof line - (size_t)len, "%s%.0f -> %.4f", c ? ", " : "", counts[c],
                                t->class_w[c]);
            fesf_info("class weights (balanced, from the sites' summed training label counts): %s", line);
            if (empty) fesf_warn("%d class%s without training images: weight 0", empty, empty > 1 ? "es" : "");
        }
    }
    free(counts);
    return rc;
}

/* The run's sites (counted by the site ranks) and image shape (site 1's rank), this rank's
 * sites loaded and normalised; *most: the most training images of a site. */
static int load_sites(trainer *t, int64_t *most)
{
    const fesf_config *cfg = t->cfg;
    int64_t meta[6] = {0};
    if (fesf_train_exclusions(t, t->exclude, t->n_exclude, t->mode) ||
        fesf_fed_count_shards_except(t->w, cfg->run.out, t->excluded, &t->n_sites) || fesf_train_exclusions_check(t))
        return -1;
    int ref = fesf_train_first_site(t), first = fesf_world_shard_owner(t->w, ref); /* it tells the shape */
    if (t->w->rank == first) {
        if (fesf_train_read_shape(cfg->run.out, input_group(cfg), ref, &t->shape)) return -1;
        meta[0] = t->shape.c, meta[1] = t->shape.h, meta[2] = t->shape.w, meta[3] = t->shape.k, meta[4] = ref;
        meta[5] = t->shape.d;
    }
    if (fesf_world_bcast(t->w, meta, sizeof meta, first)) return -1;
    t->shape = (data_shape){(int)meta[0], (int)meta[1], (int)meta[2], (int)meta[3], (int)meta[4], (int)meta[5]};
    if (t->shape.c > MAX_CHANNELS || t->n_sites > 4096) return fesf_error("unsupported data shape");
    t->sites = calloc((size_t)t->n_sites, sizeof(site_data));
    t->site_n = calloc((size_t)t->n_sites, sizeof(double));
    if (!t->sites || !t->site_n) return fesf_error("out of memory");
    for (int id = 1; id <= t->n_sites; id++) {
        if (!fesf_world_owns_shard(t->w, id)) continue;
        site_data *s = &t->sites[t->n_mine++];
        s->id = id;
        if (fesf_train_excluded_ever(t, id)) continue; /* left the federation: its shard stays closed, no images */
        if (fesf_train_load_site(t, s)) return -1;
        t->site_n[id - 1] = (double)s->n[SPLIT_TRAIN];
        *most = s->n[SPLIT_TRAIN] > *most ? s->n[SPLIT_TRAIN] : *most;
    }
    /* every rank learns every site's training count (fixed-size statistics, in the clear: they weight the sums) */
    if (fesf_fed_share_sum_f64(t->w, t->site_n, (size_t)t->n_sites)) return -1;
    size_t pooled = (size_t)(t->shape.k > 2 * MAX_CHANNELS + 1 ? t->shape.k : 2 * MAX_CHANNELS + 1); /* counts, moments */
    if (cfg->train.secure_agg && fesf_secagg_create(&t->sa, t->w, pooled)) return -1;
    if (class_weights(t)) return -1;
    return fesf_train_normalise(t);
}

static int alloc_buffers(trainer *t, int64_t most)
{
    const fesf_config *cfg = t->cfg;
    size_t img = fesf_train_img(&t->shape);
    t->stats_len = fesf_eval_stats_len(t->shape.k);
    t->global = calloc(state_floats(t), sizeof(float));
    t->acc = calloc(t->nacc, sizeof(float));
    t->best = calloc(t->np + t->nb, sizeof(float));
    t->opt_state = calloc(opt_floats(t) + 1, sizeof(float));
    t->velocity = t->opt_state ? t->opt_state + t->np * (size_t)fesf_optim_state_per_param(&t->oc) : NULL;
    t->local_state = calloc(t->np * (size_t)fesf_optim_state_per_param(&t->local) + 1, sizeof(float));
    t->xb = malloc(sizeof(float) * ((img + (size_t)t->shape.k) * (size_t)cfg->train.batch + img));
    t->aug = t->xb ? t->xb + (img + (size_t)t->shape.k) * (size_t)cfg->train.batch : NULL;
    t->yb = malloc(sizeof(int32_t) * (size_t)cfg->train.batch);
    t->idx = malloc(sizeof(int32_t) * (size_t)most);
    t->stats = calloc(fesf_train_eval_doubles(t) + t->stats_len, sizeof(double));
    if (!t->global || !t->acc || !t->best || !t->opt_state || !t->local_state || !t->velocity || !t->xb || !t->yb || !t->idx ||
        !t->stats)
        return fesf_error("out of memory for training buffers");
    return 0;
}

static int setup(trainer *t)
{
    const fesf_config *cfg = t->cfg;
    int64_t most = 1;
    if (load_sites(t, &most)) return -1;
    int batch = t->w->rank == 0 && t->w->size > 1 ? 1 : cfg->train.batch; /* the coordinator holds no images */
    const char *arch = fesf_config_enum_name("model.arch", cfg->model.arch);
    int flags = (fesf_config_instance_norm(cfg) ? FESF_MODEL_INSTANCE_NORM : 0) | (fesf_config_dp(cfg) ? FESF_MODEL_DP : 0);
    if ((t->shape.d > 1) != (cfg->model.arch == FESF_ARCH_CNN3D_SMALL)) { /* every rank knows: a shared failure */
        if (t->shape.d > 1)
            fesf_error("model.arch = %s takes 2-D images; these are %d x %d x %d volumes (set model.arch = cnn3d-small)",
                       arch, t->shape.d, t->shape.h, t->shape.w);
        else
            fesf_error("model.arch = cnn3d-small takes volumes; these are 2-D images (set model.arch = cnn-small)");
        return fesf_world_fail_together(t->w, 0, 1);
    }
    if (fesf_model_create_vol(&t->m, arch, cfg->model.width, t->shape.c, t->shape.d, t->shape.h, t->shape.w, t->shape.k,
                              batch, flags) ||
        fesf_train_dp_setup(t))
        return -1;
    t->np = fesf_model_n_params(t->m), t->nb = fesf_model_n_buffers(t->m);
    t->nacc = t->np + t->nb + 2 + (cfg->train.scaffold ? t->np : 0); /* sums, loss, images, SCAFFOLD's c changes */
    if (t->sa && fesf_secagg_reserve(t->sa, t->nacc)) return -1;
    fesf_optim_defaults(&t->oc, cfg->train.optimizer, (float)cfg->train.lr);
    t->oc.momentum = cfg->train.optimizer == FESF_OPT_SGD ? (float)cfg->train.momentum : 0;
    t->oc.weight_decay = (float)cfg->train.weight_decay;
    t->local = t->oc; /* FedAvg sites train locally with the configured optimizer */
    return alloc_buffers(t, most) || fesf_train_fedbn_setup(t) || fesf_train_site_state_setup(t) ? -1 : 0;
}

/* ---- the run ---------------------------------------------------------------- */

/* Coordinator, on an evaluated round (vt: pooled validation, test): the
 * test figures of the last round, and of the best so far by validation AUC
 * (accuracy where the AUC is undefined), with that round's state and the
 * sites' figures. */
static void track_best(trainer *t, repeat_result *res, int64_t r, const fesf_metrics *vt)
{
    res->last = vt[1];
    double score = isfinite(vt[0].auc) ? vt[0].auc : vt[0].accuracy;
    if (!(score > t->best_auc)) return;
    t->best_auc = score, t->best_round = (int)r + 1, res->best = vt[1], res->best_round = (int)r + 1;
    memcpy(t->best, t->global, sizeof(float) * (t->np + t->nb));
    for (int s = 0; s < t->n_sites; s++) fesf_train_site_figures(t, 1, s, &res->site[s]);
}

/* Optimizer steps each site takes per round, at least (the smallest site's). */
static int64_t steps_per_round(const trainer *t)
{
    const fesf_config *cfg = t->cfg;
    if (cfg->train.algo != FESF_ALGO_FEDAVG) return 1;
    double least = INFINITY;
    for (int s = 0; s < t->n_sites; s++) least = fmin(least, t->site_n[s]);
    int64_t per_epoch = ((int64_t)least + cfg->train.batch - 1) / cfg->train.batch;
    return (per_epoch > 0 ? per_epoch : 1) * cfg->train.local_epochs;
}

/* rounds = auto, after evaluated round r (0-based): stop when every site has
 * taken train.min_steps steps and the best validation round lies at least
 * train.patience evaluations back. The coordinator decides; every rank learns. */
static int auto_stop(trainer *t, int64_t r, int *stop)
{
    const fesf_config *cfg = t->cfg;
    int64_t v = 0;
    if (t->w->rank == 0) {
        int64_t evals_since = (r + 1 - t->best_round) / cfg->train.eval_every;
        v = (r + 1) * steps_per_round(t) >= cfg->train.min_steps && t->best_round > 0 &&
            evals_since >= cfg->train.patience;
    }
    if (fesf_world_bcast_i64(t->w, &v, 0)) return -1;
    *stop = (int)v;
    return 0;
}

/* The end of a round (done rounds of `repeat`): did a rank catch SIGTERM or
 * SIGINT? All ranks learn it together (the launcher may signal only some);
 * then the coordinator writes the checkpoint (unless this round's is
 * written) and every rank returns -1 with its line and FESF_EXIT_STOPPED. */
/* The checkpoint of (repeat, done): the coordinator's, and the sites' own state (SCAFFOLD). */
static int save_all(trainer *t, int repeat, int64_t done, const repeat_result *all)
{
    if (t->w->rank == 0 && fesf_train_save_checkpoint(t, repeat, done, all)) return -1;
    return fesf_train_site_state_save(t, repeat, done, fesf_train_resume_hash(t->cfg));
}

static int preempted(trainer *t, int repeat, int64_t done, int saved, const repeat_result *all)
{
    int64_t sig = fesf_stop_requested();
    if (fesf_world_max_i64(t->w, &sig)) return -1;
    if (!sig) return 0;
    int failed = !saved && save_all(t, repeat, done, all);
    if (fesf_world_agree(t->w, failed, 1)) return -1;
    char path[FESF_RUN_PATH_MAX];
    fesf_train_ckpt_path(t, repeat, done, path);
    fesf_error("%s: checkpoint of repeat %d round %lld written to '%s'; rerun the same command to resume",
               fesf_signal_name((int)sig), repeat + 1, (long long)done, path);
    return fesf_world_fail_together(t->w, 0, FESF_EXIT_STOPPED);
}

/* One training run with `seed` from round `start` (0, or where a checkpoint
 * left off); the coordinator fills all[repeat] and keeps the best state. */
static int train_once(trainer *t, int repeat, uint64_t seed, repeat_result *all, int64_t start)
{
    const fesf_config *cfg = t->cfg;
    repeat_result *res = &all[repeat];
    int limit = fesf_train_round_limit(cfg), is_auto = cfg->train.rounds < 0, stop = 0;
    t->repeat = repeat;
    int bad = fesf_train_site_state_load(t, repeat, start, fesf_train_resume_hash(cfg)) != 0; /* zeros or resumed */
    if (fesf_world_agree(t->w, bad, 1)) return -1;
    if (start == 0) {
        fesf_model_init(t->m, seed);
        memcpy(t->global, fesf_model_params(t->m), sizeof(float) * t->np);
        memcpy(t->global + t->np, fesf_model_buffers(t->m), sizeof(float) * t->nb);
        fesf_train_fedbn_init(t); /* every site's batch norm starts as the global model's */
        fesf_train_server_init(t);
        t->best_auc = -1, t->best_round = -1;
        res->stop = is_auto ? STOP_MAX_ROUNDS : STOP_FIXED, res->rounds_run = limit;
    } else if (res->stop == STOP_PLATEAU) {
        return 0; /* a resumed repeat that had already stopped on its plateau */
    }
    if (t->dp.on) { /* the rounds each site took part in before `start` */
        unsigned char part[4096];
        memset(t->dp.rounds, 0, sizeof(int64_t) * (size_t)t->n_sites);
        for (int64_t r = 0; r < start; r++) fesf_train_dp_count(t, participants(t, r, part));
    }
    double t0 = fesf_now();
    for (int64_t r = start; r < limit && !stop; r++) {
        double loss = 0, images = 0, tr = fesf_now();
        fesf_world_set_phase("round %lld of repeat %d", (long long)r + 1, repeat + 1);
        if (run_round(t, r, seed, &loss, &images)) return -1;
        int eval = (r + 1) % cfg->train.eval_every == 0 || r + 1 == limit;
        if (eval && fesf_train_evaluate(t)) return -1;
        if (t->w->rank == 0) {
            double now = fesf_now(), ips = images / (now - tr);
            fesf_metrics vt[2]; /* pooled validation and test figures */
            char extra[160] = "";
            if (eval) fesf_train_pooled(t, 0, &vt[0]), fesf_train_pooled(t, 1, &vt[1]);
            if (fesf_train_write_metrics_line(t, repeat, r, loss, ips, eval ? vt : NULL)) return -1;
            if (eval) {
                snprintf(extra, sizeof extra, ", val auc %.3f, test acc %.3f auc %.3f", vt[0].auc, vt[1].accuracy, vt[1].auc);
                track_best(t, res, r, vt);
            }
            double eta = (now - t0) / (double)(r + 1 - start) * (double)(limit - r - 1);
            fesf_info("round %lld/%d%s loss %.4f%s, %.0f images/s, %.1f s, eta %.0f s", (long long)r + 1, limit,
                      is_auto ? " (auto)" : "", loss, extra, ips, now - t0, eta);
        }
        if (is_auto && eval && r + 1 < limit && auto_stop(t, r, &stop)) return -1;
        if (stop) res->stop = STOP_PLATEAU, res->rounds_run = (int)r + 1;
        int every = cfg->run.checkpoint_every, saved = 0;
        if (t->w->rank == 0 && stop)
            fesf_info("repeat %d: stopped after round %lld: no better validation AUC for %d evaluations since round %d",
                      repeat + 1, (long long)r + 1, cfg->train.patience, t->best_round);
        if (every > 0 && ((r + 1) % every == 0 || r + 1 == limit || stop)) {
            if (save_all(t, repeat, r + 1, all)) return -1;
            saved = 1;
        }
        if (preempted(t, repeat, r + 1, saved, all)) return -1;
    }
    return 0;
}

static int save_best(trainer *t, int repeat)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_model_path(path, t->out, repeat);
    memcpy(fesf_model_params(t->m), t->best, sizeof(float) * t->np);
    memcpy(fesf_model_buffers(t->m), t->best + t->np, sizeof(float) * t->nb);
    char *text = fesf_config_text_alloc(t->cfg);
    fesf_model_save_info info = {NULL, 0, fesf_config_enum_name("train.optimizer", t->cfg->train.optimizer),
                                 t->best_round, text, repeat == 0 ? &t->stage : NULL, 0, NULL, NULL,
                                 t->cfg->train.normalise == FESF_NORM_POOLED ? t->norm : NULL, t->shape.c};
    int rc = fesf_model_save(path, fesf_model_tensors(t->m), &info);
    free(text);
    return rc;
}

/* After the last round's check: a signal that came since then stops the job
 * the same way, with the training complete. */
static int finished(trainer *t)
{
    fesf_world_set_phase("the training's end");
    int64_t sig = fesf_stop_requested();
    if (fesf_world_max_i64(t->w, &sig)) return -1;
    if (!sig) return 0;
    fesf_error("%s: the training in '%s' is complete; rerun the same command to go on", fesf_signal_name((int)sig),
               t->out);
    return fesf_world_fail_together(t->w, 0, FESF_EXIT_STOPPED);
}

static void trainer_free(trainer *t)
{
    for (int i = 0; t->sites && i < t->n_mine; i++)
        for (int sp = 0; sp < 3; sp++) free(t->sites[i].x[sp]), free(t->sites[i].y[sp]);
    fesf_secagg_free(t->sa);
    free(t->sites), free(t->site_n), free(t->class_w), free(t->global), free(t->acc), free(t->best), free(t->opt_state);
    free(t->local_state), free(t->xb), free(t->yb), free(t->idx), free(t->stats), free(t->excluded);
    fesf_train_site_state_free(t);
    free(t->bn), free(t->bn_mask);
    fesf_model_destroy(t->m);
    fesf_train_dp_free(t);
    if (t->metrics) fclose(t->metrics);
}

/* Coordinator: metrics.jsonl, new, or cut back to the rounds of the
 * checkpoint a resumed run starts from (start = {repeat, rounds done}). */
static int open_metrics(trainer *t, const int64_t *start)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, t->out, FESF_RUN_METRICS);
    int resumed = start[0] || start[1];
    if (resumed && fesf_train_trim_metrics(path, start[0], start[1])) return -1;
    return (t->metrics = fesf_append_open(path, !resumed)) ? 0 : -1; /* a line at a time, each fsynced */
}

int fesf_fed_train(const fesf_config *cfg, const fesf_world *w, int resume)
{
    return fesf_fed_train_to(cfg, w, resume, cfg->run.out);
}

int fesf_fed_train_to(const fesf_config *cfg, const fesf_world *w, int resume, const char *out)
{
    fesf_train_opts o = {resume, NULL, 0};
    return fesf_fed_train_opts(cfg, w, out, &o);
}

int fesf_fed_train_opts(const fesf_config *cfg, const fesf_world *w, const char *out, const fesf_train_opts *o)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg, t.w = w, t.out = out, t.mode = o->resume, t.exclude = o->exclude, t.n_exclude = o->n_exclude;
    int rc = -1, R = cfg->run.repeats;
    fesf_world_set_timeout(cfg->run.timeout);
    fesf_world_set_phase("the training's start");
    repeat_result *res = calloc((size_t)R, sizeof *res);
    fesf_metrics *site_best = NULL;
    if (!res || fesf_stage_make(cfg, FESF_STAGE_TRAIN, &t.stage) || setup(&t) || (w->rank == 0 && fesf_mkdir_p(out))) goto done;
    if (!(site_best = calloc((size_t)R * (size_t)t.n_sites, sizeof *site_best))) {
        fesf_error("out of memory");
        goto done;
    }
    for (int r = 0; r < R; r++) res[r].site = site_best + (size_t)r * t.n_sites;
    int64_t start[2] = {0, 0}; /* repeat, rounds done */
    if (w->rank == 0 && fesf_train_load_checkpoint(&t, res, start, o->resume)) goto done;
    if (fesf_world_bcast(w, start, sizeof start, 0)) goto done;
    if (fesf_train_exclusions_start(&t, start)) { /* the same on every rank */
        fesf_world_fail_together(w, 0, 1); /* exit 1 */
        goto done;
    }
    fesf_train_exclusions_log(&t, NULL);
    if (w->rank == 0) {
        if (open_metrics(&t, start)) goto done;
        fesf_info("training %s on %d sites' %s %s (%dx%dx%dx%d, %d classes), %s, %d rounds", fesf_model_arch(t.m),
                  t.n_sites - fesf_train_n_excluded(&t), input_group(cfg), t.shape.d > 1 ? "volumes" : "images", t.shape.c,
                  t.shape.d, t.shape.h, t.shape.w, t.shape.k,
                  fesf_config_enum_name("train.algo", cfg->train.algo), fesf_train_round_limit(cfg));
    }
    fesf_stop_defer(1); /* from here, SIGTERM / SIGINT stop the training at the end of a round */
    for (int r = (int)start[0]; r < R; r++) {
        if (train_once(&t, r, cfg->run.seed + (uint64_t)r, res, r == start[0] ? start[1] : 0)) goto done;
        if (w->rank == 0 && save_best(&t, r)) goto done;
        if (w->rank == 0) {
            fesf_info("repeat %d: best validation round %d: test accuracy %.3f, AUC %.3f", r + 1, res[r].best_round,
                      res[r].best.accuracy, res[r].best.auc);
            if (fesf_train_still_improving(cfg, &res[r]))
                fesf_warn("repeat %d: the best validation round is the last one (%d): the model was still improving "
                          "when training stopped; more rounds (train.rounds) may help", r + 1, res[r].best_round);
            if (fesf_train_near_chance(&res[r], t.shape.k))
                fesf_warn("repeat %d: test balanced accuracy %.3f is within 0.02 of chance (%.3f): the model tells "
                          "the classes apart no better than a constant guess", r + 1, res[r].best.balanced_accuracy,
                          1.0 / t.shape.k);
        }
    }
    if (w->rank == 0 && fesf_train_write_report(&t, res, R)) goto done;
    rc = finished(&t);
done:
    fesf_stop_defer(0);
    fesf_world_set_timeout(0), fesf_world_set_phase("%s", "");
    trainer_free(&t);
    free(res), free(site_best);
    return rc;
}
