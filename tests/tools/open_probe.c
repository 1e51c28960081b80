/* LD_PRELOAD probe for tests/e2e/privacy.sh: every open of a site shard
 * (a path with "site-" and ".h5") by an MPI rank is appended to
 * $FESF_OPEN_LOG as "RANK PATH", so the test can assert that rank 0, the
 * coordinator, never opens one. Wraps open, open64, openat, openat64, fopen
 * and fopen64 (HDF5's sec2 driver uses open). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __thread int inside;

static void note(const char *path)
{
    const char *log = getenv("FESF_OPEN_LOG"), *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (inside || !log || !rank || !path || !strstr(path, "site-") || !strstr(path, ".h5")) return;
    inside = 1;
    static int (*real_open)(const char *, int, ...);
    if (!real_open) real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    int fd = real_open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) {
        char line[4200];
        int n = snprintf(line, sizeof line, "%s %s\n", rank, path);
        if (n > 0 && write(fd, line, (size_t)n) < 0) n = 0;
        close(fd);
    }
    inside = 0;
}

#define WRAP_OPEN(name)                                                           \
    int name(const char *path, int flags, ...)                                    \
    {                                                                             \
        static int (*real)(const char *, int, ...);                               \
        if (!real) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
        va_list ap;                                                               \
        va_start(ap, flags);                                                      \
        int mode = (flags & O_CREAT) ? va_arg(ap, int) : 0;                       \
        va_end(ap);                                                               \
        note(path);                                                               \
        return real(path, flags, mode);                                           \
    }
WRAP_OPEN(open)
WRAP_OPEN(open64)

#define WRAP_OPENAT(name)                                                                   \
    int name(int dir, const char *path, int flags, ...)                                     \
    {                                                                                       \
        static int (*real)(int, const char *, int, ...);                                    \
        if (!real) real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, #name);    \
        va_list ap;                                                                         \
        va_start(ap, flags);                                                                \
        int mode = (flags & O_CREAT) ? va_arg(ap, int) : 0;                                 \
        va_end(ap);                                                                         \
        note(path);                                                                         \
        return real(dir, path, flags, mode);                                                \
    }
WRAP_OPENAT(openat)
WRAP_OPENAT(openat64)

#define WRAP_FOPEN(name)                                                                  \
    FILE *name(const char *path, const char *mode)                                        \
    {                                                                                     \
        static FILE *(*real)(const char *, const char *);                                 \
        if (!real) real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, #name); \
        note(path);                                                                       \
        return real(path, mode);                                                          \
    }
WRAP_FOPEN(fopen)
WRAP_FOPEN(fopen64)
