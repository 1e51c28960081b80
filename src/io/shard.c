/* site-NNN.h5 for the stages (see shard.h): datasets opened once per
 * (group, split, kind) and kept until close, reads in row strips. */
#include "fesf/shard.h"
#include "shard_internal.h"
#include "fesf/error.h"
#include "fesf/h5io.h"
#include "fesf/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>



void fesf_u8_to_f32(const uint8_t *src, float *dst, size_t n)
{
    for (size_t q = 0; q < n; q++) dst[q] = (float)src[q] / 255.0f; /* correctly rounded, as NumPy */
}

fesf_shard *fesf_shard_new(const char *path)
{
    fesf_shard *sh = calloc(1, sizeof *sh);
    if (!sh) return fesf_error("out of memory"), NULL;
    sh->file = H5I_INVALID_HID;
    sh->out = (fesf_h5out)FESF_H5OUT_INIT;
    const char *b = strrchr(path, '/');
    snprintf(sh->name, sizeof sh->name, "%s", b ? b + 1 : path);
    return sh;
}

int fesf_shard_open(fesf_shard **out, const char *path)
{
    fesf_shard *sh = *out = fesf_shard_new(path);
    if (!sh) return -1;
    sh->file = fesf_h5_open(path, "fesf-shard", FESF_SHARD_VERSION, 0);
    if (sh->file >= 0) return 0;
    fesf_shard_close(sh);
    *out = NULL;
    return -1;
}

int fesf_shard_rewrite(fesf_shard **out, const char *path, const char *const *drop, const char *config_text)
{
    fesf_shard *sh = *out = fesf_shard_new(path);
    if (!sh) return -1;
    if (fesf_h5out_rewrite(&sh->out, path, "fesf-shard", FESF_SHARD_VERSION, drop, config_text) == 0) {
        sh->file = sh->out.file, sh->rewriting = 1;
        return 0;
    }
    fesf_shard_close(sh);
    *out = NULL;
    return -1;
}

/* Close every dataset kept open: 0, or -1 with the first failure's message
 * (closing a written dataset writes its last chunks). */
int fesf_shard_close_datasets(fesf_shard *sh)
{
    int rc = 0;
    for (int i = 0; i < sh->n_open; i++) rc = fesf_h5_close_after(rc, sh->dset[i]);
    sh->n_open = 0;
    return rc;
}

int fesf_shard_commit(fesf_shard *sh)
{
    int rc = fesf_shard_close_datasets(sh);
    if (!rc) rc = fesf_h5out_commit(&sh->out); /* its messages name the file */
    else fesf_h5out_abort(&sh->out);
    sh->file = H5I_INVALID_HID, sh->rewriting = 0;
    return rc;
}

void fesf_shard_close(fesf_shard *sh)
{
    if (!sh) return;
    if (sh->rewriting) { /* an unfinished rewrite: given up, its datasets closed with it (nothing is written) */
        fesf_h5out_abort(&sh->out);
        sh->n_open = 0;
    }
    fesf_shard_close_datasets(sh);
    if (!sh->rewriting && sh->file >= 0) H5Fclose(sh->file);
    free(sh->scratch);
    free(sh);
}

const char *fesf_shard_name(const fesf_shard *sh) { return sh->name; }

int fesf_shard_has(fesf_shard *sh, const char *group) { return H5Lexists(sh->file, group, H5P_DEFAULT) > 0; }

int fesf_shard_get_i64(fesf_shard *sh, const char *name, int64_t *v)
{
    return fesf_h5_attr_get_i64(sh->file, name, v); /* the message names the file */
}

/* The slot of dataset group/split/kind, opened on first use (or created by
 * create_split); -1 if there is none. */
static int slot(fesf_shard *sh, const char *group, int split, const char *kind)
{
    char key[48], path[80];
    snprintf(key, sizeof key, "%s/%s/%s", group, fesf_split_names[split], kind);
    for (int i = 0; i < sh->n_open; i++)
        if (!strcmp(sh->key[i], key)) return i;
    snprintf(path, sizeof path, "/%s", key);
    if (sh->n_open == MAX_OPEN || H5Lexists(sh->file, group, H5P_DEFAULT) <= 0 ||
        H5Lexists(sh->file, path, H5P_DEFAULT) <= 0) {
        return fesf_error("'%s' has no %s", sh->name, path);
    }
    hid_t d = H5Dopen2(sh->file, path, H5P_DEFAULT);
    if (d < 0) return fesf_error("'%s': cannot open %s", sh->name, path);
    snprintf(sh->key[sh->n_open], sizeof sh->key[0], "%s", key);
    sh->dset[sh->n_open] = d, sh->has_info[sh->n_open] = 0;
    return sh->n_open++;
}

