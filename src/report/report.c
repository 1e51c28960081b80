/* The run report and the sweep report (see report.h). Every figure comes
 * from its writer's typed reader: training summaries and curves (fed.h),
 * the audit table (audit.h) and image quality (iqem.h). */
#include "fesf/report.h"
#include "fesf/audit.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/iqem.h"
#include "fesf/log.h"
#include "fesf/plot.h"
#include "fesf/run_dir.h"
#include "fesf/version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "m ± sd", or "m" for a single repeat (whose spread is not known). */
static void mean_sd(FILE *f, double m, double sd, int repeats)
{
    if (repeats > 1) fprintf(f, "%.3f ± %.3f", m, sd);
    else fprintf(f, "%.3f", m);
}

/* train-<input>/summary.tsv; -1 (error cleared) when that training has not finished. */
static int load_summary(const fesf_config *cfg, int input, fesf_train_summary *s)
{
    char dir[FESF_RUN_PATH_MAX];
    fesf_run_train_dir(dir, cfg->run.out, input);
    if (fesf_train_summary_load(dir, s) == 0) return 0;
    fesf_error_clear();
    return -1;
}

/* Rows of one input's summary in pass 0 (pooled best), 1 (per site) or 2 (pooled last). */
static void results_rows(FILE *f, const fesf_config *cfg, int input, int pass)
{
    fesf_train_summary s;
    if (load_summary(cfg, input, &s)) return;
    for (int i = 0; i < s.n; i++) {
        const fesf_train_row *r = &s.rows[i];
        int all = r->site == 0;
        if ((pass == 0 && (!all || r->last)) || (pass == 1 && all) || (pass == 2 && !r->last)) continue;
        fprintf(f, "| %s | ", fesf_run_input_name(input));
        if (all) fprintf(f, "all |");
        else fprintf(f, "site %d |", r->site);
        fprintf(f, " %s |", r->last ? "last round" : "best validation");
        for (int q = 0; q < FESF_TRAIN_FIGURES; q++) fputc(' ', f), mean_sd(f, r->mean[q], r->sd[q], r->repeats), fputs(" |", f);
        fputc('\n', f);
    }
    fesf_train_summary_free(&s);
}

/* One input's training length and flags (still improving, near chance), from its summary.tsv. */
static void training_flags(FILE *f, const fesf_config *cfg, int input)
{
    fesf_train_summary s;
    if (load_summary(cfg, input, &s)) return;
    const char *name = fesf_run_input_name(input), *pl = s.repeats > 1 ? "s" : "";
    if (s.repeats > 0 && s.rounds_min == s.rounds_max)
        fprintf(f, "- %s: %d rounds in every repeat.\n", name, s.rounds_max);
    else if (s.repeats > 0)
        fprintf(f, "- %s: %d to %d rounds.\n", name, s.rounds_min, s.rounds_max);
    if (s.dp)
        fprintf(f, "- %s: DP-SGD, epsilon %.3g at delta %.3g per site (the largest over sites; clip %g, noise "
                   "multiplier %.3g; what it covers: train-%s/report.md).\n", name, s.dp_epsilon, s.dp_delta,
                s.dp_clip, s.dp_noise, name);
    else
        fprintf(f, "- %s: no differential privacy on the model updates (train.dp_epsilon = 0).\n", name);
    fprintf(f, "- %s: %s.\n", name,
            s.secure_agg ? "secure aggregation, the coordinator saw only the sums of the site ranks' updates"
                         : "the updates reached the coordinator in the clear (train.secure_agg = false)");
    if (s.still_improving)
        fprintf(f, "- **%s: still improving** in %d of %d repeat%s (the best validation round was the last one): more "
                   "rounds may help (train.rounds = auto).\n", name, s.still_improving, s.repeats, pl);
    if (s.near_chance)
        fprintf(f, "- **%s: near chance** in %d of %d repeat%s: the test balanced accuracy is within 0.02 of chance "
                   "(%.3f), so the model tells the classes apart no better than a constant guess, whatever its "
                   "accuracy.\n", name, s.near_chance, s.repeats, pl, s.classes > 0 ? 1.0 / s.classes : 0.0);
    fesf_train_summary_free(&s);
}

