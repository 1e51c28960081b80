/* One recorded error message per process (fesf is single-threaded where
 * errors are raised; OpenMP/BLAS threads never call fesf_error). */
#include "fesf/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char errmsg[FESF_ERRMSG_MAX];

int fesf_error(const char *fmt, ...)
{
    char tmp[FESF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap); /* tmp: fmt may quote errmsg itself */
    va_end(ap);
    memcpy(errmsg, tmp, sizeof errmsg);
    return -1;
}

const char *fesf_errmsg(void) { return errmsg; }

void fesf_error_clear(void) { errmsg[0] = '\0'; }
