/* `fesf predict` (see predict.h): the model and its recorded config, G,
 * the host, then each input's images through the surrogate path and the
 * classifier, one CSV row each. */
#include "fesf/predict.h"
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"
#include "fesf/gan.h"
#include "fesf/hide.h"
#include "fesf/ihm.h"
#include "fesf/ihm3d.h"
#include "fesf/iqem.h"
#include "fesf/layers.h"
#include "fesf/log.h"
#include "fesf/loss.h"
#include "fesf/metrics.h"
#include "fesf/model.h"
#include "fesf/model_io.h"
#include "fesf/run_dir.h"
#include "fesf/shard.h"
#include "fesf/surrogates.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define G_BATCH 16 /* G runs in chunks of this many images, as in fesf enhance */
#define MAX_CLASSES 64

/* The keys that make a surrogate and read it: a config given with -c, G's
 * and a surrogates.h5's must agree with the model's on them. */
static const char *const method_keys[] = {"ihm.*", "iqem.*", "model.*", "train.input", "train.normalise", NULL};
static const char *const surrogate_keys[] = {"ihm.*", "iqem.*", NULL};

typedef struct {
    const fesf_predict_args *a;
    fesf_config cfg;          /* the model's training config */
    fesf_model_meta meta;
    fesf_model *m, *g;
    fesf_ihm_any pass1, pass2; /* 2-D, or 3-D for a volume model */
    float *host;              /* [C, (D,) H, W] */
    int c, h, w, k, batch;
    int d;                    /* the model's input depth: 1 for images, D for volumes */
    size_t img;               /* C * D * H * W */
    void *raw;                /* [batch, C, (D,) H, W] as the source gives them (uint8 or float) */
    float *x, *syn, *sur, *probs;
    int32_t *lab, *y;         /* [batch] labels (-1: none); the same with 0 for none */
    char *names;              /* [batch][FESF_SURR_NAME] */
    double *stats;            /* metrics.h buffer over the labelled images */
    int64_t n_done, n_labelled;
    double t_surr, t_class;   /* seconds */
    FILE *csv;
    fesf_surr_out *keep;
    int64_t keep_pos;
    char class_name[MAX_CLASSES][64];
} predictor;

/* ---- the model, G and the host ------------------------------------------- */

/* The first line where two configs differ on `keys`, as "KEY: A -> B". */
static int first_difference(const fesf_config *a, const fesf_config *b, const char *const *keys, char *why,
                            size_t size)
{
    char ta[8192], tb[8192];
    fesf_config_keys_text(a, keys, ta, sizeof ta);
    fesf_config_keys_text(b, keys, tb, sizeof tb);
    if (!strcmp(ta, tb)) return 0;
    char *sa = ta, *sb = tb;
    for (;;) {
        char *ea = strchr(sa, '\n'), *eb = strchr(sb, '\n');
        if (ea) *ea = '\0';
        if (eb) *eb = '\0';
        if (strcmp(sa, sb) || !ea || !eb) {
            snprintf(why, size, "'%.200s', not '%.200s'", sb, sa);
            return 1;
        }
        sa = ea + 1, sb = eb + 1;
    }
}

static int config_of(fesf_config *cfg, const char *text, const char *path)
{
    char name[1200];
    snprintf(name, sizeof name, "%s:config", path); /* the recorded config attribute */
    fesf_config_defaults(cfg);
    if (fesf_config_load_text(cfg, text, name) || fesf_config_finish(cfg)) return -1;
    return 0;
}

static void class_names(predictor *p)
{
    const char *s = p->cfg.data.classes;
    for (int i = 0; i < p->k; i++) {
        const char *e = *s ? strchr(s, ',') : NULL;
        size_t len = *s ? (e ? (size_t)(e - s) : strlen(s)) : 0;
        if (len && len < sizeof p->class_name[i]) snprintf(p->class_name[i], sizeof p->class_name[i], "%.*s", (int)len, s);
        else snprintf(p->class_name[i], sizeof p->class_name[i], "%d", i);
        s = e ? e + 1 : s + strlen(s);
    }
}

