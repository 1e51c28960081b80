#define _GNU_SOURCE /* fallocate */
/* HDF5 helpers: atomic files with common root attributes, typed
 * attributes, format checks, and N-chunked image/label datasets. */
#include "fesf/h5io.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"
#include "fesf/version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void fesf_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- why a call failed: its error stack ---------------------------------------- */

typedef struct {
    int err;      /* the errno a file driver reported ("errno = 28, error message = ..."), or 0 */
    int checksum; /* a Fletcher32 check failed */
} stack_why;

static herr_t why_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    stack_why *w = data;
    const char *p = e->desc ? strstr(e->desc, "errno = ") : NULL;
    if (p && !w->err) w->err = atoi(p + 8);
    if (e->desc && strstr(e->desc, "Fletcher32")) w->checksum = 1;
    return 0;
}

static stack_why why_now(void)
{
    stack_why w = {0, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, why_cb, &w); /* H5E calls leave the stack as it is */
    return w;
}

const char *fesf_h5_reason(void)
{
    stack_why w = why_now();
    return w.checksum ? "it fails its checksum (Fletcher32)" : w.err ? strerror(w.err) : "an HDF5 error";
}

int fesf_h5_checksum_failed(void) { return why_now().checksum; }

void fesf_h5_file_name(hid_t obj, char *buf, size_t size)
{
    if (H5Fget_name(obj, buf, size) < 0) snprintf(buf, size, "?");
    size_t len = strlen(buf);
    if (len > 4 && !strcmp(buf + len - 4, ".tmp")) buf[len - 4] = '\0';
}

/* ---- write failures ---------------------------------------------------------------
 * HDF5 1.10 cannot always close a file or a dataset after a write to it
 * failed (a full disk): the close fails, and the object is freed but its ID
 * kept (CVE-2020-10812, fixed in HDF5 1.14.1: HDFGroup/hdf5#2291), and after
 * a failed metadata flush the file can never be closed ("slist already
 * enabled?"). The library then crashes when it ends, at exit or in
 * MPI_Finalize, and H5Ocopy crashes when one of its writes fails. So:
 * - fesf_h5_start() starts HDF5 before MPI and without its exit-time
 *   clean-up: nothing is left for it to do (every file fesf writes is closed
 *   by commit or abort; a file given up is not worth a flush);
 * - a written dataset is flushed before it is closed, a file before it is
 *   closed (a failed flush returns cleanly, and its reason is kept);
 * - once a write to a file has failed the file is given up: its descriptor
 *   is pointed at an anonymous file in memory (memfd; /dev/null under a
 *   file-size limit, which a memfd obeys too), so that what HDF5 still
 *   writes on the way out cannot fail on the disk, and its PATH.tmp is
 *   removed; a given-up file is never committed (fesf_h5out_commit checks);
 * - a rewrite reserves the room for its copy first (see reserve()). */

void fesf_h5_start(void)
{
    H5dont_atexit(); /* before anything else of HDF5 */
    H5open();        /* before MPI_Init: no clean-up hooked on MPI_Finalize either */
    fesf_h5_quiet();
}

/* obj's file is sec2's (the default driver); its descriptor into *fd. */
static int file_fd(hid_t obj, int **fd)
{
    hid_t f = H5Iget_file_id(obj), fapl = f >= 0 ? H5Fget_access_plist(f) : H5I_INVALID_HID;
    void *handle = NULL;
    int ok = fapl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 && H5Fget_vfd_handle(f, H5P_DEFAULT, &handle) >= 0 && handle;
    if (fapl >= 0) H5Pclose(fapl);
    if (f >= 0) H5Fclose(f); /* the reference H5Iget_file_id added, not the file */
    *fd = ok ? handle : NULL;
    return ok ? 0 : -1;
}

/* Point obj's file elsewhere (see above): its own data on disk is left as
 * it was, to be removed. */