hid_t fesf_shard_dataset(fesf_shard *sh, const char *group, int split, const char *kind)
{
    int i = slot(sh, group, split, kind);
    return i < 0 ? H5I_INVALID_HID : sh->dset[i];
}

/* The split's `count` attribute, where it has one, is its number of images. */
static int check_count(fesf_shard *sh, const char *group, int split, int64_t n)
{
    char path[64];
    int64_t count = n;
    snprintf(path, sizeof path, "/%s/%s", group, fesf_split_names[split]);
    hid_t g = H5Oopen(sh->file, path, H5P_DEFAULT);
    int rc = g < 0 ? fesf_error("'%s': cannot open %s", sh->name, path)
                   : H5Aexists(g, "count") > 0 ? fesf_h5_attr_get_i64(g, "count", &count) : 0;
    if (!rc && count != n)
        rc = fesf_error("'%s': %s holds %lld images but its attribute 'count' is %lld", sh->name, path, (long long)n,
                        (long long)count);
    if (g >= 0) H5Oclose(g);
    return rc;
}

int fesf_shard_info(fesf_shard *sh, const char *group, int split, fesf_shard_split *info)
{
    int i = slot(sh, group, split, "images");
    if (i >= 0 && sh->has_info[i]) { /* every strip asks: answer from the slot */
        *info = sh->info[i];
        return 0;
    }
    hid_t d = i < 0 ? H5I_INVALID_HID : sh->dset[i], l = fesf_shard_dataset(sh, group, split, "labels");
    hsize_t dims[FESF_H5_MAX_RANK];
    if (d < 0 || l < 0) return -1;
    /* images [N, C, H, W] or volumes [N, C, D, H, W], uint8 or float32 (DESIGN section 3): an int16 or
     * float64 dataset is refused, not read as unscaled floats; labels: integers [N]; host_index (random
     * hosts): integers [N] */
    hsize_t any[H5S_MAX_RANK];
    int vol = fesf_h5_dims(d, any) == 5;
    fesf_h5_shape images = {4 + vol, {FESF_H5_ANY, FESF_H5_ANY, FESF_H5_ANY, FESF_H5_ANY, FESF_H5_ANY},
                            FESF_H5_T_U8 | FESF_H5_T_F32};
    if (fesf_h5_check(d, &images, dims)) return -1;
    fesf_h5_shape ints = {1, {dims[0]}, FESF_H5_T_INT};
    if (fesf_h5_check(l, &ints, NULL) || check_count(sh, group, split, (int64_t)dims[0])) return -1;
    char hosts[80];
    snprintf(hosts, sizeof hosts, "/%s/%s/host_index", group, fesf_split_names[split]);
    if (H5Lexists(sh->file, hosts, H5P_DEFAULT) > 0) {
        hid_t hd = fesf_shard_dataset(sh, group, split, "host_index");
        if (hd < 0 || fesf_h5_check(hd, &ints, NULL)) return -1;
    }
    if (vol ? !fesf_h5_volume_dims_ok(dims + 1) : !fesf_h5_image_dims_ok(dims + 1))
        return fesf_error("'%s': /%s/%s/images of %llu x %llu x %llu%s per image are not images fesf reads", sh->name,
                          group, fesf_split_names[split], (unsigned long long)dims[1], (unsigned long long)dims[2],
                          (unsigned long long)dims[3], vol ? " x ..." : "");
    hid_t t = H5Dget_type(d);
    int u8 = H5Tget_class(t) == H5T_INTEGER;
    H5Tclose(t);
    *info = (fesf_shard_split){(int64_t)dims[0], (int)dims[1], (int)dims[2 + vol], (int)dims[3 + vol],
                               u8 ? FESF_U8 : FESF_F32, vol ? (int)dims[2] : 1};
    sh->info[i] = *info, sh->has_info[i] = 1;
    return 0;
}