/* What the surrogates protect against and what they do not, with this run's figures. */
static void plain_words(FILE *f, const fesf_config *cfg)
{
    const char *target = cfg->iqem.enabled ? "surrogate" : "synthetic";
    fesf_audit_row a;
    int ok = cfg->audit.enabled && fesf_audit_row_read(cfg->run.out, target, "all", &a) == 0;
    fesf_error_clear();
    fprintf(f, "### In plain words\n\n- **Protected**: the plaintext's phase, and with it its fine structure, never "
               "leaves a site: the model, the training and the other sites see only %s images built on the public "
               "host's phase.\n", target);
    fprintf(f, "- **Not protected**: the plaintext's low-frequency amplitude. An attacker who knows the method and "
               "the host can recover coarse anatomy and global intensity");
    if (ok)
        fprintf(f, "; this run's inversion attack scored %+.2f dB / %+.3f SSIM against the best guess without the "
                   "release (a short or narrow attack understates it)", a.advantage_db, a.advantage_ssim);
    fprintf(f, ".\n- **Linkage**: whoever holds a patient's image can look for that patient's release by its "
               "masked amplitude");
    if (ok)
        fprintf(f, ": here the linkage attack re-identified %.1f%% of the released test images (chance %.2f%%) and "
                   "told members from non-members with AUC %.3f", 100 * a.reid_top1, 100 * a.chance_top1, a.mia_auc);
    fprintf(f, ". %s\n", fesf_config_keyed(cfg) ? "The keyed options in use (noise, beta range or keyed host) make "
                                                  "the release depend on each site's secret key."
                                                : "The keyed options (ihm.noise, a beta range, a keyed host) are off.");
    if (!cfg->data.hosts[0])
        fprintf(f, "- **Simulation**: the host pool was taken from the dataset itself (no data.hosts), so the "
                   "\"public\" hosts are patient images, sent to every site.\n");
    fprintf(f, "- **Not covered**: the model updates and the final model carry information about the training "
               "images that no figure here bounds; IHM is not differential privacy.\n\n");
}

static void results_table(FILE *f, const fesf_config *cfg, const int *inputs, int n)
{
    fprintf(f, "## Results\n\nTest figures of the model of the best-validation round (the last round's too), pooled "
               "over sites (all) and per site; mean ± sd over %d repeat%s (seeds %llu..%llu). %s\n\n"
               "| input | sites | round | accuracy | balanced accuracy | macro-F1 | AUC |\n"
               "| --- | --- | --- | --- | --- | --- | --- |\n",
            cfg->run.repeats, cfg->run.repeats > 1 ? "s" : "", (unsigned long long)cfg->run.seed,
            (unsigned long long)cfg->run.seed + (unsigned long long)cfg->run.repeats - 1,
            cfg->run.baseline_plain
                ? "**plain is a research-only upper bound** (run.baseline_plain = true): its training sent "
                  "plaintext-batch gradients to the coordinator; in a real federation no plaintext reaches the model."
                : "No plaintext baseline was trained (run.baseline_plain = false): no plaintext reached the model.");
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < n; i++) results_rows(f, cfg, inputs[i], pass);
    fprintf(f, "\nPer-round figures: `train-<input>/metrics.jsonl`; models: `train-<input>/model.h5`.\n\n");
    for (int i = 0; i < n; i++) training_flags(f, cfg, inputs[i]);
    fputc('\n', f);
}

static void quality_table(FILE *f, const fesf_config *cfg)
{
    double v[FESF_IQEM_QUALITY_N];
    fprintf(f, "## Image quality (all sites, all splits; image-weighted means)\n\n");
    if (cfg->iqem.enabled && fesf_iqem_quality_read(cfg->run.out, v) == 0) {
        fprintf(f, "| measure | value |\n| --- | --- |\n");
        for (int k = 0; k < FESF_IQEM_QUALITY_N; k++) fprintf(f, "| %s | %.4f |\n", fesf_iqem_quality_names[k], v[k]);
    } else {
        fprintf(f, "(no surrogates: iqem.enabled = false)\n");
    }
    fprintf(f, "\nFigures: each site's `site-NNN/figures/iqem.png` (rows of host | plaintext | synthetic | surrogate), "
               "private to the site: it shows its plaintext.\n\n");
}

