/* fesf run CONFIG: prepare, hide, enhance, train (plain, synthetic and
 * surrogate inputs) and audit in one MPI job, skipping a stage whose outputs
 * exist and match the config, then one report.md. With a [sweep] the same
 * for every (alpha, beta) point in its own folder, then the frontier. */
#include "fesf/audit.h"
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/h5io.h"
#include "fesf/hide.h"
#include "fesf/iqem.h"
#include "fesf/log.h"
#include "fesf/plot.h"
#include "fesf/prepare.h"
#include "fesf/version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const inputs[] = {"plain", "synthetic", "surrogate"};

/* Does site-001.h5's group `group` exist with attributes alpha/beta (or
 * alpha2/beta2) equal to the config's? Rank 0 only. */
static int stage_valid(const fesf_config *cfg, const char *group, const char *ka, const char *kb, double a, double b)
{
    char path[FESF_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/site-001.h5", cfg->run.out);
    hid_t f = fesf_h5_open(path, "fesf-shard", FESF_SHARD_VERSION, 0);
    if (f < 0) return 0;
    int ok = 0;
    if (H5Lexists(f, group, H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
        double va = NAN, vb = NAN;
        ok = !fesf_h5_attr_get_f64(g, ka, &va) && !fesf_h5_attr_get_f64(g, kb, &vb) && va == a && vb == b;
        H5Gclose(g);
    }
    H5Fclose(f);
    fesf_error_clear();
    return ok;
}

/* Did a finished training in `dir` use exactly this config? (summary.tsv's hash) */
static int train_valid(const fesf_config *one, const char *dir)
{
    char path[FESF_PATH_MAX + 64], line[128], want[64];
    snprintf(path, sizeof path, "%s/summary.tsv", dir);
    snprintf(want, sizeof want, "# fesf train config_hash=%016llx\n", (unsigned long long)fesf_fed_train_hash(one));
    FILE *f = fopen(path, "r");
    int ok = f && fgets(line, sizeof line, f) && !strcmp(line, want);
    if (f) fclose(f);
    return ok;
}

/* Rank 0 decides, everyone learns: 1 = run the stage. */
static int decide(fesf_cli *c, int64_t *run, const char *stage, int rank0_says)
{
    if (c->world.rank == 0) {
        *run = rank0_says;
        fesf_info("stage %s: %s", stage, *run ? "run" : "outputs exist and match the config, skipped");
    }
    return fesf_world_bcast(&c->world, run, sizeof *run, 0);
}

/* ---- reading the stages' tables ---------------------------------------------- */

/* The numeric columns of the first row of a TSV whose first two fields are
 * k1 and k2 (NULL matches any); up to max values. Returns how many, or 0. */
static int tsv_find(const char *path, const char *k1, const char *k2, double *v, int max)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    while (f && !n && fgets(line, sizeof line, f)) {
        char *save = NULL, *a = strtok_r(line, "\t\n", &save), *b = strtok_r(NULL, "\t\n", &save);
        if (!a || !b || a[0] == '#' || strcmp(a, k1) || (k2 && strcmp(b, k2))) continue;
        for (char *t; n < max && (t = strtok_r(NULL, "\t\n", &save));) v[n++] = strtod(t, NULL);
    }
    if (f) fclose(f);
    return n;
}

/* Copy the file at `path` (if any) into out. */
static void copy_file(FILE *out, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    while (f && fgets(line, sizeof line, f)) fputs(line, out);
    if (f) fclose(f);
}

/* ---- report.md of one run ----------------------------------------------------- */

/* "m ± sd", or "m" for a single repeat (whose spread is not known). */
static void mean_sd(FILE *f, double m, double sd, int repeats)
{
    if (repeats > 1) fprintf(f, "%.3f ± %.3f", m, sd);
    else fprintf(f, "%.3f", m);
}

/* The results table: every input's summary.tsv rows (pooled best, per site, pooled last). */
static void results_table(FILE *f, const fesf_config *cfg, int n_inputs, const int *which)
{
    fprintf(f, "## Results\n\nTest figures of the model of the best-validation round (the last round's too), pooled "
               "over sites (all) and per site; mean ± sd over %d repeat%s (seeds %llu..%llu). plain is the upper bound, "
               "for comparison only: no plaintext reaches the model in fesf.\n\n"
               "| input | sites | round | accuracy | balanced accuracy | macro-F1 | AUC |\n"
               "| --- | --- | --- | --- | --- | --- | --- |\n",
            cfg->run.repeats, cfg->run.repeats > 1 ? "s" : "", (unsigned long long)cfg->run.seed,
            (unsigned long long)cfg->run.seed + (unsigned long long)cfg->run.repeats - 1);
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < n_inputs; i++) {
            char path[FESF_PATH_MAX + 64], line[1024];
            snprintf(path, sizeof path, "%s/train-%s/summary.tsv", cfg->run.out, inputs[which[i]]);
            FILE *s = fopen(path, "r");
            while (s && fgets(line, sizeof line, s)) {
                char in[32], site[32], round[16];
                int rep;
                double v[8];
                if (sscanf(line, "%31s %31s %15s %d %lf %lf %lf %lf %lf %lf %lf %lf", in, site, round, &rep, &v[0], &v[1],
                           &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 12)
                    continue;
                int all = !strcmp(site, "all"), last = !strcmp(round, "last");
                if ((pass == 0 && (!all || last)) || (pass == 1 && all) || (pass == 2 && !last)) continue;
                fprintf(f, "| %s | %s%s | %s |", in, all ? "" : "site ", site, last ? "last round" : "best validation");
                for (int q = 0; q < 4; q++) fputc(' ', f), mean_sd(f, v[2 * q], v[2 * q + 1], rep), fputs(" |", f);
                fputc('\n', f);
            }
            if (s) fclose(s);
        }
    fprintf(f, "\nPer-round figures: `train-<input>/metrics.jsonl`; models: `train-<input>/model.h5`.\n\n");
}

static void quality_table(FILE *f, const fesf_config *cfg)
{
    static const char *const keys[] = {"psnr_synthetic_plain", "ssim_synthetic_plain", "psnr_surrogate_plain",
                                       "ssim_surrogate_plain", "psnr_synthetic_host", "ssim_synthetic_host",
                                       "psnr_surrogate_host", "ssim_surrogate_host", "outside01_synthetic",
                                       "outside01_surrogate"};
    char path[FESF_PATH_MAX + 32];
    fprintf(f, "## Image quality (site 1, all splits)\n\n");
    snprintf(path, sizeof path, "%s/site-001.h5", cfg->run.out);
    hid_t h = fesf_h5_open(path, "fesf-shard", FESF_SHARD_VERSION, 0);
    if (h >= 0 && H5Lexists(h, "surrogate", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(h, "surrogate", H5P_DEFAULT);
        fprintf(f, "| measure | value |\n| --- | --- |\n");
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            double v = NAN;
            fesf_h5_attr_get_f64(g, keys[k], &v);
            fprintf(f, "| %s | %.4f |\n", keys[k], v);
        }
        H5Gclose(g);
    } else {
        fprintf(f, "(no surrogates: iqem.enabled = false)\n");
    }
    if (h >= 0) H5Fclose(h);
    fesf_error_clear();
    fprintf(f, "\nFigure: `figures/iqem-site-NNN.png` (rows of host | plaintext | synthetic | surrogate).\n\n");
}

static void config_and_versions(FILE *f, const fesf_config *cfg)
{
    fprintf(f, "## Config\n\n```ini\n");
    char *text = fesf_config_text_alloc(cfg);
    fputs(text ? text : "", f);
    free(text);
    fprintf(f, "```\n\n## Versions\n\n```\n");
    fesf_cli_print_versions(f);
    fprintf(f, "```\n");
}

/* Pooled validation AUC per round of the first repeat, from a metrics.jsonl
 * this program wrote (fixed key order: "repeat", "round", ... "val_auc"
 * before "per_site"). Returns the rounds read, at most max. */
static int read_curve(const char *path, double *x, double *y, int max)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int n = 0;
    while (f && n < max && fgets(line, sizeof line, f)) {
        int rep = -1, round = 0;
        const char *v = strstr(line, "\"val_auc\": "), *ps = strstr(line, "\"per_site\"");
        if (sscanf(line, "{\"repeat\": %d, \"round\": %d", &rep, &round) != 2 || rep != 0) continue;
        x[n] = round, y[n] = NAN; /* rounds without evaluation, or an undefined AUC ("null") */
        if (v && (!ps || v < ps) && strncmp(v + 11, "null", 4)) y[n] = strtod(v + 11, NULL);
        n++;
    }
    if (f) fclose(f);
    return n;
}

