/* data.partition = natural, for prepare (src/io only): the sites a dataset
 * that comes split by hospital gives its images (the source's read_sites:
 * a CSV site column, the .npz's *_sites.npy). */
#ifndef FESF_IO_NATURAL_H
#define FESF_IO_NATURAL_H

#include "fesf/dataset.h"

#include <stdint.h>

/* The site of every image of each split sp with need[sp] set, 0-based, in
 * site[sp] (malloc'd, n[sp] entries; the caller frees every site[sp], NULL
 * where not needed). The source must name exactly n_sites distinct sites
 * over those splits, each id in 1..n_sites; 0, or -1 naming what is wrong. */
int fesf_natural_sites(fesf_source *src, const int need[FESF_NSPLITS], int n_sites, int32_t *site[FESF_NSPLITS]);

#endif
