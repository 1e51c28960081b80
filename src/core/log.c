/* Leveled logging on stderr, one line per call, prefixed with the role. */
#include "fesf/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static fesf_log_level cur_level = FESF_LOG_INFO;
static char role[64] = "fesf";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void fesf_log_set_level(fesf_log_level level) { cur_level = level; }
fesf_log_level fesf_log_get_level(void) { return cur_level; }

int fesf_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

void fesf_log_set_role(const char *r)
{
    snprintf(role, sizeof role, "%s", r ? r : "fesf");
}

const char *fesf_log_role(void) { return role; }

void fesf_log(fesf_log_level level, const char *fmt, ...)
{
    if (level > cur_level) return;
    char line[2048];
    int n = snprintf(line, sizeof line, "[%s] %s", role,
                     level == FESF_LOG_ERROR ? "error: " : level == FESF_LOG_WARN ? "warning: " : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* one fputs per line so lines of different ranks do not interleave */
    size_t len = strlen(line);
    if (len + 1 < sizeof line) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, stderr);
    fflush(stderr);
}

double fesf_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