static void config_and_versions(FILE *f, const fesf_config *cfg)
{
    fprintf(f, "## Config\n\n```ini\n");
    char *text = fesf_config_text_alloc(cfg);
    fputs(text ? text : "", f);
    free(text);
    fprintf(f, "```\n\n## Versions\n\n```\n");
    fesf_print_versions(f);
    fprintf(f, "```\n");
}

/* figures/curves.png: validation AUC per round of every input (first repeat). */
static int curves_plot(const fesf_config *cfg, const int *inputs, int n)
{
    enum { MAXR = 100000 };
    double *xy = malloc(sizeof(double) * 2 * MAXR * 3);
    fesf_plot_series s[3];
    char path[FESF_RUN_PATH_MAX], dir[FESF_RUN_PATH_MAX];
    if (!xy) return fesf_error("out of memory");
    for (int i = 0; i < n; i++) {
        double *x = xy + (size_t)2 * MAXR * i, *y = x + MAXR;
        fesf_run_train_dir(dir, cfg->run.out, inputs[i]);
        s[i] = (fesf_plot_series){fesf_run_input_name(inputs[i]), fesf_train_curve_read(dir, 0, x, y, MAXR), x, y,
                                  NULL, 1, 1};
    }
    fesf_run_file(dir, cfg->run.out, FESF_RUN_FIGURES);
    fesf_run_file(path, dir, "curves.png");
    fesf_plot_opts o = {"Training (first repeat)", "round", "pooled validation AUC", 0, 0};
    int rc = fesf_mkdir_p(dir) || fesf_plot_png(path, &o, s, n) ? -1 : 0;
    free(xy);
    return rc;
}

int fesf_report_run(const fesf_config *cfg, const int *inputs, int n)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, cfg->run.out, FESF_RUN_REPORT);
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    fprintf(f, "# fesf report\n\n%s, %d sites (%s), alpha %g, beta %g, model %s.", cfg->data.source, cfg->data.sites,
            fesf_config_enum_name("data.partition", cfg->data.partition), cfg->ihm.alpha, cfg->ihm.beta,
            fesf_config_enum_name("model.arch", cfg->model.arch));
    if (fesf_config_keyed(cfg))
        fprintf(f, " Keyed options (each site's secret key): amplitude noise sigma %g, beta in [%g, %g], host %s.",
                cfg->ihm.noise, cfg->ihm.beta_min, cfg->ihm.beta_max, fesf_config_enum_name("ihm.host_mode", cfg->ihm.host_mode));
    fprintf(f, "\n\n");
    results_table(f, cfg, inputs, n);
    fprintf(f, "![training curves](figures/curves.png)\n\n");
    quality_table(f, cfg);
    fprintf(f, "## Privacy audit\n\n");
    if (cfg->audit.enabled) fesf_audit_md_copy(f, cfg->run.out);
    else fprintf(f, "Not run (audit.enabled = false): this report states no privacy figure.\n");
    fprintf(f, "\n");
    plain_words(f, cfg);
    config_and_versions(f, cfg);
    if (fesf_atomic_commit(f, path)) return -1;
    return curves_plot(cfg, inputs, n);
}

/* ---- the sweep report ----------------------------------------------------------- */

typedef struct {
    double alpha, beta, noise, acc[3], acc_sd[3], auc[3], adv_db, adv_ssim, att_ssim, top1, tpr1, mia_auc;
} point_result;

static const int report_inputs[3] = {FESF_INPUT_PLAIN, FESF_INPUT_SYNTHETIC, FESF_INPUT_SURROGATE};

