/* `fesf prepare`: plan where every item of the source goes (a site's
 * train/val/test split, or the host pool), then stream the images once, in
 * strips, into the shards (see prepare.h). With data.hosts the host pool is
 * that separate public set instead (hosts_set.c), and nothing of the source
 * is carved for it. */
#include "fesf/prepare.h"
#include "hosts_set.h"
#include "natural.h"
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"
#include "fesf/h5io.h"
#include "fesf/log.h"
#include "fesf/partition.h"
#include "fesf/run_dir.h"
#include "fesf/shard.h"
#include "fesf/version.h"
#include "fesf/volume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOSTS (-1)                          /* code of a host-pool item */
#define CODE(s, split) ((s) * FESF_NSPLITS + (split))
#define STRIP_BYTES (16u << 20)             /* bound on the image strip in memory */
#define MAX_ATTEMPTS 50                     /* redraws of a skewed partition */
#define MAX_CLASSES 1000

typedef struct {
    const fesf_config *cfg;
    fesf_source *src;
    fesf_volume_opts vol;                   /* data.window, data.size of nifti: and dicom: sources */
    int clinical;                           /* 1: data.source is nifti: or dicom: */
    fesf_source *hset;                      /* data.hosts' public set, or NULL: hosts carved from src */
    int n_sites, first_site, n_classes;
    char *names_buf;                        /* class names, '\0'-separated */
    const char *names[MAX_CLASSES];
    int32_t *labels[FESF_NSPLITS];
    int32_t *code[FESF_NSPLITS];            /* per item: HOSTS or CODE(site, split) */
    int64_t *dest_n;                        /* [n_sites * 3] items per destination */
    int32_t *table;                         /* [n_sites][3][n_classes] class counts */
    int64_t n_hosts;
    fesf_h5out *out;                        /* [n_sites + 1], the last is hosts.h5 */
    fesf_stage stage;                       /* stamped on every shard's /plain and on hosts.h5 */
    hid_t *img, *lab;                       /* [n_sites * 3] datasets, + hosts images */
    hid_t host_img;
    int32_t *host_labels;                   /* [n_hosts], public like the images */
} prep;

static int64_t total(const prep *p) { return p->src->info.n[0] + p->src->info.n[1] + p->src->info.n[2]; }

static int read_labels(prep *p)
{
    int max = -1;
    for (int sp = 0; sp < FESF_NSPLITS; sp++) {
        int64_t n = p->src->info.n[sp];
        p->labels[sp] = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
        p->code[sp] = calloc((size_t)(n ? n : 1), sizeof(int32_t));
        if (!p->labels[sp] || !p->code[sp]) return fesf_error("out of memory reading labels");
        if (n && p->src->read_labels(p->src, sp, p->labels[sp])) return -1;
        for (int64_t i = 0; i < n; i++) {
            if (p->labels[sp][i] < 0 || p->labels[sp][i] >= MAX_CLASSES)
                return fesf_error("'%s': %s label %d of image %lld outside [0, %d)", p->src->desc,
                                  fesf_split_names[sp], p->labels[sp][i], (long long)i, MAX_CLASSES);
            if (p->labels[sp][i] > max) max = p->labels[sp][i];
        }
    }
    if (p->src->info.n[FESF_SPLIT_TRAIN] == 0) return fesf_error("'%s': no training images", p->src->desc);
    p->n_classes = max + 1 < 2 ? 2 : max + 1;
    return 0;
}

