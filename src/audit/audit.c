/* The privacy audit: a learned inversion attack (see audit.h). */
#include "fesf/audit.h"
#include "fesf/dataset.h"
#include "fesf/blas.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/fsutil.h"
#include "fesf/hide.h"
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
#include "fesf/volume.h"
#include "audit_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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
    const fesf_config *cfg = a->cfg;
    int keyed = fesf_config_keyed(cfg);
    fesf_ihm_tag t1[n], t2[n]; /* n <= audit.batch; keyed options with the attacker's own key */
    for (int i = 0; i < n && keyed; i++, a->att_id++) {
        t1[i] = fesf_hide_tag(a->att_key, a->att_id, cfg->ihm.beta_min, cfg->ihm.beta_max);
        t2[i] = fesf_iqem_pass2_tag(cfg, a->att_key, a->att_id);
    }
    if (a->host) {
        if ((keyed && fesf_ihm_any_set_tags(&a->ihm1, t1, n)) || fesf_ihm_any_apply(&a->ihm1, a->x, a->rel, n)) return -1;
    } else {
        for (int i = 0; i < n; i++)
            if (fesf_ihm_any_set_host(&a->ihm1, a->pub + a->img * fesf_rng_below(r, (uint64_t)a->n_pub)) ||
                (keyed && fesf_ihm_any_set_tags(&a->ihm1, t1 + i, 1)) ||
                fesf_ihm_any_apply(&a->ihm1, a->x + a->img * i, a->rel + a->img * i, 1))
                return -1;
    }
    if (target == TARGET_SYN) return 0;
    const float *g = fesf_model_forward(a->gen, a->rel, n, 1);
    for (int i = 0; i < n; i++)
        if (fesf_ihm_any_set_host(&a->ihm2, g + a->img * i) || (keyed && fesf_ihm_any_set_tags(&a->ihm2, t2 + i, 1)) ||
            fesf_ihm_any_apply(&a->ihm2, a->x + a->img * i, a->rel + a->img * i, 1))
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
                                 0, NULL, NULL, NULL, 0};
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
    int c = a->c * a->d; /* a volume's planes as channels: PSNR over the volume, SSIM the planes' mean */
    sum[0] += psnr_capped(p, x, c, a->h, a->wd);
    sum[1] += a->h >= FESF_SSIM_WIN && a->wd >= FESF_SSIM_WIN ? fesf_ssim(p, x, c, a->h, a->wd, a->ssim_scratch) : NAN;
}

/* The inversion attack on n test images: plaintext xs and released rels [n, C, H, W]. */
static void score_batch(auditor *a, const float *xs, const float *rels, int n, double *sums, int *fig_rows)
{
    const float *y = fesf_model_forward(a->att, rels, n, 0);
    for (size_t q = 0; q < (size_t)n * a->img; q++) a->rec[q] = y[q] < 0 ? 0 : y[q] > 1 ? 1 : y[q];
    for (int i = 0; i < n; i++) {
        const float *x = xs + a->img * i, *rel = rels + a->img * i, *rec = a->rec + a->img * i;
        sums[S_N] += 1;
        score(a, rec, x, sums + S_ATT_P);
        score(a, a->prior, x, sums + S_PRI_P);
        if (a->host) score(a, a->host, x, sums + S_HOST_P);
        else sums[S_HOST_P] = sums[S_HOST_S] = NAN; /* random mode: no single host */
        score(a, rel, x, sums + S_REL_P);
        if (*fig_rows < FIG_ROWS) { /* a volume's middle plane D / 2 of each channel */
            const float *row[4] = {x, rel, rec, a->prior};
            size_t plane = (size_t)a->c * a->h * a->wd;
            for (int k = 0; k < 4; k++)
                fesf_volume_mid_plane(row[k], a->c, a->d, a->h, a->wd, a->grid + plane * (size_t)(4 * *fig_rows + k));
            ++*fig_rows;
        }
    }
}

/* The linkage attack's view of a target (see linkage.h). */
static fesf_linkage_setup linkage_setup(const auditor *a, int target)
{
    const fesf_config *cfg = a->cfg;
    int sur = target == TARGET_SUR;
    double lo = cfg->ihm.beta_min, hi = cfg->ihm.beta_max;
    if (sur) fesf_iqem_pass2_range(cfg, &lo, &hi);
    fesf_linkage_setup l = {a->c, a->h, a->wd, a->d, sur, {sur ? cfg->iqem.alpha2 : cfg->ihm.alpha, 1, cfg->ihm.mask, 0}, lo, hi,
                            {cfg->ihm.alpha, 0.5 * (cfg->ihm.beta_min + cfg->ihm.beta_max), cfg->ihm.mask, 0},
                            a->pub, a->n_pub, a->host, sur ? a->gen : NULL};
    return l;
}

