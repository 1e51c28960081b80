/* Version of fesf and of its file formats. */
#ifndef FESF_VERSION_H
#define FESF_VERSION_H

#define FESF_VERSION "0.1.0"

/* File format versions (root attribute `version`); a reader refuses others. */
#define FESF_SHARD_VERSION 1
#define FESF_HOSTS_VERSION 1
#define FESF_MODEL_VERSION 1

/* fesf's and its libraries' versions, one per line ("fesf 0.1.0", "  mpi:
 * ...", ...): `fesf version` and every report print it. Each library
 * answers through the room that alone includes its header (src/report/versions.c). */
#include <stdio.h>
void fesf_print_versions(FILE *out);

/* The HDF5 version fesf was built against, "MAJOR.MINOR.RELEASE", into
 * buf[n] (truncated); src/io/h5io.c. */
#include <stddef.h>
void fesf_h5_version(char *buf, size_t n);

#endif