/* Class names from data.classes, the phantom's own, or "0", "1", ... */
static int class_names(prep *p)
{
    const char *given = p->cfg->data.classes;
    if (!given[0] && strcmp(p->cfg->data.source, "phantom") == 0) given = "normal,finding";
    size_t len = strlen(given) + (size_t)p->n_classes * 8 + 1;
    p->names_buf = malloc(len);
    if (!p->names_buf) return fesf_error("out of memory");
    if (!given[0]) {
        char *w = p->names_buf;
        for (int c = 0; c < p->n_classes; c++) {
            p->names[c] = w;
            w += sprintf(w, "%d", c) + 1;
        }
        return 0;
    }
    strcpy(p->names_buf, given);
    int n = 0;
    for (char *tok = strtok(p->names_buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == MAX_CLASSES) return fesf_error("data.classes names more than %d classes", MAX_CLASSES);
        p->names[n++] = tok;
    }
    if (n < p->n_classes)
        return fesf_error("data.classes names %d classes but '%s' has labels up to %d", n, p->src->desc,
                          p->n_classes - 1);
    p->n_classes = n;
    return 0;
}

static int64_t count_code(const int32_t *code, int64_t n, int32_t c)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += code[i] == c;
    return k;
}

/* data.partition = natural: each image goes to the site the source names
 * (train items already in the host pool stay there; so does a public val). */
static int assign_natural(prep *p)
{
    int32_t *site[FESF_NSPLITS];
    int need[FESF_NSPLITS] = {1, !p->cfg->data.public_val, 1}, rc = -1;
    if (fesf_natural_sites(p->src, need, p->n_sites, site)) goto done;
    for (int sp = 0; sp < FESF_NSPLITS; sp++)
        for (int64_t i = 0; need[sp] && i < p->src->info.n[sp]; i++)
            if (p->code[sp][i] != HOSTS) p->code[sp][i] = CODE(site[sp][i], sp);
    for (int s = 0; s < p->n_sites; s++)
        if (count_code(p->code[0], p->src->info.n[0], CODE(s, FESF_SPLIT_TRAIN)) == 0) {
            fesf_error("data.partition = natural: site %d has no training images in '%s'%s", s + 1, p->src->desc,
                       p->n_hosts && !p->hset && !p->cfg->data.public_val ? " after the host pool (data.public)" : "");
            goto done;
        }
    rc = 0;
done:
    for (int sp = 0; sp < FESF_NSPLITS; sp++) free(site[sp]);
    return rc;
}

/* Give every site's train items of `sel` a site code; redraw skewed
 * partitions that leave a site without training images. */
static int assign_sites(prep *p, int32_t *sel)
{
    const fesf_config *cfg = p->cfg;
    int S = p->n_sites, C = p->n_classes;
    if (cfg->data.partition == FESF_PART_NATURAL) return assign_natural(p);
    int64_t n = p->src->info.n[FESF_SPLIT_TRAIN], avail = count_code(sel, n, 0);
    if (avail < S)
        return fesf_error("more sites (%d) than training images (%lld) in '%s'", S, (long long)avail,
                          p->src->desc);
    double *P = malloc(sizeof(double) * (size_t)S * (size_t)C);
    if (!P) return fesf_error("out of memory");
    int attempts = cfg->data.partition == FESF_PART_IID ? 1 : MAX_ATTEMPTS;
    int ok = 0, rc = -1;
    int32_t *site_of = malloc(sizeof(int32_t) * (size_t)n);
    if (!site_of) goto done;
    for (int a = 0; a < attempts && !ok; a++) {
        if (fesf_partition_proportions(cfg->data.partition, cfg->data.dirichlet, S, C, cfg->data.seed, a, P))
            goto done;
        memcpy(site_of, sel, sizeof(int32_t) * (size_t)n);
        if (fesf_partition_assign(p->labels[0], n, C, S, P, cfg->data.seed, 0, site_of)) goto done;
        ok = 1;
        for (int s = 0; s < S && ok; s++) ok = count_code(site_of, n, s) > 0;
    }
    if (!ok) {
        fesf_error("data.partition = %s with data.dirichlet = %g leaves a site without training images "
                   "after %d draws; raise data.dirichlet or use fewer sites",
                   fesf_config_enum_name("data.partition", cfg->data.partition), cfg->data.dirichlet, attempts);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) sel[i] = site_of[i] < 0 ? site_of[i] : CODE(site_of[i], FESF_SPLIT_TRAIN);
    /* test and val splits of the dataset follow the same proportions */
    for (int sp = FESF_SPLIT_VAL; sp <= FESF_SPLIT_TEST; sp++) {
        int64_t m = p->src->info.n[sp];
        int32_t *code = p->code[sp];
        if (m == 0 || (sp == FESF_SPLIT_VAL && cfg->data.public_val)) continue;
        if (fesf_partition_assign(p->labels[sp], m, C, S, P, cfg->data.seed, (uint32_t)sp, code)) goto done;
        for (int64_t i = 0; i < m; i++) code[i] = CODE(code[i], sp);
    }
    rc = 0;
done:
    if (rc && !fesf_errmsg()[0]) fesf_error("out of memory");
    free(site_of);
    free(P);
    return rc;
}

