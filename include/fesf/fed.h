/* Federated training (DESIGN section 2): rank 0 coordinates, ranks 1..N
 * hold sites. Every rank issues the same collectives in the same order, and
 * every wait sleeps between polls so idle ranks do not burn a core.
 *
 * Sites are the run directory's shards; shard s belongs to worker rank
 * 1 + (s-1) mod N (a world of one does everything itself), so a rank may
 * hold several sites and sums their contributions before sending. All
 * site-to-coordinator traffic goes through fesf_fed_sum_to_coord: one
 * model-sized (or fixed-size statistics) buffer per call, summed with
 * MPI_Reduce. */
#ifndef FESF_FED_H
#define FESF_FED_H

#include <stddef.h>
#include <stdint.h>

#include "fesf/config.h"
#include "fesf/world.h"

/* Sum `n` doubles or floats of every rank into rank 0's `buf` (in place at
 * rank 0; other ranks' buffers are left as they were). The only path from
 * sites to the coordinator. 0 or -1. */
int fesf_fed_sum_to_coord(const fesf_world *w, float *buf, size_t n);
int fesf_fed_sum_to_coord_f64(const fesf_world *w, double *buf, size_t n);
/* The same for unsigned 64-bit integers: the sum modulo 2^64 (secagg.c's
 * masked fixed-point sums). */
int fesf_fed_sum_to_coord_u64(const fesf_world *w, uint64_t *buf, size_t n);

/* Sum `n` doubles of every rank and give the sum to every rank (fixed-size
 * statistics such as the sites' training-image counts). 0 or -1. */
int fesf_fed_share_sum_f64(const fesf_world *w, double *buf, size_t n);

/* The number of shards of run_out, as the site ranks see it on their own
 * disks (the highest site-NNN.h5 any of them holds; the coordinator opens
 * nothing); every rank gets it. 0, or -1 if no site rank has a shard. */
int fesf_fed_count_shards(const fesf_world *w, const char *run_out, int *n);
/* Same for a partial federation: gone [4096] holds -1 for the sites that
 * take part; the others may lack their shards (the count is then the
 * shards' n_sites when the last sites left with theirs). */
int fesf_fed_count_shards_except(const fesf_world *w, const char *run_out, const int64_t *gone, int *n);

/* The site ranks count the shards of run_out and rank 0 loads hosts.h5 (the host of
 * host_index in fixed mode, the whole pool in random mode); every rank of w
 * gets meta = {shards, images, C, H, W, D} (D = 1 for images) and *hosts
 * (malloc'ed [images, C, (D,) H, W]). 0 or -1. */
int fesf_hosts_share(const char *run_out, const fesf_world *w, int host_mode, int host_index, int64_t meta[6],
                     float **hosts);

/* Broadcast `n` floats from the coordinator. 0 or -1. */
int fesf_fed_bcast_f32(const fesf_world *w, float *buf, size_t n);
int fesf_fed_bcast_u64(const fesf_world *w, uint64_t *buf, size_t n);

/* Reference for `fesf bench agg`: the same round as fesf_fed_bcast_f32 then
 * fesf_fed_sum_to_coord, done the bare way: blocking MPI_Bcast from rank 0
 * then MPI_Reduce (MPI_SUM at rank 0, in place), in pieces of at most 2^28
 * elements, no barrier, on any world size. Collective; 0 or -1. Not used by
 * training (Open MPI's blocking calls busy-poll). */
int fesf_fed_bare_round(const fesf_world *w, float *buf, size_t n);

/* One federated round, the shape FedSGD, FedAvg and the federated GAN
 * share (round.c): the coordinator's state[n_state] is broadcast to every
 * rank; acc[n_acc] is zeroed; add(ctx, i, weight, acc) runs for every site
 * of this rank that takes part and adds weight * its contribution into acc;
 * the ranks' acc are summed into the coordinator's, and the caller steps
 * there (rank 0). weight = (float)(site_n[id-1] / total), total the site_n
 * of the round's sites summed in id order. Site i is this rank's i-th shard
 * in id order (fesf_world_owns_shard), the order every trainer keeps its
 * sites in. With secagg, each site adds into a zeroed buffer of its own
 * that is quantised alone, and rank 0 gets the decoded masked sum
 * (secagg.h). 0 or -1. */
typedef void (*fesf_fed_site_fn)(void *ctx, int i, float weight, float *acc);
typedef struct {
    float *state, *acc;
    size_t n_state, n_acc;
    int n_sites;                    /* sites of the run */
    const double *site_n;           /* [n_sites] every site's training images, on every rank */
    const unsigned char *part;      /* [n_sites] 1 if site id-1 takes part this round; NULL: all do */
    fesf_fed_site_fn add;
    void *ctx;
    struct fesf_secagg *secagg;     /* non-NULL: the sums masked (secagg.h; its cap >= n_acc) */
} fesf_fed_round_args;
int fesf_fed_round(const fesf_world *w, const fesf_fed_round_args *a);