static int load_model(predictor *p)
{
    const char *path = p->a->model;
    char arch[64];
    int width = 0;
    if (fesf_model_read_meta(path, &p->meta) || config_of(&p->cfg, p->meta.config_text, path)) return -1;
    p->d = 1; /* a volume model's input is C x D x H x W */
    int got = sscanf(p->meta.arch, "%63s width=%d input=%dx%dx%dx%d classes=%d", arch, &width, &p->c, &p->d, &p->h,
                     &p->w, &p->k);
    if (got != 7 && (p->d = 1, sscanf(p->meta.arch, "%63s width=%d input=%dx%dx%d classes=%d", arch, &width, &p->c,
                                      &p->h, &p->w, &p->k) != 6))
        return fesf_error("'%s' holds '%s', not a classifier", path, p->meta.arch);
    if (p->k < 2 || p->k > MAX_CLASSES)
        return fesf_error("'%s' holds '%s', not a classifier", path, p->meta.arch);
    const fesf_config *cfg = &p->cfg;
    if (cfg->train.input == FESF_INPUT_PLAIN)
        return fesf_error("'%s' was trained on plaintext (the research baseline): fesf predict classifies surrogates "
                          "only", path);
    if (cfg->train.fedbn)
        return fesf_error("'%s' was trained with FedBN: each site's batch norm is in its own folder "
                          "(site-NNN/train-state-*.h5), which fesf predict does not load yet", path);
    if (cfg->train.normalise == FESF_NORM_POOLED && p->meta.norm_channels != p->c)
        return fesf_error("'%s' records no input normalisation (trained by an older fesf): train it again", path);
    p->batch = cfg->train.batch;
    int flags = fesf_config_instance_norm(cfg) ? FESF_MODEL_INSTANCE_NORM : 0;
    if (fesf_model_create_vol(&p->m, arch, width, p->c, p->d, p->h, p->w, p->k, p->batch, flags) ||
        fesf_model_load(path, fesf_model_tensors(p->m), NULL, 0, NULL))
        return -1;
    p->img = (size_t)p->c * (size_t)p->d * (size_t)p->h * (size_t)p->w;
    class_names(p);
    char why[512];
    if (p->a->cfg && first_difference(&p->cfg, p->a->cfg, method_keys, why, sizeof why))
        return fesf_error("the config given has %s as '%s' was trained with", why, path);
    return 0;
}

static int load_generator(predictor *p, const char *path)
{
    fesf_model_meta gm;
    fesf_config gc;
    char why[512];
    if (fesf_model_read_meta(path, &gm)) return -1;
    int rc = config_of(&gc, gm.config_text, path);
    fesf_model_meta_free(&gm);
    if (rc) return -1;
    if (first_difference(&p->cfg, &gc, surrogate_keys, why, sizeof why))
        return fesf_error("'%s' is a G made with %s as '%s' was trained with", path, why, p->a->model);
    if (fesf_model_create_vol(&p->g, "iqem-g", FESF_IQEM_WIDTH, p->c, p->d, p->h, p->w, 0, G_BATCH, 0) ||
        fesf_model_load(path, fesf_model_tensors(p->g), NULL, 0, NULL))
        return -1;
    fesf_ihm_params prm = fesf_iqem_pass2_params(&p->cfg);
    return fesf_ihm_any_create(&p->pass2, p->d, p->h, p->w, p->c, 1, &prm);
}