static void give_up(hid_t obj)
{
    int *fd;
    struct rlimit rl;
    if (file_fd(obj, &fd)) return;
    int limited = !getrlimit(RLIMIT_FSIZE, &rl) && rl.rlim_cur != RLIM_INFINITY;
    int to = limited ? -1 : memfd_create("fesf-given-up", MFD_CLOEXEC);
    if (to < 0) to = open("/dev/null", O_RDWR | O_CLOEXEC); /* writes go nowhere, though a truncate fails */
    if (to < 0) return;
    dup2(to, *fd);
    close(to);
}

/* Is obj's file still the one at tmp (not given up)? Yes for a driver without a descriptor (never given up). */
static int still_at(hid_t obj, const char *tmp)
{
    int *fd;
    struct stat a, b;
    if (file_fd(obj, &fd)) return 1;
    return !fstat(*fd, &a) && !stat(tmp, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* obj's file is open for writing. */
static int writable(hid_t obj)
{
    unsigned intent = 0;
    hid_t f = H5Iget_file_id(obj);
    if (f >= 0 && H5Fget_intent(f, &intent) < 0) intent = 0;
    if (f >= 0) H5Fclose(f);
    return (intent & H5F_ACC_RDWR) != 0;
}

/* Close a dataset (flushed first when its file is writable: the close then
 * has nothing left to write), a group, an attribute or another object; a
 * failed flush gives the file up. NULL, or why it failed (static text). */
static const char *close_any(hid_t id)
{
    H5I_type_t type = H5Iget_type(id);
    const char *why = NULL;
    if (type == H5I_DATASET && writable(id) && H5Dflush(id) < 0) {
        why = fesf_h5_reason(); /* before give_up's calls clear the error stack */
        give_up(id);
    }
    herr_t st = type == H5I_DATASET ? H5Dclose(id)
              : type == H5I_GROUP   ? H5Gclose(id)
              : type == H5I_ATTR    ? H5Aclose(id)
                                    : H5Oclose(id);
    return st < 0 && !why ? fesf_h5_reason() : why;
}

int fesf_h5_close(hid_t id)
{
    if (id < 0) return 0;
    char file[1100];
    fesf_h5_file_name(id, file, sizeof file); /* before the close, which ends the id */
    const char *why = close_any(id);
    return why ? fesf_error("cannot write '%s': %s", file, why) : 0;
}

int fesf_h5_close_after(int rc, hid_t id)
{
    if (rc) {
        if (id >= 0) close_any(id); /* the first failure's message stays */
        return -1;
    }
    return fesf_h5_close(id);
}

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
    rc = fesf_h5_close_after(rc, a);
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
    rc = fesf_h5_close_after(rc, a);
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
    rc = fesf_h5_close_after(rc, a);
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

/* o's PATH.tmp, new; closing the file closes whatever of it is still open
 * (so that H5Fclose really writes and closes it). -1 with a message. */
static hid_t create_tmp(const fesf_h5out *o)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fcreate(o->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0) fesf_error("cannot write '%s': %s", o->path, fesf_h5_reason());
    H5Pclose(fapl);
    return f;
}

/* Room for the first n bytes of a new file before HDF5 writes them: H5Ocopy
 * crashes (HDF5 1.10) when a write of the copy fails, so a rewrite makes
 * sure its copy cannot: within the file-size limit, and the disk's blocks
 * reserved (beyond the end of the file, which stays as HDF5 writes it; a
 * file system without fallocate is not checked). 0, or -1 with a message. */
static int reserve(hid_t file, const char *path, off_t n)
{
    struct rlimit rl;
    int *fd;
    if (!getrlimit(RLIMIT_FSIZE, &rl) && rl.rlim_cur != RLIM_INFINITY && (rlim_t)n > rl.rlim_cur)
        return fesf_error("cannot write '%s': %s", path, strerror(EFBIG));
    if (n > 0 && !file_fd(file, &fd) && fallocate(*fd, FALLOC_FL_KEEP_SIZE, 0, n) && errno != EOPNOTSUPP &&
        errno != ENOSYS)
        return fesf_error("cannot write '%s': %s", path, strerror(errno));
    return 0;
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
    o->file = create_tmp(o);
    if (o->file < 0) return -1;
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
    if (b >= 0 && H5Aclose(b) < 0) rc = -1;
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
    o->file = create_tmp(o);
    copy_ctx c = {o->file, drop, 0};
    int rc = -1;
    struct stat st;
    if (o->file < 0) goto done;
    if (stat(path, &st)) {
        fesf_error("cannot open '%s': %s", path, strerror(errno));
        goto done;
    }
    if (reserve(o->file, path, st.st_size + st.st_size / 8 + (64 << 10))) goto done; /* the copy, and a margin */
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

/* The closed PATH.tmp on disk: blocks reserved beyond its end released,
 * fsynced. 0, or -1 with errno. */
static int settle(const char *tmp)
{
    struct stat st;
    int fd = open(tmp, O_WRONLY | O_CLOEXEC), rc = fd < 0 || fstat(fd, &st) || ftruncate(fd, st.st_size) || fsync(fd);
    int e = errno;
    if (fd >= 0) close(fd);
    errno = e;
    return rc ? -1 : 0;
}

int fesf_h5out_commit(fesf_h5out *o)
{
    if (o->file < 0) return fesf_error("'%s': file not open", o->path);
    if (!still_at(o->file, o->tmp)) { /* given up: a write failed (the caller's message said so) */
        fesf_h5out_abort(o);
        return fesf_error("cannot write '%s': a write to it failed", o->path);
    }
    /* every buffered chunk and the metadata to the file (a flush fails cleanly), then the close: each checked */
    const char *why = H5Fflush(o->file, H5F_SCOPE_LOCAL) < 0 ? fesf_h5_reason() : NULL;
    if (why) give_up(o->file);
    if (H5Fclose(o->file) < 0 && !why) why = fesf_h5_reason();
    o->file = H5I_INVALID_HID;
    int rc = why ? fesf_error("cannot write '%s': %s", o->path, why)
             : settle(o->tmp)             ? fesf_error("cannot write '%s': %s", o->path, strerror(errno))
             : rename(o->tmp, o->path) ? fesf_error("cannot rename '%s' to '%s': %s", o->tmp, o->path, strerror(errno))
                                       : 0;
    if (rc) unlink(o->tmp);
    fesf_tmp_untrack(o->tmp);
    o->tmp[0] = '\0';
    return rc ? -1 : fesf_fsync_parent(o->path); /* makes the rename durable */
}

void fesf_h5out_abort(fesf_h5out *o)
{
    if (o->file >= 0) {
        give_up(o->file); /* nothing of it is kept: its last writes go nowhere, and the close cannot fail */
        H5Fclose(o->file); /* and closes whatever of it is still open (H5F_CLOSE_STRONG) */
    }
    o->file = H5I_INVALID_HID;
    if (o->tmp[0]) unlink(o->tmp), fesf_tmp_untrack(o->tmp);
    o->tmp[0] = '\0';
}

int fesf_h5out_suspend(fesf_h5out *o)
{
    if (o->file < 0) return fesf_error("'%s': file not open", o->path);
    const char *why = H5Fflush(o->file, H5F_SCOPE_LOCAL) < 0 ? fesf_h5_reason() : NULL;
    if (!why && H5Fclose(o->file) < 0) why = fesf_h5_reason();
    if (!why) {
        o->file = H5I_INVALID_HID;
        return 0;
    }
    fesf_h5out_abort(o);
    return fesf_error("cannot write '%s': %s", o->path, why);
}

int fesf_h5out_resume(fesf_h5out *o)
{
    o->file = H5Fopen(o->tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (o->file >= 0) return 0;
    const char *why = fesf_h5_reason();
    fesf_h5out_abort(o);
    return fesf_error("cannot reopen '%s': %s", o->tmp, why);
}

hid_t fesf_h5_open(const char *path, const char *format, int version, int writable)
{
    return fesf_h5_open_fapl(path, format, version, writable, H5P_DEFAULT);
}

hid_t fesf_h5_open_fapl(const char *path, const char *format, int version, int writable, hid_t fapl)
{
    char got[128];
    int64_t ver = 0;
    struct stat st;
    fesf_h5_quiet();
    if (stat(path, &st)) return fesf_error("cannot open '%s': %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) return fesf_error("'%s' is not an HDF5 file", path);
    hid_t f = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
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

enum { ROWS_COMPRESS = 1, ROWS_GROW = 2 };

/* Chunked along dimension 0 with about 1 MiB per chunk, each chunk with its
 * Fletcher32 checksum (after shuffle + deflate with ROWS_COMPRESS); with
 * ROWS_GROW dimension 0 is unlimited (and may be 0). A fixed dataset with
 * no values has no chunks (contiguous: nothing to check). */
static hid_t create_rows(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims, int flags)
{
    hsize_t maxdims[FESF_H5_MAX_RANK], chunk[FESF_H5_MAX_RANK];
    size_t row = H5Tget_size(ftype);
    hsize_t values = 1;
    if (rank < 1 || rank > FESF_H5_MAX_RANK) return fesf_error("cannot create dataset '%s' of rank %d", name, rank);
    for (int i = 0; i < rank; i++) {
        maxdims[i] = i || !(flags & ROWS_GROW) ? dims[i] : H5S_UNLIMITED;
        chunk[i] = dims[i];
        if (i) row *= dims[i];
        values *= dims[i];
    }
    hsize_t rows = row ? (1u << 20) / row : 1;
    if (dims[0] > 0 && rows > dims[0]) rows = dims[0];
    chunk[0] = rows < 1 ? 1 : rows > 4096 && (flags & ROWS_GROW) ? 4096 : rows; /* rows of images: at most 4096 */
    hid_t sp = H5Screate_simple(rank, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if ((flags & ROWS_GROW) || values > 0) {
        H5Pset_chunk(dcpl, rank, chunk);
        if (flags & ROWS_COMPRESS) {
            H5Pset_shuffle(dcpl);
            H5Pset_deflate(dcpl, 1);
        }
        H5Pset_fletcher32(dcpl); /* last: it checks the bytes as stored; HDF5 verifies it on every read */
    }
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (d < 0) return fesf_error("cannot create dataset '%s'", name);
    return d;
}

hid_t fesf_h5_create_images(hid_t loc, const char *name, fesf_dtype t, int64_t n, int c, int d, int h, int w)
{
    hsize_t dims[5] = {(hsize_t)n, (hsize_t)c, (hsize_t)d, (hsize_t)h, (hsize_t)w};
    int vol = d > 1; /* volumes [N, C, D, H, W]; images [N, C, H, W] */
    if (!vol) dims[2] = dims[3], dims[3] = dims[4];
    return create_rows(loc, name, t == FESF_U8 ? H5T_STD_U8LE : H5T_IEEE_F32LE, 4 + vol, dims,
                       ROWS_GROW | (t == FESF_U8 ? ROWS_COMPRESS : 0));
}

hid_t fesf_h5_create_labels(hid_t loc, const char *name, int64_t n)
{
    hsize_t dims[1] = {(hsize_t)n};
    return create_rows(loc, name, H5T_STD_I32LE, 1, dims, ROWS_GROW | ROWS_COMPRESS);
}

int fesf_h5_write_array(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims, hid_t memtype,
                        const void *buf)
{
    hid_t d = create_rows(loc, name, ftype, rank, dims, 0);
    if (d < 0) return -1;
    char file[1100];
    herr_t st = H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    int rc = 0;
    if (st < 0) {
        const char *why = fesf_h5_reason();
        fesf_h5_file_name(d, file, sizeof file);
        give_up(d);
        rc = fesf_error("cannot write '%s': %s", file, why);
    }
    return fesf_h5_close_after(rc, d);
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
    const char *why = st < 0 ? fesf_h5_reason() : NULL;
    H5Sclose(ms);
    H5Sclose(fs);
    if (!why) return 0;
    char file[1100];
    fesf_h5_file_name(dset, file, sizeof file);
    give_up(dset);
    return fesf_error("cannot write '%s': %s", file, why);
}

/* The HDF5 version fesf was built against ("1.10.8"), for `fesf version`. */
void fesf_h5_version(char *buf, size_t n)
{
    snprintf(buf, n, "%d.%d.%d", H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
}
