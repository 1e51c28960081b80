/* Volumes for `fesf prepare`: the clinical readers (NIfTI-1/2 through
 * libnifti2, DICOM series through a DICOM library) as dataset sources, and
 * the voxel transforms of data.window and data.size.
 *
 * Sources "nifti:DIR:CSV" and "dicom:DIR:CSV": the CSV has the columns of a
 * PNG folder's (`file,label[,split][,site]`, dataset.h), where `file` is a
 * NIfTI file (.nii or .nii.gz; a 4-D file as `name.nii.gz#T` for its volume
 * T, counted from 0) or a folder holding one DICOM series (slices sorted by
 * position along the slice normal; a multi-frame file is one volume). Voxels
 * are read as float after the files' rescale slope and intercept, in the
 * (D, H, W) order of a C array: NIfTI's (k, j, i), DICOM's (slice, row,
 * column). A volume source delivers float32 in [0, 1]: with a window
 * (lo, hi) x -> clip((x - lo) / (hi - lo), 0, 1); without one, each
 * volume's own min..max maps to 0..1 (a constant volume gives 0). With a
 * size every volume is resampled to D x H x W; without one all volumes must
 * have the same size (the error names the first that differs). */
#ifndef FESF_VOLUME_H
#define FESF_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "fesf/dataset.h"

typedef struct fesf_volume_opts {
    int window;    /* 1: lo, hi below; 0: each volume's min..max */
    double lo, hi;
    int d, h, w;   /* resample to this size; 0: keep the files' size */
} fesf_volume_opts;

int fesf_nifti_open(fesf_source **out, const char *dir, const char *csv, const fesf_volume_opts *o);
int fesf_dicom_open(fesf_source **out, const char *dir, const char *csv, const fesf_volume_opts *o);

/* One file's voxels (or one DICOM series folder's), as the sources read
 * them: float after the rescale slope and intercept, [D, H, W] C order,
 * before any window or resample. *vox is malloc'd (the caller frees it);
 * dims = {D, H, W}. A NIfTI path may end in "#T" (volume T of a 4-D file).
 * 0 or -1 (nothing allocated). */
int fesf_nifti_read(const char *path, float **vox, int dims[3]);
int fesf_dicom_read(const char *path, float **vox, int dims[3]);

/* x[n] -> clip((x - lo) / (hi - lo), 0, 1); NaN -> 0. */
void fesf_volume_window(float *x, size_t n, double lo, double hi);
/* x[n] -> (x - min) / (max - min), or 0 where max = min (NaN ignored, -> 0). */
void fesf_volume_minmax(float *x, size_t n);
/* Trilinear resampling of src [d, h, w] to dst [D, H, W], with the
 * half-pixel convention of PyTorch's interpolate(mode='trilinear',
 * align_corners=False) (no antialiasing). 0 or -1. */
int fesf_volume_resample(const float *src, int d, int h, int w, float *dst, int D, int H, int W);

/* The middle plane D / 2 of each channel of item [C, D, H, W] into out
 * [C, H, W] (D = 1: the image itself): how figures and image features see
 * a volume. */
void fesf_volume_mid_plane(const float *item, int c, int d, int h, int w, float *out);

/* Voxels a volume may hold, as read and as resampled. */
#define FESF_VOLUME_MAX_VOXELS ((int64_t)1 << 27)

/* data.size for an .npz of volumes: *s (owned, volumes [C, d, h, w]) wrapped
 * so that it delivers float32 volumes resampled to D x H x W (uint8 widened
 * as x / 255 first); 2-D images are refused (*s then stays the caller's).
 * src/io/resample_source.c. 0 or -1. */
int fesf_source_resample(fesf_source **s, int D, int H, int W);

#endif