/* figures/curves.png: validation AUC per round of every input (first repeat). */
static int curves_plot(const fesf_config *cfg, int n_inputs, const int *which)
{
    enum { MAXR = 100000 };
    double *xy = malloc(sizeof(double) * 2 * MAXR * 3);
    fesf_plot_series s[3];
    char path[FESF_PATH_MAX + 64], dir[FESF_PATH_MAX + 16];
    if (!xy) return fesf_error("out of memory");
    for (int i = 0; i < n_inputs; i++) {
        double *x = xy + (size_t)2 * MAXR * i, *y = x + MAXR;
        snprintf(path, sizeof path, "%s/train-%s/metrics.jsonl", cfg->run.out, inputs[which[i]]);
        s[i] = (fesf_plot_series){inputs[which[i]], read_curve(path, x, y, MAXR), x, y, NULL, 1, 1};
    }
    snprintf(dir, sizeof dir, "%s/figures", cfg->run.out);
    snprintf(path, sizeof path, "%s/curves.png", dir);
    fesf_plot_opts o = {"Training (first repeat)", "round", "pooled validation AUC", 0, 0};
    int rc = fesf_mkdir_p(dir) || fesf_plot_png(path, &o, s, n_inputs) ? -1 : 0;
    free(xy);
    return rc;
}

