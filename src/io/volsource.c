/* The generic volume source of nifti: and dicom: (volsource.h): the CSV is
 * parsed and every item's size probed from its headers at open (without a
 * resample all must agree: the error names the first that differs); the
 * voxels are read item by item in read_images, one volume at a time. */
#include "volsource.h"
#include "fesf/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    fesf_source base; /* first member: the public handle */
    fesf_vol_reader r;
    fesf_volume_opts o;
    fesf_labels_csv csv;
    int dims[3];      /* the files' size (when no resample, every item's) */
} vol_source;

static int check_split(const vol_source *vs, int split)
{
    if (split < 0 || split >= FESF_NSPLITS) return fesf_error("%s source: no split %d", vs->r.kind, split);
    return 0;
}

static int copy_split(vol_source *vs, int split, int sites, int32_t *out)
{
    if (check_split(vs, split)) return -1;
    const fesf_item_list *l = &vs->csv.list[split];
    if (l->n > 0) memcpy(out, sites ? l->site : l->label, (size_t)l->n * sizeof *out);
    return 0;
}

static int vol_read_labels(fesf_source *s, int split, int32_t *labels)
{
    return copy_split((vol_source *)s, split, 0, labels);
}

static int vol_read_sites(fesf_source *s, int split, int32_t *sites)
{
    return copy_split((vol_source *)s, split, 1, sites);
}

static int same_dims(const int a[3], const int b[3]) { return a[0] == b[0] && a[1] == b[1] && a[2] == b[2]; }

/* -1 with the message of a volume whose size is not the first one's (no resample). */
static int differs(const vol_source *vs, const char *path, const int dims[3])
{
    return fesf_error("'%s': volume of %d x %d x %d differs from %d x %d x %d of '%s' (all volumes must match, or "
                      "set data.size)", path, dims[0], dims[1], dims[2], vs->dims[0], vs->dims[1], vs->dims[2],
                      vs->csv.first);
}

/* One item into dst (info's D x H x W floats in [0, 1]). */
static int read_one(vol_source *vs, const char *path, float *dst)
{
    const fesf_source_info *in = &vs->base.info;
    float *vox = NULL;
    int dims[3], rc = -1;
    if (vs->r.read(path, &vox, dims)) return -1;
    size_t n = (size_t)dims[0] * dims[1] * dims[2];
    if (!vs->o.d && !same_dims(dims, vs->dims)) { /* the file changed since it was probed */
        differs(vs, path, dims);
        goto cleanup;
    }
    if (vs->o.window)
        fesf_volume_window(vox, n, vs->o.lo, vs->o.hi);
    else
        fesf_volume_minmax(vox, n);
    if (!vs->o.d)
        memcpy(dst, vox, n * sizeof *dst);
    else if (fesf_volume_resample(vox, dims[0], dims[1], dims[2], dst, in->d, in->h, in->w)) {
        fesf_error("'%s': %s", path, fesf_errmsg());
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(vox);
    return rc;
}

static int vol_read_images(fesf_source *s, int split, int64_t start, int64_t count, void *buf)
{
    vol_source *vs = (vol_source *)s;
    if (check_split(vs, split)) return -1;
    const fesf_item_list *l = &vs->csv.list[split];
    if (start < 0 || count < 0 || start > l->n || count > l->n - start)
        return fesf_error("%s source: volumes [%lld, %lld) out of range for split '%s' (%lld volumes)", vs->r.kind,
                          (long long)start, (long long)(start + count), fesf_split_names[split], (long long)l->n);
    size_t per = (size_t)fesf_source_item_elems(&vs->base.info);
    for (int64_t i = 0; i < count; i++)
        if (read_one(vs, l->path[start + i], (float *)buf + (size_t)i * per)) return -1;
    return 0;
}

static int vol_item_name(fesf_source *s, int split, int64_t i, char *buf, size_t size)
{
    vol_source *vs = (vol_source *)s;
    if (check_split(vs, split)) return -1;
    if (i < 0 || i >= vs->csv.list[split].n) return fesf_error("%s source: no volume %lld", vs->r.kind, (long long)i);
    snprintf(buf, size, "%s", vs->csv.list[split].path[i]);
    return 0;
}

static void vol_close(fesf_source *s)
{
    vol_source *vs = (vol_source *)s;
    if (!vs) return;
    fesf_labels_csv_free(&vs->csv);
    free(vs);
}

/* Every item's size from its headers; without a resample all must agree. */
static int probe_all(vol_source *vs)
{
    for (int sp = 0; sp < FESF_NSPLITS; sp++)
        for (int64_t i = 0; i < vs->csv.list[sp].n; i++) {
            const char *path = vs->csv.list[sp].path[i];
            int dims[3];
            if (vs->r.probe(path, dims)) return -1;
            if ((int64_t)dims[0] * dims[1] * dims[2] > FESF_VOLUME_MAX_VOXELS)
                return fesf_error("'%s': volume of %d x %d x %d voxels is too large (at most %lld)", path, dims[0],
                                  dims[1], dims[2], (long long)FESF_VOLUME_MAX_VOXELS);
            if (path == vs->csv.first)
                memcpy(vs->dims, dims, sizeof dims);
            else if (!vs->o.d && !same_dims(dims, vs->dims))
                return differs(vs, path, dims);
        }
    return 0;
}

int fesf_volsource_open(fesf_source **out, const fesf_vol_reader *r, const char *dir, const char *csv,
                        const fesf_volume_opts *o)
{
    static const fesf_volume_opts none = {0};
    vol_source *vs = NULL;
    *out = NULL;
    if (!o) o = &none;
    if (o->window && !(o->lo < o->hi))
        return fesf_error("%s source: window %g,%g needs lo < hi", r->kind, o->lo, o->hi);
    if ((o->d || o->h || o->w) && (o->d < 1 || o->h < 1 || o->w < 1 || (int64_t)o->d * o->h * o->w > FESF_VOLUME_MAX_VOXELS))
        return fesf_error("%s source: size %d x %d x %d out of range", r->kind, o->d, o->h, o->w);
    if (!(vs = calloc(1, sizeof *vs))) return fesf_error("'%s': out of memory", csv);
    vs->r = *r;
    vs->o = *o;
    /* the CSV is read first (the files of the lines), so that the first reader error names a file */
    if (fesf_labels_csv_read(&vs->csv, dir, csv, r->csv_kind, "volumes") || probe_all(vs)) {
        vol_close(&vs->base);
        return -1;
    }
    fesf_source_info *info = &vs->base.info;
    for (int sp = 0; sp < FESF_NSPLITS; sp++) info->n[sp] = vs->csv.list[sp].n;
    info->c = 1;
    info->d = o->d ? o->d : vs->dims[0];
    info->h = o->d ? o->h : vs->dims[1];
    info->w = o->d ? o->w : vs->dims[2];
    info->dtype = FESF_F32;
    snprintf(vs->base.desc, sizeof vs->base.desc, "%s:%s:%s", r->kind, dir, csv);
    vs->base.read_labels = vol_read_labels;
    vs->base.read_images = vol_read_images;
    vs->base.close = vol_close;
    vs->base.item_name = vol_item_name;
    vs->base.read_sites = vs->csv.col_site >= 0 ? vol_read_sites : NULL;
    *out = &vs->base;
    return 0;
}