/* The host of ihm.host_index, the first IHM pass and (surrogate input) G. */
static int load_method(predictor *p)
{
    const fesf_config *cfg = &p->cfg;
    char hosts[FESF_RUN_PATH_MAX], iqem[FESF_RUN_PATH_MAX];
    const char *out = p->a->cfg ? p->a->cfg->run.out : cfg->run.out;
    if (cfg->ihm.host_mode != FESF_HOST_FIXED || fesf_config_keyed(cfg))
        return fesf_error("'%s' was trained with ihm.host_mode = %s%s: fesf predict supports one fixed host without "
                          "the keyed options", p->a->model, fesf_config_enum_name("ihm.host_mode", cfg->ihm.host_mode),
                          fesf_config_keyed(cfg) ? " and keyed options" : "");
    if (p->a->hosts) snprintf(hosts, sizeof hosts, "%s", p->a->hosts);
    else fesf_run_hosts_path(hosts, out);
    int64_t n = 0;
    int c = 0, h = 0, w = 0, d = 0;
    if (fesf_hosts_load(hosts, FESF_HOST_FIXED, cfg->ihm.host_index, &p->host, &n, &c, &h, &w, &d)) return -1;
    d = d > 1 ? d : 1;
    if (c != p->c || d != p->d || h != p->h || w != p->w) {
        char s1[FESF_SHAPE_STR], s2[FESF_SHAPE_STR];
        return fesf_error("'%s' holds %s hosts but '%s' takes %s items", hosts, fesf_shape_str(s1, c, d, h, w),
                          p->a->model, fesf_shape_str(s2, p->c, p->d, p->h, p->w));
    }
    fesf_ihm_params prm = fesf_hide_params(cfg);
    if (fesf_ihm_any_create(&p->pass1, p->d, p->h, p->w, p->c, p->batch, &prm) ||
        fesf_ihm_any_set_host(&p->pass1, p->host))
        return -1;
    if (cfg->train.input != FESF_INPUT_SURROGATE) return 0;
    if (p->a->iqem) snprintf(iqem, sizeof iqem, "%s", p->a->iqem);
    else fesf_run_iqem_path(iqem, out, 0);
    return load_generator(p, iqem);
}

static int alloc_buffers(predictor *p)
{
    size_t bi = p->img * (size_t)p->batch;
    p->raw = malloc(sizeof(float) * bi);
    p->x = malloc(sizeof(float) * bi), p->syn = malloc(sizeof(float) * bi), p->sur = malloc(sizeof(float) * bi);
    p->probs = malloc(sizeof(float) * (size_t)p->batch * (size_t)p->k);
    p->lab = malloc(sizeof(int32_t) * (size_t)p->batch), p->y = malloc(sizeof(int32_t) * (size_t)p->batch);
    p->names = calloc((size_t)p->batch, FESF_SURR_NAME);
    p->stats = calloc(fesf_eval_stats_len(p->k), sizeof(double));
    if (!p->raw || !p->x || !p->syn || !p->sur || !p->probs || !p->lab || !p->y || !p->names || !p->stats)
        return fesf_error("out of memory");
    return 0;
}

/* ---- one batch ---------------------------------------------------------------- */

/* raw [n] (uint8 or float in [0,1]) to their surrogates in p->sur. */
static int make_surrogates(predictor *p, int u8, int n)
{
    double t0 = fesf_now();
    /* the plaintext as float, for the second pass and for volumes (the 3-D IHM has no uint8 entry) */
    const float *x = u8 ? p->x : p->raw;
    int widen = u8 && (p->g || !p->pass1.p2);
    if (widen) fesf_u8_to_f32(p->raw, p->x, p->img * (size_t)n);
    int rc = u8 && p->pass1.p2 ? fesf_ihm_apply_u8(p->pass1.p2, p->raw, p->syn, n) /* 2-D: uint8 as it is */
                               : fesf_ihm_any_apply(&p->pass1, x, p->syn, n);
    if (rc) return -1;
    if (!p->g) {
        memcpy(p->sur, p->syn, sizeof(float) * p->img * (size_t)n);
    } else {
        for (int j = 0; j < n; j += G_BATCH) {
            int m = n - j < G_BATCH ? n - j : G_BATCH;
            const float *gout = fesf_model_forward(p->g, p->syn + p->img * (size_t)j, m, 1);
            for (int i = 0; i < m; i++) { /* the enhanced image is this image's host */
                size_t o = p->img * (size_t)(j + i);
                if (fesf_ihm_any_set_host(&p->pass2, gout + p->img * (size_t)i) ||
                    fesf_ihm_any_apply(&p->pass2, x + o, p->sur + o, 1))
                    return -1;
            }
        }
    }
    p->t_surr += fesf_now() - t0;
    return 0;
}