static int write_report(const fesf_config *cfg, int n_inputs, const int *which)
{
    char path[FESF_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/report.md", cfg->run.out);
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    fprintf(f, "# fesf report\n\n%s, %d sites (%s), alpha %g, beta %g, model %s.\n\n", cfg->data.source,
            cfg->data.sites, fesf_config_enum_name("data.partition", cfg->data.partition), cfg->ihm.alpha,
            cfg->ihm.beta, fesf_config_enum_name("model.arch", cfg->model.arch));
    results_table(f, cfg, n_inputs, which);
    fprintf(f, "![training curves](figures/curves.png)\n\n");
    quality_table(f, cfg);
    fprintf(f, "## Privacy audit\n\n");
    snprintf(path, sizeof path, "%s/audit.md", cfg->run.out);
    if (cfg->audit.enabled) copy_file(f, path);
    else fprintf(f, "Not run (audit.enabled = false): this report states no privacy figure.\n");
    fprintf(f, "\n");
    config_and_versions(f, cfg);
    snprintf(path, sizeof path, "%s/report.md", cfg->run.out);
    if (fesf_atomic_commit(f, path)) return -1;
    return curves_plot(cfg, n_inputs, which);
}

/* ---- one run ------------------------------------------------------------------ */

static int run_data_stages(fesf_cli *c, const fesf_config *cfg, int64_t *upstream)
{
    int64_t run = 0;
    int shards = 0;
    if (c->world.rank == 0) fesf_count_shards(cfg->run.out, &shards), fesf_error_clear();
    if (decide(c, &run, "prepare", shards == 0)) return -1;
    if (run && c->world.rank == 0 && fesf_prepare(cfg, 0)) return -1;
    if (fesf_world_barrier(&c->world)) return -1;
    if (decide(c, &run, "hide", run || !stage_valid(cfg, "synthetic", "alpha", "beta", cfg->ihm.alpha, cfg->ihm.beta)))
        return -1;
    if (run && fesf_hide_run(cfg, &c->world)) return -1;
    *upstream = run;
    if (!cfg->iqem.enabled) return 0;
    if (decide(c, &run, "enhance",
               run || !stage_valid(cfg, "surrogate", "alpha2", "beta2", cfg->iqem.alpha2, cfg->iqem.beta2)))
        return -1;
    if (run && fesf_iqem_enhance(cfg, &c->world, NULL)) return -1;
    *upstream |= run;
    return 0;
}

/* Every stage of one run directory; plain training only if with_plain. */
static int run_one(fesf_cli *c, const fesf_config *cfg, int with_plain)
{
    int64_t upstream = 0, run = 0;
    if (c->world.rank == 0 && fesf_mkdir_p(cfg->run.out)) return -1;
    if (run_data_stages(c, cfg, &upstream)) return -1;
    int which[3], n_inputs = 0;
    for (int i = with_plain ? 0 : 1; i < (cfg->iqem.enabled ? 3 : 2); i++) which[n_inputs++] = i;
    for (int k = 0; k < n_inputs; k++) {
        int i = which[k];
        fesf_config one = *cfg;
        one.train.input = i == 0 ? FESF_INPUT_PLAIN : i == 1 ? FESF_INPUT_SYNTHETIC : FESF_INPUT_SURROGATE;
        char out[FESF_PATH_MAX + 32], stage[32];
        snprintf(out, sizeof out, "%s/train-%s", cfg->run.out, inputs[i]);
        snprintf(stage, sizeof stage, "train (%s)", inputs[i]);
        if (decide(c, &run, stage, (upstream && i > 0) || !train_valid(&one, out))) return -1;
        if (run && fesf_fed_train_to(&one, &c->world, 0, out)) return -1;
    }
    if (cfg->audit.enabled) {
        if (decide(c, &run, "audit", upstream || !fesf_audit_valid(cfg))) return -1;
        if (run && fesf_audit_run(cfg, &c->world)) return -1;
    }
    if (c->world.rank == 0) {
        if (write_report(cfg, n_inputs, which)) return -1;
        fesf_info("report: %s/report.md", cfg->run.out);
    }
    return fesf_world_barrier(&c->world);
}

/* ---- sweeps ---------------------------------------------------------------------- */

static int n_points(const fesf_config *cfg)
{
    int na = cfg->sweep.alpha.n ? cfg->sweep.alpha.n : 1, nb = cfg->sweep.beta.n ? cfg->sweep.beta.n : 1;
    return cfg->sweep.alpha.n || cfg->sweep.beta.n ? na * nb : 0;
}

/* Point p (alpha-major) of the sweep: its config, in run.out/alpha<A>-beta<B>. */
static void point_config(const fesf_config *cfg, int p, fesf_config *one)
{
    int nb = cfg->sweep.beta.n ? cfg->sweep.beta.n : 1;
    *one = *cfg;
    one->ihm.alpha = cfg->sweep.alpha.n ? cfg->sweep.alpha.v[p / nb] : cfg->ihm.alpha;
    one->ihm.beta = cfg->sweep.beta.n ? cfg->sweep.beta.v[p % nb] : cfg->ihm.beta;
    if (cfg->iqem.alpha2_auto) one->iqem.alpha2 = one->ihm.alpha;
    if (cfg->iqem.beta2_auto) one->iqem.beta2 = one->ihm.beta;
    memset(&one->sweep, 0, sizeof one->sweep);
    snprintf(one->run.out, sizeof one->run.out, "%.*s/alpha%g-beta%g", FESF_PATH_MAX - 40, cfg->run.out,
             one->ihm.alpha, one->ihm.beta);
}

typedef struct {
    double alpha, beta, acc[3], acc_sd[3], auc[3], adv_db, adv_ssim, att_ssim;
} point_result;

static void point_read(const fesf_config *one, point_result *r)
{
    char path[FESF_PATH_MAX + 64];
    double v[16];
    r->alpha = one->ihm.alpha, r->beta = one->ihm.beta;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/train-%s/summary.tsv", one->run.out, inputs[i]);
        int ok = tsv_find(path, inputs[i], "all", v, 10) == 10; /* round (text) -> 0, repeats, 4 x (mean, sd) */
        r->acc[i] = ok ? v[2] : NAN, r->acc_sd[i] = ok ? v[3] : NAN, r->auc[i] = ok ? v[8] : NAN;
    }
    snprintf(path, sizeof path, "%s/audit.tsv", one->run.out);
    int ok = tsv_find(path, one->iqem.enabled ? "surrogate" : "synthetic", "all", v, 11) == 11;
    r->adv_db = ok ? v[9] : NAN, r->adv_ssim = ok ? v[10] : NAN, r->att_ssim = ok ? v[2] : NAN;
}

