/* HDF5 helpers shared by every fesf file: atomic creation with the common
 * root attributes (format, version, fesf_version, created, config), typed
 * attributes, format checks on open, and datasets chunked along N that are
 * written and read in row strips.
 *
 * Every function returns 0 (or a valid hid_t) on success and -1 with a
 * recorded fesf_error on failure; the HDF5 error stack is never printed
 * (fesf_h5_quiet() turns its automatic printing off once per process). */
#ifndef FESF_H5IO_H
#define FESF_H5IO_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "fesf/dataset.h"
#include "fesf/stage.h"

void fesf_h5_quiet(void);

/* Why the HDF5 call that just failed failed, from its error stack (call it
 * before any other H5 call, which clears the stack): the system's reason
 * (strerror of the errno the file driver met: "No space left on device",
 * "File too large"), "it fails its checksum (Fletcher32)", or "an HDF5
 * error". Static text. */
const char *fesf_h5_reason(void);
/* The call that just failed met a chunk whose Fletcher32 checksum is wrong. */
int fesf_h5_checksum_failed(void);
/* The name of the file that holds obj, as the user knows it (a rewrite's
 * PATH.tmp is PATH). */
void fesf_h5_file_name(hid_t obj, char *buf, size_t size);

/* Close a dataset, group or attribute that was written to (closing one may
 * write its last chunks): 0, or -1 with "cannot write 'FILE': REASON".
 * fesf_h5_close_after(rc, id): close id whatever rc is; rc if it is already
 * -1 (its message stays), else the close's result. id < 0: nothing. */
int fesf_h5_close(hid_t id);
int fesf_h5_close_after(int rc, hid_t id);


/* A file being written as PATH.tmp and renamed to PATH on commit. */
typedef struct {
    hid_t file;          /* H5I_INVALID_HID until created */
    char path[1100];
    char tmp[1110];
} fesf_h5out;

#define FESF_H5OUT_INIT {H5I_INVALID_HID, "", ""}

/* Create PATH.tmp with the root attributes. */
int fesf_h5out_create(fesf_h5out *o, const char *path, const char *format, int version,
                      const char *config_text);
/* Rewrite an existing fesf file: PATH.tmp receives PATH's root attributes
 * (config replaced by config_text) and every top-level object but those
 * named in `drop` (NULL-terminated), copied with H5Ocopy. The caller adds
 * new objects, then commits (PATH replaced at once) or aborts (PATH left as
 * it was). The format and version of PATH are checked first. */
int fesf_h5out_rewrite(fesf_h5out *o, const char *path, const char *format, int version, const char *const *drop,
                       const char *config_text);

/* Flush and close PATH.tmp (closing anything of it still open), fsync it,
 * rename it to PATH and fsync the folder, each step checked: 0, or -1 with
 * "cannot write 'PATH': REASON" and PATH.tmp removed (PATH as it was). */
int fesf_h5out_commit(fesf_h5out *o);
/* Close and remove PATH.tmp; safe on an unused or committed handle. */
void fesf_h5out_abort(fesf_h5out *o);
/* Flush and close PATH.tmp, keeping it (others may open it: a site's ranks
 * writing it together through MPI-IO), then reopen it read-write to go on
 * or commit. 0 or -1; after a failed suspend the rewrite is aborted. */
int fesf_h5out_suspend(fesf_h5out *o);
int fesf_h5out_resume(fesf_h5out *o);

/* Open PATH read-only (or read-write) and check its root `format` and
 * `version`; the message names the file and what is wrong. */
hid_t fesf_h5_open(const char *path, const char *format, int version, int writable);
/* The same with a file access property list (an MPI-IO one: a collective open). */
hid_t fesf_h5_open_fapl(const char *path, const char *format, int version, int writable, hid_t fapl);

/* Attributes on any object. */
int fesf_h5_attr_str(hid_t obj, const char *name, const char *value);
int fesf_h5_attr_strs(hid_t obj, const char *name, const char *const *values, int n);
int fesf_h5_attr_i64(hid_t obj, const char *name, int64_t value);
int fesf_h5_attr_f64(hid_t obj, const char *name, double value);
/* int32 array attribute of the given rank and dims */
int fesf_h5_attr_i32s(hid_t obj, const char *name, const int32_t *v, int rank, const hsize_t *dims);

/* Stamp obj (the root or a stage's group) with the stage that made it:
 * attributes `stage` (name) and `stage_hash` (16 hex digits); fesf run's
 * freshness check reads them (run_dir.h). NULL stage: nothing. */
int fesf_h5_stamp(hid_t obj, const fesf_stage *s);

/* Create the groups of a path like "/plain/train" (intermediate included). */
hid_t fesf_h5_group(hid_t file, const char *path);

