/* Site-side augmentation of training images (train.augment): flips and
 * small shifts, drawn from the counter RNG so that a batch's images are
 * the same whatever rank holds the site or how its stream is cut. */
#ifndef FESF_AUGMENT_H
#define FESF_AUGMENT_H

#include <stdint.h>

/* Largest shift along a side of `side` pixels: 7% of it, at least 1 (2 at 28 px, 4 at 64). */
int fesf_augment_shift_bound(int side);

/* Augment x[n, C, H, W] in place, the images at positions pos .. pos+n-1 of
 * site `site`'s training stream: with FESF_AUG_FLIP each is mirrored
 * left-right with probability 1/2, with FESF_AUG_SHIFT moved by (dy, dx)
 * uniform in [-bound, bound] each (edges repeated). The draws of image pos+i
 * depend only on (seed, site, pos+i). scratch: C*H*W floats. Volumes pass
 * their planes as channels (C*D): every plane moves alike. */
void fesf_augment_batch(int mode, int c, int h, int w, uint64_t seed, int site, uint64_t pos, float *x, int n,
                        float *scratch);

#endif
