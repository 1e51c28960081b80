/* DICOM volumes (volume.h): a CSV item is one file (a multi-frame file is
 * one volume, its frames in file order; a single frame is a volume of depth
 * 1) or a folder holding one series of single-frame files: every regular
 * file in it (hidden ones skipped) must be DICOM, of one SeriesInstanceUID,
 * with the same rows and columns; the slices are sorted by their position
 * along the slice normal (the cross product of ImageOrientationPatient's
 * row and column cosines), or by InstanceNumber when a slice has no
 * position, then by file name. Each slice's own rescale slope and
 * intercept apply. The files themselves are read by dicom_dcmtk.cc. */
#include "dicom_dcmtk.h"
#include "volsource.h"
#include "fesf/error.h"
#include "fesf/volume.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SLICES 65536

typedef struct {
    char *path;
    fesf_dcm_info info;
    double key; /* position along the normal, or the instance number */
} slice;

typedef struct {
    slice *s;
    int n;
} series;

static void series_free(series *sr)
{
    for (int i = 0; i < sr->n; i++) free(sr->s[i].path);
    free(sr->s);
    sr->s = NULL, sr->n = 0;
}

static int by_key(const void *a, const void *b)
{
    const slice *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* The folder's regular, non-hidden files, probed. */
static int list_folder(const char *dir, series *sr)
{
    DIR *d = opendir(dir);
    int cap = 0, rc = -1;
    if (!d) return fesf_error("cannot open '%s': %s", dir, strerror(errno));
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                fesf_error("cannot read '%s': %s", dir, strerror(errno));
                goto cleanup;
            }
            break;
        }
        if (e->d_name[0] == '.') continue;
        char *path = fesf_join_path(dir, e->d_name);
        struct stat st;
        if (!path) {
            fesf_error("'%s': out of memory", dir);
            goto cleanup;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (sr->n == cap) {
            slice *p = cap < MAX_SLICES ? realloc(sr->s, sizeof *p * (size_t)(cap ? 2 * cap : 64)) : NULL;
            if (!p) {
                free(path);
                fesf_error("'%s': out of memory (or more than %d files)", dir, MAX_SLICES);
                goto cleanup;
            }
            sr->s = p, cap = cap ? 2 * cap : 64;
        }
        sr->s[sr->n].path = path;
        sr->n++;
        if (fesf_dcm_probe(path, &sr->s[sr->n - 1].info)) goto cleanup;
    }
    if (sr->n == 0) {
        fesf_error("'%s': empty folder (no dicom files)", dir);
        goto cleanup;
    }
    rc = 0;
cleanup:
    closedir(d);
    return rc;
}

/* One series: the same series, sizes, single frames; sorted in place. */
static int check_sort(const char *dir, series *sr)
{
    const fesf_dcm_info *a = &sr->s[0].info;
    int all_pos = 1, all_inst = 1;
    for (int i = 0; i < sr->n; i++) {
        const fesf_dcm_info *b = &sr->s[i].info;
        if (b->frames > 1)
            return fesf_error("'%s': a multi-frame file (%d frames) in a series folder '%s' (name the file itself)",
                              sr->s[i].path, b->frames, dir);
        if (b->rows != a->rows || b->cols != a->cols)
            return fesf_error("'%s': slice of %d x %d differs from %d x %d of '%s' (mixed sizes in one series)",
                              sr->s[i].path, b->rows, b->cols, a->rows, a->cols, sr->s[0].path);
        if (strcmp(b->series, a->series) != 0)
            return fesf_error("'%s': series '%s' differs from '%s' of '%s' (one series per folder)", sr->s[i].path,
                              b->series, a->series, sr->s[0].path);
        all_pos &= b->has_pos;
        all_inst &= b->has_instance;
    }
    const double *o = a->orient;
    double nrm[3] = {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
    for (int i = 0; i < sr->n; i++) {
        const fesf_dcm_info *b = &sr->s[i].info;
        sr->s[i].key = all_pos ? b->pos[0] * nrm[0] + b->pos[1] * nrm[1] + b->pos[2] * nrm[2]
                       : all_inst ? (double)b->instance
                                  : 0.0;
    }
    qsort(sr->s, (size_t)sr->n, sizeof *sr->s, by_key);
    return 0;
}

/* The slices of path (a file, or a series folder), probed and in order. */
static int open_series(const char *path, series *sr, int dims[3])
{
    struct stat st;
    sr->s = NULL, sr->n = 0;
    if (stat(path, &st) != 0) return fesf_error("cannot open '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (list_folder(path, sr) || check_sort(path, sr)) return -1;
    } else {
        if (!(sr->s = calloc(1, sizeof *sr->s)) || !(sr->s[0].path = strdup(path)))
            return fesf_error("'%s': out of memory", path);
        sr->n = 1;
        if (fesf_dcm_probe(path, &sr->s[0].info)) return -1;
    }
    dims[0] = sr->n > 1 ? sr->n : sr->s[0].info.frames;
    dims[1] = sr->s[0].info.rows, dims[2] = sr->s[0].info.cols;
    if ((long long)dims[0] * dims[1] * dims[2] > (1LL << 27))
        return fesf_error("'%s': volume of %d x %d x %d voxels is too large", path, dims[0], dims[1], dims[2]);
    return 0;
}

static int dicom_probe(const char *path, int dims[3])
{
    series sr;
    int rc = open_series(path, &sr, dims);
    series_free(&sr);
    return rc;
}

int fesf_dicom_read(const char *path, float **vox, int dims[3])
{
    series sr;
    float *out = NULL;
    int rc = -1;
    *vox = NULL;
    if (open_series(path, &sr, dims)) goto cleanup;
    size_t plane = (size_t)dims[1] * dims[2];
    if (!(out = malloc(plane * (size_t)dims[0] * sizeof *out))) {
        fesf_error("'%s': out of memory", path);
        goto cleanup;
    }
    for (int i = 0; i < sr.n; i++)
        if (fesf_dcm_read(sr.s[i].path, &sr.s[i].info, out + (size_t)i * plane)) goto cleanup;
    *vox = out;
    out = NULL;
    rc = 0;
cleanup:
    free(out);
    series_free(&sr);
    return rc;
}

int fesf_dicom_open(fesf_source **out, const char *dir, const char *csv, const fesf_volume_opts *o)
{
    static const fesf_vol_reader r = {"dicom", FESF_CSV_ANY, dicom_probe, fesf_dicom_read};
    return fesf_volsource_open(out, &r, dir, csv, o);
}
