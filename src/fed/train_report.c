/* The files a training writes (report.md, summary.tsv, metrics.jsonl):
 * each writer beside the typed reader of its format, so that no other
 * module knows their column order or key order. */
#include "train_internal.h"

#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/run_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- report.md and summary.tsv --------------------------------------------- */

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

/* report.md's secure aggregation section and summary.tsv's "# secure_agg" line:
 * what the coordinator saw, masked or in the clear. */
static void secagg_report(const trainer *t, FILE *md, FILE *tsv)
{
    fprintf(tsv, "# secure_agg %s\n", t->sa ? "on" : "off");
    if (!t->sa) {
        fprintf(md, "\n## Secure aggregation\n\nOff (train.secure_agg = false): the coordinator received each "
                    "site rank's update, and the pooled normalisation sums and class counts, in the clear.\n");
        return;
    }
    fprintf(md, "\n## Secure aggregation\n\nOn: every model update (and the pooled normalisation sums and "
                "training label counts) reached the coordinator masked by pairwise ChaCha20 keystreams from X25519 "
                "seeds it does not know (libsodium; fresh keys for this run, %d site ranks), as 64-bit fixed point "
                "(step 2^-32, each site's contribution rounded alone); the masks cancel in the sum, which is all it "
                "learnt. Revealed in the clear: each site's number of training images (the weights of the sums), "
                "the shards' metadata (image shape, class names), each site's evaluation figures and the pooled "
                "statistics behind the tables above, and, in `fesf run`, the audit's per-site figures. Threat model: an honest-but-curious "
                "coordinator; one that substitutes the public keys it relays, or site ranks that collude, are not "
                "covered, and a failed site ends the job (no dropout recovery). With several sites on one rank "
                "(a simulation) the coordinator sees that rank's sum of its sites.\n",
            t->w->size - 1);
}

/* summary.tsv's flags line (a comment to older readers): the repeats, the
 * classes, how many repeats were still improving or near chance, the
 * fewest and most rounds trained. */
static void summary_flags(const trainer *t, FILE *tsv, const repeat_result *res, int n)
{
    int still = 0, chance = 0, lo = 0, hi = 0;
    for (int r = 0; r < n; r++) {
        still += fesf_train_still_improving(t->cfg, &res[r]), chance += fesf_train_near_chance(&res[r], t->shape.k);
        lo = r == 0 || res[r].rounds_run < lo ? res[r].rounds_run : lo;
        hi = res[r].rounds_run > hi ? res[r].rounds_run : hi;
    }
    fprintf(tsv, "# flags repeats=%d classes=%d still_improving=%d near_chance=%d rounds_min=%d rounds_max=%d\n", n,
            t->shape.k, still, chance, lo, hi);
}

