/* fesf run's stages, their freshness and the sweep (see pipeline.h). */
#include "fesf/pipeline.h"
#include "fesf/audit.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/hide.h"
#include "fesf/iqem.h"
#include "fesf/log.h"
#include "fesf/prepare.h"
#include "fesf/report.h"
#include "fesf/run_dir.h"
#include "fesf/stage.h"

#include <stdio.h>
#include <string.h>

/* "hide", or "train (plain)" for a training: the name the log shows. */
static void display_name(const fesf_stage *s, const fesf_config *cfg, char *buf, size_t size)
{
    if (s->id == FESF_STAGE_TRAIN) snprintf(buf, size, "train (%s)", fesf_run_input_name(cfg->train.input));
    else snprintf(buf, size, "%s", s->name);
}

/* Count this rank's stale outputs of stage s: the coordinator's shared
 * ones on rank 0, then the shards this rank owns. Rank 0 keeps the first
 * reason of each kind (shared, shard); a site logs its own.
 * counts = {shared stale, shards stale}. */
static int count_stale(const fesf_config *cfg, const fesf_world *w, const fesf_stage *s, double counts[2],
                       char why[2][FESF_RUN_PATH_MAX + 128])
{
    char one[FESF_RUN_PATH_MAX + 128];
    if (w->rank == 0) {
        int cur = fesf_run_stage_current(cfg, s, 0, why[0], sizeof why[0]);
        if (cur < 0) return -1;
        counts[0] = !cur;
    }
    for (int site = 1; site <= cfg->data.sites; site++) {
        if (!fesf_world_owns_shard(w, site)) continue;
        int cur = fesf_run_stage_current(cfg, s, site, one, sizeof one);
        if (cur < 0) return -1;
        if (cur) continue;
        counts[1]++;
        if (w->rank == 0 && !why[1][0]) snprintf(why[1], sizeof why[1], "%s", one);
        if (w->rank != 0) fesf_info("stage %s: %s", s->name, one);
    }
    return 0;
}

/* Rank 0's sentence for a stale stage: what changed since stages.ini, then
 * which outputs are stale. */
static void stale_reason(const fesf_config *cfg, const fesf_stage *s, const double counts[2],
                         char why[2][FESF_RUN_PATH_MAX + 128], char *out, size_t size)
{
    char old[FESF_STAGE_KEYS_MAX], diff[1024] = "";
    if (fesf_run_recorded_keys(cfg->run.out, s->name, old, sizeof old) == 0) fesf_stage_diff(old, s, diff, sizeof diff);
    size_t n = (size_t)snprintf(out, size, "%s", diff);
    if (n < size && counts[0] > 0) n += (size_t)snprintf(out + n, size - n, "%s%s", n ? "; " : "", why[0]);
    if (n < size && counts[1] > 0)
        snprintf(out + n, size - n, "%s%.0f of %d shard%s stale%s%s", n ? "; " : "", counts[1], cfg->data.sites,
                 cfg->data.sites > 1 ? "s" : "", why[1][0] ? ", e.g. " : " (the sites' lines say which)", why[1]);
}

/* Does stage s run? Yes when an upstream stage ran (`up` names it), or
 * when any output, on any rank, lacks s's current stamp. Every rank gets
 * the same answer. */
static int decide(const fesf_config *cfg, const fesf_world *w, const fesf_stage *s, const char *up, int *run)
{
    char why[2][FESF_RUN_PATH_MAX + 128] = {"", ""}, name[48], reason[3072];
    double counts[2] = {0, 0};
    display_name(s, cfg, name, sizeof name);
    if (!up && (count_stale(cfg, w, s, counts, why) || fesf_fed_share_sum_f64(w, counts, 2))) return -1;
    *run = up || counts[0] > 0 || counts[1] > 0;
    if (w->rank != 0) return 0;
    if (up) {
        fesf_info("stage %s: run (upstream stage %s reran)", name, up);
    } else if (*run) {
        stale_reason(cfg, s, counts, why, reason, sizeof reason);
        fesf_info("stage %s: run (%s)", name, reason);
    } else {
        fesf_info("stage %s: skip (outputs exist and match the config)", name);
    }
    return 0;
}

/* Decide, run `body` if needed, then record the stage as done (rank 0). */
typedef int (*stage_body)(const fesf_config *cfg, const fesf_world *w, int only_stale, const fesf_run_opts *o);

static int stage(const fesf_config *cfg, const fesf_world *w, fesf_stage_id id, const char *up, stage_body body,
                 int *ran, const fesf_run_opts *o)
{
    fesf_stage s;
    if (fesf_stage_make(cfg, id, &s) || decide(cfg, w, &s, up, ran)) return -1;
    if (*ran && body(cfg, w, !up, o)) return -1;
    return w->rank == 0 ? fesf_run_record_stage(cfg->run.out, &s) : 0;
}

