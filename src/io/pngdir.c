/* PNG folder + CSV source (the CSV: labels_csv.h): lines `file,label[,split]` (file relative to
 * the folder, split train|val|test, default train; blank lines are
 * skipped). An optional header line names the columns: file and label
 * first (any names), then `split` and/or `site` in either order; a site
 * column gives each image its site id 1..N (read_sites, for
 * data.partition = natural). The CSV is parsed and every file checked at
 * open; the first image fixes H, W and C (1 if it has no colour, else 3) and
 * every image is decoded on demand, converted to that format, as NCHW.
 * fesf_pngdir_open_folder takes a folder without a CSV (a public host set:
 * no labels): every *.png in it, sorted by file name, as train images. */
#include "labels_csv.h"
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

typedef struct {
    fesf_source base;         /* first member: the public handle */
    fesf_labels_csv csv;      /* the images of each split; csv.first fixed H, W, C */
    uint8_t *scratch;         /* one decoded image, HWC */
    uint16_t *wide;           /* one 16-bit image, HWC */
} pngdir_source;

/* ---- images ---------------------------------------------------------------- */

/* H, W and C from the header of the first image. */
static int probe_first(pngdir_source *ps)
{
    fesf_source_info *info = &ps->base.info;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, ps->csv.first))
        return fesf_error("'%s': cannot read png: %s", ps->csv.first, img.message);
    info->c = img.format & PNG_FORMAT_FLAG_COLOR ? 3 : 1, info->d = 1;
    png_image_free(&img); /* frees libpng state; width and height stay */
    if (img.width > MAX_IMAGE_ELEMS / img.height / (png_uint_32)info->c)
        return fesf_error("'%s': image of %ux%u pixels is too large", ps->csv.first, img.width,
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
                          "match)", path, img.width, img.height, info->w, info->h, ps->csv.first);
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
    const fesf_item_list *l = &ps->csv.list[split];
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
    const fesf_item_list *l = &ps->csv.list[split];
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
    if (i < 0 || i >= ps->csv.list[split].n) return fesf_error("png source: no image %lld", (long long)i);
    snprintf(buf, size, "%s", ps->csv.list[split].path[i]);
    return 0;
}

static void pngdir_free(pngdir_source *ps)
{
    if (!ps)
        return;
    fesf_labels_csv_free(&ps->csv);
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
        info->n[s] = ps->csv.list[s].n;
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
    if (fesf_labels_csv_read(&ps->csv, dir, csv, FESF_CSV_FILE, "images") != 0 || finish_open(ps, csv) != 0) {
        pngdir_free(ps);
        return -1;
    }
    snprintf(ps->base.desc, sizeof ps->base.desc, "png:%s:%s", dir, csv);
    ps->base.read_sites = ps->csv.col_site >= 0 ? pngdir_read_sites : NULL;
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
    fesf_item_list *l = &ps->csv.list[FESF_SPLIT_TRAIN];
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
        char *path = fesf_join_path(dir, e->d_name);
        if (!path) {
            rc = fesf_error("'%s': out of memory", dir);
            break;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            free(path);
        else if ((rc = fesf_item_list_add(l, path, 0, 0)) != 0)
            break;
    }
    closedir(d);
    if (rc == 0 && l->n == 0)
        rc = fesf_error("'%s': no .png files", dir);
    if (rc != 0)
        return -1;
    qsort(l->path, (size_t)l->n, sizeof *l->path, by_path); /* one folder: path order = name order */
    ps->csv.first = l->path[0];
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
            rc = fesf_item_list_add(&ps->csv.list[FESF_SPLIT_TRAIN], p, 0, 0); /* frees p on failure */
    }
    if (!rc) ps->csv.first = ps->csv.list[FESF_SPLIT_TRAIN].path[0];
    if (rc || finish_open(ps, paths[0]) != 0) {
        pngdir_free(ps);
        return -1;
    }
    snprintf(ps->base.desc, sizeof ps->base.desc, "png:%s%s", paths[0], n > 1 ? ",..." : "");
    ps->base.info.unlabelled = 1;
    *out = &ps->base;
    return 0;
}
