/* Partial federations (train_internal.h): sites left out from a point of
 * the training on (`fesf train --resume --exclude-site K`). Each site's
 * exclusion is the position (repeat, round) from which it takes no part,
 * -1 for never; the checkpoints record them (/resume/excluded), so a later
 * resume keeps them, and the rounds' weights are re-normalised over the
 * sites that take part (round.c). An excluded site's shard is not opened. */
#include "train_internal.h"

#include "fesf/error.h"
#include "fesf/log.h"
#include "fesf/model_io.h"
#include "fesf/run_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SITES 4096 /* as fesf_fed_count_shards */
#define PENDING (-2) /* named on this command line: from the round the training resumes at */

static int64_t position(int repeat, int64_t round) { return ((int64_t)repeat << 32) | round; }

/* Rank 0: the exclusions the newest checkpoint records (resume modes) into
 * t->excluded (room for MAX_SITES); the sites it covers, 0 for none. path:
 * that checkpoint, "" for none. */
static int recorded(trainer *t, int mode, char *path)
{
    long *idx = NULL;
    int n = mode == FESF_RESUME_NO ? 0 : fesf_run_ckpt_list(t->out, &idx), got = 0;
    path[0] = '\0';
    if (n > 0) {
        fesf_run_ckpt_path(path, t->out, idx[0]);
        got = fesf_ckpt_read_excluded(path, t->excluded, MAX_SITES);
        if (got < 0 && mode == FESF_RESUME_AUTO) got = 0, path[0] = '\0'; /* fesf run: that one is not used either */
    }
    free(idx);
    return n < 0 ? -1 : got;
}

/* Rank 0, with a site left out: the checkpoint's input normalisation, so
 * that the remaining sites' data are scaled as the model has seen so far. */
static int recorded_norm(trainer *t, const char *path)
{
    fesf_model_meta m;
    if (!path[0] || t->cfg->train.normalise != FESF_NORM_POOLED) return 0;
    if (fesf_model_read_meta(path, &m)) return -1;
    for (int c = 0; c < m.norm_channels && c < MAX_CHANNELS; c++)
        t->norm[c] = m.mean[c], t->norm[m.norm_channels + c] = m.std[c];
    t->norm_given = m.norm_channels <= MAX_CHANNELS ? m.norm_channels : 0;
    fesf_model_meta_free(&m);
    return 0;
}

/* Collective, before the shards are counted (a site that left may have
 * taken its shard): rank 0 reads what the newest checkpoint records, adds
 * the sites named now, and every rank gets the list (MAX_SITES entries). */
int fesf_train_exclusions(trainer *t, const int *sites, int n, int mode)
{
    t->excluded = malloc(sizeof(int64_t) * MAX_SITES);
    if (!t->excluded) return fesf_error("out of memory");
    for (int s = 0; s < MAX_SITES; s++) t->excluded[s] = -1;
    int failed = 0, any = 0;
    char path[FESF_RUN_PATH_MAX];
    if (t->w->rank == 0) {
        failed = recorded(t, mode, path) < 0;
        for (int i = 0; i < n && !failed; i++) {
            if (sites[i] < 1 || sites[i] > MAX_SITES)
                failed = fesf_error("--exclude-site %d: sites are numbered 1..%d", sites[i], MAX_SITES) != 0;
            else if (t->excluded[sites[i] - 1] == -1)
                t->excluded[sites[i] - 1] = PENDING;
        }
        for (int s = 0; s < MAX_SITES; s++) any |= t->excluded[s] != -1;
        if (!failed && any && fesf_config_dp(t->cfg))
            failed = fesf_error("--exclude-site does not go with DP-SGD yet (the excluded site's accounting)") != 0;
        if (!failed && any) failed = recorded_norm(t, path) != 0;
    }
    if (fesf_world_agree(t->w, failed, 1)) return -1; /* exit 1, rank 0 reports */
    int64_t given = t->norm_given;
    if (fesf_world_bcast(t->w, &given, sizeof given, 0) || fesf_world_bcast(t->w, t->norm, sizeof t->norm, 0)) return -1;
    t->norm_given = (int)given;
    return fesf_world_bcast(t->w, t->excluded, sizeof(int64_t) * MAX_SITES, 0);
}

/* Once the sites are counted: one at least must take part. The same on every rank. */
int fesf_train_exclusions_check(const trainer *t)
{
    for (int s = t->n_sites; s < MAX_SITES; s++)
        if (t->excluded[s] != -1) {
            fesf_error("--exclude-site %d: the federation has sites 1..%d", s + 1, t->n_sites);
            return fesf_world_fail_together(t->w, 0, 1);
        }
    for (int id = 1; id <= t->n_sites; id++)
        if (!fesf_train_excluded_ever(t, id)) return 0;
    fesf_error("--exclude-site leaves none of the %d sites to train with", t->n_sites);
    return fesf_world_fail_together(t->w, 0, 1);
}

int fesf_train_exclusions_start(trainer *t, const int64_t *start)
{
    int64_t at = position((int)start[0], start[1]);
    for (int s = 0; s < t->n_sites; s++) {
        if (t->excluded[s] == PENDING) t->excluded[s] = at;
        else if (t->excluded[s] > at)
            return fesf_error("the checkpoint resumed from (repeat %lld, round %lld) is older than site %d's "
                              "exclusion: it needs that site's shard", (long long)start[0] + 1, (long long)start[1],
                              s + 1);
    }
    return 0;
}

int fesf_train_first_site(const trainer *t)
{
    for (int id = 1; id <= t->n_sites; id++)
        if (!fesf_train_excluded_ever(t, id)) return id;
    return 1;
}

int fesf_train_excluded_ever(const trainer *t, int id) { return t->excluded && t->excluded[id - 1] != -1; }

int fesf_train_excluded_at(const trainer *t, int id, int repeat, int64_t round)
{
    int64_t e = t->excluded ? t->excluded[id - 1] : -1;
    return e == PENDING || (e >= 0 && position(repeat, round) >= e);
}

int fesf_train_n_excluded(const trainer *t)
{
    int n = 0;
    for (int s = 0; s < t->n_sites; s++) n += fesf_train_excluded_ever(t, s + 1);
    return n;
}

int fesf_train_any_excluded(const trainer *t) { return fesf_train_n_excluded(t) > 0; }

void fesf_train_exclusions_log(const trainer *t, FILE *md)
{
    for (int s = 0; s < t->n_sites; s++) {
        int64_t e = t->excluded[s];
        if (e < 0) continue;
        int repeat = (int)(e >> 32);
        long long round = (long long)(e & 0xffffffff);
        if (md)
            fprintf(md, "- Site %d took part in rounds 1-%lld of repeat %d and was then excluded "
                        "(`--exclude-site %d`): later rounds and repeats re-weight the other sites and evaluate "
                        "without it.\n", s + 1, round, repeat + 1, s + 1);
        else if (t->w->rank == 0)
            fesf_info("site %d is excluded from round %lld of repeat %d on; the others' weights are re-normalised",
                      s + 1, round + 1, repeat + 1);
    }
}