/* The linkage attack on site_id's whole test split (plaintext x, released
 * rel, [n, C, H, W]): sums, and its membership scores kept for the gather. */
static int link_site(auditor *a, int target, int site_id, fesf_shard *sh, const float *x, const float *rel, int64_t n)
{
    int32_t *hosts = a->host ? NULL : malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    double *sc = realloc(a->scores[site_id - 1], sizeof(double) * (size_t)(n + a->n_pub));
    int rc = -1;
    if (sc) a->scores[site_id - 1] = sc;
    if ((!a->host && !hosts) || !sc) {
        fesf_error("out of memory");
        goto done;
    }
    if (hosts && fesf_shard_read_hosts(sh, "synthetic", FESF_SPLIT_TEST, 0, n, hosts)) goto done;
    fesf_linkage_setup l = linkage_setup(a, target);
    double *sums = a->lsums + ((size_t)target * a->n_sites + (size_t)(site_id - 1)) * LK_LEN;
    rc = fesf_linkage_site(&l, x, rel, hosts, n, sums, sc, sc + n);
done:
    free(hosts);
    return rc;
}

/* site-NNN/figures/audit-TARGET.png: per row one test image as plaintext |
 * released (/TARGET) | the attacker's reconstruction | the prior (mean public image). */
static int write_figure(const auditor *a, int target, int site_id, int fig_rows)
{
    char name[64], released[64], path[FESF_RUN_PATH_MAX];
    snprintf(name, sizeof name, "audit-%s.png", target_names[target]);
    snprintf(released, sizeof released, "released (%s)", target_names[target]);
    const char *const titles[4] = {"plaintext", released, "reconstruction", "prior (public mean)"};
    if (fesf_run_site_figure_path(path, a->cfg->run.out, site_id, name)) return -1;
    return fesf_png_write_grid_titled(path, a->grid, 4 * fig_rows, a->c, a->h, a->wd, 4, titles); /* planes */
}

/* One site: reconstruct its released test images, score them against its plaintext. */
static int score_site(auditor *a, int target, int site_id, double *sums)
{
    const char *rel = target_names[target];
    char path[FESF_RUN_PATH_MAX];
    fesf_run_shard_path(path, a->cfg->run.out, site_id);
    fesf_shard *sh = NULL;
    fesf_shard_split in;
    float *x = NULL, *released = NULL; /* the whole test split: both attacks read it once */
    int rc = -1, fig_rows = 0;
    if (fesf_shard_open(&sh, path)) return -1;
    if (!fesf_shard_has(sh, rel)) {
        fesf_error("'%s' has no /%s images (run 'fesf %s' first)", path, rel, target == TARGET_SYN ? "hide" : "enhance");
        goto done;
    }
    fesf_shard_split want = {0, a->c, a->h, a->wd, FESF_F32, a->d}, plain; /* the buffers' item size: the hosts' */
    if (fesf_shard_info(sh, rel, FESF_SPLIT_TEST, &in) || fesf_shard_info(sh, "plain", FESF_SPLIT_TEST, &plain)) goto done;
    if (in.c != a->c || in.d != a->d || in.h != a->h || in.w != a->wd || plain.n != in.n) {
        char s1[FESF_SHAPE_STR], s2[FESF_SHAPE_STR];
        fesf_error("'%s': /%s/test holds %lld images of %s, /plain/test %lld, the hosts are %s", path, rel,
                   (long long)in.n, fesf_shape_str(s1, in.c, in.d, in.h, in.w), (long long)plain.n,
                   fesf_shape_str(s2, a->c, a->d, a->h, a->wd));
        goto done;
    }
    size_t bytes = sizeof(float) * a->img * (size_t)(in.n ? in.n : 1);
    if (!(x = malloc(bytes)) || !(released = malloc(bytes))) {
        fesf_error("out of memory for %lld test images", (long long)in.n);
        goto done;
    }
    if (fesf_shard_read_images(sh, "plain", FESF_SPLIT_TEST, 0, in.n, &want, FESF_F32, x) ||
        fesf_shard_read_images(sh, rel, FESF_SPLIT_TEST, 0, in.n, &want, FESF_F32, released))
        goto done;
    for (int64_t s = 0; s < in.n; s += a->batch) {
        int n = (int)(in.n - s < a->batch ? in.n - s : a->batch);
        score_batch(a, x + a->img * (size_t)s, released + a->img * (size_t)s, n, sums, &fig_rows);
    }
    if (link_site(a, target, site_id, sh, x, released, in.n)) goto done;
    rc = fig_rows && write_figure(a, target, site_id, fig_rows);
done:
    free(x), free(released);
    fesf_shard_close(sh);
    return rc ? fesf_error("site %d: %s", site_id, fesf_errmsg()) : 0;
}