int fesf_shard_read_images(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                           const fesf_shard_split *want, fesf_dtype as, void *buf)
{
    fesf_shard_split in;
    if (fesf_shard_info(sh, group, split, &in)) return -1;
    hid_t d = fesf_shard_dataset(sh, group, split, "images");
    /* the caller's buffer holds images of want's shape: a dataset of another is refused */
    int vol = want->d > 1;
    fesf_h5_shape rows = {4 + vol, {FESF_H5_ANY, (hsize_t)want->c, (hsize_t)want->d, (hsize_t)want->h, (hsize_t)want->w},
                          FESF_H5_T_U8 | FESF_H5_T_F32};
    if (!vol) rows.dims[2] = rows.dims[3], rows.dims[3] = rows.dims[4];
    size_t len = (size_t)count * (size_t)fesf_shard_item_elems(want);
    if (as == FESF_U8 && in.dtype != FESF_U8)
        return fesf_error("'%s': /%s/%s images are not uint8", sh->name, group, fesf_split_names[split]);
    if (in.dtype == as || as == FESF_U8)
        return fesf_h5_read_rows(d, &rows, start, count, as == FESF_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, buf);
    if (sh->scratch_len < len) { /* grows to the largest strip, then stays */
        free(sh->scratch);
        sh->scratch_len = 0;
        if (!(sh->scratch = malloc(len))) return fesf_error("out of memory");
        sh->scratch_len = len;
    }
    if (fesf_h5_read_rows(d, &rows, start, count, H5T_NATIVE_UINT8, sh->scratch)) return -1;
    fesf_u8_to_f32(sh->scratch, buf, len);
    return 0;
}

/* Rows of a split's labels or host_index: integers [N], N its images (checked by fesf_shard_info). */
static int read_ints(fesf_shard *sh, const char *group, int split, const char *kind, int64_t start, int64_t count,
                     int32_t *buf)
{
    fesf_shard_split in;
    if (fesf_shard_info(sh, group, split, &in)) return -1;
    hid_t d = fesf_shard_dataset(sh, group, split, kind);
    fesf_h5_shape rows = {1, {(hsize_t)in.n}, FESF_H5_T_INT};
    return d < 0 ? -1 : fesf_h5_read_rows(d, &rows, start, count, H5T_NATIVE_INT32, buf);
}

static int write_rows(fesf_shard *sh, const char *group, int split, const char *kind, int64_t start, int64_t count,
                      hid_t type, const void *buf)
{
    hid_t d = fesf_shard_dataset(sh, group, split, kind);
    if (d < 0) return -1;
    return fesf_h5_write_rows(d, start, count, type, buf); /* the message names the file */
}

int fesf_shard_read_labels(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int32_t *buf)
{
    return read_ints(sh, group, split, "labels", start, count, buf);
}

int fesf_shard_write_images(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                            const float *buf)
{
    return write_rows(sh, group, split, "images", start, count, H5T_NATIVE_FLOAT, buf);
}

int fesf_shard_write_labels(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                            const int32_t *buf)
{
    return write_rows(sh, group, split, "labels", start, count, H5T_NATIVE_INT32, buf);
}

int fesf_shard_read_hosts(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int32_t *buf)
{
    return read_ints(sh, group, split, "host_index", start, count, buf);
}

int fesf_shard_write_hosts(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                           const int32_t *buf)
{
    return write_rows(sh, group, split, "host_index", start, count, H5T_NATIVE_INT32, buf);
}

int fesf_shard_create_split(fesf_shard *sh, const char *group, int split, int64_t n, int c, int dp, int h, int w,
                            int with_hosts)
{
    char path[64];
    snprintf(path, sizeof path, "/%s/%s", group, fesf_split_names[split]);
    hid_t g = fesf_h5_group(sh->file, path);
    int rc = g < 0 || sh->n_open + 3 > MAX_OPEN || fesf_h5_attr_i64(g, "count", n);
    const char *kinds[3] = {"images", "labels", "host_index"};
    for (int k = 0; k < (with_hosts ? 3 : 2) && !rc; k++) {
        hid_t d = k ? fesf_h5_create_labels(g, kinds[k], n) : fesf_h5_create_images(g, kinds[k], FESF_F32, n, c, dp, h, w);
        if (d < 0) {
            rc = -1;
            break;
        }
        snprintf(sh->key[sh->n_open], sizeof sh->key[0], "%s/%s/%s", group, fesf_split_names[split], kinds[k]);
        sh->has_info[sh->n_open] = k == 0; /* the images we create: shape known */
        sh->info[sh->n_open] = (fesf_shard_split){n, c, h, w, FESF_F32, dp > 1 ? dp : 1};
        sh->dset[sh->n_open++] = d;
    }
    if (fesf_h5_close_after(rc, g)) return fesf_error("'%s': cannot create %s: %s", sh->name, path, fesf_errmsg());
    return 0;
}

