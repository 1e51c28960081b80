/* HDF5 helpers: atomic files with common root attributes, typed
 * attributes, format checks, and N-chunked image/label datasets. */
#include "fesf/h5io.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"
#include "fesf/version.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void fesf_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static hid_t vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int fesf_h5_attr_strs(hid_t obj, const char *name, const char *const *values, int n)
{
    hsize_t dim = (hsize_t)n;
    hid_t t = vlen_str_type(), sp = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t a = H5I_INVALID_HID;
    int rc = -1;
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, values) < 0) {
        fesf_error("cannot write attribute '%s'", name);
        goto done;
    }
    rc = 0;
done:
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int fesf_h5_attr_str(hid_t obj, const char *name, const char *value)
{
    return fesf_h5_attr_strs(obj, name, &value, -1); /* -1: scalar */
}

static int attr_scalar(hid_t obj, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR), a;
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a >= 0 && H5Awrite(a, type, v) >= 0) ? 0 : fesf_error("cannot write attribute '%s'", name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

int fesf_h5_attr_i64(hid_t obj, const char *name, int64_t value)
{
    return attr_scalar(obj, name, H5T_NATIVE_INT64, &value);
}

int fesf_h5_attr_f64(hid_t obj, const char *name, double value)
{
    return attr_scalar(obj, name, H5T_NATIVE_DOUBLE, &value);
}

int fesf_h5_attr_i32s(hid_t obj, const char *name, const int32_t *v, int rank, const hsize_t *dims)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL), a;
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a >= 0 && H5Awrite(a, H5T_NATIVE_INT32, v) >= 0) ? 0
                                                               : fesf_error("cannot write attribute '%s'", name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

static void iso_now(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int fesf_h5out_create(fesf_h5out *o, const char *path, const char *format, int version,
                      const char *config_text)
{
    char created[32];
    o->file = H5I_INVALID_HID;
    if (strlen(path) + 5 > sizeof o->path) return fesf_error("path too long: '%s'", path);
    snprintf(o->path, sizeof o->path, "%s", path);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp", path);
    fesf_h5_quiet();
    fesf_tmp_track(o->tmp);
    o->file = H5Fcreate(o->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (o->file < 0) return fesf_error("cannot create '%s': %s", o->tmp, strerror(errno ? errno : EIO));
    iso_now(created, sizeof created);
    if (fesf_h5_attr_str(o->file, "format", format) || fesf_h5_attr_i64(o->file, "version", version) ||
        fesf_h5_attr_str(o->file, "fesf_version", FESF_VERSION) ||
        fesf_h5_attr_str(o->file, "created", created) ||
        fesf_h5_attr_str(o->file, "config", config_text ? config_text : "")) {
        fesf_h5out_abort(o);
        return fesf_error("'%s': %s", path, fesf_errmsg());
    }
    return 0;
}

/* Copy one attribute from an object to another, whatever its type. */
static herr_t copy_attr(hid_t src, const char *name, const H5A_info_t *info, void *dst_p)
{
    hid_t dst = *(hid_t *)dst_p;
    hid_t a = H5Aopen(src, name, H5P_DEFAULT), ft = H5Aget_type(a), sp = H5Aget_space(a);
    hid_t mt = H5Tget_native_type(ft, H5T_DIR_DEFAULT), b = H5I_INVALID_HID;
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    void *buf = malloc(H5Tget_size(mt) * (size_t)(n > 0 ? n : 1));
    herr_t rc = -1;
    if (buf && H5Aread(a, mt, buf) >= 0) {
        b = H5Acreate2(dst, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = b >= 0 && H5Awrite(b, mt, buf) >= 0 ? 0 : -1;
        if (H5Tis_variable_str(mt) > 0) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
    }
    if (b >= 0) H5Aclose(b);
    free(buf);
    H5Tclose(mt), H5Sclose(sp), H5Tclose(ft), H5Aclose(a);
    return rc;
}

typedef struct {
    hid_t dst;
    const char *const *drop;
    int failed;
} copy_ctx;

static herr_t copy_link(hid_t src, const char *name, const H5L_info_t *info, void *data)
{
    copy_ctx *c = data;
    for (const char *const *d = c->drop; d && *d; d++)
        if (!strcmp(name, *d)) return 0;
    if (H5Ocopy(src, name, c->dst, name, H5P_DEFAULT, H5P_DEFAULT) < 0) {
        c->failed = 1;
        fesf_error("cannot copy '/%s'", name);
        return -1;
    }
    return 0;
}

int fesf_h5out_rewrite(fesf_h5out *o, const char *path, const char *format, int version, const char *const *drop,
                       const char *config_text)
{
    o->file = H5I_INVALID_HID;
    o->tmp[0] = '\0';
    hid_t src = fesf_h5_open(path, format, version, 0);
    if (src < 0) return -1;
    snprintf(o->path, sizeof o->path, "%s", path);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp", path);
    fesf_tmp_track(o->tmp);
    o->file = H5Fcreate(o->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    copy_ctx c = {o->file, drop, 0};
    int rc = -1;
    if (o->file < 0) {
        fesf_error("cannot create '%s'", o->tmp);
        goto done;
    }
    if (H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr, &o->file) < 0) {
        fesf_error("'%s': cannot copy the root attributes", path);
        goto done;
    }
    if (H5Literate(src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_link, &c) < 0 || c.failed) {
        fesf_error("'%s': %s", path, fesf_errmsg());
        goto done;
    }
    rc = fesf_h5_attr_str(o->file, "config", config_text ? config_text : "");
done:
    H5Fclose(src);
    if (rc) fesf_h5out_abort(o);
    return rc;
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int fesf_h5out_commit(fesf_h5out *o)
{
    if (o->file < 0) return fesf_error("'%s': file not open", o->path);
    herr_t st = H5Fclose(o->file);
    o->file = H5I_INVALID_HID;
    if (st < 0) {
        unlink(o->tmp);
        fesf_tmp_untrack(o->tmp);
        return fesf_error("cannot write '%s'", o->tmp);
    }
    if (fsync_path(o->tmp, 0) || rename(o->tmp, o->path)) {
        int e = errno;
        unlink(o->tmp);
        fesf_tmp_untrack(o->tmp);
        return fesf_error("cannot commit '%s': %s", o->path, strerror(e));
    }
    fesf_tmp_untrack(o->tmp);
    char dir[sizeof o->path];
    snprintf(dir, sizeof dir, "%s", o->path);
    fsync_path(dirname(dir), 1); /* best effort: makes the rename durable */
    o->tmp[0] = '\0';
    return 0;
}

void fesf_h5out_abort(fesf_h5out *o)
{
    if (o->file >= 0) H5Fclose(o->file);
    o->file = H5I_INVALID_HID;
    if (o->tmp[0]) unlink(o->tmp), fesf_tmp_untrack(o->tmp);
    o->tmp[0] = '\0';
}

hid_t fesf_h5_open(const char *path, const char *format, int version, int writable)
{
    char got[128];
    int64_t ver = 0;
    struct stat st;
    fesf_h5_quiet();
    if (stat(path, &st)) return fesf_error("cannot open '%s': %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) return fesf_error("'%s' is not an HDF5 file", path);
    hid_t f = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return fesf_error("cannot open '%s' as HDF5", path);
    if (H5Aexists(f, "format") <= 0) {
        H5Fclose(f);
        return fesf_error("'%s' is not a fesf file (no 'format' attribute)", path);
    }
    if (fesf_h5_attr_get_str(f, "format", got, sizeof got)) { /* the message names file and attribute */
        H5Fclose(f);
        return -1;
    }
    if (format && strcmp(got, format)) {
        H5Fclose(f);
        return fesf_error("'%s' has format '%s', expected '%s'", path, got, format);
    }
    if (fesf_h5_attr_get_i64(f, "version", &ver)) {
        H5Fclose(f);
        return -1;
    }
    if (version > 0 && ver != version) {
        H5Fclose(f);
        return fesf_error("'%s' is %s version %lld, this fesf reads version %d", path, got, (long long)ver, version);
    }
    return f;
}

int fesf_h5_stamp(hid_t obj, const fesf_stage *s)
{
    if (!s) return 0;
    return fesf_h5_attr_str(obj, "stage", s->name) || fesf_h5_attr_str(obj, "stage_hash", s->hex) ? -1 : 0;
}

hid_t fesf_h5_group(hid_t file, const char *path)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), g;
    H5Pset_create_intermediate_group(lcpl, 1);
    if (H5Lexists(file, path, H5P_DEFAULT) > 0) g = H5Gopen2(file, path, H5P_DEFAULT);
    else g = H5Gcreate2(file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) return fesf_error("cannot create group '%s'", path);
    return g;
}

/* Chunked along N with about 1 MiB per chunk; N may be 0 (unlimited max). */
static hid_t create_rows(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims,
                         int compress)
{
    hsize_t maxdims[8], chunk[8];
    size_t row = H5Tget_size(ftype);
    for (int i = 0; i < rank; i++) {
        maxdims[i] = i ? dims[i] : H5S_UNLIMITED;
        chunk[i] = dims[i];
        if (i) row *= dims[i];
    }
    hsize_t rows = (1u << 20) / row;
    if (dims[0] > 0 && rows > dims[0]) rows = dims[0];
    chunk[0] = rows < 1 ? 1 : rows > 4096 ? 4096 : rows;
    hid_t sp = H5Screate_simple(rank, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    if (compress) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 1);
    }
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (d < 0) return fesf_error("cannot create dataset '%s'", name);
    return d;
}

hid_t fesf_h5_create_images(hid_t loc, const char *name, fesf_dtype t, int64_t n, int c, int h, int w)
{
    hsize_t dims[4] = {(hsize_t)n, (hsize_t)c, (hsize_t)h, (hsize_t)w};
    return create_rows(loc, name, t == FESF_U8 ? H5T_STD_U8LE : H5T_IEEE_F32LE, 4, dims, t == FESF_U8);
}

hid_t fesf_h5_create_labels(hid_t loc, const char *name, int64_t n)
{
    hsize_t dims[1] = {(hsize_t)n};
    return create_rows(loc, name, H5T_STD_I32LE, 1, dims, 1);
}

int fesf_h5_write_rows(hid_t dset, int64_t start, int64_t count, hid_t memtype, const void *buf)
{
    hsize_t dims[H5S_MAX_RANK], off[H5S_MAX_RANK] = {0}, cnt[H5S_MAX_RANK];
    int rank = fesf_h5_dims(dset, dims);
    if (rank < 1) return fesf_error("cannot write rows: not an array dataset");
    if (start < 0 || count < 0 || (hsize_t)(start + count) > dims[0])
        return fesf_error("rows [%lld, %lld) outside a dataset of %llu rows", (long long)start,
                          (long long)(start + count), (unsigned long long)dims[0]);
    if (count == 0) return 0;
    for (int i = 0; i < rank; i++) cnt[i] = dims[i];
    off[0] = (hsize_t)start;
    cnt[0] = (hsize_t)count;
    hid_t fs = H5Dget_space(dset), ms = H5Screate_simple(rank, cnt, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
    herr_t st = H5Dwrite(dset, memtype, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    if (st < 0) return fesf_error("cannot write rows [%lld, %lld)", (long long)start, (long long)(start + count));
    return 0;
}

/* The HDF5 version fesf was built against ("1.10.8"), for `fesf version`. */
void fesf_h5_version(char *buf, size_t n)
{
    snprintf(buf, n, "%d.%d.%d", H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
}