/* ---- setup and the stage ------------------------------------------------------- */

/* The public pool to every rank: the attacker's data and the sites' prior. */
static int share_pool(auditor *a)
{
    int64_t meta[6] = {0};
    if (fesf_hosts_share(a->cfg->run.out, a->w, FESF_HOST_RANDOM, 0, meta, &a->pub)) return -1;
    a->n_sites = (int)meta[0], a->n_pub = meta[1], a->c = (int)meta[2], a->h = (int)meta[3], a->wd = (int)meta[4];
    a->d = meta[5] > 1 ? (int)meta[5] : 1;
    a->img = (size_t)a->c * (size_t)a->d * (size_t)a->h * (size_t)a->wd;
    return 0;
}

static int load_generator(auditor *a)
{
    char path[FESF_RUN_PATH_MAX];
    fesf_run_iqem_path(path, a->cfg->run.out, 0);
    if (fesf_model_create_vol(&a->gen, "iqem-g", FESF_IQEM_WIDTH, a->c, a->d, a->h, a->wd, 0, a->batch, 0) ||
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
    if (check_shards(a) ||
        fesf_model_create_vol(&a->att, "attack-cnn", cfg->audit.width, a->c, a->d, a->h, a->wd, 0, a->batch, 0))
        return -1;
    size_t B = (size_t)a->batch, plane = (size_t)a->c * a->h * a->wd;
    a->rec = malloc(sizeof(float) * a->img * B), a->grid = malloc(sizeof(float) * plane * 4 * FIG_ROWS);
    a->ssim_scratch = malloc(sizeof(float) * (fesf_ssim_scratch_floats(a->h, a->wd) + 1));
    a->sums = calloc((size_t)N_TARGETS * (size_t)a->n_sites * S_LEN, sizeof(double));
    a->lsums = calloc((size_t)N_TARGETS * (size_t)a->n_sites * LK_LEN, sizeof(double));
    a->mfig = calloc((size_t)N_TARGETS * (size_t)(a->n_sites + 1) * M_LEN, sizeof(double));
    a->scores = calloc((size_t)a->n_sites, sizeof(double *));
    if (!a->rec || !a->grid || !a->ssim_scratch || !a->sums || !a->lsums || !a->mfig || !a->scores)
        return fesf_error("out of memory");
    /* G: the coordinator's attacker, and the sites' linkage attack when beta2 < 1 */
    fesf_linkage_setup ls = linkage_setup(a, TARGET_SUR);
    if (sur && (a->w->rank == 0 || ls.beta_lo < 1) && load_generator(a)) return -1;
    if (a->w->rank) return 0;
    /* the attacker's tools, on the coordinator */
    fesf_ihm_params p1 = fesf_hide_params(cfg), p2 = fesf_iqem_pass2_params(cfg);
    a->att_key = cfg->run.seed ^ 0x61747461636b6572ull; /* "attacker": any key but a site's */
    a->opt = calloc(2 * fesf_model_n_params(a->att), sizeof(float));
    a->x = malloc(sizeof(float) * a->img * B), a->rel = malloc(sizeof(float) * a->img * B);
    a->order = malloc(sizeof(int32_t) * (size_t)a->n_pub);
    if (!a->opt || !a->order || !a->x || !a->rel) return fesf_error("out of memory");
    if (fesf_ihm_any_create(&a->ihm1, a->d, a->h, a->wd, a->c, a->batch, &p1) ||
        fesf_ihm_any_create(&a->ihm2, a->d, a->h, a->wd, a->c, 1, &p2))
        return -1;
    if (a->host && fesf_ihm_any_set_host(&a->ihm1, a->host)) return -1;
    return 0;
}

static void auditor_free(auditor *a)
{
    free(a->pub), free(a->prior), free(a->x), free(a->rel), free(a->rec), free(a->opt), free(a->ssim_scratch);
    free(a->grid), free(a->order), free(a->sums), free(a->lsums), free(a->mfig);
    for (int s = 0; s < a->n_sites && a->scores; s++) free(a->scores[s]);
    free(a->scores);
    fesf_model_destroy(a->gen), fesf_model_destroy(a->att);
    fesf_ihm_any_destroy(&a->ihm1), fesf_ihm_any_destroy(&a->ihm2);
}

/* Membership figures of one site's (or the pooled) scores. */
static void membership(double *fig, const double *mem, int64_t np, const double *non, int64_t nn)
{
    fig[M_AUC] = fesf_mia_auc(mem, np, non, nn);
    fig[M_TPR1] = fesf_mia_tpr_at(mem, np, non, nn, 0.01);
    fig[M_TPR01] = fesf_mia_tpr_at(mem, np, non, nn, 0.001);
}

/* The sites' membership scores to the coordinator (only scores leave a
 * site), which computes each site's figures and the pooled ones. */
static int gather_membership(auditor *a, int t)
{
    double *n = calloc((size_t)a->n_sites, sizeof(double)), *buf = NULL, *pos = NULL, *neg = NULL;
    int rc = -1;
    if (!n) return fesf_error("out of memory");
    for (int s = 1; s <= a->n_sites; s++)
        if (fesf_world_owns_shard(a->w, s)) n[s - 1] = a->lsums[((size_t)t * a->n_sites + (size_t)(s - 1)) * LK_LEN + LK_N];
    if (fesf_fed_share_sum_f64(a->w, n, (size_t)a->n_sites)) goto done;
    size_t total = 0, np = 0;
    for (int s = 0; s < a->n_sites; s++) total += (size_t)n[s] + (size_t)a->n_pub, np += (size_t)n[s];
    buf = calloc(total ? total : 1, sizeof(double));
    pos = malloc(sizeof(double) * (np ? np : 1)), neg = malloc(sizeof(double) * (total - np ? total - np : 1));
    if (!buf || !pos || !neg) {
        fesf_error("out of memory");
        goto done;
    }
    for (size_t s = 0, off = 0; s < (size_t)a->n_sites; off += (size_t)n[s] + (size_t)a->n_pub, s++)
        if (fesf_world_owns_shard(a->w, (int)s + 1))
            memcpy(buf + off, a->scores[s], sizeof(double) * ((size_t)n[s] + (size_t)a->n_pub));
    if (fesf_fed_sum_to_coord_f64(a->w, buf, total)) goto done;
    double *fig = a->mfig + (size_t)t * (size_t)(a->n_sites + 1) * M_LEN;
    size_t ip = 0, in = 0;
    for (size_t s = 0, off = 0; s < (size_t)a->n_sites; off += (size_t)n[s] + (size_t)a->n_pub, s++) {
        int64_t ns = (int64_t)n[s];
        membership(fig + s * M_LEN, buf + off, ns, buf + off + ns, a->n_pub);
        memcpy(pos + ip, buf + off, sizeof(double) * (size_t)ns), ip += (size_t)ns;
        memcpy(neg + in, buf + off + ns, sizeof(double) * (size_t)a->n_pub), in += (size_t)a->n_pub;
    }
    membership(fig + (size_t)a->n_sites * M_LEN, pos, (int64_t)ip, neg, (int64_t)in);
    rc = 0;
done:
    free(n), free(buf), free(pos), free(neg);
    return rc;
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
    double *sums = a->sums + (size_t)t * a->n_sites * S_LEN, *lsums = a->lsums + (size_t)t * a->n_sites * LK_LEN;
    for (int s = 1; s <= a->n_sites; s++)
        if (fesf_world_owns_shard(a->w, s) && score_site(a, t, s, sums + (size_t)(s - 1) * S_LEN)) return -1;
    if (gather_membership(a, t) || fesf_fed_sum_to_coord_f64(a->w, sums, (size_t)a->n_sites * S_LEN) ||
        fesf_fed_sum_to_coord_f64(a->w, lsums, (size_t)a->n_sites * LK_LEN))
        return -1;
    if (a->w->rank == 0) {
        fesf_audit_view v;
        fesf_audit_view_of(a, t, a->n_sites, &v);
        const double *all = v.s;
        fesf_info("audit (%s): attack PSNR %.2f dB SSIM %.3f; prior %.2f dB / %.3f; advantage %+.2f dB, %+.3f SSIM "
                  "(%.0f test images)", target_names[t], fesf_audit_mean(all, S_ATT_P), fesf_audit_mean(all, S_ATT_S),
                  fesf_audit_mean(all, S_PRI_P), fesf_audit_mean(all, S_PRI_S), fesf_audit_mean(all, S_ATT_P) - fesf_audit_mean(all, S_PRI_P),
                  fesf_audit_mean(all, S_ATT_S) - fesf_audit_mean(all, S_PRI_S), all[S_N]);
        fesf_info("audit (%s): linkage re-identifies %.1f%% (top-5 %.1f%%; chance %.2f%%); membership AUC %.3f, TPR "
                  "%.3f at 1%% FPR, %.3f at 0.1%%", target_names[t], 100 * fesf_audit_rate(&v, LK_TOP1), 100 * fesf_audit_rate(&v, LK_TOP5),
                  100 * fesf_audit_rate(&v, LK_CHANCE1), v.m[M_AUC], v.m[M_TPR1], v.m[M_TPR01]);
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
    if (w->rank == 0 && (fesf_audit_write_md(&a) || fesf_audit_write_tsv(&a))) goto done;
    rc = fesf_world_barrier(w);
done:
    auditor_free(&a);
    return rc;
}