static void point_read(const fesf_config *one, point_result *r)
{
    char dir[FESF_RUN_PATH_MAX];
    r->alpha = one->ihm.alpha, r->beta = one->ihm.beta, r->noise = one->ihm.noise;
    for (int i = 0; i < 3; i++) {
        fesf_train_summary s;
        const fesf_train_row *row = NULL;
        fesf_run_train_dir(dir, one->run.out, report_inputs[i]);
        if (fesf_train_summary_load(dir, &s) == 0) row = fesf_train_summary_find(&s, 0, 0);
        fesf_error_clear();
        r->acc[i] = row ? row->mean[0] : NAN, r->acc_sd[i] = row ? row->sd[0] : NAN, r->auc[i] = row ? row->mean[3] : NAN;
        fesf_train_summary_free(&s);
    }
    fesf_audit_row a;
    int ok = fesf_audit_row_read(one->run.out, one->iqem.enabled ? "surrogate" : "synthetic", "all", &a) == 0;
    r->adv_db = ok ? a.advantage_db : NAN, r->adv_ssim = ok ? a.advantage_ssim : NAN, r->att_ssim = ok ? a.ssim_attack : NAN;
    r->top1 = ok ? a.reid_top1 : NAN, r->tpr1 = ok ? a.mia_tpr_1pct : NAN, r->mia_auc = ok ? a.mia_auc : NAN;
}

/* One sweep figure: a series per (beta, noise) over alpha, points labelled by alpha. */
typedef struct {
    const char *file, *title, *xlabel;
    double (*x)(const point_result *), (*y)(const point_result *, int sur);
    int use_acc; /* y is an accuracy: draw plain's as a line */
} sweep_fig;

static double x_adv(const point_result *r) { return r->adv_ssim; }
static double x_top1(const point_result *r) { return r->top1; }
static double y_acc(const point_result *r, int sur) { return r->acc[sur ? 2 : 1]; }
static double y_auc(const point_result *r, int sur) { return r->auc[sur ? 2 : 1]; }

#define MAX_POINTS (FESF_LIST_MAX * FESF_LIST_MAX * FESF_LIST_MAX)
#define MAX_GROUPS (FESF_LIST_MAX * FESF_LIST_MAX)

static int sweep_plot(const fesf_config *cfg, const point_result *pr, int n, const sweep_fig *fig)
{
    int ng = fesf_sweep_betas(cfg) * fesf_sweep_noises(cfg), na = n / ng, sur = cfg->iqem.enabled;
    char path[FESF_RUN_PATH_MAX], dir[FESF_RUN_PATH_MAX], names[MAX_GROUPS + 1][48];
    static char labels[MAX_POINTS][24];
    static const char *lp[MAX_POINTS];
    static double x[MAX_POINTS], y[MAX_POINTS];
    static fesf_plot_series s[MAX_GROUPS + 1];
    double px[2] = {INFINITY, -INFINITY}, py[2], plain = fig->use_acc ? pr[0].acc[0] : pr[0].auc[0];
    for (int g = 0; g < ng; g++) {
        for (int a = 0; a < na; a++) {
            int k = g * na + a;
            const point_result *r = &pr[a * ng + g];
            x[k] = fig->x(r), y[k] = fig->y(r, sur);
            snprintf(labels[k], sizeof labels[k], "alpha %g", r->alpha), lp[k] = labels[k];
            if (isfinite(x[k])) px[0] = fmin(px[0], x[k]), px[1] = fmax(px[1], x[k]);
        }
        if (cfg->sweep.noise.n) snprintf(names[g], sizeof names[g], "beta %g, noise %g", pr[g].beta, pr[g].noise);
        else snprintf(names[g], sizeof names[g], "beta %g", pr[g].beta);
        s[g] = (fesf_plot_series){names[g], na, x + g * na, y + g * na, lp + g * na, 1, 1};
    }
    int ns = ng;
    if (isfinite(plain) && isfinite(px[0])) { /* the upper bound as a horizontal line */
        py[0] = py[1] = plain;
        snprintf(names[ng], sizeof names[ng], "plain (upper bound)");
        s[ns++] = (fesf_plot_series){names[ng], 2, px, py, NULL, 1, 0};
    }
    char ylabel[64];
    snprintf(ylabel, sizeof ylabel, "%s test %s", sur ? "surrogate" : "synthetic", fig->use_acc ? "accuracy" : "AUC");
    fesf_run_file(dir, cfg->run.out, FESF_RUN_FIGURES);
    fesf_run_file(path, dir, fig->file);
    fesf_plot_opts o = {fig->title, fig->xlabel, ylabel, 0, 0};
    return fesf_mkdir_p(dir) || fesf_plot_png(path, &o, s, ns) ? -1 : 0;
}

