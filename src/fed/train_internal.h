/* Internals of `fesf train` (fed.h) shared by its files; not installed.
 *   train.c         rounds, evaluation, the entry points
 *   train_data.c    the sites' shards: loading and normalisation
 *   train_eval.c    the rounds' evaluation: the sites' figures and the pooled statistics
 *   train_sites.c   partial federations (--exclude-site)
 *   train_server.c  the coordinator's step: FedSGD, FedAvg, FedAvgM, FedAdam, FedYogi
 *   train_ckpt.c    checkpoints and the metrics lines they cover
 *   train_report.c  summary.tsv, report.md, metrics.jsonl (writers and readers) */
#ifndef FESF_TRAIN_INTERNAL_H
#define FESF_TRAIN_INTERNAL_H

#include "fesf/accountant.h"
#include "fesf/config.h"
#include "fesf/fed.h"
#include "fesf/metrics.h"
#include "fesf/model.h"
#include "fesf/optim.h"
#include "fesf/stage.h"
#include "fesf/world.h"

#include <stdint.h>
#include <stdio.h>

#define MAX_CHANNELS 3
enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST };

typedef struct {
    int id;                     /* shard number, 1-based */
    int64_t n[3];
    float *x[3];                /* [n, C, H, W], normalised in place */
    int32_t *y[3];
    uint64_t dp_key;            /* DP-SGD: the site's secret key (sampling and noise streams) */
} site_data;

typedef struct {
    int c, h, w, k;             /* image shape and classes, from the first site taking part */
    int ref;                    /* that site (1 unless site 1 left the federation) */
    int d;                      /* depth of volumes (1: 2-D images) */
} data_shape;

/* Values of one image (volume) per channel, and in all. */
static inline size_t fesf_train_plane(const data_shape *s) { return (size_t)s->d * (size_t)s->h * (size_t)s->w; }
static inline size_t fesf_train_img(const data_shape *s) { return (size_t)s->c * fesf_train_plane(s); }

/* DP-SGD's accounting, the same on every rank (from public numbers: the
 * sites' training counts, the config); [n_sites] arrays by site id - 1. */
typedef struct {
    int on;
    double *q, *sigma, *delta;  /* sampling rate, noise multiplier, delta */
    int64_t *steps_round;       /* DP-SGD steps a taking-part site makes per round */
    int64_t *rounds;            /* rounds each site took part in, this repeat so far */
    double *rdp1;               /* [n_sites][FESF_RDP_NORDERS] one step's RDP curve */
    float *weight;              /* [batch] the examples' class weights over the largest, applied after clipping */
    double orders[FESF_RDP_NORDERS];
} dp_state;

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
    float *aug;                 /* [C H W] fesf_augment_batch's scratch image, inside xb's allocation */
    float *velocity;            /* [np] FedAvg server momentum, or FedAdam/FedYogi's [2][np] m and v, inside
                                 * opt_state (checkpointed with it) */
    int32_t *yb, *idx;
    fesf_optim_config oc, local;
    size_t stats_len;
    double *stats;              /* evaluation: pooled statistics, the sites' figures, scratch (train.c) */
    double *site_n;             /* [n_sites] training images of every site */
    float *class_w;             /* [k] loss weights (train.class_weights = balanced), or NULL */
    float *best;                /* [np + nb] best-validation state (coordinator) */
    float norm[2 * MAX_CHANNELS]; /* train.normalise = pooled: mean [c], std [c] (saved in model.h5) */
    int norm_given;             /* norm came from the checkpoint (a partial federation's resume) */
    const int *exclude;         /* --exclude-site ids named now [n_exclude] */
    int n_exclude, mode;        /* mode: FESF_RESUME_* */
    double best_auc;
    int best_round;
    FILE *metrics;
    int resume;                 /* --resume: continue from the newest checkpoint */
    const char *out;            /* folder of the outputs (metrics, models, checkpoints, report) */
    fesf_stage stage;           /* stamped on model.h5 and summary.tsv */
    dp_state dp;
    struct fesf_secagg *sa;     /* train.secure_agg: masked sums (secagg.h), else NULL */
    int64_t *excluded;          /* [n_sites] from which (repeat << 32 | round) a site takes no part; -1 never */
    float *site_state;          /* [n_mine][ss] the sites' own state: SCAFFOLD's c_i [np], FedBN's entries [nbn] */
    size_t ss, nbn;
    float *ctl_corr;            /* SCAFFOLD: c - c_i scratch [np] */
    size_t *bn;                 /* FedBN: [nbn] indices into params then buffers of the batch-norm entries */
    unsigned char *bn_mask;     /* FedBN: [np + nb] 1 for those entries (they never leave the site), or NULL */
    int repeat;                 /* the repeat being trained */
} trainer;

