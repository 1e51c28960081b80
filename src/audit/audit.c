/* The privacy audit: a learned inversion attack (see audit.h). */
#include "fesf/audit.h"
#include "fesf/dataset.h"
#include "fesf/blas.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/shard.h"
#include "fesf/ihm.h"
#include "fesf/iqem.h"
#include "fesf/log.h"
#include "fesf/loss.h"
#include "fesf/model.h"
#include "fesf/model_io.h"
#include "fesf/optim.h"
#include "fesf/png.h"
#include "fesf/quality.h"
#include "fesf/rng.h"
#include "fesf/run_dir.h"
#include "fesf/version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIG_ROWS 4
enum { TARGET_SYN, TARGET_SUR, N_TARGETS };
static const char *const target_names[N_TARGETS] = {"synthetic", "surrogate"};

/* Per (target, site) sums: images, then PSNR / SSIM against the plaintext of
 * the reconstruction, the prior, the host and the released image. */
enum { S_N, S_ATT_P, S_ATT_S, S_PRI_P, S_PRI_S, S_HOST_P, S_HOST_S, S_REL_P, S_REL_S, S_LEN };

typedef struct {
    const fesf_config *cfg;
    const fesf_world *w;
    int n_sites, n_targets, c, h, wd, batch;
    int targets[N_TARGETS]; /* TARGET_* in the order audited */
    int64_t n_pub;
    size_t img;
    float *pub;            /* [K, C, H, W] the public images (host pool) */
    float *prior;          /* [C, H, W] their mean */
    const float *host;     /* [C, H, W] the fixed host (in pub), or NULL in random mode */
    fesf_model *gen;       /* G (coordinator, surrogate target) */
    fesf_model *att;       /* the attacker */
    fesf_ihm *ihm1, *ihm2; /* the two IHM passes */
    float *x, *rel, *rec;  /* [batch, C, H, W]: plaintext, released, reconstruction */
    float *opt;            /* Adam state [2 * params] */
    float *ssim_scratch;
    float *grid;           /* [FIG_ROWS * 4, C, H, W] */
    int32_t *order;        /* [K] */
    double *sums;          /* [N_TARGETS][n_sites][S_LEN] */
    fesf_stage stage;      /* stamped on audit.tsv, audit.md and audit-TARGET.h5 */
} auditor;

/* ---- the attacker's data: released images of augmented public images ---- */

/* A public image scaled in intensity by U(0.9, 1.1), clipped to [0, 1].
 * No flips or shifts: medical images have a fixed orientation, and spatial
 * augmentation would blur what the attacker learns of the anatomy's
 * position, understating the leak. */
