/* The CSV of a folder source: `file,label[,split][,site]` (labels_csv.h). */
#include "labels_csv.h"
#include "fesf/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COLS 4 /* file, label, split, site */

/* Strip surrounding blanks (and the CR of a CRLF line). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* A CSV field: trimmed, and without surrounding double quotes. */
static char *field_value(char *s)
{
    s = trim(s);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* An optionally signed decimal integer filling all of s; 0 or -1. */
static int parse_int(const char *s, int64_t *out)
{
    int neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (INT64_MAX - 9) / 10)
            v = INT64_MAX / 2; /* saturate: out of range either way */
        else
            v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static int split_index(const char *s)
{
    if (!*s)
        return FESF_SPLIT_TRAIN;
    for (int k = 0; k < FESF_NSPLITS; k++)
        if (strcmp(s, fesf_split_names[k]) == 0)
            return k;
    return -1;
}

char *fesf_join_path(const char *dir, const char *file)
{
    size_t nd = strlen(dir), nf = strlen(file);
    char *p = malloc(nd + nf + 2);
    if (!p)
        return NULL;
    if (file[0] == '/')
        memcpy(p, file, nf + 1);
    else
        sprintf(p, "%s%s%s", dir, nd && dir[nd - 1] == '/' ? "" : "/", file);
    return p;
}

int fesf_item_list_add(fesf_item_list *l, char *path, int32_t label, int32_t site)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->path, (size_t)cap * sizeof *p);
        if (p)
            l->path = p;
        int32_t *q = p ? realloc(l->label, (size_t)cap * sizeof *q) : NULL;
        if (q)
            l->label = q;
        int32_t *r = q ? realloc(l->site, (size_t)cap * sizeof *r) : NULL;
        if (!r) {
            free(path);
            return fesf_error("out of memory reading the image list");
        }
        l->site = r;
        l->cap = cap;
    }
    l->path[l->n] = path;
    l->site[l->n] = site;
    l->label[l->n++] = label;
    return 0;
}

/* The item must exist and be readable: a file (or, FESF_CSV_ANY, a folder). */
static int check_readable(const char *csv, int lineno, const char *file, const char *path, fesf_csv_kind kind)
{
    struct stat st;
    int err = 0;
    char *bare = NULL;
    const char *hash = kind == FESF_CSV_FILE_FRAME ? strrchr(path, '#') : NULL;
    if (hash && !(bare = strndup(path, (size_t)(hash - path))))
        return fesf_error("'%s' line %d: out of memory", csv, lineno);
    const char *p = bare ? bare : path;
    if (access(p, R_OK) != 0)
        err = errno;
    else if (stat(p, &st) != 0)
        err = errno;
    else if (kind != FESF_CSV_ANY && S_ISDIR(st.st_mode))
        err = EISDIR;
    free(bare);
    if (err)
        return fesf_error("'%s' line %d: cannot open '%s': %s", csv, lineno, file, strerror(err));
    return 0;
}

/* The header's names of the columns after file and label: split, site (a
 * header of file and label alone keeps the default file,label[,split]). */
static int parse_header(fesf_labels_csv *c, const char *csv, int lineno, char **field, int nf)
{
    if (nf > 2)
        c->col_split = -1;
    for (int k = 2; k < nf; k++) {
        const char *name = field_value(field[k]);
        int *col = strcasecmp(name, "split") == 0 ? &c->col_split : strcasecmp(name, "site") == 0 ? &c->col_site : NULL;
        if (!col)
            return fesf_error("'%s' line %d: unknown column '%s' (after file,label: split, site)", csv, lineno,
                              name);
        if (*col >= 0)
            return fesf_error("'%s' line %d: column '%s' named twice", csv, lineno, name);
        *col = k;
    }
    return 0;
}

/* A line's fields, cut at the commas in place; their number, or MAX_COLS + 1
 * if there are more. */
static int split_fields(char *line, char **field)
{
    int nf = 0;
    for (char *p = line; nf <= MAX_COLS; nf++) {
        field[nf] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            return nf + 1;
        *comma = '\0';
        p = comma + 1;
    }
    return nf;
}

