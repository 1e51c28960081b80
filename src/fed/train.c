/* fesf train: federated training of the diagnostic model (see fed.h).
 * Per round: the coordinator broadcasts parameters and BN buffers; each
 * site computes its contribution (FedSGD: a minibatch gradient; FedAvg: its
 * parameters after E local epochs), weighted by its share of the round's
 * training images; the weighted sums reach the coordinator in one reduce;
 * the coordinator steps its optimizer (FedSGD) or takes the average
 * (FedAvg). Data order comes from the counter RNG keyed by (seed, site,
 * epoch), so nothing but the round number is needed to continue a run. */
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/h5io.h"
#include "fesf/log.h"
#include "fesf/loss.h"
#include "fesf/metrics.h"
#include "fesf/model.h"
#include "fesf/model_io.h"
#include "fesf/optim.h"
#include "fesf/rng.h"
#include "fesf/run_dir.h"
#include "fesf/version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CHANNELS 3
enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST };
static const char *const split_names[] = {"train", "val", "test"};

typedef struct {
    int id;                     /* shard number, 1-based */
    int64_t n[3];
    float *x[3];                /* [n, C, H, W], normalised in place */
    int32_t *y[3];
} site_data;

typedef struct {
    int c, h, w, k;             /* image shape and classes, from site-001.h5 */
} data_shape;

typedef struct {
    const fesf_config *cfg;
    const fesf_world *w;
    int n_sites, n_mine;
    site_data *sites;           /* this rank's sites */
    data_shape shape;
    fesf_model *m;
    size_t np, nb, nacc;        /* params, buffers, accumulator floats */
    float *global;              /* [np + nb] the round's broadcast state */
    float *acc;                 /* [np + nb + 2]: weighted sum, loss, images */
    float *opt_state, *local_state, *xb;
    float *velocity;            /* [np] FedAvg server momentum, inside opt_state (checkpointed with it) */
    int32_t *yb, *idx;
    fesf_optim_config oc, local;
    size_t stats_len;
    double *stats;              /* [2 (val, test)][n_sites][stats_len] */
    double *site_n;             /* [n_sites] training images of every site */
    float *best;                /* [np + nb] best-validation state (coordinator) */
    double best_auc;
    int best_round;
    FILE *metrics;
    int resume;                 /* --resume: continue from the newest checkpoint */
    const char *out;            /* folder of the outputs (metrics, models, checkpoints, report) */
    fesf_stage stage;           /* stamped on model.h5 and summary.tsv */
} trainer;

/* ---- data ----------------------------------------------------------------- */

static const char *input_group(const fesf_config *cfg)
{
    return cfg->train.input == FESF_INPUT_PLAIN ? "plain" : cfg->train.input == FESF_INPUT_SYNTHETIC ? "synthetic"
                                                                                                     : "surrogate";
}

/* Shape of site-001.h5's images and its class count (metadata only). */
static int read_shape(const char *dir, const char *group, data_shape *s)
{
    char path[FESF_PATH_MAX + 32], ds[64];
    snprintf(path, sizeof path, "%s/site-001.h5", dir);
    hid_t f = fesf_h5_open(path, "fesf-shard", FESF_SHARD_VERSION, 0);
    if (f < 0) return -1;
    snprintf(ds, sizeof ds, "/%s/train/images", group);
    hid_t d = H5Lexists(f, "/", H5P_DEFAULT) > 0 && H5Lexists(f, group, H5P_DEFAULT) > 0 ? H5Dopen2(f, ds, H5P_DEFAULT)
                                                                                         : H5I_INVALID_HID;
    hsize_t dims[8];
    int64_t k = 0;
    int rc = d >= 0 && fesf_h5_dims(d, dims) == 4 && !fesf_h5_attr_get_i64(f, "n_classes", &k) ? 0 : -1;
    if (rc) fesf_error("'%s' has no /%s images (run 'fesf %s' first)", path, group,
                       !strcmp(group, "synthetic") ? "hide" : "enhance");
    else *s = (data_shape){(int)dims[1], (int)dims[2], (int)dims[3], (int)k};
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return rc;
}

