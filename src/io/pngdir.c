/* PNG folder + CSV source: lines `file,label[,split]` (file relative to
 * the folder, split train|val|test, default train; blank lines are
 * skipped). An optional header line names the columns: file and label
 * first (any names), then `split` and/or `site` in either order; a site
 * column gives each image its site id 1..N (read_sites, for
 * data.partition = natural). The CSV is parsed and every file checked at
 * open; the first image fixes H, W and C (1 if it has no colour, else 3) and
 * every image is decoded on demand, converted to that format, as NCHW.
 * fesf_pngdir_open_folder takes a folder without a CSV (a public host set:
 * no labels): every *.png in it, sorted by file name, as train images. */
#include "fesf/dataset.h"
#include "fesf/error.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IMAGE_ELEMS (1 << 26)
#define MAX_COLS 4 /* file, label, split, site */

/* The images of one split, in CSV order. */
typedef struct {
    char **path;     /* full paths, owned */
    int32_t *label;
    int32_t *site;   /* site ids (0 when the CSV has no site column) */
    int64_t n, cap;
} png_list;

typedef struct {
    fesf_source base;         /* first member: the public handle */
    png_list list[FESF_NSPLITS];
    const char *first;        /* path of the image that fixed H, W, C (owned by a list) */
    int col_split, col_site;  /* their columns (the header names them), or -1 */
    uint8_t *scratch;         /* one decoded image, HWC */
    uint16_t *wide;           /* one 16-bit image, HWC */
} pngdir_source;

/* ---- CSV ------------------------------------------------------------------ */

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

/* dir/file, or file itself if it is absolute; malloc'd. */
static char *join_path(const char *dir, const char *file)
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

/* Append (path, label, site) to l; takes ownership of path. */
static int list_add(png_list *l, char *path, int32_t label, int32_t site)
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

/* The file must exist and be a readable regular file. */
static int check_readable(const char *csv, int lineno, const char *file, const char *path)
{
    struct stat st;
    int err = 0;
    if (access(path, R_OK) != 0)
        err = errno;
    else if (stat(path, &st) != 0)
        err = errno;
    else if (S_ISDIR(st.st_mode))
        err = EISDIR;
    if (err)
        return fesf_error("'%s' line %d: cannot open '%s': %s", csv, lineno, file, strerror(err));
    return 0;
}

/* The header's names of the columns after file and label: split, site (a
 * header of file and label alone keeps the default file,label[,split]). */