/* Carve val (and test) from each site's train split where the dataset
 * gives none to the sites. */
static int carve_sites(prep *p, int val_is_public)
{
    const fesf_config *cfg = p->cfg;
    int64_t n = p->src->info.n[FESF_SPLIT_TRAIN];
    int need_test = p->src->info.n[FESF_SPLIT_TEST] == 0;
    int need_val = p->src->info.n[FESF_SPLIT_VAL] == 0 || val_is_public;
    for (int s = 0; s < p->n_sites; s++) {
        if (need_test && fesf_partition_carve(p->labels[0], n, p->n_classes, cfg->data.test_fraction,
                                              cfg->data.seed, 100u + (uint32_t)s, p->code[0],
                                              CODE(s, FESF_SPLIT_TRAIN), CODE(s, FESF_SPLIT_TEST)) < 0)
            return -1;
        if (need_val && fesf_partition_carve(p->labels[0], n, p->n_classes, cfg->data.val_fraction,
                                             cfg->data.seed, 10000u + (uint32_t)s, p->code[0],
                                             CODE(s, FESF_SPLIT_TRAIN), CODE(s, FESF_SPLIT_VAL)) < 0)
            return -1;
        if (count_code(p->code[0], n, CODE(s, FESF_SPLIT_TRAIN)) == 0)
            return fesf_error("site %d has no training images left after carving val/test from '%s'; use "
                              "fewer sites", p->first_site + s, p->src->desc);
    }
    return 0;
}

static int plan(prep *p, int site)
{
    const fesf_config *cfg = p->cfg;
    int32_t *train = p->code[FESF_SPLIT_TRAIN];
    int64_t n = p->src->info.n[FESF_SPLIT_TRAIN];
    if (p->hset) p->n_hosts = fesf_hosts_set_count(p->hset);
    if (site > 0) { /* deployment: everything is this site's */
        for (int sp = 0; sp < FESF_NSPLITS; sp++)
            for (int64_t i = 0; i < p->src->info.n[sp]; i++) p->code[sp][i] = CODE(0, sp);
        return carve_sites(p, 0);
    }
    if (p->hset) {
        /* the pool is the separate public set: every source image stays a site's */
    } else if (cfg->data.public_val) {
        int64_t m = p->src->info.n[FESF_SPLIT_VAL];
        if (m == 0) return fesf_error("data.public = val but '%s' has no val split", p->src->desc);
        for (int64_t i = 0; i < m; i++) p->code[FESF_SPLIT_VAL][i] = HOSTS;
        p->n_hosts = m;
    } else {
        int64_t k = fesf_partition_carve(p->labels[0], n, p->n_classes, cfg->data.public_fraction,
                                         cfg->data.seed, 1u << 30, train, 0, HOSTS);
        if (k < 0) return -1;
        if (k == 0) return fesf_error("data.public = %g leaves no host image; the host pool needs at least one",
                                      cfg->data.public_fraction);
        p->n_hosts = k;
    }
    if (assign_sites(p, train)) return -1;
    return carve_sites(p, cfg->data.public_val);
}

