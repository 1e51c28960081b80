/* .npy arrays inside a MedMNIST-style .npz (internal to src/io: npy.c, used
 * by npz.c). npy.c parses the preamble and header dict of an array, checks
 * the dtype and shape of the image and label arrays and converts their
 * elements; it reads no file: npz.c reads the zip members and passes the
 * bytes. Every function taking path reports through fesf_error() with the
 * message "'PATH': member 'NAME' ..." and returns -1. */
#ifndef FESF_IO_NPY_H
#define FESF_IO_NPY_H

#include "fesf/dataset.h"

#include <stddef.h>
#include <stdint.h>

#define FESF_NPY_MAXDIM 8
#define FESF_NPY_PREAMBLE 10 /* magic, version and a version 1 header length */

/* One .npy array, as its header describes it. */
typedef struct {
    char name[32];          /* array name, e.g. "train_images" */
    char descr[16];         /* dtype string, e.g. "|u1" */
    int fortran;            /* fortran_order */
    int ndim;
    int64_t shape[FESF_NPY_MAXDIM];
    int64_t data_off;       /* bytes of preamble + header before the data */
    int esize;              /* bytes per element (set by the checks below) */
    int is_signed;          /* labels: signed integer type */
} fesf_npy_array;

/* Check the magic and version in the first FESF_NPY_PREAMBLE bytes pre; the
 * whole preamble's length (10 for version 1, 12 for 2 and 3), or -1. */
int fesf_npy_preamble_len(const char *path, const fesf_npy_array *m, const uint8_t *pre);

/* Header length from the whole preamble pre; sets m->data_off; -1 if too long. */
int64_t fesf_npy_header_len(const char *path, fesf_npy_array *m, const uint8_t *pre);

/* Parse the header dict hdr[0, len) into m's descr, fortran, ndim and shape. */
int fesf_npy_parse_header(const char *path, fesf_npy_array *m, const char *hdr, size_t len);

/* Images: |u1 or <f4, shape (N,H,W) or (N,H,W,C) with C in {1,3}, or
 * volumes (N,D,H,W) (the last axis not 1 or 3); sets m->esize and *dt, *c,
 * *d (1 for images), *h, *w. */
int fesf_npy_check_images(const char *path, fesf_npy_array *m, fesf_dtype *dt, int *c, int *d, int *h,
                          int *w);

/* Labels: an integer dtype, shape (N,) or (N,1) with N = n_images; sets
 * m->esize and m->is_signed. `what` names one element in the messages
 * ("label", "site id": "has 3 site ids but the images member has 4"). */
int fesf_npy_check_labels(const char *path, fesf_npy_array *m, int64_t n_images, const char *what);

/* Bytes of preamble, header and data (m->esize set); -1 on overflow. */
int64_t fesf_npy_nbytes(const fesf_npy_array *m);

/* Convert n little-endian integers of labels array m to int32, rejecting
 * values outside [lo, INT32_MAX] (labels: lo 0, what "label"; site ids: lo
 * 1, what "site id"). */
int fesf_npy_to_labels(const char *path, const fesf_npy_array *m, const uint8_t *raw, int64_t n,
                       int32_t lo, const char *what, int32_t *labels);

/* Little-endian float32 data to host order, in place. */
void fesf_npy_f32_to_host(float *f, size_t n);

#endif
