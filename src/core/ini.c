/* INI files through libinih, whole lines only (see config.h). */
#include "fesf/config.h"
#include "fesf/error.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *f;
    fesf_ini_fn fn;
    void *user;
    int line;     /* lines read so far */
    int failed;   /* the handler's first failing line (its message kept) */
    int too_long; /* the line refused (reading stops there) */
    int max;      /* the longest line libinih takes, in characters */
    int nul;      /* the refused line holds a NUL byte */
    char *buf;    /* getline's */
    size_t cap;
} ini_state;

/* libinih's reader: one whole line per call. A line that does not fit in
 * libinih's buffer with its '\n' (which tells libinih the line is whole) is
 * refused: libinih would cut it there and read the rest as a line of its
 * own. The limit is what libinih asks for (`num`, the INI_MAX_LINE of the
 * libinih that is loaded, 200 by default), not what a header says. */
static char *whole_line(char *str, int num, void *stream)
{
    ini_state *st = stream;
    ssize_t n = st->too_long ? -1 : getline(&st->buf, &st->cap, st->f);
    if (n <= 0) return NULL;
    st->line++;
    size_t len = (size_t)n - (st->buf[n - 1] == '\n');
    st->nul = memchr(st->buf, '\0', len) != NULL;
    if (len + 2 > (size_t)num || st->nul) {
        st->too_long = st->line, st->max = num - 2;
        return NULL; /* ends the parse: nothing after a refused line is read */
    }
    memcpy(str, st->buf, len);
    str[len] = '\n', str[len + 1] = '\0';
    return str;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    ini_state *st = user;
    if (st->failed) return 1; /* the first error is the one reported */
    if (st->fn(st->user, section, name, value) == 0) return 1;
    st->failed = st->line;
    return 0;
}

/* Parse an open stream; `path` names it in messages. */
static int parse_stream(FILE *f, const char *path, const char *what, fesf_ini_fn fn, void *user)
{
    ini_state st = {f, fn, user, 0, 0, 0, 0, 0, NULL, 0};
    fesf_error_clear();
    int rc = ini_parse_stream(whole_line, &st, on_pair, &st);
    int read_error = ferror(st.f);
    fclose(st.f);
    free(st.buf);
    if (st.failed) return fesf_error("'%s' line %d: %s", path, st.failed, fesf_errmsg());
    if (rc > 0) return fesf_error("'%s' line %d: syntax error (expected '[section]' or 'key = value')", path, rc);
    if (st.too_long && st.nul) return fesf_error("'%s' line %d: a NUL byte in the line", path, st.too_long);
    if (st.too_long) return fesf_error("'%s' line %d: line longer than %d characters", path, st.too_long, st.max);
    if (rc < 0 || read_error) return fesf_error("cannot read %s '%s'", what, path);
    return 0;
}

int fesf_ini_parse(const char *path, const char *what, fesf_ini_fn fn, void *user)
{
    FILE *f = fopen(path, "r");
    if (!f) return fesf_error("cannot open %s '%s': %s", what, path, strerror(errno));
    return parse_stream(f, path, what, fn, user);
}

int fesf_ini_parse_text(const char *text, const char *name, const char *what, fesf_ini_fn fn, void *user)
{
    size_t len = strlen(text);
    FILE *f = len ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "r");
    if (!f) return fesf_error("cannot read %s %s: %s", what, name, strerror(errno));
    return parse_stream(f, name, what, fn, user);
}
