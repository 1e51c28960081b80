/* Checkpoints of `fesf train` (train_internal.h): ckpt-RRRR.h5 holds the
 * global state, the server optimizer and every repeat's results so far, so
 * that --resume continues bit-identically; metrics.jsonl is cut back to the
 * rounds the checkpoint covers. The newest is found by a scan of the folder
 * (any number of digits), and only the newest run.keep_checkpoints stay. */
#include "train_internal.h"

#include "fesf/error.h"
#include "fesf/run_dir.h"
#include "fesf/fsutil.h"
#include "fesf/log.h"
#include "fesf/model_io.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per repeat: best (6), last (6), best round, then the sites' best (6 each). */
#define RESULT_DOUBLES 15 /* best, last (6 each), best round, rounds run, why it stopped */
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
uint64_t fesf_train_resume_hash(const fesf_config *cfg)
{
    fesf_config c = *cfg;
    c.train.rounds = 0, c.run.checkpoint_every = 0, c.run.threads = 1, c.run.log = 0;
    c.run.keep_checkpoints = 0, c.run.timeout = 0;
    return fesf_config_hash(&c);
}

/* The number of the checkpoint of `done` rounds of `repeat`. */
long fesf_train_ckpt_number(const trainer *t, int repeat, int64_t done)
{
    return (long)repeat * fesf_train_round_limit(t->cfg) + (long)done;
}

/* The checkpoint of `done` rounds of `repeat` into path[FESF_RUN_PATH_MAX]. */
void fesf_train_ckpt_path(const trainer *t, int repeat, int64_t done, char *path)
{
    fesf_run_ckpt_path(path, t->out, fesf_train_ckpt_number(t, repeat, done));
}

/* Remove the checkpoints numbered above `above` (-1: all), then all but the
 * newest `keep` (0: keep all); a file that cannot be removed is only warned of. */
static int prune(const trainer *t, long above, int keep)
{
    long *idx = NULL;
    int n = fesf_run_ckpt_list(t->out, &idx), kept = 0;
    char path[FESF_RUN_PATH_MAX];
    for (int i = 0; i < n; i++) {
        if (idx[i] <= above && (keep <= 0 || kept++ < keep)) continue;
        fesf_run_ckpt_path(path, t->out, idx[i]);
        if (remove(path)) fesf_warn("cannot remove the old checkpoint '%s'", path);
    }
    free(idx);
    return n < 0 ? -1 : 0;
}

int fesf_train_save_checkpoint(trainer *t, int repeat, int64_t done, const repeat_result *res)
{
    int R = t->cfg->run.repeats;
    size_t per = result_doubles(t);
    double *results = calloc((size_t)R * per, sizeof(double));
    char path[FESF_RUN_PATH_MAX], *text = fesf_config_text_alloc(t->cfg);
    if (!results || !text) {
        free(results), free(text);
        return fesf_error("out of memory");
    }
    for (int i = 0; i <= repeat; i++) {
        double *v = results + (size_t)i * per;
        pack_metrics(&res[i].best, v), pack_metrics(&res[i].last, v + 6);
        v[12] = res[i].best_round, v[13] = res[i].rounds_run, v[14] = res[i].stop;
        for (int s = 0; s < t->n_sites; s++) pack_metrics(&res[i].site[s], v + RESULT_DOUBLES + 6 * s);
    }
    memcpy(fesf_model_params(t->m), t->global, sizeof(float) * t->np);
    memcpy(fesf_model_buffers(t->m), t->global + t->np, sizeof(float) * t->nb);
    fesf_ckpt c = {repeat, done, fesf_train_resume_hash(t->cfg), t->best_auc, t->best_round, t->best, t->np + t->nb,
                   results, (size_t)R * per, fesf_train_any_excluded(t) ? t->excluded : NULL, (size_t)t->n_sites,
                   t->cfg->train.normalise == FESF_NORM_POOLED ? t->norm : NULL, t->shape.c};
    fesf_train_ckpt_path(t, repeat, done, path);
    int rc = fesf_ckpt_save(path, fesf_model_tensors(t->m), t->opt_state, opt_floats(t), &c, text);
    free(results), free(text);
    /* after the new one is complete: any numbered beyond it is another training's (or one redone from an
     * earlier point), then the newest run.keep_checkpoints stay */
    if (!rc) prune(t, fesf_train_ckpt_number(t, repeat, done), t->cfg->run.keep_checkpoints);
    return rc;
}

