/* Small file-system helpers (see fsutil.h): mkdir -p, fsync, atomic and appended text files. */
#include "fesf/fsutil.h"
#include "fesf/error.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- .tmp files that must not outlive a failure --------------------------------- */

#define TRACKED_MAX 64
#define TRACKED_LEN 1200
static char tmp_paths[TRACKED_MAX][TRACKED_LEN];
static volatile sig_atomic_t tmp_used[TRACKED_MAX];

void fesf_tmp_track(const char *tmp)
{
    for (int i = 0; i < TRACKED_MAX; i++)
        if (!tmp_used[i] && strlen(tmp) < TRACKED_LEN) {
            memcpy(tmp_paths[i], tmp, strlen(tmp) + 1);
            tmp_used[i] = 1;
            return;
        }
}

void fesf_tmp_untrack(const char *tmp)
{
    for (int i = 0; i < TRACKED_MAX; i++)
        if (tmp_used[i] && !strcmp(tmp_paths[i], tmp)) tmp_used[i] = 0;
}

void fesf_tmp_remove_all(void)
{
    for (int i = 0; i < TRACKED_MAX; i++)
        if (tmp_used[i]) unlink(tmp_paths[i]), tmp_used[i] = 0; /* async-signal-safe */
}

/* While a training defers them (fesf_stop_defer), SIGTERM and SIGINT are only
 * recorded, for the next round boundary, and so is SIGUSR1 (what the job
 * scripts send: mpirun and srun pass it on to every rank at once, where
 * mpirun answers SIGTERM by killing the ranks); any other time, and SIGHUP
 * always, they remove the tracked .tmp files and end the process. */
static volatile sig_atomic_t stop_deferred, stop_signal;

static void on_signal(int sig)
{
    if (stop_deferred && (sig == SIGTERM || sig == SIGINT || sig == SIGUSR1)) {
        if (!stop_signal) stop_signal = sig;
        return;
    }
    fesf_tmp_remove_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void fesf_stop_defer(int on) { stop_deferred = on; }

int fesf_stop_requested(void) { return stop_signal; }

const char *fesf_signal_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGUSR1 ? "SIGUSR1" : "signal";
}

void fesf_tmp_remove_on_signals(void)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART; /* a deferred signal must not fail a read or write with EINTR */
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ---- durable files ------------------------------------------------------------- */

int fesf_fsync_parent(const char *path)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return fesf_error("path too long: '%s'", path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = fd < 0 ? -1 : fsync(fd), e = errno;
    if (fd >= 0) close(fd);
    /* a folder that cannot be fsynced (EINVAL: the file system has no such thing) is as durable as it gets */
    if (rc && e != EINVAL) return fesf_error("cannot sync the folder of '%s': %s", path, strerror(e));
    return 0;
}

int fesf_file_sync(FILE *f, const char *path)
{
    errno = 0;
    if (ferror(f) || fflush(f) || fsync(fileno(f)))
        return fesf_error("cannot write '%s': %s", path, strerror(errno ? errno : EIO));
    return 0;
}

/* PATH.tmp into tmp[4096]; 0, or -1 if it does not fit. */
static int tmp_name(char tmp[4096], const char *path)
{
    return snprintf(tmp, 4096, "%s.tmp", path) >= 4096 ? fesf_error("path too long: '%s'", path) : 0;
}

/* The atomic files being composed: each in memory (open_memstream) until its
 * commit writes it out with write(2), so that every failure has its errno. */
#define ATOMIC_MAX 16
static struct {
    FILE *f;
    char *buf;
    size_t len;
} atomic[ATOMIC_MAX];

FILE *fesf_atomic_open(const char *path)
{
    char tmp[4096];
    if (tmp_name(tmp, path)) return NULL;
    for (int i = 0; i < ATOMIC_MAX; i++) {
        if (atomic[i].f) continue;
        atomic[i].buf = NULL, atomic[i].len = 0;
        if (!(atomic[i].f = open_memstream(&atomic[i].buf, &atomic[i].len)))
            fesf_error("cannot write '%s': %s", path, strerror(errno));
        return atomic[i].f;
    }
    return fesf_error("cannot write '%s': more than %d files at once", path, ATOMIC_MAX), NULL;
}

/* Close f's memory stream; its text into *buf (malloc'ed) and *len. -1 if f is not one of ours or a write failed. */
static int atomic_close(FILE *f, char **buf, size_t *len)
{
    for (int i = 0; f && i < ATOMIC_MAX; i++) {
        if (atomic[i].f != f) continue;
        int bad = ferror(f);
        bad |= fclose(f) != 0; /* the stream's writes only fail for want of memory */
        *buf = atomic[i].buf, *len = atomic[i].len, atomic[i].f = NULL;
        return bad ? -1 : 0;
    }
    *buf = NULL, *len = 0;
    return -1;
}

/* buf[0..len) to tmp (created owner-only, 0600), fsynced and closed: 0, or -1 with errno. */
static int write_all(const char *tmp, const char *buf, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    while (len > 0) {
        ssize_t k = write(fd, buf, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = k < 0 ? errno : EIO;
            close(fd);
            errno = e;
            return -1;
        }
        buf += k, len -= (size_t)k;
    }
    if (fsync(fd)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

int fesf_atomic_commit(FILE *f, const char *path)
{
    char tmp[4096], *buf;
    size_t len;
    if (tmp_name(tmp, path)) return -1;
    if (atomic_close(f, &buf, &len)) {
        free(buf);
        return fesf_error("cannot write '%s': out of memory", path);
    }
    fesf_tmp_track(tmp);
    int rc = write_all(tmp, buf, len) ? fesf_error("cannot write '%s': %s", path, strerror(errno))
             : rename(tmp, path)      ? fesf_error("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno))
                                      : 0;
    free(buf);
    if (rc) unlink(tmp);
    fesf_tmp_untrack(tmp);
    return rc ? -1 : fesf_fsync_parent(path); /* the rename itself, durable */
}

void fesf_atomic_abort(FILE *f, const char *path)
{
    char *buf;
    size_t len;
    (void)path; /* nothing of it is on disk yet */
    atomic_close(f, &buf, &len);
    free(buf);
}

FILE *fesf_append_open(const char *path, int truncate)
{
    FILE *f = fopen(path, truncate ? "w" : "a");
    if (!f) return fesf_error("cannot write '%s': %s", path, strerror(errno)), NULL;
    setvbuf(f, NULL, _IOFBF, 1 << 20); /* a line reaches the file at its fesf_file_sync, whose errno says why not */
    if (fesf_file_sync(f, path) || fesf_fsync_parent(path)) { /* the (new, or now empty) file, durable */
        fclose(f);
        return NULL;
    }
    return f;
}