/* Load one split of a site (images as float in [0,1], labels). */
static int load_split(hid_t f, const char *name, const char *group, int sp, const data_shape *want, site_data *s)
{
    char ds[64];
    hsize_t dims[8];
    snprintf(ds, sizeof ds, "/%s/%s/images", group, split_names[sp]);
    hid_t d = H5Lexists(f, group, H5P_DEFAULT) > 0 ? H5Dopen2(f, ds, H5P_DEFAULT) : H5I_INVALID_HID, t = H5I_INVALID_HID;
    snprintf(ds, sizeof ds, "/%s/%s/labels", group, split_names[sp]);
    hid_t l = d >= 0 ? H5Dopen2(f, ds, H5P_DEFAULT) : H5I_INVALID_HID;
    int rc = -1;
    if (d < 0 || l < 0 || fesf_h5_dims(d, dims) != 4) {
        fesf_error("'%s' has no /%s/%s images and labels", name, group, split_names[sp]);
        goto done;
    }
    if ((int)dims[1] != want->c || (int)dims[2] != want->h || (int)dims[3] != want->w) {
        fesf_error("'%s': images are %dx%dx%d but site-001.h5 has %dx%dx%d", name, (int)dims[1], (int)dims[2],
                   (int)dims[3], want->c, want->h, want->w);
        goto done;
    }
    int64_t n = (int64_t)dims[0];
    size_t len = (size_t)n * (size_t)want->c * (size_t)want->h * (size_t)want->w;
    s->n[sp] = n;
    s->x[sp] = malloc(sizeof(float) * (len ? len : 1));
    s->y[sp] = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!s->x[sp] || !s->y[sp]) {
        fesf_error("out of memory loading '%s'", name);
        goto done;
    }
    t = H5Dget_type(d);
    int u8 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1;
    if (u8) { /* read bytes into the tail of the float buffer, widen in place from the front */
        uint8_t *b = (uint8_t *)(s->x[sp] + len) - len;
        if (fesf_h5_read_rows(d, 0, n, H5T_NATIVE_UINT8, b)) goto done;
        for (size_t i = 0; i < len; i++) s->x[sp][i] = (float)b[i] / 255.0f;
    } else if (fesf_h5_read_rows(d, 0, n, H5T_NATIVE_FLOAT, s->x[sp])) {
        goto done;
    }
    if (fesf_h5_read_rows(l, 0, n, H5T_NATIVE_INT32, s->y[sp])) goto done;
    for (int64_t i = 0; i < n; i++)
        if (s->y[sp][i] < 0 || s->y[sp][i] >= want->k) {
            fesf_error("'%s': label %d outside the %d classes of site-001.h5", name, s->y[sp][i], want->k);
            goto done;
        }
    rc = 0;
done:
    if (t >= 0) H5Tclose(t);
    if (l >= 0) H5Dclose(l);
    if (d >= 0) H5Dclose(d);
    return rc;
}

static int load_site(trainer *t, site_data *s)
{
    char path[FESF_PATH_MAX + 32], name[32];
    snprintf(name, sizeof name, "site-%03d.h5", s->id);
    snprintf(path, sizeof path, "%s/%s", t->cfg->run.out, name);
    hid_t f = fesf_h5_open(path, "fesf-shard", FESF_SHARD_VERSION, 0);
    if (f < 0) return fesf_error("site %d: %s", s->id, fesf_errmsg());
    int64_t k = 0;
    int rc = fesf_h5_attr_get_i64(f, "n_classes", &k);
    if (!rc && k != t->shape.k) rc = fesf_error("'%s' has %lld classes but site-001.h5 has %d", name, (long long)k, t->shape.k);
    for (int sp = 0; sp < 3 && !rc; sp++) rc = load_split(f, name, input_group(t->cfg), sp, &t->shape, s);
    H5Fclose(f);
    if (!rc && s->n[SPLIT_TRAIN] == 0) rc = fesf_error("'%s' has no training images", name);
    return rc ? fesf_error("site %d: %s", s->id, fesf_errmsg()) : 0;
}

/* Per-channel mean and std over all sites' training images, from reduced sums. */
static int normalise(trainer *t)
{
    int c = t->shape.c;
    size_t hw = (size_t)t->shape.h * (size_t)t->shape.w;
    double sums[2 * MAX_CHANNELS + 1] = {0};
    for (int i = 0; i < t->n_mine; i++) {
        const site_data *s = &t->sites[i];
        for (int64_t j = 0; j < s->n[SPLIT_TRAIN]; j++)
            for (int ch = 0; ch < c; ch++) {
                const float *p = s->x[SPLIT_TRAIN] + ((size_t)j * c + ch) * hw;
                for (size_t q = 0; q < hw; q++) sums[ch] += p[q], sums[c + ch] += (double)p[q] * p[q];
            }
        sums[2 * c] += (double)s->n[SPLIT_TRAIN] * hw;
    }
    if (fesf_fed_sum_to_coord_f64(t->w, sums, (size_t)(2 * c + 1))) return -1;
    float ms[2 * MAX_CHANNELS];
    for (int ch = 0; ch < c; ch++) {
        double mean = sums[ch] / sums[2 * c], var = sums[c + ch] / sums[2 * c] - mean * mean;
        ms[ch] = (float)mean;
        ms[c + ch] = (float)sqrt(var > 1e-12 ? var : 1e-12);
    }
    if (fesf_fed_bcast_f32(t->w, ms, (size_t)(2 * c))) return -1;
    if (t->w->rank == 0)
        fesf_info("normalisation from %d sites' sums: mean %.4f, std %.4f (channel 0)", t->n_sites, ms[0], ms[c]);
    for (int i = 0; i < t->n_mine; i++)
        for (int sp = 0; sp < 3; sp++)
            for (int64_t j = 0; j < t->sites[i].n[sp]; j++)
                for (int ch = 0; ch < c; ch++) {
                    float *p = t->sites[i].x[sp] + ((size_t)j * c + ch) * hw;
                    for (size_t q = 0; q < hw; q++) p[q] = (p[q] - ms[ch]) / ms[c + ch];
                }
    return 0;
}

/* ---- one site's contribution ------------------------------------------------ */

/* A site's data stream: epoch e is a shuffle keyed by (seed, site, e), so
 * any position can be computed from the round alone (see fed.h). */
