/* site-NNN.h5 for the stages (see shard.h): datasets opened once per
 * (group, split, kind) and kept until close, reads in row strips. */
#include "fesf/shard.h"
#include "fesf/error.h"
#include "fesf/h5io.h"
#include "fesf/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPEN 24

struct fesf_shard {
    hid_t file;            /* read-only file, or the rewrite's PATH.tmp */
    fesf_h5out out;        /* the rewrite (out.file == file), else unused */
    int rewriting;
    char name[64];
    int n_open;
    char key[MAX_OPEN][48]; /* "group/split/kind" */
    hid_t dset[MAX_OPEN];
    int has_info[MAX_OPEN]; /* an images slot: its shape and type, read once */
    fesf_shard_split info[MAX_OPEN];
    uint8_t *scratch;       /* widening buffer */
    size_t scratch_len;
};

void fesf_u8_to_f32(const uint8_t *src, float *dst, size_t n)
{
    for (size_t q = 0; q < n; q++) dst[q] = (float)src[q] / 255.0f; /* correctly rounded, as NumPy */
}

static fesf_shard *shard_new(const char *path)
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
    fesf_shard *sh = *out = shard_new(path);
    if (!sh) return -1;
    sh->file = fesf_h5_open(path, "fesf-shard", FESF_SHARD_VERSION, 0);
    if (sh->file >= 0) return 0;
    fesf_shard_close(sh);
    *out = NULL;
    return -1;
}

int fesf_shard_rewrite(fesf_shard **out, const char *path, const char *const *drop, const char *config_text)
{
    fesf_shard *sh = *out = shard_new(path);
    if (!sh) return -1;
    if (fesf_h5out_rewrite(&sh->out, path, "fesf-shard", FESF_SHARD_VERSION, drop, config_text) == 0) {
        sh->file = sh->out.file, sh->rewriting = 1;
        return 0;
    }
    fesf_shard_close(sh);
    *out = NULL;
    return -1;
}

static void close_datasets(fesf_shard *sh)
{
    for (int i = 0; i < sh->n_open; i++) H5Dclose(sh->dset[i]);
    sh->n_open = 0;
}

int fesf_shard_commit(fesf_shard *sh)
{
    close_datasets(sh);
    int rc = fesf_h5out_commit(&sh->out);
    sh->file = H5I_INVALID_HID, sh->rewriting = 0;
    return rc ? fesf_error("'%s': %s", sh->name, fesf_errmsg()) : 0;
}

void fesf_shard_close(fesf_shard *sh)
{
    if (!sh) return;
    close_datasets(sh);
    if (sh->rewriting) fesf_h5out_abort(&sh->out);
    else if (sh->file >= 0) H5Fclose(sh->file);
    free(sh->scratch);
    free(sh);
}

const char *fesf_shard_name(const fesf_shard *sh) { return sh->name; }

int fesf_shard_has(fesf_shard *sh, const char *group) { return H5Lexists(sh->file, group, H5P_DEFAULT) > 0; }