/* The test figures of one repeat, as the coordinator keeps them. */
enum { STOP_FIXED, STOP_PLATEAU, STOP_MAX_ROUNDS }; /* why a repeat stopped */
typedef struct {
    fesf_metrics best, last;
    int best_round;
    int rounds_run, stop;       /* rounds trained, STOP_* */
    fesf_metrics *site;         /* [n_sites] test figures per site at the best round */
} repeat_result;

/* Flags of a repeat: its best validation round is the last round (still
 * improving when training stopped), its test balanced accuracy at the best
 * round within 0.02 of chance (1/K). */
static inline int fesf_train_still_improving(const fesf_config *cfg, const repeat_result *r)
{
    return r->best_round == r->rounds_run && r->rounds_run > cfg->train.eval_every;
}

/* The most rounds a repeat may run: train.rounds, or train.max_rounds when rounds = auto. */
static inline int fesf_train_round_limit(const fesf_config *cfg)
{
    return cfg->train.rounds < 0 ? cfg->train.max_rounds : cfg->train.rounds;
}
static inline int fesf_train_near_chance(const repeat_result *r, int k)
{
    return !(r->best.balanced_accuracy > 1.0 / k + 0.02);
}

/* The shard group the training reads, and the report shows. */
static inline const char *input_group(const fesf_config *cfg)
{
    return cfg->train.input == FESF_INPUT_PLAIN ? "plain" : cfg->train.input == FESF_INPUT_SYNTHETIC ? "synthetic"
                                                                                                     : "surrogate";
}

/* Server optimizer state: the optimizer's, then the FedAvg server velocity. */
/* The coordinator's optimizer state: train.optimizer's (FedSGD), then the
 * server's: FedAvgM's velocity, or FedAdam / FedYogi's moments m and v,
 * then SCAFFOLD's c. */
static inline size_t opt_floats(const trainer *t)
{
    size_t server = (t->cfg->train.server_optimizer == FESF_SOPT_NONE ? 1 : 2) + (t->cfg->train.scaffold ? 1 : 0);
    return t->np * (size_t)fesf_optim_state_per_param(&t->oc) + server * t->np;
}

/* The floats of the round's broadcast state: parameters, buffers (and SCAFFOLD's c). */
static inline size_t state_floats(const trainer *t) { return t->np + t->nb + (t->cfg->train.scaffold ? t->np : 0); }

/* train_sites.c: partial federations. fesf_train_exclusions (collective,
 * before the shards are counted): the exclusions the newest checkpoint
 * records (the resume modes) plus `sites` named now, which start where the
 * training resumes (fesf_train_exclusions_start, once the checkpoint is
 * loaded; it refuses a checkpoint older than an exclusion); _check, once
 * the sites are counted: one at least takes part.
 * _excluded_at: site id takes no part in that round; _ever: it is left out
 * at some point (its shard is not opened). _log: report.md's lines (md),
 * or the log's (md NULL). */
int fesf_train_exclusions(trainer *t, const int *sites, int n, int mode);
int fesf_train_exclusions_check(const trainer *t);
int fesf_train_exclusions_start(trainer *t, const int64_t *start);
int fesf_train_first_site(const trainer *t); /* the lowest site id that is never excluded */
int fesf_train_excluded_at(const trainer *t, int id, int repeat, int64_t round);
int fesf_train_excluded_ever(const trainer *t, int id);
int fesf_train_any_excluded(const trainer *t);
int fesf_train_n_excluded(const trainer *t);
void fesf_train_exclusions_log(const trainer *t, FILE *md);

/* train_scaffold.c: the sites' own state (setup/free after FedBN's setup;
 * saved with a checkpoint to their own folders, loaded on resume: done 0
 * gives zeros) and SCAFFOLD's control variates (see there): c - c_i for
 * site i's local steps (NULL without SCAFFOLD); site i's new c_i and its
 * share into acc_ctl; the coordinator's c from the round's sum, and into
 * the state it broadcasts. */
int fesf_train_site_state_setup(trainer *t);
void fesf_train_site_state_free(trainer *t);
int fesf_train_site_state_save(trainer *t, int repeat, int64_t done, uint64_t hash);
int fesf_train_site_state_load(trainer *t, int repeat, int64_t done, uint64_t hash);
const float *fesf_train_scaffold_correction(trainer *t, int i);
void fesf_train_scaffold_update(trainer *t, int i, int64_t steps, float *acc_ctl);
void fesf_train_scaffold_server(trainer *t);
void fesf_train_scaffold_stage(trainer *t);