void fesf_fed_epoch_order(uint64_t seed, int site_id, int64_t epoch, int64_t n, int32_t *order)
{
    fesf_rng r;
    fesf_rng_init(&r, seed, (uint32_t)site_id, FESF_STREAM_DATA_ORDER + 256u * (uint32_t)epoch);
    for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i;
    fesf_rng_shuffle_i32(&r, order, n);
}

int fesf_fed_sgd_batch(uint64_t seed, int site_id, int64_t n, int64_t round, int batch, int32_t *order, int32_t *ids)
{
    int k = (int)(n < batch ? n : batch);
    int64_t pos = round * k, epoch = -1;
    for (int i = 0; i < k; i++, pos++) {
        if (pos / n != epoch) fesf_fed_epoch_order(seed, site_id, epoch = pos / n, n, order);
        ids[i] = order[pos % n];
    }
    return k;
}

static void epoch_order(const trainer *t, const site_data *s, int64_t epoch, uint64_t seed)
{
    fesf_fed_epoch_order(seed, s->id, epoch, s->n[SPLIT_TRAIN], t->idx);
}

static void gather_batch(trainer *t, const site_data *s, const int32_t *ids, int n)
{
    size_t img = (size_t)t->shape.c * (size_t)t->shape.h * (size_t)t->shape.w;
    for (int i = 0; i < n; i++) {
        memcpy(t->xb + img * (size_t)i, s->x[SPLIT_TRAIN] + img * (size_t)ids[i], sizeof(float) * img);
        t->yb[i] = s->y[SPLIT_TRAIN][ids[i]];
    }
}

/* FedSGD: one minibatch gradient at the global parameters (positions
 * round*B .. round*B+B-1 of the site's stream). */
static double site_fedsgd(trainer *t, const site_data *s, int64_t round, uint64_t seed, int *used)
{
    int32_t ids[65536];
    int n = fesf_fed_sgd_batch(seed, s->id, s->n[SPLIT_TRAIN], round, t->cfg->train.batch, t->idx, ids);
    gather_batch(t, s, ids, n);
    fesf_model_zero_grad(t->m);
    const float *logits = fesf_model_forward(t->m, t->xb, n, 1);
    float *dl = fesf_model_dlogits(t->m);
    double loss = fesf_softmax_xent(n, t->shape.k, logits, t->yb, NULL, dl, NULL);
    fesf_model_backward(t->m, dl, n);
    *used = n;
    return loss;
}

/* FedAvg: E local epochs of minibatch training from the global parameters. */
static double site_fedavg(trainer *t, const site_data *s, int64_t round, uint64_t seed, int *used)
{
    int B = t->cfg->train.batch;
    int64_t ns = s->n[SPLIT_TRAIN], steps = 0;
    double loss = 0;
    memset(t->local_state, 0, sizeof(float) * t->np * (size_t)fesf_optim_state_per_param(&t->local));
    for (int e = 0; e < t->cfg->train.local_epochs; e++) {
        epoch_order(t, s, round * t->cfg->train.local_epochs + e, seed);
        for (int64_t start = 0; start < ns; start += B) {
            int n = (int)(ns - start < B ? ns - start : B);
            if (n < 2 && start > 0) break; /* batch norm needs two samples */
            gather_batch(t, s, t->idx + start, n);
            loss += fesf_model_train_step(t->m, t->xb, t->yb, n, NULL, &t->local, steps++, t->local_state);
            *used += n;
        }
    }
    return steps ? loss / (double)steps : 0;
}

/* ---- a round ------------------------------------------------------------- */

static int chosen(const trainer *t, int64_t round, int site_id)
{
    double p = t->cfg->train.participation;
    if (p >= 1) return 1;
    int m = (int)lround(p * t->n_sites);
    if (m < 1) m = 1;
    fesf_rng r;
    fesf_rng_init(&r, t->cfg->run.seed, (uint32_t)round, 7);
    int32_t order[4096];
    for (int i = 0; i < t->n_sites; i++) order[i] = i + 1;
    fesf_rng_shuffle_i32(&r, order, t->n_sites);
    for (int i = 0; i < m; i++)
        if (order[i] == site_id) return 1;
    return 0;
}