static const sweep_fig figs[2] = {
    {"frontier.png", "Privacy-utility frontier: inversion", "attack advantage over the prior (SSIM; lower is more private)",
     x_adv, y_acc, 1},
    {"reid.png", "Privacy-utility frontier: re-identification", "linkage top-1 re-identification (lower is more private)",
     x_top1, y_auc, 0},
};

static void sweep_table(FILE *f, const fesf_config *cfg, const point_result *pr, int n)
{
    fprintf(f, "# fesf sweep report: the privacy-utility frontier\n\n%s, %d sites, %d points; test figures at the "
               "best-validation round (mean ± sd over %d repeat%s); the audit's figures are the attacks on the %s "
               "images: the inversion's advantage over the prior (mean public image), the linkage's top-1 "
               "re-identification and membership inference. Each point's full report: `alpha<A>-beta<B>%s/report.md`.\n\n"
               "| alpha | beta | noise | synthetic accuracy | synthetic AUC | surrogate accuracy | surrogate AUC | "
               "attack SSIM | advantage dB | advantage SSIM | re-identification top-1 | membership TPR at 1%% FPR | "
               "membership AUC |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
            cfg->data.source, cfg->data.sites, n, cfg->run.repeats, cfg->run.repeats > 1 ? "s" : "",
            cfg->iqem.enabled ? "surrogate" : "synthetic", cfg->sweep.noise.n ? "-noise<S>" : "");
    for (int p = 0; p < n; p++) {
        fprintf(f, "| %g | %g | %g | ", pr[p].alpha, pr[p].beta, pr[p].noise);
        mean_sd(f, pr[p].acc[1], pr[p].acc_sd[1], cfg->run.repeats);
        fprintf(f, " | %.3f | ", pr[p].auc[1]);
        mean_sd(f, pr[p].acc[2], pr[p].acc_sd[2], cfg->run.repeats);
        fprintf(f, " | %.3f | %.3f | %+.2f | %+.3f | %.3f | %.3f | %.3f |\n", pr[p].auc[2], pr[p].att_ssim, pr[p].adv_db,
                pr[p].adv_ssim, pr[p].top1, pr[p].tpr1, pr[p].mia_auc);
    }
    if (cfg->run.baseline_plain) {
        fprintf(f, "\nplain (research-only upper bound, trained once, in the first point's folder): accuracy ");
        mean_sd(f, pr[0].acc[0], pr[0].acc_sd[0], cfg->run.repeats);
        fprintf(f, ", AUC %.3f.\n", pr[0].auc[0]);
    }
    fprintf(f, "\n![frontier](figures/frontier.png)\n\n![re-identification](figures/reid.png)\n\n");
}

int fesf_report_sweep(const fesf_config *cfg)
{
    int n = fesf_sweep_points(cfg);
    static point_result pr[MAX_POINTS];
    for (int p = 0; p < n; p++) {
        fesf_config one;
        fesf_sweep_point(cfg, p, &one);
        point_read(&one, &pr[p]);
    }
    char path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, cfg->run.out, FESF_RUN_REPORT);
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    sweep_table(f, cfg, pr, n);
    config_and_versions(f, cfg);
    if (fesf_atomic_commit(f, path)) return -1;
    for (int i = 0; i < 2; i++)
        if (sweep_plot(cfg, pr, n, &figs[i])) return -1;
    fesf_info("sweep report: %s (figures %s/figures/frontier.png, reid.png)", path, cfg->run.out);
    return 0;
}
