/* The separate public host set of data.hosts, for prepare (src/io only:
 * it speaks HDF5 handles).
 *
 *     "npz:PATH"  the train_images of a MedMNIST-style .npz (labels, if any,
 *                 are not read: a host needs none);
 *     "png:DIR"   every *.png file of DIR, sorted by file name.
 *
 * The set's images must have the source's channels, height and width: a
 * host is mixed pixel for pixel with the images it hides. */
#ifndef FESF_IO_HOSTS_SET_H
#define FESF_IO_HOSTS_SET_H

#include "fesf/dataset.h"
#include "fesf/h5io.h"

/* Open spec and check its shape against `like` (the source's info, named
 * like_desc in the message); 0, or -1 with out = NULL. */
int fesf_hosts_set_open(fesf_source **out, const char *spec, const fesf_source_info *like, const char *like_desc);

/* Number of host images the set gives. */
int64_t fesf_hosts_set_count(const fesf_source *set);

/* Stream the set's images, in order, into rows [0, count) of `images`
 * (float32 [count, C, H, W], uint8 widened to /255) in bounded strips. */
int fesf_hosts_set_copy(fesf_source *set, hid_t images);

#endif