/* One CSV field, quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Classify p->sur [n] (labels p->lab, -1 = none) and write their rows. */
static void classify(predictor *p, int n)
{
    double t0 = fesf_now();
    size_t hw = (size_t)p->d * (size_t)p->h * (size_t)p->w; /* a channel's elements */
    memcpy(p->x, p->sur, sizeof(float) * p->img * (size_t)n);
    if (p->cfg.train.normalise == FESF_NORM_POOLED) {
        float ms[2 * FESF_MODEL_MAX_CHANNELS];
        for (int ch = 0; ch < p->c; ch++) ms[ch] = p->meta.mean[ch], ms[p->c + ch] = p->meta.std[ch];
        fesf_input_normalise_pooled(n, p->c, hw, ms, p->x);
    } else {
        fesf_input_normalise_image(n, p->c, hw, p->x);
    }
    for (int i = 0; i < n; i++) p->y[i] = p->lab[i] >= 0 ? p->lab[i] : 0; /* the loss is not used */
    const float *logits = fesf_model_forward(p->m, p->x, n, 0);
    fesf_softmax_xent(n, p->k, logits, p->y, NULL, NULL, p->probs);
    p->t_class += fesf_now() - t0;
    for (int i = 0; i < n; i++) {
        const float *pr = p->probs + (size_t)i * (size_t)p->k;
        int best = 0;
        for (int c = 1; c < p->k; c++) best = pr[c] > pr[best] ? c : best;
        csv_field(p->csv, p->names + (size_t)i * FESF_SURR_NAME);
        if (p->lab[i] >= 0) fprintf(p->csv, ",%d,%d", p->lab[i], best);
        else fprintf(p->csv, ",,%d", best);
        for (int c = 0; c < p->k; c++) fprintf(p->csv, ",%.9g", pr[c]);
        for (int c = 0; p->a->logits && c < p->k; c++) fprintf(p->csv, ",%.9g", logits[(size_t)i * (size_t)p->k + c]);
        fputc('\n', p->csv);
        if (p->lab[i] >= 0) fesf_eval_stats_add(p->stats, p->k, pr, p->lab + i, 1), p->n_labelled++;
    }
    p->n_done += n;
}

/* ---- the inputs ---------------------------------------------------------------- */

/* The source of in[0] (PNG files: of the run of PNG files from in[0] on, at
 * most `left`); *used = how many arguments it took. */
static int open_input(fesf_source **src, const char *const *in, int left, int *used)
{
    const char *s = in[0];
    size_t len = strlen(s);
    struct stat st;
    *used = 1;
    if (!strncmp(s, "npz:", 4) || !strncmp(s, "png:", 4)) return fesf_source_open(src, s, NULL, NULL);
    if (len > 4 && !strcmp(s + len - 4, ".npz")) {
        if (fesf_npz_open(src, s) == 0) return 0;
        if (!strstr(fesf_errmsg(), "labels.npy")) return -1;
        return fesf_npz_open_images(src, s); /* no labels: images only */
    }
    if (stat(s, &st) == 0 && S_ISDIR(st.st_mode)) return fesf_pngdir_open_folder(src, s);
    int n = 0; /* consecutive PNG files: one source */
    while (n < left && strlen(in[n]) > 4 && !strcasecmp(in[n] + strlen(in[n]) - 4, ".png")) n++;
    if (!n) return fesf_error("'%s': expected a .npz, a PNG file or folder, npz:PATH or png:DIR:CSV", s);
    *used = n;
    return fesf_pngdir_open_files(src, in, n);
}

static int check_source(const predictor *p, const fesf_source *src)
{
    const fesf_source_info *i = &src->info;
    int d = i->d > 1 ? i->d : 1;
    if (i->c != p->c || d != p->d || i->h != p->h || i->w != p->w) {
        char s1[FESF_SHAPE_STR], s2[FESF_SHAPE_STR];
        return fesf_error("'%s': items are %s but '%s' takes %s", src->desc, fesf_shape_str(s1, i->c, d, i->h, i->w),
                          p->a->model, fesf_shape_str(s2, p->c, p->d, p->h, p->w));
    }
    return 0;
}

static int name_rows(predictor *p, fesf_source *src, int sp, int64_t start, int n)
{
    for (int i = 0; i < n; i++) {
        char *dst = p->names + (size_t)i * FESF_SURR_NAME;
        if (src->item_name) {
            if (src->item_name(src, sp, start + i, dst, FESF_SURR_NAME)) return -1;
        } else {
            snprintf(dst, FESF_SURR_NAME, "%.200s:%s[%lld]", src->desc, fesf_split_names[sp], (long long)(start + i));
        }
    }
    return 0;
}