/* report.md (human) and summary.tsv (for `fesf run`'s report and sweeps). */
int fesf_train_write_report(const trainer *t, const repeat_result *res, int n)
{
    char path[FESF_RUN_PATH_MAX], tsv_path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, t->out, FESF_RUN_REPORT);
    fesf_run_file(tsv_path, t->out, FESF_RUN_SUMMARY);
    FILE *f = fesf_atomic_open(path), *tsv = f ? fesf_atomic_open(tsv_path) : NULL;
    if (!f || !tsv) {
        fesf_atomic_abort(f, path);
        return -1;
    }
    char rounds[64];
    if (t->cfg->train.rounds < 0) snprintf(rounds, sizeof rounds, "rounds auto (at most %d)", t->cfg->train.max_rounds);
    else snprintf(rounds, sizeof rounds, "%d rounds", t->cfg->train.rounds);
    fprintf(f, "# fesf training report\n\ninput `%s`, %s, model %s, %d sites, %s, %d repeat%s\n\n", input_group(t->cfg),
            fesf_config_enum_name("train.algo", t->cfg->train.algo), fesf_model_arch(t->m), t->n_sites, rounds, n,
            n > 1 ? "s" : "");
    fprintf(f, "| input | sites | round | accuracy | balanced accuracy | macro-F1 | AUC |\n"
               "| --- | --- | --- | --- | --- | --- | --- |\n");
    fesf_stamp_text(tsv, &t->stage, 0);
    summary_flags(t, tsv, res, n);
    fprintf(tsv, "input\tsite\tround\trepeats\taccuracy\taccuracy_sd\tbalanced_accuracy\tbalanced_accuracy_sd\t"
                 "macro_f1\tmacro_f1_sd\tauc\tauc_sd\n");
    for (int which = -2; which < t->n_sites; which++) report_row(t, f, tsv, res, n, which);
    fprintf(f, "\nTest figures, pooled over sites (all) and per site, as mean ± standard deviation over repeats; "
               "per-round figures in metrics.jsonl.\n");
    for (int r = 0; r < n && t->cfg->train.rounds < 0; r++)
        fprintf(f, "%sRepeat %d stopped after round %d: %s (best validation round %d).\n", r ? "" : "\n", r + 1,
                res[r].rounds_run,
                res[r].stop == STOP_PLATEAU ? "the validation AUC had not improved for train.patience evaluations"
                                            : "train.max_rounds reached",
                res[r].best_round);
    int still = 0, chance = 0;
    for (int r = 0; r < n; r++) still += fesf_train_still_improving(t->cfg, &res[r]), chance += fesf_train_near_chance(&res[r], t->shape.k);
    if (still)
        fprintf(f, "\n**Still improving: in %d of %d repeat%s the best validation round was the last one; more rounds "
                   "(train.rounds) may help.**\n", still, n, n > 1 ? "s" : "");
    if (chance)
        fprintf(f, "\n**Near chance: in %d of %d repeat%s the test balanced accuracy is within 0.02 of chance (%.3f): "
                   "the model tells the classes apart no better than a constant guess, whatever its accuracy.**\n",
                chance, n, n > 1 ? "s" : "", 1.0 / t->shape.k);
    if (fesf_train_any_excluded(t)) {
        fprintf(f, "\n## Sites that left\n\n");
        fesf_train_exclusions_log(t, f);
        fprintf(f, "\nAn excluded site has no figures for the rounds after it left (nan in its row when the best "
                   "round came later); the best round is chosen on the pooled validation figures of the sites "
                   "taking part at each round.\n");
    }
    fesf_train_dp_report(t, f, tsv);
    secagg_report(t, f, tsv);
    fprintf(f, "\n## Config\n\n```ini\n");
    char *text = fesf_config_text_alloc(t->cfg);
    fputs(text ? text : "", f);
    free(text);
    fputs("```\n", f);
    /* summary.tsv last: it carries the stamp that marks the training done */
    if (fesf_atomic_commit(f, path)) {
        fesf_atomic_abort(tsv, tsv_path);
        return -1;
    }
    return fesf_atomic_commit(tsv, tsv_path);
}

/* One data row of summary.tsv: input, site ("all" or k), round ("best" or
 * "last"), repeats, then mean and sd of accuracy, balanced accuracy,
 * macro-F1, AUC. 1 if parsed. */
static int parse_row(const char *line, fesf_train_row *r)
{
    char input[32], site[32], round[16];
    double v[8];
    if (sscanf(line, "%31s %31s %15s %d %lf %lf %lf %lf %lf %lf %lf %lf", input, site, round, &r->repeats, &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 12)
        return 0;
    r->site = strcmp(site, "all") ? atoi(site) : 0;
    r->last = !strcmp(round, "last");
    for (int q = 0; q < FESF_TRAIN_FIGURES; q++) r->mean[q] = v[2 * q], r->sd[q] = v[2 * q + 1];
    return 1;
}

int fesf_train_summary_load(const char *dir, fesf_train_summary *s)
{
    char path[FESF_RUN_PATH_MAX], line[1024];
    memset(s, 0, sizeof *s);
    fesf_run_file(path, dir, FESF_RUN_SUMMARY);
    FILE *f = fopen(path, "r");
    if (!f) return fesf_error("cannot read '%s'", path);
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        fesf_train_row r;
        if (sscanf(line, "# flags repeats=%d classes=%d still_improving=%d near_chance=%d rounds_min=%d rounds_max=%d",
                   &s->repeats, &s->classes, &s->still_improving, &s->near_chance, &s->rounds_min,
                   &s->rounds_max) == 6)
            continue;
        if (!strncmp(line, "# secure_agg on", 15)) s->secure_agg = 1;
        if (sscanf(line, "# privacy dp=on epsilon=%lf delta=%lf clip=%lf noise=%lf", &s->dp_epsilon, &s->dp_delta,
                   &s->dp_clip, &s->dp_noise) == 4)
            s->dp = 1;
        if (line[0] == '#' || !parse_row(line, &r)) continue;
        if (s->n == cap) {
            cap = cap ? 2 * cap : 16;
            fesf_train_row *g = realloc(s->rows, sizeof *g * (size_t)cap);
            if (!g) break;
            s->rows = g;
        }
        s->rows[s->n++] = r;
    }
    fclose(f);
    return 0;
}