/* train_fedbn.c: FedBN (train.fedbn): the batch-norm entries (weights,
 * biases, running statistics) found in the model (setup, before the site
 * state's); a fresh repeat's: the global's (init); site i's into the model
 * (apply) and back from it after its local steps (keep). */
int fesf_train_fedbn_setup(trainer *t);
void fesf_train_fedbn_init(trainer *t);
void fesf_train_fedbn_apply(trainer *t, int i);
void fesf_train_fedbn_keep(trainer *t, int i);

/* train_server.c: the coordinator's step from the round's sums in acc (the
 * new global state, the round's loss and images), and a repeat's fresh
 * server state. */
void fesf_train_server_step(trainer *t, int64_t round, double *loss, double *images);
void fesf_train_server_init(trainer *t);

/* train_data.c: site-001.h5's image shape and classes; one site's splits;
 * every site's images normalised by the pooled per-channel mean and std. */
int fesf_train_read_shape(const char *dir, const char *group, int site, data_shape *s);
int fesf_train_load_site(trainer *t, site_data *s);
int fesf_train_normalise(trainer *t);


/* train_ckpt.c: ckpt-RRRR.h5 after `done` rounds of `repeat` (the global
 * state, the server optimizer, the results so far; then all but the newest
 * run.keep_checkpoints are removed) and its path; the newest one back
 * (start = {repeat, rounds done}; {0, 0} if there is none) for mode
 * FESF_RESUME_STRICT (the newest must load), FESF_RESUME_AUTO (the newest
 * that loads, else none) or FESF_RESUME_NO (none); checkpoints beyond the
 * starting point are removed; metrics.jsonl cut back to the rounds a
 * checkpoint covers. Coordinator only. */
int fesf_train_save_checkpoint(trainer *t, int repeat, int64_t done, const repeat_result *res);
uint64_t fesf_train_resume_hash(const fesf_config *cfg); /* what a checkpoint's config must match */
long fesf_train_ckpt_number(const trainer *t, int repeat, int64_t done); /* the IIII of ckpt-IIII.h5 */
void fesf_train_ckpt_path(const trainer *t, int repeat, int64_t done, char *path);
int fesf_train_load_checkpoint(trainer *t, repeat_result *res, int64_t *start, int mode);
int fesf_train_trim_metrics(const char *path, int64_t repeat, int64_t round);

/* train.c: the n training images ids[] of site s into xb / yb, and
 * train.augment on them (their positions pos.. of the site's stream). */
void fesf_train_gather(trainer *t, const site_data *s, const int32_t *ids, int n);
void fesf_train_augment(trainer *t, const site_data *s, uint64_t seed, uint64_t pos, int n);

/* train_dp.c: DP-SGD at the sites (fesf_train_dp_setup: the accounting of
 * every site and this rank's sites' keys; then one noised gradient of
 * site s at DP step `step` into the model's grads, returning the batch's
 * mean loss and its size in *used); the rounds of participation (part:
 * NULL = every site); epsilon of a site (site id - 1; -1: the largest)
 * after the rounds counted so far; the report's paragraph and summary.tsv's
 * "# privacy" line. */
int fesf_train_dp_setup(trainer *t);
void fesf_train_dp_free(trainer *t);
double fesf_train_dp_gradient(trainer *t, const site_data *s, uint64_t seed, int64_t step, int *used);
void fesf_train_dp_count(trainer *t, const unsigned char *part);
double fesf_train_dp_epsilon(const trainer *t, int site);
void fesf_train_dp_report(const trainer *t, FILE *md, FILE *tsv);

/* train_eval.c: the round's evaluation (collective; the coordinator gets
 * the sums); the pooled figures of split v (0 val, 1 test) and site s's
 * (0-based), as the site computed them; the doubles the evaluation sums
 * (t->stats holds them and one site's scratch of stats_len). */
int fesf_train_evaluate(trainer *t);
void fesf_train_pooled(const trainer *t, int v, fesf_metrics *out);
void fesf_train_site_figures(const trainer *t, int v, int s, fesf_metrics *m);
size_t fesf_train_eval_doubles(const trainer *t);

/* train_report.c: report.md and summary.tsv over the n repeats; one
 * metrics.jsonl line of a round, with the pooled val and test figures
 * (pooled[2]) and the sites' (fesf_train_site_figures) when the round was evaluated
 * (pooled = NULL: loss and speed only). Coordinator only. */
int fesf_train_write_report(const trainer *t, const repeat_result *res, int n);
int fesf_train_write_metrics_line(const trainer *t, int repeat, int64_t round, double loss, double ips,
                                   const fesf_metrics *pooled);

#endif