static void augment(const auditor *a, const float *src, fesf_rng *r, float *out)
{
    float gain = (float)(0.9 + 0.2 * fesf_rng_uniform(r));
    for (size_t q = 0; q < a->img; q++) {
        float v = gain * src[q];
        out[q] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

/* rel[n] = what a site would release for plaintext x[n]: IHM with the host
 * (random mode: a pool image drawn by the attacker), then for the surrogate
 * IHM(x, G(x_sy); alpha2, beta2). */
static int release(auditor *a, int target, int n, fesf_rng *r)
{
    if (a->host) {
        if (fesf_ihm_apply(a->ihm1, a->x, a->rel, n)) return -1;
    } else {
        for (int i = 0; i < n; i++)
            if (fesf_ihm_set_host(a->ihm1, a->pub + a->img * fesf_rng_below(r, (uint64_t)a->n_pub)) ||
                fesf_ihm_apply(a->ihm1, a->x + a->img * i, a->rel + a->img * i, 1))
                return -1;
    }
    if (target == TARGET_SYN) return 0;
    const float *g = fesf_model_forward(a->gen, a->rel, n, 1);
    for (int i = 0; i < n; i++)
        if (fesf_ihm_set_host(a->ihm2, g + a->img * i) || fesf_ihm_apply(a->ihm2, a->x + a->img * i, a->rel + a->img * i, 1))
            return -1;
    return 0;
}

/* ---- training (coordinator) ------------------------------------------------ */

/* The sites wait while the coordinator trains: it may use audit.threads
 * OpenBLAS threads (a config key, since results depend on the count). */
static void attacker_threads(const auditor *a, int on)
{
    fesf_blas_set_threads(on ? a->cfg->audit.threads : a->cfg->run.threads);
}

static int train_attacker(auditor *a, int target)
{
    const fesf_config *cfg = a->cfg;
    int B = a->batch;
    size_t np = fesf_model_n_params(a->att);
    fesf_optim_config oc;
    fesf_optim_defaults(&oc, FESF_OPT_ADAM, (float)cfg->audit.lr);
    fesf_model_init(a->att, cfg->run.seed);
    memset(a->opt, 0, sizeof(float) * 2 * np);
    fesf_rng r;
    fesf_rng_init(&r, cfg->run.seed, (uint32_t)target, FESF_STREAM_AUDIT);
    int64_t t = 0, steps = (int64_t)cfg->audit.epochs * ((a->n_pub + B - 1) / B);
    double t0 = fesf_now();
    for (int e = 0; e < cfg->audit.epochs; e++) {
        double loss = 0;
        fesf_fed_epoch_order(cfg->run.seed, 0, e, a->n_pub, a->order); /* site 0: the coordinator's own order */
        for (int64_t s = 0; s < a->n_pub; s += B) {
            int n = (int)(a->n_pub - s < B ? a->n_pub - s : B);
            for (int j = 0; j < n; j++) augment(a, a->pub + a->img * (size_t)a->order[s + j], &r, a->x + a->img * j);
            if (release(a, target, n, &r)) return -1;
            fesf_model_zero_grad(a->att);
            const float *y = fesf_model_forward(a->att, a->rel, n, 1);
            loss += n * fesf_mse_loss((int64_t)n * (int64_t)a->img, y, a->x, fesf_model_dlogits(a->att));
            fesf_model_backward(a->att, fesf_model_dlogits(a->att), n);
            fesf_optim_step(&oc, t++, np, fesf_model_params(a->att), fesf_model_grads(a->att), a->opt);
        }
        double el = fesf_now() - t0;
        fesf_info("audit (%s): attacker epoch %d/%d, MSE %.5f, %.0f s, eta %.0f s", target_names[target], e + 1,
                  cfg->audit.epochs, loss / (double)a->n_pub, el, el / (double)t * (double)(steps - t));
    }
    return 0;
}

static int save_attacker(auditor *a, int target)
{
    char path[FESF_RUN_PATH_MAX], *text = fesf_config_text_alloc(a->cfg);
    fesf_run_audit_model_path(path, a->cfg->run.out, target_names[target]);
    fesf_model_save_info info = {a->opt, 2 * fesf_model_n_params(a->att), "adam", a->cfg->audit.epochs, text, &a->stage,
                                 0, NULL, NULL};
    int rc = text ? fesf_model_save(path, fesf_model_tensors(a->att), &info) : fesf_error("out of memory");
    free(text);
    return rc;
}

/* ---- scoring (sites) ---------------------------------------------------------- */

static double psnr_capped(const float *p, const float *x, int c, int h, int w)
{
    double v = fesf_psnr(p, x, c, h, w);
    return isfinite(v) ? v : 100.0; /* identical images: cap at 100 dB, as the IQEM report */
}

/* Add PSNR and SSIM of guess p against plaintext x to sum[0], sum[1]. */
static void score(auditor *a, const float *p, const float *x, double *sum)
{
    sum[0] += psnr_capped(p, x, a->c, a->h, a->wd);
    sum[1] += a->h >= FESF_SSIM_WIN && a->wd >= FESF_SSIM_WIN ? fesf_ssim(p, x, a->c, a->h, a->wd, a->ssim_scratch) : NAN;
}

static void score_batch(auditor *a, int n, double *sums, int *fig_rows)
{
    const float *y = fesf_model_forward(a->att, a->rel, n, 0);
    for (size_t q = 0; q < (size_t)n * a->img; q++) a->rec[q] = y[q] < 0 ? 0 : y[q] > 1 ? 1 : y[q];
    for (int i = 0; i < n; i++) {
        const float *x = a->x + a->img * i, *rel = a->rel + a->img * i, *rec = a->rec + a->img * i;
        sums[S_N] += 1;
        score(a, rec, x, sums + S_ATT_P);
        score(a, a->prior, x, sums + S_PRI_P);
        if (a->host) score(a, a->host, x, sums + S_HOST_P);
        else sums[S_HOST_P] = sums[S_HOST_S] = NAN; /* random mode: no single host */
        score(a, rel, x, sums + S_REL_P);
        if (*fig_rows < FIG_ROWS) {
            const float *row[4] = {x, rel, rec, a->prior};
            for (int k = 0; k < 4; k++)
                memcpy(a->grid + a->img * (size_t)(4 * *fig_rows + k), row[k], sizeof(float) * a->img);
            ++*fig_rows;
        }
    }
}

/* One site: reconstruct its released test images, score them against its plaintext. */
static int score_site(auditor *a, int target, int site_id, double *sums)
{
    const char *rel = target_names[target];
    char path[FESF_RUN_PATH_MAX];
    fesf_run_shard_path(path, a->cfg->run.out, site_id);
    fesf_shard *sh = NULL;
    fesf_shard_split in;
    int rc = -1, fig_rows = 0;
    if (fesf_shard_open(&sh, path)) return -1;
    if (!fesf_shard_has(sh, rel)) {
        fesf_error("'%s' has no /%s images (run 'fesf %s' first)", path, rel, target == TARGET_SYN ? "hide" : "enhance");
        goto done;
    }
    if (fesf_shard_info(sh, rel, FESF_SPLIT_TEST, &in) || (size_t)in.c * in.h * in.w != a->img) {
        fesf_error("'%s': cannot read the test images", path);
        goto done;
    }
    for (int64_t s = 0; s < in.n; s += a->batch) {
        int n = (int)(in.n - s < a->batch ? in.n - s : a->batch);
        if (fesf_shard_read_images(sh, rel, FESF_SPLIT_TEST, s, n, FESF_F32, a->rel) ||
            fesf_shard_read_images(sh, "plain", FESF_SPLIT_TEST, s, n, FESF_F32, a->x))
            goto done;
        score_batch(a, n, sums, &fig_rows);
    }
    char name[64];
    snprintf(name, sizeof name, "audit-%s.png", rel);
    rc = fig_rows && (fesf_run_site_figure_path(path, a->cfg->run.out, site_id, name) ||
                      fesf_png_write_grid_f32(path, a->grid, 4 * fig_rows, a->c, a->h, a->wd, 4));
done:
    fesf_shard_close(sh);
    return rc ? fesf_error("site %d: %s", site_id, fesf_errmsg()) : 0;
}

/* ---- results (coordinator) ------------------------------------------------------ */

static double mean_of(const double *s, int k) { return s[S_N] > 0 ? s[k] / s[S_N] : NAN; }

static void tsv_row(FILE *f, const char *target, const char *site, const double *s)
{
    fprintf(f, "%s\t%s\t%.0f", target, site, s[S_N]);
    for (int k = S_ATT_P; k < S_LEN; k++) fprintf(f, "\t%.6f", mean_of(s, k));
    fprintf(f, "\t%.6f\t%.6f\n", mean_of(s, S_ATT_P) - mean_of(s, S_PRI_P), mean_of(s, S_ATT_S) - mean_of(s, S_PRI_S));
}

static void md_row(FILE *f, const char *target, const char *site, const double *s)
{
    fprintf(f, "| %s | %s | %.0f |", target, site, s[S_N]);
    for (int k = S_ATT_P; k < S_LEN; k += 2)
        if (isnan(mean_of(s, k))) fprintf(f, " - |");
        else fprintf(f, " %.2f / %.3f |", mean_of(s, k), mean_of(s, k + 1));
    fprintf(f, " **%+.2f** | **%+.3f** |\n", mean_of(s, S_ATT_P) - mean_of(s, S_PRI_P),
            mean_of(s, S_ATT_S) - mean_of(s, S_PRI_S));
}

/* Pooled sums of a target: the sum over its sites. */
static void pooled(const auditor *a, int target, double *out)
{
    memset(out, 0, sizeof(double) * S_LEN);
    for (int s = 0; s < a->n_sites; s++)
        for (int k = 0; k < S_LEN; k++) out[k] += a->sums[((size_t)target * a->n_sites + s) * S_LEN + k];
}

/* Every audited target: its pooled row ("all"), then, if per_site, one row per site. */
static void table_rows(const auditor *a, FILE *f, void (*row)(FILE *, const char *, const char *, const double *),
                       int per_site)
{
    for (int i = 0; i < a->n_targets; i++) {
        int t = a->targets[i];
        double all[S_LEN];
        pooled(a, t, all);
        row(f, target_names[t], "all", all);
        for (int s = 0; s < a->n_sites && per_site; s++) {
            char site[16];
            snprintf(site, sizeof site, "%d", s + 1);
            row(f, target_names[t], site, a->sums + ((size_t)t * a->n_sites + s) * S_LEN);
        }
    }
}

static int write_tsv(const auditor *a)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_file(path, a->cfg->run.out, FESF_RUN_AUDIT_TSV);
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    fesf_stamp_text(f, &a->stage, 0);
    fprintf(f, "target\tsite\timages\tpsnr_attack\tssim_attack\tpsnr_prior\tssim_prior\tpsnr_host\tssim_host\t"
               "psnr_released\tssim_released\tadvantage_db\tadvantage_ssim\n");
    table_rows(a, f, tsv_row, 1);
    return fesf_atomic_commit(f, path);
}

static int write_md(const auditor *a)
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
        fprintf(f, "\n**The attacker held only %lld public images; a larger public set (data.public) makes a "
                   "stronger attack.**\n", (long long)a->n_pub);
    fprintf(f, "\nIHM is not differential privacy: these are the measured figures of one attack, not a guarantee.\n");
    return fesf_atomic_commit(f, path);
}