static int predict_split(predictor *p, fesf_source *src, int sp, int32_t *labels)
{
    int64_t n = src->info.n[sp];
    if (!src->info.unlabelled && src->read_labels(src, sp, labels)) return -1;
    for (int64_t i = 0; i < n && !src->info.unlabelled; i++)
        if (labels[i] < 0 || labels[i] >= p->k)
            return fesf_error("'%s': label %d of image %lld is not one of the model's %d classes", src->desc,
                              labels[i], (long long)i, p->k);
    for (int64_t s = 0; s < n; s += p->batch) {
        int k = (int)(n - s < p->batch ? n - s : p->batch);
        for (int i = 0; i < k; i++) p->lab[i] = src->info.unlabelled ? -1 : labels[s + i];
        if (src->read_images(src, sp, s, k, p->raw) || name_rows(p, src, sp, s, k) ||
            make_surrogates(p, src->info.dtype == FESF_U8, k))
            return -1;
        if (p->keep && fesf_surr_write(p->keep, p->keep_pos, k, p->sur, p->lab, p->names)) return -1;
        p->keep_pos += k;
        classify(p, k);
    }
    return 0;
}

static int predict_source(predictor *p, fesf_source *src)
{
    if (check_source(p, src)) return -1;
    int64_t most = 1;
    for (int sp = 0; sp < FESF_NSPLITS; sp++) most = src->info.n[sp] > most ? src->info.n[sp] : most;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)most);
    if (!labels) return fesf_error("out of memory");
    int rc = 0;
    for (int sp = 0; sp < FESF_NSPLITS && !rc; sp++)
        if (src->info.n[sp]) rc = predict_split(p, src, sp, labels);
    free(labels);
    return rc ? fesf_error("%s: %s", src->desc, fesf_errmsg()) : 0;
}

/* Total images of the inputs (the surrogates file is sized by it). */
static int count_inputs(const predictor *p, int64_t *total)
{
    *total = 0;
    for (int i = 0, used = 1; i < p->a->n_inputs; i += used) {
        fesf_source *src = NULL;
        if (open_input(&src, p->a->inputs + i, p->a->n_inputs - i, &used)) return -1;
        for (int sp = 0; sp < FESF_NSPLITS; sp++) *total += src->info.n[sp];
        fesf_source_close(src);
    }
    return 0;
}

static int predict_inputs(predictor *p)
{
    int64_t total = 0;
    if (p->a->keep && p->d > 1)
        return fesf_error("--keep-surrogates keeps 2-D images only; '%s' takes volumes", p->a->model);
    if (load_method(p) || (p->a->keep && count_inputs(p, &total))) return -1; /* the kept file's size */
    if (p->a->keep && fesf_surr_create(&p->keep, p->a->keep, total, p->c, p->h, p->w, p->meta.arch, p->meta.config_text))
        return -1;
    for (int i = 0, used = 1; i < p->a->n_inputs; i += used) {
        fesf_source *src = NULL;
        if (open_input(&src, p->a->inputs + i, p->a->n_inputs - i, &used)) return -1;
        int rc = predict_source(p, src);
        fesf_source_close(src);
        if (rc) return -1;
    }
    if (p->keep) {
        int rc = fesf_surr_commit(p->keep);
        p->keep = NULL;
        if (rc) return -1;
        fesf_info("surrogates of %lld images written to '%s'", (long long)total, p->a->keep);
    }
    return 0;
}

