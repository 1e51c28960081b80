/* The privacy audit's report: audit.tsv and audit.md, and their readers (see audit.h). */
#include "fesf/audit.h"
#include "fesf/fsutil.h"
#include "fesf/model.h"
#include "fesf/run_dir.h"
#include "audit_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



static void tsv_row(FILE *f, const char *target, const char *site, const fesf_audit_view *v)
{
    const double *s = v->s;
    fprintf(f, "%s\t%s\t%.0f", target, site, s[S_N]);
    for (int k = S_ATT_P; k < S_LEN; k++) fprintf(f, "\t%.6f", fesf_audit_mean(s, k));
    fprintf(f, "\t%.6f\t%.6f", fesf_audit_mean(s, S_ATT_P) - fesf_audit_mean(s, S_PRI_P), fesf_audit_mean(s, S_ATT_S) - fesf_audit_mean(s, S_PRI_S));
    for (int k = LK_TOP1; k < LK_LEN; k++) fprintf(f, "\t%.6f", fesf_audit_rate(v, k));
    for (int k = 0; k < M_LEN; k++) fprintf(f, "\t%.6f", v->m[k]);
    fprintf(f, "\n");
}

static void md_row(FILE *f, const char *target, const char *site, const fesf_audit_view *v)
{
    const double *s = v->s;
    fprintf(f, "| %s | %s | %.0f |", target, site, s[S_N]);
    for (int k = S_ATT_P; k < S_LEN; k += 2)
        if (isnan(fesf_audit_mean(s, k))) fprintf(f, " - |");
        else fprintf(f, " %.2f / %.3f |", fesf_audit_mean(s, k), fesf_audit_mean(s, k + 1));
    fprintf(f, " **%+.2f** | **%+.3f** |\n", fesf_audit_mean(s, S_ATT_P) - fesf_audit_mean(s, S_PRI_P),
            fesf_audit_mean(s, S_ATT_S) - fesf_audit_mean(s, S_PRI_S));
}

static void md_link_row(FILE *f, const char *target, const char *site, const fesf_audit_view *v)
{
    fprintf(f, "| %s | %s | %.0f | **%.3f** (%.4f) | %.3f (%.4f) | %.3f | **%.3f** | %.3f |\n", target, site, v->l[LK_N],
            fesf_audit_rate(v, LK_TOP1), fesf_audit_rate(v, LK_CHANCE1), fesf_audit_rate(v, LK_TOP5), fesf_audit_rate(v, LK_CHANCE5), v->m[M_AUC],
            v->m[M_TPR1], v->m[M_TPR01]);
}

void fesf_audit_view_of(const auditor *a, int target, int site, fesf_audit_view *v)
{
    int lo = site < a->n_sites ? site : 0, hi = site < a->n_sites ? site + 1 : a->n_sites;
    memset(v, 0, sizeof *v);
    for (int s = lo; s < hi; s++) {
        for (int k = 0; k < S_LEN; k++) v->s[k] += a->sums[((size_t)target * a->n_sites + s) * S_LEN + k];
        for (int k = 0; k < LK_LEN; k++) v->l[k] += a->lsums[((size_t)target * a->n_sites + s) * LK_LEN + k];
    }
    memcpy(v->m, a->mfig + ((size_t)target * (size_t)(a->n_sites + 1) + (size_t)site) * M_LEN, sizeof v->m);
}

/* Every audited target: its pooled row ("all"), then, if per_site, one row per site. */
static void table_rows(const auditor *a, FILE *f, void (*row)(FILE *, const char *, const char *, const fesf_audit_view *),
                       int per_site)
{
    for (int i = 0; i < a->n_targets; i++) {
        int t = a->targets[i];
        fesf_audit_view v;
        fesf_audit_view_of(a, t, a->n_sites, &v);
        row(f, target_names[t], "all", &v);
        for (int s = 0; s < a->n_sites && per_site; s++) {
            char site[16];
            snprintf(site, sizeof site, "%d", s + 1);
            fesf_audit_view_of(a, t, s, &v);
            row(f, target_names[t], site, &v);
        }
    }
}

int fesf_audit_write_tsv(const auditor *a)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, a->cfg->run.out, FESF_RUN_AUDIT_TSV);
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    fesf_stamp_text(f, &a->stage, 0);
    fprintf(f, "target\tsite\timages\tpsnr_attack\tssim_attack\tpsnr_prior\tssim_prior\tpsnr_host\tssim_host\t"
               "psnr_released\tssim_released\tadvantage_db\tadvantage_ssim\treid_top1\treid_top5\tchance_top1\t"
               "chance_top5\tmia_auc\tmia_tpr_1pct\tmia_tpr_01pct\n");
    table_rows(a, f, tsv_row, 1);
    return fesf_atomic_commit(f, path);
}