static int run_round(trainer *t, int64_t round, uint64_t seed, double *loss, double *images)
{
    size_t np = t->np, nb = t->nb;
    if (fesf_fed_bcast_f32(t->w, t->global, np + nb)) return -1;
    memset(t->acc, 0, sizeof(float) * t->nacc);
    double total = 0; /* training images of the round's sites, known to every rank */
    for (int id = 1; id <= t->n_sites; id++)
        if (chosen(t, round, id)) total += t->site_n[id - 1];
    for (int i = 0; i < t->n_mine; i++) {
        const site_data *s = &t->sites[i];
        if (!chosen(t, round, s->id)) continue;
        float wgt = (float)((double)s->n[SPLIT_TRAIN] / total);
        memcpy(fesf_model_params(t->m), t->global, sizeof(float) * np);
        memcpy(fesf_model_buffers(t->m), t->global + np, sizeof(float) * nb);
        int used = 0;
        double l = t->cfg->train.algo == FESF_ALGO_FEDSGD ? site_fedsgd(t, s, round, seed, &used)
                                                           : site_fedavg(t, s, round, seed, &used);
        const float *src = t->cfg->train.algo == FESF_ALGO_FEDSGD ? fesf_model_grads(t->m) : fesf_model_params(t->m);
        for (size_t q = 0; q < np; q++) t->acc[q] += wgt * src[q];
        const float *buf = fesf_model_buffers(t->m);
        for (size_t q = 0; q < nb; q++) t->acc[np + q] += wgt * buf[q];
        t->acc[np + nb] += wgt * (float)l;
        t->acc[np + nb + 1] += (float)used;
    }
    if (fesf_fed_sum_to_coord(t->w, t->acc, t->nacc)) return -1;
    if (t->w->rank == 0) {
        if (t->cfg->train.algo == FESF_ALGO_FEDSGD) {
            fesf_optim_step(&t->oc, round, np, t->global, t->acc, t->opt_state);
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
        *loss = t->acc[np + nb];
        *images = t->acc[np + nb + 1];
    }
    return 0;
}

/* ---- evaluation ------------------------------------------------------------ */

/* Stats of one split of one site at the current parameters (eval mode). */
static void eval_split(trainer *t, const site_data *s, int sp, double *stats)
{
    int B = t->cfg->train.batch, k = t->shape.k;
    size_t img = (size_t)t->shape.c * (size_t)t->shape.h * (size_t)t->shape.w;
    float *probs = t->xb + img * (size_t)B; /* xb has room for a batch of probabilities after the images */
    for (int64_t start = 0; start < s->n[sp]; start += B) {
        int n = (int)(s->n[sp] - start < B ? s->n[sp] - start : B);
        const float *logits = fesf_model_forward(t->m, s->x[sp] + img * (size_t)start, n, 0);
        fesf_softmax_xent(n, k, logits, s->y[sp] + start, NULL, NULL, probs);
        fesf_eval_stats_add(stats, k, probs, s->y[sp] + start, n);
    }
}

static int evaluate(trainer *t)
{
    size_t L = t->stats_len, per = (size_t)t->n_sites * L;
    if (fesf_fed_bcast_f32(t->w, t->global, t->np + t->nb)) return -1;
    memcpy(fesf_model_params(t->m), t->global, sizeof(float) * t->np);
    memcpy(fesf_model_buffers(t->m), t->global + t->np, sizeof(float) * t->nb);
    memset(t->stats, 0, sizeof(double) * 2 * per);
    for (int i = 0; i < t->n_mine; i++)
        for (int v = 0; v < 2; v++)
            eval_split(t, &t->sites[i], v ? SPLIT_TEST : SPLIT_VAL, t->stats + v * per + (size_t)(t->sites[i].id - 1) * L);
    return fesf_fed_sum_to_coord_f64(t->w, t->stats, 2 * per);
}

/* Pooled figures of split v (0 val, 1 test): the sum of the sites' stats. */
static void pooled(const trainer *t, int v, fesf_metrics *out)
{
    size_t L = t->stats_len;
    double *sum = t->stats + 2 * (size_t)t->n_sites * L; /* scratch row after the two blocks */
    memset(sum, 0, sizeof(double) * L);
    for (int s = 0; s < t->n_sites; s++)
        for (size_t q = 0; q < L; q++) sum[q] += t->stats[((size_t)v * t->n_sites + s) * L + q];
    fesf_metrics_compute(sum, t->shape.k, out);
}

static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v)) fprintf(f, "\"%s\": %.6g", key, v);
    else fprintf(f, "\"%s\": null", key);
}

static void write_metrics_line(trainer *t, int repeat, int64_t round, double loss, double ips, int evaluated)
{
    FILE *f = t->metrics;
    fprintf(f, "{\"repeat\": %d, \"round\": %lld, ", repeat, (long long)round + 1);
    json_num(f, "loss", loss), fputs(", ", f), json_num(f, "images_per_s", ips);
    if (evaluated) {
        fesf_metrics val, test;
        pooled(t, 0, &val), pooled(t, 1, &test);
        fputs(", ", f), json_num(f, "accuracy", test.accuracy), fputs(", ", f);
        json_num(f, "balanced_accuracy", test.balanced_accuracy), fputs(", ", f);
        json_num(f, "macro_f1", test.macro_f1), fputs(", ", f), json_num(f, "auc", test.auc), fputs(", ", f);
        json_num(f, "val_accuracy", val.accuracy), fputs(", ", f), json_num(f, "val_auc", val.auc);
        fputs(", \"per_site\": [", f);
        for (int s = 0; s < t->n_sites; s++) {
            fesf_metrics sv, st;
            fesf_metrics_compute(t->stats + (size_t)s * t->stats_len, t->shape.k, &sv);
            fesf_metrics_compute(t->stats + ((size_t)t->n_sites + s) * t->stats_len, t->shape.k, &st);
            fprintf(f, "%s{\"site\": %d, ", s ? ", " : "", s + 1);
            json_num(f, "accuracy", st.accuracy), fputs(", ", f);
            json_num(f, "balanced_accuracy", st.balanced_accuracy), fputs(", ", f);
            json_num(f, "macro_f1", st.macro_f1), fputs(", ", f), json_num(f, "auc", st.auc), fputs(", ", f);
            json_num(f, "val_accuracy", sv.accuracy), fputs(", ", f), json_num(f, "val_auc", sv.auc);
            fputs("}", f);
        }
        fputs("]", f);
    }
    fputs("}\n", f);
    fflush(f);
}