static int tabulate(prep *p)
{
    size_t nd = (size_t)p->n_sites * FESF_NSPLITS;
    p->dest_n = calloc(nd, sizeof(int64_t));
    p->table = calloc(nd * (size_t)p->n_classes, sizeof(int32_t));
    if (!p->dest_n || !p->table) return fesf_error("out of memory");
    for (int sp = 0; sp < FESF_NSPLITS; sp++)
        for (int64_t i = 0; i < p->src->info.n[sp]; i++) {
            int32_t c = p->code[sp][i];
            if (c == HOSTS) continue;
            p->dest_n[c]++;
            p->table[(size_t)c * (size_t)p->n_classes + (size_t)p->labels[sp][i]]++;
        }
    return 0;
}

static void print_table(const prep *p)
{
    char line[4096];
    int n = snprintf(line, sizeof line, "%-8s", "site");
    for (int c = 0; c < p->n_classes && n < 3800; c++) n += snprintf(line + n, sizeof line - (size_t)n, " %10.10s", p->names[c]);
    snprintf(line + n, sizeof line - (size_t)n, " %8s %8s %8s", "train", "val", "test");
    fesf_info("partition (%s, train images per class):", fesf_config_enum_name("data.partition", p->cfg->data.partition));
    fesf_info("  %s", line);
    for (int s = 0; s < p->n_sites; s++) {
        n = snprintf(line, sizeof line, "%-8d", p->first_site + s);
        for (int c = 0; c < p->n_classes && n < 3800; c++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %10d",
                          p->table[(size_t)CODE(s, 0) * (size_t)p->n_classes + (size_t)c]);
        snprintf(line + n, sizeof line - (size_t)n, " %8lld %8lld %8lld", (long long)p->dest_n[CODE(s, 0)],
                 (long long)p->dest_n[CODE(s, 1)], (long long)p->dest_n[CODE(s, 2)]);
        fesf_info("  %s", line);
    }
    if (p->hset)
        fesf_info("host pool: %lld images of data.hosts '%s'; no image of data.source is a host (data.public does "
                  "not apply)", (long long)p->n_hosts, p->cfg->data.hosts);
    else if (p->n_hosts)
        fesf_warn("host pool: %lld images taken from the dataset itself (%s): a simulation convenience; these "
                  "\"public\" hosts are patient images of the same source, sent to every site and embedded in every "
                  "release", (long long)p->n_hosts, p->cfg->data.public_val ? "its val split" : "data.public of train");
}

/* data.window and data.size as the volume sources take them. */
static void volume_opts(prep *p)
{
    const fesf_config *cfg = p->cfg;
    const fesf_list *z = &cfg->data.size, *win = &cfg->data.window;
    p->clinical = fesf_config_clinical_source(cfg);
    memset(&p->vol, 0, sizeof p->vol);
    if (!p->clinical && strncmp(cfg->data.source, "npz:", 4)) return;
    if (win->n == 2) p->vol.window = 1, p->vol.lo = win->v[0], p->vol.hi = win->v[1];
    /* an .npz takes D,H,W only: one number is the phantom's size (configs/default.ini sets it) */
    if (z->n == 1 && p->clinical) p->vol.d = p->vol.h = p->vol.w = (int)z->v[0];
    if (z->n == 3) p->vol.d = (int)z->v[0], p->vol.h = (int)z->v[1], p->vol.w = (int)z->v[2];
}

/* The source's kind and, for clinical volumes, the intensity mapping and
 * the size delivered: source_kind, window ("lo,hi" or "minmax"),
 * window_lo/window_hi, size [D, H, W], resampled. */
