/* Small file-system helpers. */
#ifndef FESF_FSUTIL_H
#define FESF_FSUTIL_H

/* mkdir -p; 0 or -1 with a message naming the folder. */
int fesf_mkdir_p(const char *path);

#endif
