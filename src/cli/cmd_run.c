/* fesf run CONFIG: prepare, hide, enhance and train (plain, synthetic and
 * surrogate inputs) in one MPI job, skipping a stage whose outputs exist and
 * match the config, then one report.md comparing the three inputs. */
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/h5io.h"
#include "fesf/hide.h"
#include "fesf/iqem.h"
#include "fesf/log.h"
#include "fesf/prepare.h"
#include "fesf/version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Rank 0 decides, everyone learns: 1 = run the stage. */
static int decide(fesf_cli *c, int64_t *run, const char *stage, int rank0_says)
{
    if (c->world.rank == 0) {
        *run = rank0_says;
        fesf_info("stage %s: %s", stage, *run ? "run" : "outputs exist and match the config, skipped");
    }
    return fesf_world_bcast(&c->world, run, sizeof *run, 0);
}

static int write_report(const fesf_config *cfg, int n_inputs, const char *const *inputs)
{
    char path[FESF_PATH_MAX + 64], line[1024];
    snprintf(path, sizeof path, "%s/report.md", cfg->run.out);
    FILE *f = fopen(path, "w");
    if (!f) return fesf_error("cannot write '%s'", path);
    fprintf(f, "# fesf report\n\n## Results (test, pooled over sites; mean ± sd over %d repeat%s)\n\n"
               "| input | round | accuracy | balanced accuracy | macro-F1 | AUC |\n| --- | --- | --- | --- | --- | --- |\n",
            cfg->run.repeats, cfg->run.repeats > 1 ? "s" : "");
    for (int i = 0; i < n_inputs; i++) {
        snprintf(path, sizeof path, "%s/train-%s/report.md", cfg->run.out, inputs[i]);
        FILE *r = fopen(path, "r");
        while (r && fgets(line, sizeof line, r))
            if (!strncmp(line, "| ", 2) && strstr(line, " round |") && strncmp(line, "| input", 7)) fputs(line, f);
        if (r) fclose(r);
    }
    fprintf(f, "\nPer-round and per-site figures: `train-<input>/metrics.jsonl`. plain is the upper bound, for "
               "comparison only.\n\n## Image quality (site-001.h5, /surrogate attributes)\n\n");
    snprintf(path, sizeof path, "%s/site-001.h5", cfg->run.out);
    hid_t h = fesf_h5_open(path, "fesf-shard", FESF_SHARD_VERSION, 0);
    static const char *const keys[] = {"psnr_synthetic_plain", "ssim_synthetic_plain", "psnr_surrogate_plain",
                                       "ssim_surrogate_plain", "psnr_synthetic_host", "ssim_synthetic_host",
                                       "psnr_surrogate_host", "ssim_surrogate_host", "outside01_synthetic",
                                       "outside01_surrogate"};
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
    fprintf(f, "\nThe privacy audit (a learned inversion attack) is not implemented yet.\n\n## Config\n\n```ini\n");
    char *text = fesf_config_text_alloc(cfg);
    fputs(text ? text : "", f);
    free(text);
    fprintf(f, "```\n\nfesf %s\n", FESF_VERSION);
    return fclose(f) ? fesf_error("cannot write the report") : 0;
}

int fesf_cmd_run(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c);
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "run", argc, argv, &i);
        if (r < 0) return FESF_EXIT_USAGE;
        if (r) continue;
        if (argv[i][0] == '-') return fesf_cli_usage("run", "unknown option '%s'", argv[i]);
        if (fesf_config_load(&c.cfg, argv[i])) { /* fesf run CONFIG */
            fprintf(stderr, "fesf run: %s\n", fesf_errmsg());
            return FESF_EXIT_USAGE;
        }
    }
    if (fesf_cli_start(&c, &argc, &argv)) return fesf_cli_fail(&c);
    const fesf_config *cfg = &c.cfg;
    int64_t run = 0, st = 0;
    int shards = 0;
    if (c.world.rank == 0) fesf_count_shards(cfg->run.out, &shards), fesf_error_clear();
    if (decide(&c, &run, "prepare", shards == 0)) return fesf_cli_fail(&c);
    if (run && c.world.rank == 0 && fesf_prepare(cfg, 0)) return fesf_cli_fail(&c);
    if (fesf_world_bcast(&c.world, &st, sizeof st, 0)) return fesf_cli_fail(&c);
    int hid = 0;
    if (decide(&c, &run, "hide", run || !stage_valid(cfg, "synthetic", "alpha", "beta", cfg->ihm.alpha, cfg->ihm.beta)))
        return fesf_cli_fail(&c);
    if (run && fesf_hide_run(cfg, &c.world)) return fesf_cli_fail(&c);
    hid = (int)run;
    if (cfg->iqem.enabled) {
        if (decide(&c, &run, "enhance",
                   hid || !stage_valid(cfg, "surrogate", "alpha2", "beta2", cfg->iqem.alpha2, cfg->iqem.beta2)))
            return fesf_cli_fail(&c);
        if (run && fesf_iqem_enhance(cfg, &c.world, NULL)) return fesf_cli_fail(&c);
    }
    static const char *const inputs[] = {"plain", "synthetic", "surrogate"};
    int n_inputs = cfg->iqem.enabled ? 3 : 2;
    for (int i = 0; i < n_inputs; i++) {
        fesf_config one = *cfg;
        one.train.input = i == 0 ? FESF_INPUT_PLAIN : i == 1 ? FESF_INPUT_SYNTHETIC : FESF_INPUT_SURROGATE;
        char out[FESF_PATH_MAX + 32];
        snprintf(out, sizeof out, "%s/train-%s", cfg->run.out, inputs[i]);
        if (c.world.rank == 0) fesf_info("stage train (%s) -> %s", inputs[i], out);
        if (fesf_fed_train_to(&one, &c.world, 0, out)) return fesf_cli_fail(&c);
    }
    if (c.world.rank == 0) {
        if (write_report(cfg, n_inputs, inputs)) return fesf_cli_fail(&c);
        fesf_info("report: %s/report.md", cfg->run.out);
    }
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