/* ---- setup and the stage ------------------------------------------------------- */

/* The public pool to every rank: the attacker's data and the sites' prior. */
static int share_pool(auditor *a)
{
    int64_t meta[5] = {0};
    if (fesf_hosts_share(a->cfg->run.out, a->w, FESF_HOST_RANDOM, 0, meta, &a->pub)) return -1;
    a->n_sites = (int)meta[0], a->n_pub = meta[1], a->c = (int)meta[2], a->h = (int)meta[3], a->wd = (int)meta[4];
    a->img = (size_t)a->c * (size_t)a->h * (size_t)a->wd;
    return 0;
}

static int load_generator(auditor *a)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_iqem_path(path, a->cfg->run.out, 0);
    if (fesf_model_create(&a->gen, "iqem-g", FESF_IQEM_WIDTH, a->c, a->h, a->wd, 0, a->batch) ||
        fesf_model_load(path, fesf_model_tensors(a->gen), NULL, 0, NULL))
        return fesf_error("the surrogate audit needs G: %s", fesf_errmsg());
    return 0;
}

/* Before any training: every shard this rank owns holds what the audit reads. */
static int check_shards(const auditor *a)
{
    for (int s = 1; s <= a->n_sites; s++) {
        if (!fesf_world_owns_shard(a->w, s)) continue;
        char path[FESF_RUN_PATH_MAX];
        fesf_run_shard_path(path, a->cfg->run.out, s);
        fesf_shard *sh = NULL;
        if (fesf_shard_open(&sh, path)) return -1;
        int bad = -1;
        for (int i = 0; i < a->n_targets && bad < 0; i++)
            if (!fesf_shard_has(sh, target_names[a->targets[i]])) bad = a->targets[i];
        fesf_shard_close(sh);
        if (bad >= 0)
            return fesf_error("site %d: '%s' has no /%s images (run 'fesf %s' first)", s, path, target_names[bad],
                              bad == TARGET_SYN ? "hide" : "enhance");
    }
    return 0;
}

