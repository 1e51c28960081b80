/* Small file-system helpers (see fsutil.h): mkdir -p and atomic text files. */
#include "fesf/fsutil.h"
#include "fesf/error.h"

#include <errno.h>
#include <signal.h>
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

static void on_signal(int sig)
{
    fesf_tmp_remove_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void fesf_tmp_remove_on_signals(void)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* PATH.tmp into tmp[4096]; 0, or -1 if it does not fit. */
static int tmp_name(char tmp[4096], const char *path)
{
    return snprintf(tmp, 4096, "%s.tmp", path) >= 4096 ? fesf_error("path too long: '%s'", path) : 0;
}

FILE *fesf_atomic_open(const char *path)
{
    char tmp[4096];
    if (tmp_name(tmp, path)) return NULL;
    fesf_tmp_track(tmp);
    FILE *f = fopen(tmp, "w");
    if (!f) fesf_error("cannot create '%s': %s", tmp, strerror(errno)), fesf_tmp_untrack(tmp);
    return f;
}

int fesf_atomic_commit(FILE *f, const char *path)
{
    char tmp[4096];
    tmp_name(tmp, path); /* fitted when opened */
    int bad = ferror(f) || fflush(f) || fsync(fileno(f));
    if (fclose(f) || bad || rename(tmp, path)) {
        int e = errno;
        remove(tmp);
        fesf_tmp_untrack(tmp);
        return fesf_error("cannot write '%s': %s", path, strerror(e ? e : EIO));
    }
    fesf_tmp_untrack(tmp);
    return 0;
}

void fesf_atomic_abort(FILE *f, const char *path)
{
    char tmp[4096];
    tmp_name(tmp, path);
    if (f) fclose(f);
    remove(tmp);
    fesf_tmp_untrack(tmp);
}