int fesf_shard_get_i64(fesf_shard *sh, const char *name, int64_t *v)
{
    return fesf_h5_attr_get_i64(sh->file, name, v) ? fesf_error("'%s': %s", sh->name, fesf_errmsg()) : 0;
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

static hid_t dataset(fesf_shard *sh, const char *group, int split, const char *kind)
{
    int i = slot(sh, group, split, kind);
    return i < 0 ? H5I_INVALID_HID : sh->dset[i];
}

int fesf_shard_info(fesf_shard *sh, const char *group, int split, fesf_shard_split *info)
{
    int i = slot(sh, group, split, "images");
    if (i >= 0 && sh->has_info[i]) { /* every strip asks: answer from the slot */
        *info = sh->info[i];
        return 0;
    }
    hid_t d = i < 0 ? H5I_INVALID_HID : sh->dset[i], l = dataset(sh, group, split, "labels");
    hsize_t dims[8], ld[8];
    if (d < 0 || l < 0) return -1;
    if (fesf_h5_dims(d, dims) != 4 || fesf_h5_dims(l, ld) != 1 || ld[0] != dims[0])
        return fesf_error("'%s': /%s/%s: images are not [N, C, H, W] with N labels", sh->name, group,
                          fesf_split_names[split]);
    hid_t t = H5Dget_type(d);
    int u8 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1;
    H5Tclose(t);
    *info = (fesf_shard_split){(int64_t)dims[0], (int)dims[1], (int)dims[2], (int)dims[3], u8 ? FESF_U8 : FESF_F32};
    sh->info[i] = *info, sh->has_info[i] = 1;
    return 0;
}

int fesf_shard_read_images(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, fesf_dtype as,
                           void *buf)
{
    fesf_shard_split in;
    if (fesf_shard_info(sh, group, split, &in)) return -1;
    hid_t d = dataset(sh, group, split, "images");
    size_t len = (size_t)count * (size_t)in.c * (size_t)in.h * (size_t)in.w;
    if (as == FESF_U8 && in.dtype != FESF_U8)
        return fesf_error("'%s': /%s/%s images are not uint8", sh->name, group, fesf_split_names[split]);
    if (in.dtype == as || as == FESF_U8) {
        int rc = fesf_h5_read_rows(d, start, count, as == FESF_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, buf);
        return rc ? fesf_error("'%s': %s", sh->name, fesf_errmsg()) : 0;
    }
    if (sh->scratch_len < len) { /* grows to the largest strip, then stays */
        free(sh->scratch);
        sh->scratch_len = 0;
        if (!(sh->scratch = malloc(len))) return fesf_error("out of memory");
        sh->scratch_len = len;
    }
    if (fesf_h5_read_rows(d, start, count, H5T_NATIVE_UINT8, sh->scratch))
        return fesf_error("'%s': %s", sh->name, fesf_errmsg());
    fesf_u8_to_f32(sh->scratch, buf, len);
    return 0;
}

static int rows_io(fesf_shard *sh, const char *group, int split, const char *kind, int64_t start, int64_t count,
                   hid_t type, const void *wbuf, void *rbuf)
{
    hid_t d = dataset(sh, group, split, kind);
    if (d < 0) return -1;
    int rc = wbuf ? fesf_h5_write_rows(d, start, count, type, wbuf) : fesf_h5_read_rows(d, start, count, type, rbuf);
    return rc ? fesf_error("'%s': %s", sh->name, fesf_errmsg()) : 0;
}

int fesf_shard_read_labels(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int32_t *buf)
{
    return rows_io(sh, group, split, "labels", start, count, H5T_NATIVE_INT32, NULL, buf);
}

int fesf_shard_write_images(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                            const float *buf)
{
    return rows_io(sh, group, split, "images", start, count, H5T_NATIVE_FLOAT, buf, NULL);
}

int fesf_shard_write_labels(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                            const int32_t *buf)
{
    return rows_io(sh, group, split, "labels", start, count, H5T_NATIVE_INT32, buf, NULL);
}

int fesf_shard_read_hosts(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int32_t *buf)
{
    return rows_io(sh, group, split, "host_index", start, count, H5T_NATIVE_INT32, NULL, buf);
}

int fesf_shard_write_hosts(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count,
                           const int32_t *buf)
{
    return rows_io(sh, group, split, "host_index", start, count, H5T_NATIVE_INT32, buf, NULL);
}

int fesf_shard_create_split(fesf_shard *sh, const char *group, int split, int64_t n, int c, int h, int w,
                            int with_hosts)
{
    char path[64];
    snprintf(path, sizeof path, "/%s/%s", group, fesf_split_names[split]);
    hid_t g = fesf_h5_group(sh->file, path);
    int rc = g < 0 || sh->n_open + 3 > MAX_OPEN || fesf_h5_attr_i64(g, "count", n);
    const char *kinds[3] = {"images", "labels", "host_index"};
    for (int k = 0; k < (with_hosts ? 3 : 2) && !rc; k++) {
        hid_t d = k ? fesf_h5_create_labels(g, kinds[k], n) : fesf_h5_create_images(g, kinds[k], FESF_F32, n, c, h, w);
        if (d < 0) {
            rc = -1;
            break;
        }
        snprintf(sh->key[sh->n_open], sizeof sh->key[0], "%s/%s/%s", group, fesf_split_names[split], kinds[k]);
        sh->has_info[sh->n_open] = k == 0; /* the images we create: shape known */
        sh->info[sh->n_open] = (fesf_shard_split){n, c, h, w, FESF_F32};
        sh->dset[sh->n_open++] = d;
    }
    if (g >= 0) H5Gclose(g);
    return rc ? fesf_error("'%s': cannot create %s: %s", sh->name, path, fesf_errmsg()) : 0;
}

/* Apply fn to the object `group` ("/" = root). */
static int with_group(fesf_shard *sh, const char *group, int (*fn)(hid_t, const void *, const void *), const void *a,
                      const void *b)
{
    hid_t g = H5Oopen(sh->file, group, H5P_DEFAULT);
    int rc = g < 0 || fn(g, a, b);
    if (g >= 0) H5Oclose(g);
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
