/* Shared by the fuzz harnesses (tests/fuzz/README.md): the input bytes as a
 * file, since the readers under test take paths (libinih, libzip and HDF5
 * open files themselves). One file per process in /dev/shm (or $TMPDIR),
 * rewritten for every input. */
#ifndef FESF_FUZZ_COMMON_H
#define FESF_FUZZ_COMMON_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *fuzz_file(const uint8_t *data, size_t size, const char *ext)
{
    static char path[256];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(path, sizeof path, "%s/fesf-fuzz-%d%s", dir, (int)getpid(), ext);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) abort();
    close(fd);
    return path;
}

#endif