/* The site id of a line (0 without a site column): an integer >= 1. */
static int parse_site(const fesf_labels_csv *c, const char *csv, int lineno, char **field, int nf, int32_t *site)
{
    int64_t v = 0;
    *site = 0;
    if (c->col_site < 0)
        return 0;
    const char *text = c->col_site < nf ? field_value(field[c->col_site]) : "";
    if (parse_int(text, &v) != 0 || v < 1 || v > INT32_MAX)
        return fesf_error("'%s' line %d: site '%s' is not an integer in 1..%d", csv, lineno, text, INT32_MAX);
    *site = (int32_t)v;
    return 0;
}

/* One non-blank line. *maybe_header is true until the first entry has been
 * seen; a line then whose label is not an integer is the header. */
static int parse_line(fesf_labels_csv *c, const char *dir, const char *csv, int lineno, char *line,
                      int *maybe_header, fesf_csv_kind kind)
{
    char *field[MAX_COLS + 1];
    int nf = split_fields(line, field);
    int ncols = 1 + (c->col_split > c->col_site ? c->col_split : c->col_site);
    const char *file = field_value(field[0]), *label = nf > 1 ? field_value(field[1]) : "";
    int64_t v = 0;
    int is_int = parse_int(label, &v) == 0;
    if (!is_int && *maybe_header && nf >= 2 && nf <= MAX_COLS) {
        *maybe_header = 0;
        return parse_header(c, csv, lineno, field, nf);
    }
    *maybe_header = 0;
    if (nf < 2 || nf > ncols)
        return fesf_error("'%s' line %d: expected %s (%s fields)", csv, lineno,
                          c->col_site < 0 ? "file,label[,split]" : "the columns the header names",
                          nf < 2 ? "too few" : "too many");
    const char *split = c->col_split >= 0 && c->col_split < nf ? field_value(field[c->col_split]) : "";
    int32_t site;
    if (!is_int || v < 0 || v > INT32_MAX)
        return fesf_error("'%s' line %d: label '%s' is not an integer in 0..%d", csv, lineno,
                          label, INT32_MAX);
    int s = split_index(split);
    if (s < 0)
        return fesf_error("'%s' line %d: split '%s' is not train, val or test", csv, lineno, split);
    if (parse_site(c, csv, lineno, field, nf, &site) != 0)
        return -1;
    if (!*file)
        return fesf_error("'%s' line %d: empty file name", csv, lineno);
    char *path = fesf_join_path(dir, file);
    if (!path)
        return fesf_error("'%s' line %d: out of memory", csv, lineno);
    if (check_readable(csv, lineno, file, path, kind) != 0) {
        free(path);
        return -1;
    }
    if (fesf_item_list_add(&c->list[s], path, (int32_t)v, site) != 0)
        return -1;
    if (!c->first)
        c->first = path;
    return 0;
}

int fesf_labels_csv_read(fesf_labels_csv *c, const char *dir, const char *csv, fesf_csv_kind kind,
                         const char *noun)
{
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    int rc = -1, lineno = 0, maybe_header = 1;

    memset(c, 0, sizeof *c);
    c->col_split = 2, c->col_site = -1; /* file,label[,split] unless a header names the columns */
    if (!(f = fopen(csv, "r"))) {
        fesf_error("cannot open '%s': %s", csv, strerror(errno));
        goto cleanup;
    }
    while (getline(&line, &cap, f) >= 0) {
        char *p = trim(line);
        if (++lineno == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
            p = trim(p + 3); /* UTF-8 byte order mark (spreadsheet exports) */
        if (*p && parse_line(c, dir, csv, lineno, p, &maybe_header, kind) != 0)
            goto cleanup;
    }
    if (ferror(f)) {
        fesf_error("cannot read '%s': %s", csv, strerror(errno));
        goto cleanup;
    }
    if (!c->first)
        fesf_error("'%s': no %s listed", csv, noun);
    else if (c->list[FESF_SPLIT_TRAIN].n == 0)
        fesf_error("'%s': no train %s listed", csv, noun);
    else
        rc = 0;
cleanup:
    free(line);
    if (f)
        fclose(f);
    return rc;
}

void fesf_labels_csv_free(fesf_labels_csv *c)
{
    for (int s = 0; s < FESF_NSPLITS; s++) {
        for (int64_t i = 0; i < c->list[s].n; i++)
            free(c->list[s].path[i]);
        free(c->list[s].path);
        free(c->list[s].label);
        free(c->list[s].site);
    }
    memset(c, 0, sizeof *c);
}
