/* Small file-system helpers (see fsutil.h): mkdir -p and atomic text files. */
#include "fesf/fsutil.h"
#include "fesf/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fesf_mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return fesf_error("path too long: '%s'", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0700) && errno != EEXIST) return fesf_error("cannot create folder '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) && errno != EEXIST) return fesf_error("cannot create folder '%s': %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) return fesf_error("'%s' is not a folder", buf);
    return 0;
}

FILE *fesf_atomic_open(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return fesf_error("path too long: '%s'", path), NULL;
    FILE *f = fopen(tmp, "w");
    if (!f) fesf_error("cannot write '%s': %s", tmp, strerror(errno));
    return f;
}

int fesf_atomic_commit(FILE *f, const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (fclose(f) || rename(tmp, path)) {
        int e = errno;
        remove(tmp);
        return fesf_error("cannot write '%s': %s", path, strerror(e));
    }
    return 0;
}