/* Classify a surrogates.h5 (made by --keep-surrogates, perhaps elsewhere). */
static int predict_surrogates(predictor *p)
{
    fesf_surr_in *in = NULL;
    fesf_surr_info info;
    fesf_config sc;
    char why[512];
    if (p->d > 1) return fesf_error("'%s' takes volumes: a surrogates file holds 2-D images only", p->a->model);
    if (fesf_surr_open(&in, p->a->surrogates, &info)) return -1;
    int rc = -1;
    if (info.c != p->c || info.h != p->h || info.w != p->w) {
        fesf_error("'%s' holds %dx%dx%d surrogates but '%s' takes %dx%dx%d", p->a->surrogates, info.h, info.w, info.c,
                   p->a->model, p->h, p->w, p->c);
        goto done;
    }
    if (config_of(&sc, info.config_text, p->a->surrogates)) goto done;
    if (first_difference(&p->cfg, &sc, surrogate_keys, why, sizeof why) ||
        sc.train.input != p->cfg.train.input) {
        if (sc.train.input != p->cfg.train.input) snprintf(why, sizeof why, "train.input = %s",
                                                           fesf_config_enum_name("train.input", sc.train.input));
        fesf_error("'%s' holds surrogates made with %s, not as '%s' was trained", p->a->surrogates, why, p->a->model);
        goto done;
    }
    for (int64_t s = 0; s < info.n; s += p->batch) {
        int k = (int)(info.n - s < p->batch ? info.n - s : p->batch);
        if (fesf_surr_read(in, s, k, p->sur, p->lab, p->names)) goto done;
        for (int i = 0; i < k; i++)
            if (p->lab[i] >= p->k) {
                fesf_error("'%s': label %d is not one of the model's %d classes", p->a->surrogates, p->lab[i], p->k);
                goto done;
            }
        classify(p, k);
    }
    rc = 0;
done:
    fesf_surr_close(in);
    return rc;
}

/* ---- the command ----------------------------------------------------------------- */

static void log_metrics(const predictor *p)
{
    fesf_metrics m;
    fesf_metrics_compute(p->stats, p->k, &m);
    fesf_info("%lld labelled images: accuracy %.4f, balanced accuracy %.4f, macro-F1 %.4f, AUC %.4f, loss %.4f",
              (long long)p->n_labelled, m.accuracy, m.balanced_accuracy, m.macro_f1, m.auc, m.loss);
    fesf_info("confusion (row = label, column = predicted):");
    for (int r = 0; r < p->k; r++) {
        char line[1024];
        int len = snprintf(line, sizeof line, "  %-12.12s", p->class_name[r]);
        for (int c = 0; c < p->k && len < 1000; c++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %8.0f", p->stats[(size_t)r * p->k + c]);
        fesf_info("%s", line);
    }
}

static void csv_header(predictor *p)
{
    fputs("file,label,predicted", p->csv);
    for (int c = 0; c < p->k * (p->a->logits ? 2 : 1); c++) {
        char col[80];
        snprintf(col, sizeof col, "%s_%s", c < p->k ? "p" : "logit", p->class_name[c % p->k]);
        fputc(',', p->csv);
        csv_field(p->csv, col);
    }
    fputc('\n', p->csv);
}

static void predictor_free(predictor *p)
{
    fesf_surr_abort(p->keep);
    if (p->csv) fesf_atomic_abort(p->csv, p->a->out);
    fesf_model_destroy(p->m), fesf_model_destroy(p->g);
    fesf_ihm_any_destroy(&p->pass1), fesf_ihm_any_destroy(&p->pass2);
    fesf_model_meta_free(&p->meta);
    free(p->host), free(p->raw), free(p->x), free(p->syn), free(p->sur), free(p->probs), free(p->lab), free(p->y);
    free(p->names);
    free(p->stats);
}

int fesf_predict(const fesf_predict_args *a)
{
    predictor p;
    memset(&p, 0, sizeof p);
    p.a = a;
    int rc = -1;
    if ((a->n_inputs > 0) == (a->surrogates != NULL)) {
        fesf_error("give input images or --surrogates FILE, not both");
        goto done;
    }
    if (load_model(&p) || alloc_buffers(&p) || !(p.csv = fesf_atomic_open(a->out))) goto done;
    csv_header(&p);
    if (a->surrogates ? predict_surrogates(&p) : predict_inputs(&p)) goto done;
    rc = fesf_atomic_commit(p.csv, a->out);
    p.csv = NULL;
    if (rc) goto done;
    double n = p.n_done > 0 ? (double)p.n_done : 1.0;
    fesf_info("%lld images classified into '%s': %.3f ms per image (surrogate %.3f, classifier %.3f)",
              (long long)p.n_done, a->out, 1e3 * (p.t_surr + p.t_class) / n, 1e3 * p.t_surr / n, 1e3 * p.t_class / n);
    if (p.n_labelled) log_metrics(&p);
done:
    predictor_free(&p);
    return rc;
}