/* Data order of a site with n training images: epoch e's permutation
 * (order[n]), keyed by (seed, site, e); FedSGD's batch of round r is
 * positions r*k .. r*k+k-1 of the concatenated epochs, k = min(n, batch).
 * fesf_fed_sgd_batch writes the k indices to ids (order is scratch [n]) and
 * returns k. Public so that tests can rebuild the same batches (order.c). */
void fesf_fed_epoch_order(uint64_t seed, int site_id, int64_t epoch, int64_t n, int32_t *order);
int fesf_fed_sgd_batch(uint64_t seed, int site_id, int64_t n, int64_t round, int batch, int32_t *order, int32_t *ids);

/* `fesf train`: train the diagnostic model on the sites' cfg->train.input
 * images; writes run.out/metrics.jsonl, model.h5 (the best-validation
 * round's model), report.md, and ckpt-RRRR.h5 every run.checkpoint_every
 * rounds (the newest run.keep_checkpoints kept). resume: FESF_RESUME_NO
 * starts anew (and removes old checkpoints); FESF_RESUME_STRICT (--resume)
 * continues from the newest checkpoint (refused if the config differs
 * beyond train.rounds, run.checkpoint_every, run.keep_checkpoints,
 * run.timeout, run.threads, run.log); FESF_RESUME_AUTO (`fesf run`) from
 * the newest checkpoint that fits, else anew. The result is bit-identical
 * to an uninterrupted run. A SIGTERM or SIGINT to any rank during the
 * rounds is acted on at the end of the round: the coordinator writes a
 * checkpoint and every rank returns -1 with one line from the coordinator
 * and exit code FESF_EXIT_STOPPED (fesf_world_fail_together). The waits of
 * the rounds are bounded by run.timeout (world.h). 0 or -1. */
enum { FESF_RESUME_NO, FESF_RESUME_STRICT, FESF_RESUME_AUTO };
int fesf_fed_train(const fesf_config *cfg, const fesf_world *w, int resume);
/* Same, with the outputs in folder `out` (created) instead of run.out. */
int fesf_fed_train_to(const fesf_config *cfg, const fesf_world *w, int resume, const char *out);
/* Same, for a partial federation: the sites `exclude` take no part from the
 * point the training resumes at (or starts, without a checkpoint) on; their
 * shards are not opened, each round's weights are re-normalised over the
 * others, and the checkpoints record the exclusions, so that a later
 * resume keeps them. Not with DP-SGD. */
typedef struct {
    int resume;                 /* FESF_RESUME_* */
    const int *exclude;         /* site ids, or NULL */
    int n_exclude;
} fesf_train_opts;
int fesf_fed_train_opts(const fesf_config *cfg, const fesf_world *w, const char *out, const fesf_train_opts *o);

/* Readers of a training's files in folder `dir` (train_report.c, beside
 * the writers): summary.tsv rows and the validation curve. */
enum { FESF_TRAIN_FIGURES = 4 }; /* accuracy, balanced accuracy, macro-F1, AUC */
typedef struct {
    int site;                       /* 0: pooled over sites ("all"), else the site number */
    int last;                       /* 1: last round, 0: best-validation round */
    int repeats;
    double mean[FESF_TRAIN_FIGURES], sd[FESF_TRAIN_FIGURES];
} fesf_train_row;
typedef struct {
    int n;
    fesf_train_row *rows;           /* pooled best, per site best, pooled last, as written */
    int repeats, classes;           /* of the flags line */
    int still_improving;            /* repeats whose best validation round was the last one */
    int near_chance;                /* repeats whose test balanced accuracy is within 0.02 of 1/classes */
    int rounds_min, rounds_max;     /* rounds trained, over the repeats */
    int dp;                         /* DP-SGD was on (the "# privacy" line) */
    double dp_epsilon, dp_delta;    /* the largest over the sites */
    double dp_clip, dp_noise;       /* clip bound, site 1's noise multiplier */
    int secure_agg;                 /* the updates were summed under secure aggregation ("# secure_agg on") */
} fesf_train_summary;
/* 0, or -1 when there is no summary.tsv (no finished training). */
int fesf_train_summary_load(const char *dir, fesf_train_summary *s);
void fesf_train_summary_free(fesf_train_summary *s);
/* The row of `site` (0 = pooled) at the best (last = 0) or last round; NULL if none. */
const fesf_train_row *fesf_train_summary_find(const fesf_train_summary *s, int site, int last);
/* Pooled validation AUC per round of `repeat` (NaN where not evaluated);
 * returns the rounds read, at most max. */
int fesf_train_curve_read(const char *dir, int repeat, double *round, double *val_auc, int max);

#endif