/* ---- setup and the run ------------------------------------------------------- */

/* Server optimizer state: the optimizer's, then the FedAvg server velocity. */
static size_t opt_floats(const trainer *t) { return t->np * (size_t)fesf_optim_state_per_param(&t->oc) + t->np; }

static int setup(trainer *t)
{
    const fesf_config *cfg = t->cfg;
    int64_t meta[5] = {0};
    if (t->w->rank == 0) {
        if (fesf_count_shards(cfg->run.out, &t->n_sites) || read_shape(cfg->run.out, input_group(cfg), &t->shape))
            return -1;
        meta[0] = t->n_sites, meta[1] = t->shape.c, meta[2] = t->shape.h, meta[3] = t->shape.w, meta[4] = t->shape.k;
    }
    if (fesf_world_bcast(t->w, meta, sizeof meta, 0)) return -1;
    t->n_sites = (int)meta[0];
    t->shape = (data_shape){(int)meta[1], (int)meta[2], (int)meta[3], (int)meta[4]};
    if (t->shape.c > MAX_CHANNELS || t->n_sites > 4096) return fesf_error("unsupported data shape");
    t->sites = calloc((size_t)t->n_sites, sizeof(site_data));
    t->site_n = calloc((size_t)t->n_sites, sizeof(double));
    if (!t->sites || !t->site_n) return fesf_error("out of memory");
    int64_t most = 1;
    for (int id = 1; id <= t->n_sites; id++) {
        if (!fesf_world_owns_shard(t->w, id)) continue;
        site_data *s = &t->sites[t->n_mine++];
        s->id = id;
        if (load_site(t, s)) return -1;
        t->site_n[id - 1] = (double)s->n[SPLIT_TRAIN];
        most = s->n[SPLIT_TRAIN] > most ? s->n[SPLIT_TRAIN] : most;
    }
    /* every rank learns every site's training count (fixed-size statistics) */
    if (fesf_fed_share_sum_f64(t->w, t->site_n, (size_t)t->n_sites)) return -1;
    if (normalise(t)) return -1;
    int batch = t->w->rank == 0 && t->w->size > 1 ? 1 : cfg->train.batch; /* the coordinator holds no images */
    const char *arch = fesf_config_enum_name("model.arch", cfg->model.arch);
    if (fesf_model_create(&t->m, arch, cfg->model.width, t->shape.c, t->shape.h, t->shape.w, t->shape.k, batch))
        return -1;
    t->np = fesf_model_n_params(t->m), t->nb = fesf_model_n_buffers(t->m), t->nacc = t->np + t->nb + 2;
    fesf_optim_defaults(&t->oc, cfg->train.optimizer, (float)cfg->train.lr);
    t->oc.momentum = cfg->train.optimizer == FESF_OPT_SGD ? (float)cfg->train.momentum : 0;
    t->oc.weight_decay = (float)cfg->train.weight_decay;
    t->local = t->oc; /* FedAvg sites train locally with the configured optimizer */
    size_t img = (size_t)t->shape.c * t->shape.h * t->shape.w;
    t->stats_len = fesf_eval_stats_len(t->shape.k);
    t->global = calloc(t->np + t->nb, sizeof(float));
    t->acc = calloc(t->nacc, sizeof(float));
    t->best = calloc(t->np + t->nb, sizeof(float));
    t->opt_state = calloc(opt_floats(t) + 1, sizeof(float));
    t->velocity = t->opt_state ? t->opt_state + t->np * (size_t)fesf_optim_state_per_param(&t->oc) : NULL;
    t->local_state = calloc(t->np * (size_t)fesf_optim_state_per_param(&t->local) + 1, sizeof(float));
    t->xb = malloc(sizeof(float) * (img + (size_t)t->shape.k) * (size_t)cfg->train.batch);
    t->yb = malloc(sizeof(int32_t) * (size_t)cfg->train.batch);
    t->idx = malloc(sizeof(int32_t) * (size_t)most);
    t->stats = calloc((2 * (size_t)t->n_sites + 1) * t->stats_len, sizeof(double));
    if (!t->global || !t->acc || !t->best || !t->opt_state || !t->local_state || !t->velocity || !t->xb || !t->yb || !t->idx ||
        !t->stats)
        return fesf_error("out of memory for training buffers");
    return 0;
}

typedef struct {
    fesf_metrics best, last;
    int best_round;
    fesf_metrics *site;         /* [n_sites] test figures per site at the best round */
} repeat_result;

static int save_checkpoint(trainer *t, int repeat, int64_t done, const repeat_result *res);

/* One training run with `seed` from round `start` (0, or where a checkpoint
 * left off); the coordinator fills all[repeat] and keeps the best state. */