void fesf_train_summary_free(fesf_train_summary *s)
{
    free(s->rows);
    s->rows = NULL, s->n = 0;
}

const fesf_train_row *fesf_train_summary_find(const fesf_train_summary *s, int site, int last)
{
    for (int i = 0; i < s->n; i++)
        if (s->rows[i].site == site && s->rows[i].last == last) return &s->rows[i];
    return NULL;
}

/* ---- metrics.jsonl ------------------------------------------------------------ */

/* A number, or null where it is undefined (JSON has no NaN). */
static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v)) fprintf(f, "\"%s\": %.6g", key, v);
    else fprintf(f, "\"%s\": null", key);
}

/* The figures of one scope: test accuracy, balanced accuracy, macro-F1,
 * AUC, then validation accuracy and AUC. */
static void json_figures(FILE *f, const fesf_metrics *test, const fesf_metrics *val)
{
    json_num(f, "accuracy", test->accuracy), fputs(", ", f);
    json_num(f, "balanced_accuracy", test->balanced_accuracy), fputs(", ", f);
    json_num(f, "macro_f1", test->macro_f1), fputs(", ", f), json_num(f, "auc", test->auc), fputs(", ", f);
    json_num(f, "val_accuracy", val->accuracy), fputs(", ", f), json_num(f, "val_auc", val->auc);
}

/* One line a round: repeat, round, loss, speed; with pooled = {val, test},
 * the pooled figures then every site's. The line is on disk when this
 * returns 0 (fsync): a crash leaves whole lines, or a last one cut short
 * that a resume drops (fesf_train_trim_metrics keeps only whole lines). */
/* ', "excluded": [3, 5]': the sites a partial federation left out of the round (none: nothing). */
static void excluded_json(FILE *f, const trainer *t, int repeat, int64_t round)
{
    int n = 0;
    for (int s = 0; s < t->n_sites; s++)
        if (fesf_train_excluded_at(t, s + 1, repeat, round)) fprintf(f, "%s%d", n++ ? ", " : ", \"excluded\": [", s + 1);
    if (n) fputs("]", f);
}

int fesf_train_write_metrics_line(const trainer *t, int repeat, int64_t round, double loss, double ips,
                                   const fesf_metrics *pooled)
{
    FILE *f = t->metrics;
    fprintf(f, "{\"repeat\": %d, \"round\": %lld, ", repeat, (long long)round + 1);
    json_num(f, "loss", loss), fputs(", ", f), json_num(f, "images_per_s", ips);
    if (t->dp.on) fputs(", ", f), json_num(f, "epsilon", fesf_train_dp_epsilon(t, -1));
    excluded_json(f, t, repeat, round);
    if (pooled) {
        fputs(", ", f), json_figures(f, &pooled[1], &pooled[0]);
        fputs(", \"per_site\": [", f);
        for (int s = 0; s < t->n_sites; s++) {
            fesf_metrics sv, st;
            fesf_train_site_figures(t, 0, s, &sv);
            fesf_train_site_figures(t, 1, s, &st);
            fprintf(f, "%s{\"site\": %d, ", s ? ", " : "", s + 1);
            json_figures(f, &st, &sv);
            fputs("}", f);
        }
        fputs("]", f);
    }
    fputs("}\n", f);
    char path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, t->out, FESF_RUN_METRICS);
    return fesf_file_sync(f, path);
}

/* metrics.jsonl lines start {"repeat": R, "round": N, and carry "val_auc"
 * before "per_site" on evaluated rounds (as written above). */
int fesf_train_curve_read(const char *dir, int repeat, double *round, double *val_auc, int max)
{
    char path[FESF_RUN_PATH_MAX], line[8192];
    fesf_run_file(path, dir, FESF_RUN_METRICS);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < max && fgets(line, sizeof line, f)) {
        int rep = -1, r = 0;
        const char *v = strstr(line, "\"val_auc\": "), *ps = strstr(line, "\"per_site\"");
        if (sscanf(line, "{\"repeat\": %d, \"round\": %d", &rep, &r) != 2 || rep != repeat) continue;
        round[n] = r, val_auc[n] = NAN; /* rounds without evaluation, or an undefined AUC ("null") */
        if (v && (!ps || v < ps) && strncmp(v + 11, "null", 4)) val_auc[n] = strtod(v + 11, NULL);
        n++;
    }
    if (f) fclose(f);
    return n;
}