static int setup(auditor *a)
{
    const fesf_config *cfg = a->cfg;
    a->batch = cfg->audit.batch;
    if (share_pool(a)) return -1;
    if (cfg->ihm.host_mode == FESF_HOST_FIXED) {
        if (cfg->ihm.host_index >= a->n_pub) return fesf_error("ihm.host_index = %d but the pool holds %lld images",
                                                               cfg->ihm.host_index, (long long)a->n_pub);
        a->host = a->pub + a->img * (size_t)cfg->ihm.host_index;
    }
    int sur = cfg->iqem.enabled && cfg->iqem.mode == FESF_IQEM_FEDERATED;
    if (!sur || cfg->audit.synthetic) a->targets[a->n_targets++] = TARGET_SYN;
    if (sur) a->targets[a->n_targets++] = TARGET_SUR;
    if (cfg->iqem.enabled && !sur && a->w->rank == 0)
        fesf_warn("audit: iqem.mode = local gives every site its own G; only the synthetic images are audited");
    a->prior = calloc(a->img, sizeof(float));
    double *mean = calloc(a->img, sizeof(double));
    if (!a->prior || !mean) return free(mean), fesf_error("out of memory");
    for (int64_t i = 0; i < a->n_pub; i++)
        for (size_t q = 0; q < a->img; q++) mean[q] += a->pub[a->img * (size_t)i + q];
    for (size_t q = 0; q < a->img; q++) a->prior[q] = (float)(mean[q] / (double)a->n_pub);
    free(mean);
    if (check_shards(a) || fesf_model_create(&a->att, "attack-cnn", cfg->audit.width, a->c, a->h, a->wd, 0, a->batch))
        return -1;
    size_t B = (size_t)a->batch;
    a->x = malloc(sizeof(float) * a->img * B), a->rel = malloc(sizeof(float) * a->img * B);
    a->rec = malloc(sizeof(float) * a->img * B), a->grid = malloc(sizeof(float) * a->img * 4 * FIG_ROWS);
    a->ssim_scratch = malloc(sizeof(float) * (fesf_ssim_scratch_floats(a->h, a->wd) + 1));
    a->sums = calloc((size_t)N_TARGETS * (size_t)a->n_sites * S_LEN, sizeof(double));
    if (!a->x || !a->rel || !a->rec || !a->grid || !a->ssim_scratch || !a->sums) return fesf_error("out of memory");
    if (a->w->rank) return 0;
    /* the attacker's tools, on the coordinator */
    fesf_ihm_params p1 = {cfg->ihm.alpha, cfg->ihm.beta, cfg->ihm.mask}, p2 = {cfg->iqem.alpha2, cfg->iqem.beta2, cfg->ihm.mask};
    a->opt = calloc(2 * fesf_model_n_params(a->att), sizeof(float));
    a->order = malloc(sizeof(int32_t) * (size_t)a->n_pub);
    if (!a->opt || !a->order) return fesf_error("out of memory");
    if (fesf_ihm_create(&a->ihm1, a->h, a->wd, a->c, a->batch, &p1) || fesf_ihm_create(&a->ihm2, a->h, a->wd, a->c, 1, &p2))
        return -1;
    if (a->host && fesf_ihm_set_host(a->ihm1, a->host)) return -1;
    return sur ? load_generator(a) : 0;
}