static int train_once(trainer *t, int repeat, uint64_t seed, repeat_result *all, int64_t start)
{
    const fesf_config *cfg = t->cfg;
    repeat_result *res = &all[repeat];
    if (start == 0) {
        fesf_model_init(t->m, seed);
        memcpy(t->global, fesf_model_params(t->m), sizeof(float) * t->np);
        memcpy(t->global + t->np, fesf_model_buffers(t->m), sizeof(float) * t->nb);
        memset(t->opt_state, 0, sizeof(float) * opt_floats(t));
        t->best_auc = -1, t->best_round = -1;
    }
    double t0 = fesf_now();
    for (int64_t r = start; r < cfg->train.rounds; r++) {
        double loss = 0, images = 0, tr = fesf_now();
        if (run_round(t, r, seed, &loss, &images)) return -1;
        int eval = (r + 1) % cfg->train.eval_every == 0 || r + 1 == cfg->train.rounds;
        if (eval && evaluate(t)) return -1;
        if (t->w->rank) continue;
        double now = fesf_now(), ips = images / (now - tr);
        write_metrics_line(t, repeat, r, loss, ips, eval);
        char extra[160] = "";
        if (eval) {
            fesf_metrics val, test;
            pooled(t, 0, &val), pooled(t, 1, &test);
            snprintf(extra, sizeof extra, ", val auc %.3f, test acc %.3f auc %.3f", val.auc, test.accuracy, test.auc);
            res->last = test;
            double score = isfinite(val.auc) ? val.auc : val.accuracy;
            if (score > t->best_auc) {
                t->best_auc = score, t->best_round = (int)r + 1, res->best = test, res->best_round = (int)r + 1;
                memcpy(t->best, t->global, sizeof(float) * (t->np + t->nb));
                for (int s = 0; s < t->n_sites; s++)
                    fesf_metrics_compute(t->stats + ((size_t)t->n_sites + s) * t->stats_len, t->shape.k, &res->site[s]);
            }
        }
        double eta = (now - t0) / (double)(r + 1 - start) * (double)(cfg->train.rounds - r - 1);
        fesf_info("round %lld/%d loss %.4f%s, %.0f images/s, %.1f s, eta %.0f s", (long long)r + 1,
                  cfg->train.rounds, loss, extra, ips, now - t0, eta);
        int every = cfg->run.checkpoint_every;
        if (every > 0 && ((r + 1) % every == 0 || r + 1 == cfg->train.rounds) &&
            save_checkpoint(t, repeat, r + 1, all))
            return -1;
    }
    return 0;
}

/* ---- checkpoints ------------------------------------------------------------ */

/* Per repeat: best (6), last (6), best round, then the sites' best (6 each). */
#define RESULT_DOUBLES 13
static size_t result_doubles(const trainer *t) { return RESULT_DOUBLES + 6 * (size_t)t->n_sites; }

static void pack_metrics(const fesf_metrics *m, double *v)
{
    v[0] = m->accuracy, v[1] = m->balanced_accuracy, v[2] = m->macro_f1, v[3] = m->auc, v[4] = m->loss;
    v[5] = (double)m->count;
}

static void unpack_metrics(const double *v, fesf_metrics *m)
{
    *m = (fesf_metrics){v[0], v[1], v[2], v[3], v[4], (int64_t)v[5]};
}

/* The config hash a checkpoint must match: every key but those a resumed run may change. */
static uint64_t resume_hash(const fesf_config *cfg)
{
    fesf_config c = *cfg;
    c.train.rounds = 0, c.run.checkpoint_every = 0, c.run.threads = 1, c.run.log = 0;
    return fesf_config_hash(&c);
}

static int save_checkpoint(trainer *t, int repeat, int64_t done, const repeat_result *res)
{
    int R = t->cfg->run.repeats;
    size_t per = result_doubles(t);
    double *results = calloc((size_t)R * per, sizeof(double));
    char path[FESF_PATH_MAX + 32], *text = fesf_config_text_alloc(t->cfg);
    if (!results || !text) {
        free(results), free(text);
        return fesf_error("out of memory");
    }
    for (int i = 0; i <= repeat; i++) {
        double *v = results + (size_t)i * per;
        pack_metrics(&res[i].best, v), pack_metrics(&res[i].last, v + 6);
        v[12] = res[i].best_round;
        for (int s = 0; s < t->n_sites; s++) pack_metrics(&res[i].site[s], v + RESULT_DOUBLES + 6 * s);
    }
    memcpy(fesf_model_params(t->m), t->global, sizeof(float) * t->np);
    memcpy(fesf_model_buffers(t->m), t->global + t->np, sizeof(float) * t->nb);
    fesf_ckpt c = {repeat, done, resume_hash(t->cfg), t->best_auc, t->best_round, t->best, t->np + t->nb,
                   results, (size_t)R * per};
    snprintf(path, sizeof path, "%s/ckpt-%04lld.h5", t->out,
             (long long)repeat * t->cfg->train.rounds + (long long)done);
    int rc = fesf_ckpt_save(path, fesf_model_tensors(t->m), t->opt_state, opt_floats(t), &c, text);
    free(results), free(text);
    return rc;
}

/* Coordinator: the newest ckpt-RRRR.h5 of the run, or -1 if there is none. */
static int newest_checkpoint(const char *dir, char *path, size_t size)
{
    long best = -1;
    for (long g = 9999; g >= 0 && best < 0; g--) {
        snprintf(path, size, "%s/ckpt-%04ld.h5", dir, g);
        if (!access(path, R_OK)) best = g;
    }
    return best < 0 ? -1 : 0;
}