static int do_prepare(const fesf_config *cfg, const fesf_world *w, int only_stale, const fesf_run_opts *o)
{
    if (w->rank == 0 && fesf_prepare(cfg, 0)) return -1;
    return fesf_world_barrier(w);
}

static int do_hide(const fesf_config *cfg, const fesf_world *w, int only_stale, const fesf_run_opts *o)
{
    return fesf_hide_run(cfg, w, only_stale);
}

static int do_enhance(const fesf_config *cfg, const fesf_world *w, int only_stale, const fesf_run_opts *o)
{
    return fesf_iqem_enhance(cfg, w, NULL);
}

static int do_train(const fesf_config *cfg, const fesf_world *w, int only_stale, const fesf_run_opts *o)
{
    char dir[FESF_RUN_PATH_MAX];
    fesf_run_train_dir(dir, cfg->run.out, cfg->train.input);
    fesf_train_opts t = {FESF_RESUME_AUTO, o->exclude, o->n_exclude}; /* from the newest checkpoint that fits */
    return fesf_fed_train_opts(cfg, w, dir, &t);
}

static int do_audit(const fesf_config *cfg, const fesf_world *w, int only_stale, const fesf_run_opts *o) { return fesf_audit_run(cfg, w); }

/* Every stage of one run directory; the plain training only if with_plain and run.baseline_plain. */
static int run_one(const fesf_config *cfg, const fesf_world *w, int with_plain, const fesf_run_opts *o)
{
    int prep = 0, hide = 0, enh = 0, ran = 0;
    if (w->rank == 0 && fesf_mkdir_p(cfg->run.out)) return -1;
    if (fesf_world_barrier(w) || stage(cfg, w, FESF_STAGE_PREPARE, NULL, do_prepare, &prep, o) ||
        stage(cfg, w, FESF_STAGE_HIDE, prep ? "prepare" : NULL, do_hide, &hide, o) ||
        (cfg->iqem.enabled && stage(cfg, w, FESF_STAGE_ENHANCE, hide ? "hide" : NULL, do_enhance, &enh, o)))
        return -1;
    int inputs[3], n = 0;
    if (with_plain && cfg->run.baseline_plain) {
        inputs[n++] = FESF_INPUT_PLAIN;
        if (w->rank == 0)
            fesf_warn("run.baseline_plain = true: also training on the plaintext, a research-only upper bound "
                      "(plaintext-batch gradients reach the coordinator)");
    }
    inputs[n++] = FESF_INPUT_SYNTHETIC;
    if (cfg->iqem.enabled) inputs[n++] = FESF_INPUT_SURROGATE;
    for (int i = 0; i < n; i++) {
        fesf_config one = *cfg;
        one.train.input = inputs[i];
        const char *up = inputs[i] == FESF_INPUT_PLAIN  ? (prep ? "prepare" : NULL)
                         : inputs[i] == FESF_INPUT_SYNTHETIC ? (hide ? "hide" : NULL)
                                                             : (enh ? "enhance" : NULL);
        if (stage(&one, w, FESF_STAGE_TRAIN, up, do_train, &ran, o)) return -1;
    }
    const char *up = enh ? "enhance" : hide ? "hide" : NULL;
    if (cfg->audit.enabled && stage(cfg, w, FESF_STAGE_AUDIT, up, do_audit, &ran, o)) return -1;
    if (w->rank == 0) {
        if (fesf_report_run(cfg, inputs, n)) return -1;
        fesf_info("report: %s/report.md", cfg->run.out);
    }
    return fesf_world_barrier(w);
}

int fesf_pipeline_run(const fesf_config *cfg, const fesf_world *w, int point, const fesf_run_opts *o)
{
    int n = fesf_sweep_points(cfg);
    if (point >= 0 && point >= n)
        return fesf_error(n ? "--point %d: the sweep has points 0..%d" : "--point %d: the config has no [sweep]", point,
                          n - 1);
    if (n == 0) return run_one(cfg, w, 1, o);
    for (int p = 0; p < n; p++) {
        if (point >= 0 && p != point) continue;
        fesf_config one;
        fesf_sweep_point(cfg, p, &one);
        if (w->rank == 0)
            fesf_info("sweep point %d/%d: alpha %g, beta %g, noise %g -> %s", p + 1, n, one.ihm.alpha, one.ihm.beta,
                      one.ihm.noise, one.run.out);
        if (run_one(&one, w, p == 0, o)) return -1;
    }
    if (point >= 0) return 0; /* an array task: the collecting run writes the frontier */
    return w->rank == 0 ? fesf_report_sweep(cfg) : 0;
}
