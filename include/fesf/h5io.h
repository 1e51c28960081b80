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

/* Close, fsync and rename PATH.tmp to PATH (and fsync the folder). */
int fesf_h5out_commit(fesf_h5out *o);
/* Close and remove PATH.tmp; safe on an unused or committed handle. */
void fesf_h5out_abort(fesf_h5out *o);

/* Open PATH read-only (or read-write) and check its root `format` and
 * `version`; the message names the file and what is wrong. */
hid_t fesf_h5_open(const char *path, const char *format, int version, int writable);

/* Attributes on any object. */
int fesf_h5_attr_str(hid_t obj, const char *name, const char *value);
int fesf_h5_attr_strs(hid_t obj, const char *name, const char *const *values, int n);
int fesf_h5_attr_i64(hid_t obj, const char *name, int64_t value);
int fesf_h5_attr_f64(hid_t obj, const char *name, double value);
/* int32 array attribute of the given rank and dims */
int fesf_h5_attr_i32s(hid_t obj, const char *name, const int32_t *v, int rank, const hsize_t *dims);
/* Read a string attribute into buf (truncated to size); -1 if absent. */
int fesf_h5_attr_get_str(hid_t obj, const char *name, char *buf, size_t size);
int fesf_h5_attr_get_i64(hid_t obj, const char *name, int64_t *value);
int fesf_h5_attr_get_f64(hid_t obj, const char *name, double *value);

/* Stamp obj (the root or a stage's group) with the stage that made it:
 * attributes `stage` (name) and `stage_hash` (16 hex digits); fesf run's
 * freshness check reads them (run_dir.h). NULL stage: nothing. */
int fesf_h5_stamp(hid_t obj, const fesf_stage *s);

/* Create the groups of a path like "/plain/train" (intermediate included). */
hid_t fesf_h5_group(hid_t file, const char *path);

/* Images [n, c, h, w] of dtype, chunked along N (about 1 MiB per chunk),
 * uint8 compressed (shuffle + deflate 1); labels int32 [n], same chunking. */
hid_t fesf_h5_create_images(hid_t loc, const char *name, fesf_dtype t, int64_t n, int c, int h, int w);
hid_t fesf_h5_create_labels(hid_t loc, const char *name, int64_t n);

/* Write / read rows [start, start+count) along dimension 0; memtype is the
 * HDF5 type of buf (H5T_NATIVE_UINT8, H5T_NATIVE_FLOAT, H5T_NATIVE_INT32...). */
int fesf_h5_write_rows(hid_t dset, int64_t start, int64_t count, hid_t memtype, const void *buf);
int fesf_h5_read_rows(hid_t dset, int64_t start, int64_t count, hid_t memtype, void *buf);

/* Rank and dims of a dataset (dims has room for 8); returns the rank or -1. */
int fesf_h5_dims(hid_t dset, hsize_t *dims);

#endif