static void auditor_free(auditor *a)
{
    free(a->pub), free(a->prior), free(a->x), free(a->rel), free(a->rec), free(a->opt), free(a->ssim_scratch);
    free(a->grid), free(a->order), free(a->sums);
    fesf_model_destroy(a->gen), fesf_model_destroy(a->att);
    fesf_ihm_destroy(a->ihm1), fesf_ihm_destroy(a->ihm2);
}

/* One target: train (coordinator), share the attacker, score (sites), sum. */
static int audit_target(auditor *a, int t)
{
    if (a->w->rank == 0) {
        attacker_threads(a, 1);
        int rc = train_attacker(a, t) || save_attacker(a, t);
        attacker_threads(a, 0);
        if (rc) return -1;
    }
    if (fesf_fed_bcast_f32(a->w, fesf_model_params(a->att), fesf_model_n_params(a->att)) ||
        fesf_fed_bcast_f32(a->w, fesf_model_buffers(a->att), fesf_model_n_buffers(a->att)))
        return -1;
    double *sums = a->sums + (size_t)t * a->n_sites * S_LEN;
    for (int s = 1; s <= a->n_sites; s++)
        if (fesf_world_owns_shard(a->w, s) && score_site(a, t, s, sums + (size_t)(s - 1) * S_LEN)) return -1;
    if (fesf_fed_sum_to_coord_f64(a->w, sums, (size_t)a->n_sites * S_LEN)) return -1;
    if (a->w->rank == 0) {
        double all[S_LEN];
        pooled(a, t, all);
        fesf_info("audit (%s): attack PSNR %.2f dB SSIM %.3f; prior %.2f dB / %.3f; advantage %+.2f dB, %+.3f SSIM "
                  "(%.0f test images)", target_names[t], mean_of(all, S_ATT_P), mean_of(all, S_ATT_S),
                  mean_of(all, S_PRI_P), mean_of(all, S_PRI_S), mean_of(all, S_ATT_P) - mean_of(all, S_PRI_P),
                  mean_of(all, S_ATT_S) - mean_of(all, S_PRI_S), all[S_N]);
    }
    return 0;
}

int fesf_audit_run(const fesf_config *cfg, const fesf_world *w)
{
    auditor a;
    memset(&a, 0, sizeof a);
    a.cfg = cfg, a.w = w;
    int rc = -1;
    if (fesf_stage_make(cfg, FESF_STAGE_AUDIT, &a.stage) || setup(&a)) goto done;
    if (w->rank == 0)
        fesf_info("audit: inversion attack on %d target%s, %lld public images, %d sites", a.n_targets,
                  a.n_targets > 1 ? "s" : "", (long long)a.n_pub, a.n_sites);
    for (int i = 0; i < a.n_targets; i++)
        if (audit_target(&a, a.targets[i])) goto done;
    if (w->rank == 0 && (write_md(&a) || write_tsv(&a))) goto done;
    rc = fesf_world_barrier(w);
done:
    auditor_free(&a);
    return rc;
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
        *r = (fesf_audit_row){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]};
        rc = 0;
    }
    if (f) fclose(f);
    return rc;
}