static int load_checkpoint(trainer *t, repeat_result *res, int64_t *start)
{
    char path[FESF_PATH_MAX + 32];
    int R = t->cfg->run.repeats;
    if (newest_checkpoint(t->out, path, sizeof path)) {
        fesf_warn("--resume: no checkpoint in '%s'; starting from round 1", t->out);
        start[0] = start[1] = 0;
        return 0;
    }
    size_t per = result_doubles(t);
    double *results = calloc((size_t)R * per, sizeof(double));
    if (!results) return fesf_error("out of memory");
    fesf_ckpt c = {0, 0, resume_hash(t->cfg), 0, 0, t->best, t->np + t->nb, results, (size_t)R * per};
    int rc = fesf_ckpt_load(path, fesf_model_tensors(t->m), t->opt_state, opt_floats(t), &c);
    if (!rc && c.repeat >= R) rc = fesf_error("'%s' is from repeat %lld but run.repeats = %d", path, (long long)c.repeat + 1, R);
    if (!rc) {
        memcpy(t->global, fesf_model_params(t->m), sizeof(float) * t->np);
        memcpy(t->global + t->np, fesf_model_buffers(t->m), sizeof(float) * t->nb);
        t->best_auc = c.best_score, t->best_round = (int)c.best_round;
        for (int i = 0; i <= c.repeat; i++) {
            const double *v = results + (size_t)i * per;
            unpack_metrics(v, &res[i].best), unpack_metrics(v + 6, &res[i].last);
            res[i].best_round = (int)v[12];
            for (int s = 0; s < t->n_sites; s++) unpack_metrics(v + RESULT_DOUBLES + 6 * s, &res[i].site[s]);
        }
        start[0] = c.repeat, start[1] = c.round;
        fesf_info("resuming from '%s': repeat %lld, %lld rounds done", path, (long long)c.repeat + 1, (long long)c.round);
    }
    free(results);
    return rc;
}

/* Keep the metrics lines of rounds a checkpoint covers; drop later ones. */
static int trim_metrics(const char *path, int64_t repeat, int64_t round)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1 << 16];
    FILE *o = fesf_atomic_open(path);
    if (!o) {
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        long long rep = -1, rnd = -1;
        if (sscanf(line, "{\"repeat\": %lld, \"round\": %lld", &rep, &rnd) == 2 &&
            (rep < repeat || (rep == repeat && rnd <= round)))
            fputs(line, o);
    }
    fclose(f);
    return fesf_atomic_commit(o, path);
}

static int save_best(trainer *t, int repeat)
{
    char path[FESF_PATH_MAX + 32];
    if (repeat == 0) snprintf(path, sizeof path, "%s/model.h5", t->out);
    else snprintf(path, sizeof path, "%s/model-r%d.h5", t->out, repeat);
    memcpy(fesf_model_params(t->m), t->best, sizeof(float) * t->np);
    memcpy(fesf_model_buffers(t->m), t->best + t->np, sizeof(float) * t->nb);
    char *text = fesf_config_text_alloc(t->cfg);
    fesf_model_save_info info = {NULL, 0, fesf_config_enum_name("train.optimizer", t->cfg->train.optimizer),
                                 t->best_round, text, repeat == 0 ? &t->stage : NULL, 0, NULL, NULL};
    int rc = fesf_model_save(path, fesf_model_tensors(t->m), &info);
    free(text);
    return rc;
}

/* The figures of repeat i a table row shows: pooled best (which = -2),
 * pooled last round (-1), or site `which` at the best round. */
static const fesf_metrics *row_metrics(const repeat_result *r, int which)
{
    return which == -2 ? &r->best : which == -1 ? &r->last : &r->site[which];
}

/* One row of report.md and summary.tsv: mean ± sd over the n repeats. */
static void report_row(const trainer *t, FILE *md, FILE *tsv, const repeat_result *res, int n, int which)
{
    char scope[32] = "all";
    if (which >= 0) snprintf(scope, sizeof scope, "site %d", which + 1);
    const char *round = which == -1 ? "last round" : "best validation round";
    fprintf(md, "| %s | %s | %s |", input_group(t->cfg), scope, round);
    fprintf(tsv, "%s\t%s\t%s\t%d", input_group(t->cfg), which >= 0 ? scope + 5 : scope, which == -1 ? "last" : "best", n);
    for (int q = 0; q < 4; q++) {
        double s = 0, ss = 0, mean, sd;
        for (int i = 0; i < n; i++) {
            const fesf_metrics *m = row_metrics(&res[i], which);
            double v = q == 0 ? m->accuracy : q == 1 ? m->balanced_accuracy : q == 2 ? m->macro_f1 : m->auc;
            s += v, ss += v * v;
        }
        mean = s / n, sd = n > 1 ? sqrt(fmax(0, (ss - n * mean * mean) / (n - 1))) : 0;
        if (n > 1) fprintf(md, " %.3f ± %.3f |", mean, sd);
        else fprintf(md, " %.3f |", mean); /* one repeat: no spread to show */
        fprintf(tsv, "\t%.6f\t%.6f", mean, sd);
    }
    fputc('\n', md), fputc('\n', tsv);
}