/* Images [n, c, h, w] of dtype, chunked along N (about 1 MiB per chunk),
 * uint8 compressed (shuffle + deflate 1); labels int32 [n], same chunking.
 * Every chunk carries a Fletcher32 checksum, which HDF5 verifies on every
 * read (a mismatch fails the read: fesf_h5_checksum_failed). Files written
 * before the checksums have none and read as before. */
hid_t fesf_h5_create_images(hid_t loc, const char *name, fesf_dtype t, int64_t n, int c, int d, int h, int w);
hid_t fesf_h5_create_labels(hid_t loc, const char *name, int64_t n);
/* A whole dataset `name` of file type ftype and the given extents (rank 1..4)
 * from buf (of memtype), chunked with Fletcher32 checksums as above, and
 * closed: 0, or -1 with "cannot write 'FILE': REASON". */
int fesf_h5_write_array(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims, hid_t memtype,
                        const void *buf);

/* Write rows [start, start+count) along dimension 0 of a dataset this
 * process created; memtype is the HDF5 type of buf (H5T_NATIVE_FLOAT...). */
int fesf_h5_write_rows(hid_t dset, int64_t start, int64_t count, hid_t memtype, const void *buf);

/* ---- checked reads (h5check.c) ----------------------------------------------
 * A file is never trusted: nothing is read before its dataspace and type are
 * what the caller expects, and the memory shape of every read is the
 * caller's, never the file's. A refusal names the file, the object, what was
 * expected and what was found:
 *   'runs/x/site-002.h5': dataset '/plain/train/labels' has shape [600, 2], expected [600]
 *   'runs/x/site-002.h5': dataset '/plain/train/images' has type int16, expected uint8 or float32
 *   'runs/x/site-002.h5': attribute 'site_id' has shape [3], expected a scalar */
#define FESF_H5_ANY ((hsize_t)-1) /* an extent the caller does not fix */
#define FESF_H5_MAX_RANK 5        /* of the datasets fesf reads (volumes [N, C, D, H, W]) */

/* File types a caller accepts (a bit set). */
enum {
    FESF_H5_T_U8 = 1,    /* unsigned 8-bit integer */
    FESF_H5_T_F32 = 2,   /* 32-bit float */
    FESF_H5_T_INT = 4,   /* any integer */
    FESF_H5_T_FLOAT = 8, /* any float */
    FESF_H5_T_STR = 16,  /* a string */
};

/* What a dataset must be: its rank, each extent (or FESF_H5_ANY), its types. */
typedef struct {
    int rank;
    hsize_t dims[FESF_H5_MAX_RANK];
    unsigned types;
} fesf_h5_shape;

/* Is dset what want says? Its extents go to dims (room for FESF_H5_MAX_RANK;
 * may be NULL). 0 or -1. */
int fesf_h5_check(hid_t dset, const fesf_h5_shape *want, hsize_t *dims);
/* Rows [start, start+count) along dimension 0 into buf, after the check:
 * want's extents but the first must be fixed, and they are buf's shape
 * (count x dims[1] x ...); memtype is buf's HDF5 type. */
int fesf_h5_read_rows(hid_t dset, const fesf_h5_shape *want, int64_t start, int64_t count, hid_t memtype, void *buf);
/* One image's extents [C, H, W] of an [N, C, H, W] dataset are ones fesf
 * reads (1..16 channels, sides 1..65536, at most 2^28 values): 1 or 0. */
int fesf_h5_image_dims_ok(const hsize_t *chw);
/* The same for one volume [C, D, H, W] (at most 2^31 voxels). */
int fesf_h5_volume_dims_ok(const hsize_t *cdhw);
/* The whole dataset `path` under loc, of exactly want's (fixed) shape. */
int fesf_h5_read(hid_t loc, const char *path, const fesf_h5_shape *want, hid_t memtype, void *buf);

/* Rank and extents of a dataset, unchecked (dims has room for
 * H5S_MAX_RANK, 32); the rank, or -1 for a null dataspace or an error. */
int fesf_h5_dims(hid_t dset, hsize_t *dims);
/* "uint8", "int16", "float32", "string", "compound", ... */
const char *fesf_h5_type_name(hid_t type);

/* Attributes holding one value: a scalar or any 1-element dataspace; an
 * integer (i64), an integer or a float (f64), a string (str, truncated to
 * size). -1 if missing or of another shape or type. */
int fesf_h5_attr_get_str(hid_t obj, const char *name, char *buf, size_t size);
int fesf_h5_attr_get_i64(hid_t obj, const char *name, int64_t *value);
int fesf_h5_attr_get_f64(hid_t obj, const char *name, double *value);
/* A 1-D attribute of exactly n strings, as malloc'ed "s1\0s2\0..." of *len
 * bytes; NULL (error recorded) otherwise. */
char *fesf_h5_attr_get_strs(hid_t obj, const char *name, int n, size_t *len);

#endif