int fesf_audit_write_md(const auditor *a)
{
    const fesf_config *cfg = a->cfg;
    char path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, cfg->run.out, FESF_RUN_AUDIT_MD);
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    fesf_stamp_text(f, &a->stage, 1);
    fprintf(f, "Attacker: `%s` (8 layers, batch norm), %d epochs of Adam (lr %g, batch %d) on %lld public images "
               "(the host pool) and their released versions; it knows alpha %g, beta %g, %s%s.\n\n",
            fesf_model_arch(a->att), cfg->audit.epochs, cfg->audit.lr, a->batch, (long long)a->n_pub, cfg->ihm.alpha,
            cfg->ihm.beta, a->host ? "the host" : "the host pool",
            a->targets[a->n_targets - 1] == TARGET_SUR ? ", G, alpha2 and beta2" : "");
    fprintf(f, "PSNR (dB) / SSIM against the sites' plaintext test images (mean per image). *prior*: the mean public "
               "image, the best guess without the released image; *advantage*: attack minus prior, the privacy "
               "figure (lower is more private).\n\n");
    fprintf(f, "| released | site | images | attack | prior | host | released itself | advantage dB | advantage SSIM |\n"
               "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    table_rows(a, f, md_row, a->n_sites > 1);
    if (cfg->audit.width < 64 || cfg->audit.epochs < 20)
        fprintf(f, "\n**This attacker is weaker than the reference (64 channels, 20 epochs): the leak may be "
                   "understated.**\n");
    int64_t steps = (int64_t)cfg->audit.epochs * ((a->n_pub + a->batch - 1) / a->batch);
    if (steps < 300)
        fprintf(f, "\n**The attacker took only %lld optimizer steps (audit.epochs x public images / audit.batch); "
                   "more public images or epochs make a stronger attack.**\n", (long long)steps);
    if (a->n_pub < 200)
        fprintf(f, "\n**The attacker held only %lld public images; a larger public set (data.hosts, or "
                   "data.public) makes a "
                   "stronger attack.**\n", (long long)a->n_pub);
    fprintf(f, "\n**Linkage** (re-identification and membership). The attacker knows everything but each site's key "
               "and holds a gallery of plaintext images: the site's test images and the %lld public images as "
               "distractors. It matches each released test image to the gallery by the log amplitude inside the mask "
               "recovered from the equations (the maximum-likelihood match under the keyed noise, over the beta "
               "range); *top-1/top-5*: the share whose own plaintext ranks first / in the first five (chance in "
               "brackets). Membership: is a plaintext among the released images? Score: its best match; members are "
               "the test images, non-members the public images; TPR at a fixed false-positive rate.\n\n",
            (long long)a->n_pub);
    fprintf(f, "| released | site | images | top-1 (chance) | top-5 (chance) | membership AUC | TPR at 1%% FPR | "
               "TPR at 0.1%% FPR |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    table_rows(a, f, md_link_row, a->n_sites > 1);
    if (a->n_pub < 1000)
        fprintf(f, "\nWith %lld non-members per site, TPR at 0.1%% FPR admits no false positive at all.\n",
                (long long)a->n_pub);
    fprintf(f, "\nIHM is not differential privacy: these are the measured figures of two attacks, not a guarantee.\n");
    return fesf_atomic_commit(f, path);
}

void fesf_audit_md_copy(FILE *out, const char *run_out)
{
    char path[FESF_RUN_PATH_MAX], line[2048];
    fesf_run_file(path, run_out, FESF_RUN_AUDIT_MD);
    FILE *f = fopen(path, "r");
    for (int first = 1; f && fgets(line, sizeof line, f); first = 0)
        if (!first || strncmp(line, "<!--", 4)) fputs(line, out); /* not the stamp */
    if (f) fclose(f);
}

int fesf_audit_row_read(const char *run_out, const char *target, const char *site, fesf_audit_row *r)
{
    char path[FESF_RUN_PATH_MAX], line[1024];
    fesf_run_file(path, run_out, FESF_RUN_AUDIT_TSV);
    FILE *f = fopen(path, "r");
    int rc = -1;
    while (f && rc && fgets(line, sizeof line, f)) {
        char *save = NULL, *t = strtok_r(line, "\t\n", &save), *s = strtok_r(NULL, "\t\n", &save);
        if (!t || !s || t[0] == '#' || strcmp(t, target) || strcmp(s, site)) continue;
        double v[FESF_AUDIT_COLS];
        int n = 0;
        for (char *c; n < FESF_AUDIT_COLS && (c = strtok_r(NULL, "\t\n", &save));) v[n++] = strtod(c, NULL);
        if (n != FESF_AUDIT_COLS) continue;
        *r = (fesf_audit_row){v[0],  v[1],  v[2],  v[3],  v[4],  v[5],  v[6],  v[7],  v[8],
                              v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17]};
        rc = 0;
    }
    if (f) fclose(f);
    return rc;
}
