/* `fesf inspect`: a human-readable summary of any fesf HDF5 file (format,
 * version, attributes, every dataset with shape/dtype/chunking/filters,
 * class counts of label datasets), and PNG grids of image datasets. Data is
 * read in bounded strips. */
#ifndef FESF_INSPECT_H
#define FESF_INSPECT_H

#include <stdio.h>

int fesf_inspect(const char *path, FILE *out, int show_config);

/* Write the first `count` images of `dataset` (NULL: the first 4-D dataset)
 * as a grid PNG. 0 or -1. */
int fesf_inspect_png(const char *path, const char *dataset, int count, const char *png_path);

#endif
