/* Small file-system helpers. */
#ifndef FESF_FSUTIL_H
#define FESF_FSUTIL_H

/* mkdir -p with owner-only folders (0700); 0 or -1 with a message naming the folder. */
int fesf_mkdir_p(const char *path);

/* A text file written atomically: fesf_atomic_open opens PATH.tmp for
 * writing (NULL with a message); fesf_atomic_commit closes it and renames it
 * to PATH (0, or -1 with a message; the .tmp is removed). A reader never
 * sees a half-written PATH. */
#include <stdio.h>
FILE *fesf_atomic_open(const char *path);
int fesf_atomic_commit(FILE *f, const char *path);

#endif
