/* The generic volume source behind nifti: and dicom: (internal to src/io):
 * the CSV of labels_csv.h, one volume per item read through a reader's
 * callbacks only when asked for (one volume in memory at a time), then
 * data.window or each volume's min..max to [0, 1], then the optional
 * resample; items float32 [1, D, H, W]. */
#ifndef FESF_IO_VOLSOURCE_H
#define FESF_IO_VOLSOURCE_H

#include "labels_csv.h"
#include "fesf/dataset.h"
#include "fesf/volume.h"

typedef struct {
    const char *kind;      /* "nifti", "dicom": the spec's prefix, and the messages' */
    fesf_csv_kind csv_kind; /* what a CSV `file` is: a file (with #T) or a folder */
    /* D, H, W of the item at path from its headers only; 0 or -1 */
    int (*probe)(const char *path, int dims[3]);
    /* its voxels (volume.h's fesf_nifti_read); 0 or -1 */
    int (*read)(const char *path, float **vox, int dims[3]);
} fesf_vol_reader;

int fesf_volsource_open(fesf_source **out, const fesf_vol_reader *r, const char *dir, const char *csv,
                        const fesf_volume_opts *o);

#endif