/* Apply fn to the object `group` ("/" = root). */
static int with_group(fesf_shard *sh, const char *group, int (*fn)(hid_t, const void *, const void *), const void *a,
                      const void *b)
{
    hid_t g = H5Oopen(sh->file, group, H5P_DEFAULT);
    int rc = fesf_h5_close_after(g < 0 || fn(g, a, b), g);
    return rc ? fesf_error("'%s' %s: %s", sh->name, group, g < 0 ? "no such group" : fesf_errmsg()) : 0;
}

static int put_f64(hid_t g, const void *name, const void *v) { return fesf_h5_attr_f64(g, name, *(const double *)v); }
static int put_i64(hid_t g, const void *name, const void *v) { return fesf_h5_attr_i64(g, name, *(const int64_t *)v); }
static int put_str(hid_t g, const void *name, const void *v) { return fesf_h5_attr_str(g, name, v); }
static int get_f64(hid_t g, const void *name, const void *v) { return fesf_h5_attr_get_f64(g, name, (double *)v); }
static int put_stamp(hid_t g, const void *s, const void *unused) { return fesf_h5_stamp(g, s); }

int fesf_shard_set_f64(fesf_shard *sh, const char *group, const char *name, double v)
{
    return with_group(sh, group, put_f64, name, &v);
}

int fesf_shard_set_i64(fesf_shard *sh, const char *group, const char *name, int64_t v)
{
    return with_group(sh, group, put_i64, name, &v);
}

int fesf_shard_set_str(fesf_shard *sh, const char *group, const char *name, const char *v)
{
    return with_group(sh, group, put_str, name, v);
}

int fesf_shard_get_f64(fesf_shard *sh, const char *group, const char *name, double *v)
{
    return with_group(sh, group, get_f64, name, v);
}

int fesf_shard_stamp(fesf_shard *sh, const char *group, const fesf_stage *s)
{
    return s ? with_group(sh, group, put_stamp, s, NULL) : 0;
}

/* The class names' FNV-1a hash and their display, "'a', 'b'" (cut with "..."). */
static void names_text(const char *names, size_t len, fesf_shard_meta *m)
{
    uint64_t h = 1469598103934665603ull;
    size_t out = 0, room = sizeof m->names - 4;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)names[i]) * 1099511628211ull;
    m->names_hash = h, m->names[0] = '\0';
    for (const char *s = names; s < names + len; s += strlen(s) + 1) {
        int k = snprintf(m->names + out, sizeof m->names - out, "%s'%s'", out ? ", " : "", s);
        if (k < 0 || out + (size_t)k > room) {
            snprintf(m->names + (out < room ? out : room), 4, "...");
            return;
        }
        out += (size_t)k;
    }
}

int fesf_shard_meta_read(fesf_shard *sh, fesf_shard_meta *m)
{
    memset(m, 0, sizeof *m);
    if (fesf_h5_attr_get_i64(sh->file, "site_id", &m->site_id) || fesf_h5_attr_get_i64(sh->file, "n_sites", &m->n_sites) ||
        fesf_h5_attr_get_i64(sh->file, "n_classes", &m->n_classes))
        return -1;
    if (m->n_sites < 1 || m->n_sites > 4096 || m->n_classes < 1 || m->n_classes > 65536)
        return fesf_error("'%s': n_sites = %lld and n_classes = %lld are not a shard's", sh->name, (long long)m->n_sites,
                          (long long)m->n_classes);
    size_t len = 0;
    char *names = fesf_h5_attr_get_strs(sh->file, "class_names", (int)m->n_classes, &len);
    if (!names) return -1;
    names_text(names, len, m);
    free(names);
    for (int sp = 0; sp < FESF_NSPLITS; sp++) {
        fesf_shard_split in;
        if (fesf_shard_info(sh, "plain", sp, &in)) return -1;
        if (sp && (in.c != m->c || in.d != m->d || in.h != m->h || in.w != m->w)) {
            char s1[FESF_SHAPE_STR], s2[FESF_SHAPE_STR];
            return fesf_error("'%s': /plain/%s images are %s but /plain/train's are %s", sh->name, fesf_split_names[sp],
                              fesf_shape_str(s1, in.c, in.d, in.h, in.w), fesf_shape_str(s2, m->c, m->d, m->h, m->w));
        }
        if (!sp) m->c = in.c, m->d = in.d, m->h = in.h, m->w = in.w;
    }
    return 0;
}
