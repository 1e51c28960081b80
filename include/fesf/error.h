/* fesf error reporting: library code records one message and returns -1;
 * only the top level (src/cli) prints it and ends the process.
 *
 * Messages are lowercase, quote their subject, and fit on one line:
 *     return fesf_error("cannot open '%s': %s", path, strerror(errno));
 * A caller that adds context wraps the message already recorded:
 *     return fesf_error("site %d: %s", id, fesf_errmsg());
 * (fesf_error copies its arguments before formatting, so passing
 * fesf_errmsg() as an argument is safe). */
#ifndef FESF_ERROR_H
#define FESF_ERROR_H

#include <stddef.h>

#define FESF_ERRMSG_MAX 1024

/* Record a formatted message as the current error; returns -1. */
int fesf_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The current error message ("" if none). Valid until the next fesf_error. */
const char *fesf_errmsg(void);

/* Forget the current error. */
void fesf_error_clear(void);

#endif