static int volume_attrs(prep *p, hid_t f)
{
    const char *spec = p->cfg->data.source, *colon = strchr(spec, ':');
    char kind[16];
    snprintf(kind, sizeof kind, "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
    if (fesf_h5_attr_str(f, "source_kind", kind)) return -1;
    if (!p->clinical && !p->vol.d) return 0;
    char win[64] = "minmax";
    if (!p->clinical) snprintf(win, sizeof win, "none"); /* an .npz's volumes keep their intensities */
    if (p->vol.window) snprintf(win, sizeof win, "%.17g,%.17g", p->vol.lo, p->vol.hi);
    const fesf_source_info *in = &p->src->info;
    int32_t size[3] = {in->d, in->h, in->w};
    hsize_t three = 3;
    return fesf_h5_attr_str(f, "window", win) ||
           (p->vol.window && (fesf_h5_attr_f64(f, "window_lo", p->vol.lo) || fesf_h5_attr_f64(f, "window_hi", p->vol.hi))) ||
           fesf_h5_attr_i32s(f, "size", size, 1, &three) || fesf_h5_attr_i64(f, "resampled", p->vol.d > 0) ? -1 : 0;
}

static int shard_attrs(prep *p, int s, const fesf_config *cfg)
{
    hid_t f = p->out[s].file;
    hsize_t dims[3] = {(hsize_t)p->n_sites, FESF_NSPLITS, (hsize_t)p->n_classes};
    if (fesf_h5_attr_i64(f, "site_id", p->first_site + s) ||
        fesf_h5_attr_i64(f, "n_sites", cfg->data.sites) ||
        fesf_h5_attr_i64(f, "n_classes", p->n_classes) ||
        fesf_h5_attr_strs(f, "class_names", p->names, p->n_classes) ||
        fesf_h5_attr_str(f, "source", p->src->desc) ||
        fesf_h5_attr_str(f, "partition_scheme", fesf_config_enum_name("data.partition", cfg->data.partition)) ||
        fesf_h5_attr_i32s(f, "partition", p->table, 3, dims) || volume_attrs(p, f))
        return -1;
    for (int sp = 0; sp < FESF_NSPLITS; sp++) {
        char path[64];
        snprintf(path, sizeof path, "/plain/%s", fesf_split_names[sp]);
        hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
        hsize_t nc = (hsize_t)p->n_classes;
        int rc = g < 0 || fesf_h5_attr_i64(g, "count", p->dest_n[CODE(s, sp)]) ||
                 fesf_h5_attr_i32s(g, "class_counts", p->table + (size_t)CODE(s, sp) * nc, 1, &nc);
        if (fesf_h5_close_after(rc, g)) return -1;
    }
    hid_t g = H5Gopen2(f, "/plain", H5P_DEFAULT);
    return fesf_h5_close_after(g < 0 || fesf_h5_stamp(g, &p->stage), g) ? -1 : 0;
}

/* Create every output as NAME.tmp with its (empty, sized) datasets. */
static int open_outputs(prep *p, const char *config_text)
{
    const fesf_config *cfg = p->cfg;
    const fesf_source_info *in = &p->src->info;
    char path[FESF_PATH_MAX + 64];
    for (int s = 0; s < p->n_sites; s++) {
        fesf_run_shard_path(path, cfg->run.out, p->first_site + s);
        if (fesf_h5out_create(&p->out[s], path, "fesf-shard", FESF_SHARD_VERSION, config_text)) return -1;
        for (int sp = 0; sp < FESF_NSPLITS; sp++) {
            char g_path[64];
            snprintf(g_path, sizeof g_path, "/plain/%s", fesf_split_names[sp]);
            hid_t g = fesf_h5_group(p->out[s].file, g_path);
            if (g < 0) return fesf_error("'%s': %s", path, fesf_errmsg());
            int d = CODE(s, sp);
            p->img[d] = fesf_h5_create_images(g, "images", in->dtype, p->dest_n[d], in->c, in->d, in->h, in->w);
            p->lab[d] = fesf_h5_create_labels(g, "labels", p->dest_n[d]);
            if (fesf_h5_close_after(p->img[d] < 0 || p->lab[d] < 0, g)) return fesf_error("'%s': %s", path, fesf_errmsg());
        }
        if (shard_attrs(p, s, cfg)) return fesf_error("'%s': %s", path, fesf_errmsg());
    }
    if (!p->n_hosts) return 0;
    fesf_h5out *h = &p->out[p->n_sites];
    fesf_run_hosts_path(path, cfg->run.out);
    if (fesf_h5out_create(h, path, "fesf-hosts", FESF_HOSTS_VERSION, config_text)) return -1;
    char desc[1200];
    if (p->hset) /* a public set of its own: no labels, not the source's classes */
        snprintf(desc, sizeof desc, "data.hosts %s", cfg->data.hosts);
    else
        snprintf(desc, sizeof desc, "%s, %s", p->src->desc,
                 cfg->data.public_val ? "val split" : "public fraction of train");
    p->host_img = fesf_h5_create_images(h->file, "images", FESF_F32, p->n_hosts, in->c, in->d, in->h, in->w);
    if (p->host_img < 0 || fesf_h5_attr_str(h->file, "source", desc) ||
        fesf_h5_attr_i64(h->file, "count", p->n_hosts) ||
        (!p->hset && fesf_h5_attr_strs(h->file, "class_names", p->names, p->n_classes)) ||
        fesf_h5_stamp(h->file, &p->stage))
        return fesf_error("'%s': %s", path, fesf_errmsg());
    return 0;
}

/* Sort a strip's item offsets by destination code, stable in index. */
static const int32_t *sort_codes;
static int by_code(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (sort_codes[x] != sort_codes[y]) return sort_codes[x] < sort_codes[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Copy rows idx[0..k) of strip into out, converting to float for hosts. */
static void gather(const void *strip, const int32_t *idx, int64_t k, size_t row, fesf_dtype t, int to_f32,
                   void *out)
{
    for (int64_t j = 0; j < k; j++) {
        const unsigned char *src = (const unsigned char *)strip + (size_t)idx[j] * row;
        if (!to_f32 || t == FESF_F32) {
            memcpy((unsigned char *)out + (size_t)j * row, src, row);
            continue;
        }
        fesf_u8_to_f32(src, (float *)out + (size_t)j * row, row);
    }
}

/* Stream one split of the source into its destinations. */
static int stream_split(prep *p, int sp, int64_t *cursor, int64_t *host_cursor)
{
    const fesf_source_info *in = &p->src->info;
    int64_t n = in->n[sp];
    size_t row = (size_t)fesf_source_item_elems(in) * (size_t)fesf_dtype_size(in->dtype);
    size_t rowf = (size_t)fesf_source_item_elems(in) * sizeof(float);
    int64_t strip = (int64_t)(STRIP_BYTES / rowf) < 1 ? 1 : (int64_t)(STRIP_BYTES / rowf);
    if (strip > n) strip = n;
    if (n == 0) return 0;
    void *buf = malloc(row * (size_t)strip), *out = malloc(rowf * (size_t)strip);
    int32_t *order = malloc(sizeof(int32_t) * (size_t)strip);
    int rc = -1;
    if (!buf || !out || !order) {
        fesf_error("out of memory");
        goto done;
    }
    hid_t memtype = in->dtype == FESF_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
    for (int64_t start = 0; start < n; start += strip) {
        int64_t k = n - start < strip ? n - start : strip;
        if (p->src->read_images(p->src, sp, start, k, buf)) goto done;
        for (int64_t j = 0; j < k; j++) order[j] = (int32_t)j;
        sort_codes = p->code[sp] + start;
        qsort(order, (size_t)k, sizeof *order, by_code);
        for (int64_t a = 0, b; a < k; a = b) {
            int32_t c = sort_codes[order[a]];
            for (b = a; b < k && sort_codes[order[b]] == c; b++) {}
            int host = c == HOSTS;
            gather(buf, order + a, b - a, row, in->dtype, host, out);
            hid_t d = host ? p->host_img : p->img[c];
            int64_t *cur = host ? host_cursor : &cursor[c];
            if (fesf_h5_write_rows(d, *cur, b - a, host ? H5T_NATIVE_FLOAT : memtype, out)) goto done;
            *cur += b - a;
        }
    }
    rc = 0;
done:
    free(order);
    free(out);
    free(buf);
    return rc;
}

/* Labels of the host pool (train or val items marked HOSTS, in order). */
static int write_host_labels(prep *p)
{
    if (!p->n_hosts || p->hset) return 0;
    int64_t k = 0;
    for (int sp = 0; sp < FESF_NSPLITS; sp++)
        for (int64_t i = 0; i < p->src->info.n[sp]; i++)
            if (p->code[sp][i] == HOSTS) p->host_labels[k++] = p->labels[sp][i];
    hid_t d = fesf_h5_create_labels(p->out[p->n_sites].file, "labels", p->n_hosts);
    int rc = d < 0 || fesf_h5_write_rows(d, 0, k, H5T_NATIVE_INT32, p->host_labels);
    return fesf_h5_close_after(rc, d) ? -1 : 0;
}

/* Labels of each destination, in the same (source) order as its images. */
static int write_labels(prep *p)
{
    int64_t most = 0;
    for (int d = 0; d < p->n_sites * FESF_NSPLITS; d++) most = p->dest_n[d] > most ? p->dest_n[d] : most;
    int32_t *buf = malloc(sizeof(int32_t) * (size_t)(most ? most : 1));
    if (!buf) return fesf_error("out of memory");
    for (int d = 0; d < p->n_sites * FESF_NSPLITS; d++) {
        int64_t k = 0; /* carved val/test items come from the source's train split */
        for (int sp = 0; sp < FESF_NSPLITS; sp++)
            for (int64_t i = 0; i < p->src->info.n[sp]; i++)
                if (p->code[sp][i] == d) buf[k++] = p->labels[sp][i];
        if (fesf_h5_write_rows(p->lab[d], 0, k, H5T_NATIVE_INT32, buf)) {
            free(buf);
            return -1;
        }
    }
    free(buf);
    return 0;
}

static int write_all(prep *p, const char *config_text)
{
    int nd = p->n_sites * FESF_NSPLITS;
    int64_t host_cursor = 0, *cursor = calloc((size_t)nd, sizeof(int64_t));
    if (!cursor) return fesf_error("out of memory");
    int rc = open_outputs(p, config_text);
    for (int sp = 0; sp < FESF_NSPLITS && !rc; sp++) {
        rc = stream_split(p, sp, cursor, &host_cursor);
        if (!rc && p->src->info.n[sp])
            fesf_info("%s: %lld images written", fesf_split_names[sp], (long long)p->src->info.n[sp]);
    }
    if (!rc && p->hset) { /* the separate public set, after the source */
        rc = fesf_hosts_set_copy(p->hset, p->host_img);
        if (!rc) fesf_info("hosts: %lld images of data.hosts written", (long long)p->n_hosts);
    }
    if (!rc) rc = write_labels(p);
    if (!rc) rc = write_host_labels(p);
    free(cursor);
    for (int d = 0; d < nd; d++) { /* closing a dataset writes its last chunks: checked */
        rc = fesf_h5_close_after(fesf_h5_close_after(rc, p->img[d]), p->lab[d]);
        p->img[d] = p->lab[d] = H5I_INVALID_HID;
    }
    rc = fesf_h5_close_after(rc, p->host_img);
    p->host_img = H5I_INVALID_HID;
    /* commit only once every file is complete */
    for (int s = 0; s <= p->n_sites && !rc; s++)
        if (p->out[s].file >= 0 && fesf_h5out_commit(&p->out[s])) rc = -1;
    return rc;
}

static void prep_free(prep *p)
{
    for (int s = 0; p->out && s <= p->n_sites; s++) fesf_h5out_abort(&p->out[s]);
    for (int sp = 0; sp < FESF_NSPLITS; sp++) {
        free(p->labels[sp]);
        free(p->code[sp]);
    }
    free(p->out);
    free(p->img);
    free(p->lab);
    free(p->dest_n);
    free(p->table);
    free(p->names_buf);
    free(p->host_labels);
    fesf_source_close(p->src);
    fesf_source_close(p->hset);
}

static int prep_alloc(prep *p)
{
    size_t nd = (size_t)p->n_sites * FESF_NSPLITS;
    p->out = malloc(sizeof(fesf_h5out) * (size_t)(p->n_sites + 1));
    p->img = malloc(sizeof(hid_t) * nd);
    p->lab = malloc(sizeof(hid_t) * nd);
    p->host_labels = malloc(sizeof(int32_t) * (size_t)(p->n_hosts && !p->hset ? p->n_hosts : 1));
    if (!p->out || !p->img || !p->lab || !p->host_labels) return fesf_error("out of memory");
    for (int s = 0; s <= p->n_sites; s++) p->out[s] = (fesf_h5out)FESF_H5OUT_INIT;
    for (size_t d = 0; d < nd; d++) p->img[d] = p->lab[d] = H5I_INVALID_HID;
    p->host_img = H5I_INVALID_HID;
    return 0;
}

int fesf_prepare(const fesf_config *cfg, int site)
{
    prep p;
    memset(&p, 0, sizeof p);
    p.cfg = cfg;
    p.n_sites = site > 0 ? 1 : cfg->data.sites;
    p.first_site = site > 0 ? site : 1;
    fesf_phantom_params ph = {fesf_config_phantom_size(cfg), cfg->data.count, cfg->data.seed};
    char *config_text = fesf_config_text_alloc(cfg);
    int rc = -1;
    if (!config_text) {
        fesf_error("out of memory");
        goto done;
    }
    if (site > 0 && !cfg->data.hosts[0]) {
        fesf_error("prepare --site %d needs data.hosts = npz:PATH | png:DIR, a public host set: a site's own "
                   "images cannot be its public hosts", site);
        goto done;
    }
    if (fesf_stage_make(cfg, FESF_STAGE_PREPARE, &p.stage)) goto done;
    volume_opts(&p);
    if (fesf_source_open(&p.src, cfg->data.source, &ph, &p.vol)) goto done;
    const fesf_source_info *si = &p.src->info;
    char dims[48] = "";
    if (si->d > 1) snprintf(dims, sizeof dims, "%d x ", si->d);
    fesf_info("source %s: %lld %s (train %lld, val %lld, test %lld), %d x %s%d x %d %s", p.src->desc,
              (long long)total(&p), si->d > 1 ? "volumes" : "images", (long long)si->n[0], (long long)si->n[1],
              (long long)si->n[2], si->c, dims, si->h, si->w, si->dtype == FESF_U8 ? "uint8" : "float32");
    if (p.src->info.pool)
        fesf_info("the source is one labelled pool: each site's test (data.test_fraction = %g) and val "
                  "(data.val_fraction = %g) splits are carved from its share", cfg->data.test_fraction,
                  cfg->data.val_fraction);
    if (cfg->data.hosts[0] && fesf_hosts_set_open(&p.hset, cfg->data.hosts, &p.src->info, p.src->desc)) goto done;
    if (read_labels(&p) || class_names(&p) || plan(&p, site) || tabulate(&p) || prep_alloc(&p)) goto done;
    print_table(&p);
    if (fesf_mkdir_p(cfg->run.out) || write_all(&p, config_text)) goto done;
    /* a former run with more sites leaves site-NNN.h5 beyond ours: they are not this dataset's */
    if (site == 0 && fesf_run_remove_shards_from(cfg->run.out, p.n_sites + 1)) goto done;
    fesf_info("wrote %d shard%s%s to '%s'", p.n_sites, p.n_sites > 1 ? "s" : "", p.n_hosts ? " and hosts.h5" : "",
              cfg->run.out);
    rc = 0;
done:
    prep_free(&p);
    free(config_text);
    return rc;
}