/* Load checkpoint `path`; 0 or -1 with a message. */
static int load_one(trainer *t, const char *path, repeat_result *res, int64_t *start)
{
    int R = t->cfg->run.repeats;
    size_t per = result_doubles(t);
    double *results = calloc((size_t)R * per, sizeof(double));
    if (!results) return fesf_error("out of memory");
    fesf_ckpt c = {0, 0, fesf_train_resume_hash(t->cfg), 0, 0, t->best, t->np + t->nb, results, (size_t)R * per,
                   NULL, 0, NULL, 0}; /* the exclusions were read before the setup (train_sites.c) */
    int rc = fesf_ckpt_load(path, fesf_model_tensors(t->m), t->opt_state, opt_floats(t), &c);
    if (!rc && c.repeat >= R) rc = fesf_error("'%s' is from repeat %lld but run.repeats = %d", path, (long long)c.repeat + 1, R);
    if (!rc && c.round > fesf_train_round_limit(t->cfg))
        rc = fesf_error("'%s' has %lld rounds done but this training runs at most %d", path, (long long)c.round,
                        fesf_train_round_limit(t->cfg));
    if (!rc) {
        memcpy(t->global, fesf_model_params(t->m), sizeof(float) * t->np);
        memcpy(t->global + t->np, fesf_model_buffers(t->m), sizeof(float) * t->nb);
        t->best_auc = c.best_score, t->best_round = (int)c.best_round;
        for (int i = 0; i <= c.repeat; i++) {
            const double *v = results + (size_t)i * per;
            unpack_metrics(v, &res[i].best), unpack_metrics(v + 6, &res[i].last);
            res[i].best_round = (int)v[12], res[i].rounds_run = (int)v[13], res[i].stop = (int)v[14];
            for (int s = 0; s < t->n_sites; s++) unpack_metrics(v + RESULT_DOUBLES + 6 * s, &res[i].site[s]);
        }
        start[0] = c.repeat, start[1] = c.round;
        fesf_info("resuming from '%s': repeat %lld, %lld rounds done", path, (long long)c.repeat + 1, (long long)c.round);
    }
    free(results);
    return rc;
}

int fesf_train_load_checkpoint(trainer *t, repeat_result *res, int64_t *start, int mode)
{
    char path[FESF_RUN_PATH_MAX];
    long *idx = NULL, from = -1;
    start[0] = start[1] = 0;
    int n = mode == FESF_RESUME_NO ? 0 : fesf_run_ckpt_list(t->out, &idx), rc = n < 0 ? -1 : 0;
    for (int i = 0; i < n && from < 0 && !rc; i++) {
        fesf_run_ckpt_path(path, t->out, idx[i]);
        if (!load_one(t, path, res, start)) from = idx[i];
        else if (mode == FESF_RESUME_STRICT) rc = -1; /* --resume: the newest, or an error */
        else fesf_info("not resuming from '%s': %s", path, fesf_errmsg());
    }
    free(idx);
    if (rc) return -1;
    if (from < 0) {
        memset(t->best, 0, sizeof(float) * (t->np + t->nb));
        start[0] = start[1] = 0;
        if (mode == FESF_RESUME_STRICT) fesf_warn("--resume: no checkpoint in '%s'; starting from round 1", t->out);
        else if (n > 0) fesf_info("no checkpoint in '%s' fits this configuration: starting from round 1", t->out);
    }
    /* what lies beyond the starting point (a later checkpoint that did not load, or all when starting anew)
     * is removed when the first new checkpoint is complete, not before: a training that fails first
     * leaves the directory as it was (tests/e2e/crashsafe.sh) */
    return 0;
}

/* Keep the metrics lines of rounds a checkpoint covers; drop later ones. */
int fesf_train_trim_metrics(const char *path, int64_t repeat, int64_t round)
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
        if (strchr(line, '\n') && /* a whole line: a crash may have cut the last one short */
            sscanf(line, "{\"repeat\": %lld, \"round\": %lld", &rep, &rnd) == 2 &&
            (rep < repeat || (rep == repeat && rnd <= round)))
            fputs(line, o);
    }
    fclose(f);
    return fesf_atomic_commit(o, path);
}