static int frontier_plot(const fesf_config *cfg, const point_result *pr, int n, double plain_acc)
{
    int nb = cfg->sweep.beta.n ? cfg->sweep.beta.n : 1, na = n / nb;
    char path[FESF_PATH_MAX + 64], dir[FESF_PATH_MAX + 16];
    char labels[FESF_LIST_MAX * FESF_LIST_MAX][24], names[FESF_LIST_MAX + 1][32];
    const char *lp[FESF_LIST_MAX * FESF_LIST_MAX];
    double x[FESF_LIST_MAX * FESF_LIST_MAX], y[FESF_LIST_MAX * FESF_LIST_MAX], px[2] = {INFINITY, -INFINITY}, py[2];
    fesf_plot_series s[FESF_LIST_MAX + 1];
    for (int b = 0; b < nb; b++) {
        for (int a = 0; a < na; a++) {
            int k = b * na + a;
            const point_result *r = &pr[a * nb + b];
            x[k] = r->adv_ssim, y[k] = r->acc[cfg->iqem.enabled ? 2 : 1];
            snprintf(labels[k], sizeof labels[k], "alpha %g", r->alpha), lp[k] = labels[k];
            if (isfinite(x[k])) px[0] = fmin(px[0], x[k]), px[1] = fmax(px[1], x[k]);
        }
        snprintf(names[b], sizeof names[b], "beta %g", pr[b].beta);
        s[b] = (fesf_plot_series){names[b], na, x + b * na, y + b * na, lp + b * na, 1, 1};
    }
    int ns = nb;
    if (isfinite(plain_acc) && isfinite(px[0])) { /* the upper bound as a horizontal line */
        py[0] = py[1] = plain_acc;
        snprintf(names[nb], sizeof names[nb], "plain (upper bound)");
        s[ns++] = (fesf_plot_series){names[nb], 2, px, py, NULL, 1, 0};
    }
    snprintf(dir, sizeof dir, "%s/figures", cfg->run.out);
    snprintf(path, sizeof path, "%s/frontier.png", dir);
    fesf_plot_opts o = {"Privacy-utility frontier",
                        "attack advantage over the prior (SSIM; lower is more private)",
                        cfg->iqem.enabled ? "surrogate test accuracy" : "synthetic test accuracy", 0, 0};
    return fesf_mkdir_p(dir) || fesf_plot_png(path, &o, s, ns) ? -1 : 0;
}

