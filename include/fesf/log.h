/* fesf logging: leveled messages on stderr with a role prefix such as
 * "[coord]", "[site 3]" or "[fesf]" (single process, before MPI is up). */
#ifndef FESF_LOG_H
#define FESF_LOG_H

typedef enum {
    FESF_LOG_ERROR = 0,
    FESF_LOG_WARN = 1,
    FESF_LOG_INFO = 2,
    FESF_LOG_DEBUG = 3
} fesf_log_level;

/* Messages above this level are dropped. Default: info. */
void fesf_log_set_level(fesf_log_level level);
fesf_log_level fesf_log_get_level(void);
/* Parse "error" | "warn" | "info" | "debug"; -1 if unknown. */
int fesf_log_level_parse(const char *name);

/* Role prefix, e.g. "coord" or "site 3"; NULL restores "fesf". */
void fesf_log_set_role(const char *role);
const char *fesf_log_role(void);

void fesf_log(fesf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Monotonic wall-clock seconds (progress lines, benchmarks). */
double fesf_now(void);

#define fesf_info(...) fesf_log(FESF_LOG_INFO, __VA_ARGS__)
#define fesf_warn(...) fesf_log(FESF_LOG_WARN, __VA_ARGS__)
#define fesf_debug(...) fesf_log(FESF_LOG_DEBUG, __VA_ARGS__)

#endif