static int parse_header(pngdir_source *ps, const char *csv, int lineno, char **field, int nf)
{
    if (nf > 2)
        ps->col_split = -1;
    for (int k = 2; k < nf; k++) {
        const char *name = field_value(field[k]);
        int *col = strcasecmp(name, "split") == 0 ? &ps->col_split : strcasecmp(name, "site") == 0 ? &ps->col_site : NULL;
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
static int parse_site(const pngdir_source *ps, const char *csv, int lineno, char **field, int nf, int32_t *site)
{
    int64_t v = 0;
    *site = 0;
    if (ps->col_site < 0)
        return 0;
    const char *text = ps->col_site < nf ? field_value(field[ps->col_site]) : "";
    if (parse_int(text, &v) != 0 || v < 1 || v > INT32_MAX)
        return fesf_error("'%s' line %d: site '%s' is not an integer in 1..%d", csv, lineno, text, INT32_MAX);
    *site = (int32_t)v;
    return 0;
}

/* One non-blank line. *maybe_header is true until the first entry has been
 * seen; a line then whose label is not an integer is the header. */
static int parse_line(pngdir_source *ps, const char *dir, const char *csv, int lineno, char *line,
                      int *maybe_header)
{
    char *field[MAX_COLS + 1];
    int nf = split_fields(line, field);
    int ncols = 1 + (ps->col_split > ps->col_site ? ps->col_split : ps->col_site);
    const char *file = field_value(field[0]), *label = nf > 1 ? field_value(field[1]) : "";
    int64_t v = 0;
    int is_int = parse_int(label, &v) == 0;
    if (!is_int && *maybe_header && nf >= 2 && nf <= MAX_COLS) {
        *maybe_header = 0;
        return parse_header(ps, csv, lineno, field, nf);
    }
    *maybe_header = 0;
    if (nf < 2 || nf > ncols)
        return fesf_error("'%s' line %d: expected %s (%s fields)", csv, lineno,
                          ps->col_site < 0 ? "file,label[,split]" : "the columns the header names",
                          nf < 2 ? "too few" : "too many");
    const char *split = ps->col_split >= 0 && ps->col_split < nf ? field_value(field[ps->col_split]) : "";
    int32_t site;
    if (!is_int || v < 0 || v > INT32_MAX)
        return fesf_error("'%s' line %d: label '%s' is not an integer in 0..%d", csv, lineno,
                          label, INT32_MAX);
    int s = split_index(split);
    if (s < 0)
        return fesf_error("'%s' line %d: split '%s' is not train, val or test", csv, lineno, split);
    if (parse_site(ps, csv, lineno, field, nf, &site) != 0)
        return -1;
    if (!*file)
        return fesf_error("'%s' line %d: empty file name", csv, lineno);
    char *path = join_path(dir, file);
    if (!path)
        return fesf_error("'%s' line %d: out of memory", csv, lineno);
    if (check_readable(csv, lineno, file, path) != 0) {
        free(path);
        return -1;
    }
    if (list_add(&ps->list[s], path, (int32_t)v, site) != 0)
        return -1;
    if (!ps->first)
        ps->first = path;
    return 0;
}

static int parse_csv(pngdir_source *ps, const char *dir, const char *csv)
{
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    int rc = -1, lineno = 0, maybe_header = 1;

    if (!(f = fopen(csv, "r"))) {
        fesf_error("cannot open '%s': %s", csv, strerror(errno));
        goto cleanup;
    }
    while (getline(&line, &cap, f) >= 0) {
        char *p = trim(line);
        if (++lineno == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
            p = trim(p + 3); /* UTF-8 byte order mark (spreadsheet exports) */
        if (*p && parse_line(ps, dir, csv, lineno, p, &maybe_header) != 0)
            goto cleanup;
    }
    if (ferror(f)) {
        fesf_error("cannot read '%s': %s", csv, strerror(errno));
        goto cleanup;
    }
    if (!ps->first)
        fesf_error("'%s': no images listed", csv);
    else if (ps->list[FESF_SPLIT_TRAIN].n == 0)
        fesf_error("'%s': no train images listed", csv);
    else
        rc = 0;
cleanup:
    free(line);
    if (f)
        fclose(f);
    return rc;
}

/* ---- images ---------------------------------------------------------------- */

/* H, W and C from the header of the first image. */
static int probe_first(pngdir_source *ps)
{
    fesf_source_info *info = &ps->base.info;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, ps->first))
        return fesf_error("'%s': cannot read png: %s", ps->first, img.message);
    info->c = img.format & PNG_FORMAT_FLAG_COLOR ? 3 : 1, info->d = 1;
    png_image_free(&img); /* frees libpng state; width and height stay */
    if (img.width > MAX_IMAGE_ELEMS / img.height / (png_uint_32)info->c)
        return fesf_error("'%s': image of %ux%u pixels is too large", ps->first, img.width,
                          img.height);
    info->w = (int)img.width;
    info->h = (int)img.height;
    info->dtype = FESF_U8;
    return 0;
}

/* Decode one image as HWC in the source's format; alpha goes onto black.
 * libpng's simplified API takes 16-bit files as linear light and would
 * gamma-encode them on the way to 8 bits; medical 16-bit PNGs want plain
 * scaling, so those are read as 16-bit and scaled here. */
static int decode(pngdir_source *ps, const char *path, uint8_t *hwc)
{
    const fesf_source_info *info = &ps->base.info;
    size_t n = (size_t)info->h * info->w * info->c;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return fesf_error("'%s': cannot read png: %s", path, img.message);
    if ((int64_t)img.width != info->w || (int64_t)img.height != info->h) {
        png_image_free(&img);
        return fesf_error("'%s': image size %ux%u differs from %dx%d of '%s' (all images must "
                          "match)", path, img.width, img.height, info->w, info->h, ps->first);
    }
    int wide = (img.format & PNG_FORMAT_FLAG_LINEAR) != 0;
    img.format = info->c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    if (wide)
        img.format |= PNG_FORMAT_FLAG_LINEAR;
    void *dst = wide ? (void *)ps->wide : (void *)hwc;
    memset(dst, 0, wide ? n * sizeof *ps->wide : n);
    if (!png_image_finish_read(&img, NULL, dst, 0, NULL))
        return fesf_error("'%s': cannot read png: %s", path, img.message);
    for (size_t i = 0; wide && i < n; i++)
        hwc[i] = (uint8_t)((ps->wide[i] * 255u + 32767u) / 65535u);
    return 0;
}

static int check_split_arg(int split)
{
    if (split < 0 || split >= FESF_NSPLITS)
        return fesf_error("png source: no split %d", split);
    return 0;
}

/* A split's labels, or its site ids, into out. */
static int copy_split(pngdir_source *ps, int split, int sites, int32_t *out)
{
    if (check_split_arg(split) != 0)
        return -1;
    const png_list *l = &ps->list[split];
    if (l->n > 0)
        memcpy(out, sites ? l->site : l->label, (size_t)l->n * sizeof *out);
    return 0;
}

static int pngdir_read_labels(fesf_source *s, int split, int32_t *labels)
{
    return copy_split((pngdir_source *)s, split, 0, labels);
}

static int pngdir_read_sites(fesf_source *s, int split, int32_t *sites)
{
    return copy_split((pngdir_source *)s, split, 1, sites);
}

static int pngdir_read_images(fesf_source *s, int split, int64_t start, int64_t count, void *buf)
{
    pngdir_source *ps = (pngdir_source *)s;
    const fesf_source_info *info = &ps->base.info;
    if (check_split_arg(split) != 0)
        return -1;
    const png_list *l = &ps->list[split];
    if (start < 0 || count < 0 || start > l->n || count > l->n - start)
        return fesf_error("png source: images [%lld, %lld) out of range for split '%s' "
                          "(%lld images)", (long long)start, (long long)(start + count),
                          fesf_split_names[split], (long long)l->n);
    size_t hw = (size_t)info->h * info->w, per_image = hw * info->c;
    for (int64_t i = 0; i < count; i++) {
        uint8_t *dst = (uint8_t *)buf + (size_t)i * per_image;
        if (info->c == 1) {
            if (decode(ps, l->path[start + i], dst) != 0)
                return -1;
            continue;
        }
        if (decode(ps, l->path[start + i], ps->scratch) != 0)
            return -1;
        for (int k = 0; k < info->c; k++) /* HWC -> CHW */
            for (size_t p = 0; p < hw; p++)
                dst[k * hw + p] = ps->scratch[p * info->c + k];
    }
    return 0;
}

static int pngdir_item_name(fesf_source *s, int split, int64_t i, char *buf, size_t size)
{
    pngdir_source *ps = (pngdir_source *)s;
    if (check_split_arg(split) != 0) return -1;
    if (i < 0 || i >= ps->list[split].n) return fesf_error("png source: no image %lld", (long long)i);
    snprintf(buf, size, "%s", ps->list[split].path[i]);
    return 0;
}

static void pngdir_free(pngdir_source *ps)
{
    if (!ps)
        return;
    for (int s = 0; s < FESF_NSPLITS; s++) {
        for (int64_t i = 0; i < ps->list[s].n; i++)
            free(ps->list[s].path[i]);
        free(ps->list[s].path);
        free(ps->list[s].label);
        free(ps->list[s].site);
    }
    free(ps->scratch);
    free(ps->wide);
    free(ps);
}

static void pngdir_close(fesf_source *s) { pngdir_free((pngdir_source *)s); }

/* ---- open ---------------------------------------------------------------- */

/* stat(dir) must say a folder. */
static int check_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return fesf_error("cannot open '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fesf_error("cannot open '%s': %s", dir, strerror(ENOTDIR));
    return 0;
}

/* Once the lists are made: probe the first image, fill in the handle. */
static int finish_open(pngdir_source *ps, const char *what)
{
    if (probe_first(ps) != 0)
        return -1;
    fesf_source_info *info = &ps->base.info;
    size_t n = (size_t)info->h * info->w * info->c;
    if (!(ps->scratch = malloc(n)) || !(ps->wide = malloc(n * sizeof *ps->wide)))
        return fesf_error("'%s': out of memory", what);
    for (int s = 0; s < FESF_NSPLITS; s++)
        info->n[s] = ps->list[s].n;
    ps->base.read_labels = pngdir_read_labels;
    ps->base.read_images = pngdir_read_images;
    ps->base.close = pngdir_close;
    ps->base.item_name = pngdir_item_name;
    return 0;
}

int fesf_pngdir_open(fesf_source **out, const char *dir, const char *csv)
{
    pngdir_source *ps = NULL;
    *out = NULL;
    if (check_dir(dir) != 0)
        return -1;
    if (!(ps = calloc(1, sizeof *ps)))
        return fesf_error("'%s': out of memory", csv);
    ps->col_split = 2, ps->col_site = -1; /* file,label[,split] unless a header names the columns */
    if (parse_csv(ps, dir, csv) != 0 || finish_open(ps, csv) != 0) {
        pngdir_free(ps);
        return -1;
    }
    snprintf(ps->base.desc, sizeof ps->base.desc, "png:%s:%s", dir, csv);
    ps->base.read_sites = ps->col_site >= 0 ? pngdir_read_sites : NULL;
    *out = &ps->base;
    return 0;
}

static int has_png_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

static int by_path(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular *.png file of dir (not its subfolders) into the train list,
 * label 0, sorted by name (byte order: the same on every machine). */
static int list_folder(pngdir_source *ps, const char *dir)
{
    png_list *l = &ps->list[FESF_SPLIT_TRAIN];
    DIR *d = opendir(dir);
    int rc = 0;
    if (!d)
        return fesf_error("cannot open '%s': %s", dir, strerror(errno));
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                rc = fesf_error("cannot read '%s': %s", dir, strerror(errno));
            break;
        }
        if (!has_png_suffix(e->d_name))
            continue;
        struct stat st;
        char *path = join_path(dir, e->d_name);
        if (!path) {
            rc = fesf_error("'%s': out of memory", dir);
            break;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            free(path);
        else if ((rc = list_add(l, path, 0, 0)) != 0)
            break;
    }
    closedir(d);
    if (rc == 0 && l->n == 0)
        rc = fesf_error("'%s': no .png files", dir);
    if (rc != 0)
        return -1;
    qsort(l->path, (size_t)l->n, sizeof *l->path, by_path); /* one folder: path order = name order */
    ps->first = l->path[0];
    return 0;
}

int fesf_pngdir_open_folder(fesf_source **out, const char *dir)
{
    pngdir_source *ps = NULL;
    *out = NULL;
    if (check_dir(dir) != 0)
        return -1;
    if (!(ps = calloc(1, sizeof *ps)))
        return fesf_error("'%s': out of memory", dir);
    if (list_folder(ps, dir) != 0 || finish_open(ps, dir) != 0) {
        pngdir_free(ps);
        return -1;
    }
    snprintf(ps->base.desc, sizeof ps->base.desc, "png:%s", dir);
    ps->base.info.unlabelled = 1;
    *out = &ps->base;
    return 0;
}

int fesf_pngdir_open_files(fesf_source **out, const char *const *paths, int n)
{
    pngdir_source *ps = NULL;
    *out = NULL;
    if (n < 1) return fesf_error("no png files given");
    if (!(ps = calloc(1, sizeof *ps))) return fesf_error("out of memory");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        struct stat st;
        char *p = NULL;
        if (stat(paths[i], &st) != 0 || access(paths[i], R_OK) != 0)
            rc = fesf_error("cannot open '%s': %s", paths[i], strerror(errno));
        else if (!S_ISREG(st.st_mode))
            rc = fesf_error("cannot open '%s': not a file", paths[i]);
        else if (!(p = strdup(paths[i])))
            rc = fesf_error("out of memory");
        else
            rc = list_add(&ps->list[FESF_SPLIT_TRAIN], p, 0, 0); /* frees p on failure */
    }
    if (!rc) ps->first = ps->list[FESF_SPLIT_TRAIN].path[0];
    if (rc || finish_open(ps, paths[0]) != 0) {
        pngdir_free(ps);
        return -1;
    }
    snprintf(ps->base.desc, sizeof ps->base.desc, "png:%s%s", paths[0], n > 1 ? ",..." : "");
    ps->base.info.unlabelled = 1;
    *out = &ps->base;
    return 0;
}