static int sweep_report(const fesf_config *cfg)
{
    int n = n_points(cfg);
    point_result pr[FESF_LIST_MAX * FESF_LIST_MAX];
    for (int p = 0; p < n; p++) {
        fesf_config one;
        point_config(cfg, p, &one);
        point_read(&one, &pr[p]);
    }
    char path[FESF_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/report.md", cfg->run.out);
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    fprintf(f, "# fesf sweep report: the privacy-utility frontier\n\n%s, %d sites, %d points; test figures at the "
               "best-validation round (mean ± sd over %d repeat%s); the audit's advantage is the attack on the %s images "
               "over the prior (mean public image). Each point's full report: `alpha<A>-beta<B>/report.md`.\n\n"
               "| alpha | beta | synthetic accuracy | synthetic AUC | surrogate accuracy | surrogate AUC | attack SSIM | "
               "advantage dB | advantage SSIM |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
            cfg->data.source, cfg->data.sites, n, cfg->run.repeats, cfg->run.repeats > 1 ? "s" : "",
            cfg->iqem.enabled ? "surrogate" : "synthetic");
    for (int p = 0; p < n; p++) {
        fprintf(f, "| %g | %g | ", pr[p].alpha, pr[p].beta);
        mean_sd(f, pr[p].acc[1], pr[p].acc_sd[1], cfg->run.repeats);
        fprintf(f, " | %.3f | ", pr[p].auc[1]);
        mean_sd(f, pr[p].acc[2], pr[p].acc_sd[2], cfg->run.repeats);
        fprintf(f, " | %.3f | %.3f | %+.2f | %+.3f |\n", pr[p].auc[2], pr[p].att_ssim, pr[p].adv_db, pr[p].adv_ssim);
    }
    fprintf(f, "\nplain (upper bound, trained once, in the first point's folder): accuracy ");
    mean_sd(f, pr[0].acc[0], pr[0].acc_sd[0], cfg->run.repeats);
    fprintf(f, ", AUC %.3f.\n\n![frontier](figures/frontier.png)\n\n", pr[0].auc[0]);
    config_and_versions(f, cfg);
    if (fesf_atomic_commit(f, path)) return -1;
    if (frontier_plot(cfg, pr, n, pr[0].acc[0])) return -1;
    fesf_info("sweep report: %s (figure %s/figures/frontier.png)", path, cfg->run.out);
    return 0;
}

static int run_sweep(fesf_cli *c, int point)
{
    int n = n_points(&c->cfg);
    for (int p = 0; p < n; p++) {
        if (point >= 0 && p != point) continue;
        fesf_config one;
        point_config(&c->cfg, p, &one);
        if (c->world.rank == 0) fesf_info("sweep point %d/%d: alpha %g, beta %g -> %s", p + 1, n, one.ihm.alpha, one.ihm.beta, one.run.out);
        if (run_one(c, &one, p == 0)) return -1;
    }
    if (point >= 0) return 0; /* an array task: the collecting run writes the frontier */
    return c->world.rank == 0 ? sweep_report(&c->cfg) : 0;
}

int fesf_cmd_run(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c);
    int point = -1;
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "run", argc, argv, &i);
        if (r < 0) return FESF_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(argv[i], "--point") && i + 1 < argc) {
            char *end;
            point = (int)strtol(argv[++i], &end, 10);
            if (*end || point < 0) return fesf_cli_usage("run", "--point '%s': expected a point number from 0", argv[i]);
            continue;
        }
        if (argv[i][0] == '-') return fesf_cli_usage("run", "unknown option '%s'", argv[i]);
        if (fesf_config_load(&c.cfg, argv[i])) { /* fesf run CONFIG */
            fprintf(stderr, "fesf run: %s\n", fesf_errmsg());
            return FESF_EXIT_USAGE;
        }
    }
    if (fesf_cli_start(&c, &argc, &argv)) return fesf_cli_fail(&c);
    int n = n_points(&c.cfg), rc;
    if (point >= 0 && point >= n) {
        fesf_error(n ? "--point %d: the sweep has points 0..%d" : "--point %d: the config has no [sweep]", point, n - 1);
        return fesf_cli_fail(&c);
    }
    rc = n ? run_sweep(&c, point) : run_one(&c, &c.cfg, 1);
    if (rc) return fesf_cli_fail(&c);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