/* report.md (human) and summary.tsv (for `fesf run`'s report and sweeps). */
static int write_report(const trainer *t, const repeat_result *res, int n)
{
    char path[FESF_PATH_MAX + 32], tsv_path[FESF_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/report.md", t->out);
    snprintf(tsv_path, sizeof tsv_path, "%s/summary.tsv", t->out);
    FILE *f = fesf_atomic_open(path), *tsv = f ? fesf_atomic_open(tsv_path) : NULL;
    if (!f || !tsv) {
        if (f) fesf_atomic_commit(f, path);
        return -1;
    }
    fprintf(f, "# fesf training report\n\ninput `%s`, %s, model %s, %d sites, %d rounds, %d repeat%s\n\n",
            input_group(t->cfg), fesf_config_enum_name("train.algo", t->cfg->train.algo), fesf_model_arch(t->m),
            t->n_sites, t->cfg->train.rounds, n, n > 1 ? "s" : "");
    fprintf(f, "| input | sites | round | accuracy | balanced accuracy | macro-F1 | AUC |\n"
               "| --- | --- | --- | --- | --- | --- | --- |\n");
    fesf_stamp_text(tsv, &t->stage, 0);
    fprintf(tsv, "input\tsite\tround\trepeats\taccuracy\taccuracy_sd\tbalanced_accuracy\tbalanced_accuracy_sd\t"
                 "macro_f1\tmacro_f1_sd\tauc\tauc_sd\n");
    for (int which = -2; which < t->n_sites; which++) report_row(t, f, tsv, res, n, which);
    fprintf(f, "\nTest figures, pooled over sites (all) and per site, as mean ± standard deviation over repeats; "
               "per-round figures in metrics.jsonl.\n\n## Config\n\n```ini\n");
    char *text = fesf_config_text_alloc(t->cfg);
    fputs(text ? text : "", f);
    free(text);
    fputs("```\n", f);
    /* summary.tsv last: it carries the stamp that marks the training done */
    return fesf_atomic_commit(f, path) || fesf_atomic_commit(tsv, tsv_path) ? -1 : 0;
}

static void trainer_free(trainer *t)
{
    for (int i = 0; t->sites && i < t->n_mine; i++)
        for (int sp = 0; sp < 3; sp++) free(t->sites[i].x[sp]), free(t->sites[i].y[sp]);
    free(t->sites), free(t->site_n), free(t->global), free(t->acc), free(t->best), free(t->opt_state);
    free(t->local_state), free(t->xb), free(t->yb), free(t->idx), free(t->stats);
    fesf_model_destroy(t->m);
    if (t->metrics) fclose(t->metrics);
}

int fesf_fed_train(const fesf_config *cfg, const fesf_world *w, int resume)
{
    return fesf_fed_train_to(cfg, w, resume, cfg->run.out);
}

int fesf_fed_train_to(const fesf_config *cfg, const fesf_world *w, int resume, const char *out)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg, t.w = w, t.out = out;
    int rc = -1, R = cfg->run.repeats;
    repeat_result *res = calloc((size_t)R, sizeof *res);
    fesf_metrics *site_best = NULL;
    if (!res || fesf_stage_make(cfg, FESF_STAGE_TRAIN, &t.stage) || setup(&t) || (w->rank == 0 && fesf_mkdir_p(out))) goto done;
    if (!(site_best = calloc((size_t)R * (size_t)t.n_sites, sizeof *site_best))) {
        fesf_error("out of memory");
        goto done;
    }
    for (int r = 0; r < R; r++) res[r].site = site_best + (size_t)r * t.n_sites;
    int64_t start[2] = {0, 0}; /* repeat, rounds done */
    if (w->rank == 0 && resume && load_checkpoint(&t, res, start)) goto done;
    if (fesf_world_bcast(w, start, sizeof start, 0)) goto done;
    if (w->rank == 0) {
        char path[FESF_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/metrics.jsonl", t.out);
        if (start[0] || start[1]) {
            if (trim_metrics(path, start[0], start[1])) goto done;
        }
        if (!(t.metrics = fopen(path, start[0] || start[1] ? "a" : "w"))) {
            fesf_error("cannot write '%s'", path);
            goto done;
        }
        fesf_info("training %s on %d sites' %s images (%dx%dx%d, %d classes), %s, %d rounds", fesf_model_arch(t.m),
                  t.n_sites, input_group(cfg), t.shape.c, t.shape.h, t.shape.w, t.shape.k,
                  fesf_config_enum_name("train.algo", cfg->train.algo), cfg->train.rounds);
    }
    for (int r = (int)start[0]; r < R; r++) {
        if (train_once(&t, r, cfg->run.seed + (uint64_t)r, res, r == start[0] ? start[1] : 0)) goto done;
        if (w->rank == 0 && save_best(&t, r)) goto done;
        if (w->rank == 0)
            fesf_info("repeat %d: best validation round %d: test accuracy %.3f, AUC %.3f", r + 1, res[r].best_round,
                      res[r].best.accuracy, res[r].best.auc);
    }
    if (w->rank == 0 && write_report(&t, res, R)) goto done;
    rc = 0;
done:
    trainer_free(&t);
    free(res), free(site_best);
    return rc;
}
