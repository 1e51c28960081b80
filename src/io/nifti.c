/* NIfTI-1 and NIfTI-2 volumes through libnifti2 (volume.h): .nii or
 * .nii.gz, any real datatype to float after scl_slope/scl_inter (a slope
 * of 0 or not finite means none, as nibabel reads it), the byte order
 * handled by the library; a 4-D file as "name.nii.gz#T". NIfTI stores i
 * fastest, so its voxels as they lie are the C array [k][j][i] = [D][H][W].
 * Only volume T is read (through znzlib), not the whole file. */
#include "volsource.h"
#include "fesf/error.h"
#include "fesf/volume.h"

#include <nifti2_io.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* path -> the file and its volume T (-1 when no "#T" is given). */
static int split_frame(const char *path, char *file, size_t size, long *t)
{
    const char *hash = strrchr(path, '#');
    *t = -1;
    size_t n = hash ? (size_t)(hash - path) : strlen(path);
    if (n >= size) return fesf_error("'%s': path too long", path);
    memcpy(file, path, n);
    file[n] = '\0';
    if (!hash) return 0;
    char *end;
    errno = 0;
    *t = strtol(hash + 1, &end, 10);
    if (!hash[1] || *end || errno || *t < 0)
        return fesf_error("'%s': '#%s' is not a volume number (expected FILE#T, T = 0, 1, ...)", path, hash + 1);
    return 0;
}

static int real_type(int dt)
{
    switch (dt) {
    case DT_UINT8: case DT_INT8: case DT_INT16: case DT_UINT16: case DT_INT32: case DT_UINT32:
    case DT_INT64: case DT_UINT64: case DT_FLOAT32: case DT_FLOAT64:
        return 1;
    default:
        return 0;
    }
}

/* The header of path, checked: a 3-D volume, or one volume T of a 4-D
 * file; *nim owned by the caller (nifti_image_free). */
static int open_header(const char *path, nifti_image **nim, long *t, int dims[3])
{
    char file[4096];
    *nim = NULL;
    if (split_frame(path, file, sizeof file, t)) return -1;
    nifti_set_debug_level(0);
    if (access(file, R_OK) != 0) return fesf_error("cannot open '%s': %s", path, strerror(errno));
    /* (is_nifti_file does not know a gzipped NIfTI-2; the reader does) */
    nifti_image *h = nifti_image_read(file, 0);
    if (!h) return fesf_error("'%s': not a nifti-1 or nifti-2 file (or a malformed header)", path);
    *nim = h;
    for (int k = 5; k <= 7; k++)
        if (h->dim[0] >= k && h->dim[k] > 1)
            return fesf_error("'%s': %lld-D file (dim[%d] = %lld): only 3-D volumes and 4-D series are read", path,
                              (long long)h->dim[0], k, (long long)h->dim[k]);
    if (!real_type(h->datatype))
        return fesf_error("'%s': datatype %s is not a real scalar (complex, rgb and binary files are refused)", path,
                          nifti_datatype_string(h->datatype));
    int64_t nt = h->dim[0] >= 4 && h->dim[4] > 1 ? h->dim[4] : 1;
    if (nt > 1 && *t < 0)
        return fesf_error("'%s': 4-D file of %lld volumes: name one as '%s#T' (T = 0..%lld)", path, (long long)nt,
                          file, (long long)nt - 1);
    if (*t >= nt)
        return fesf_error("'%s': volume %ld out of range (the file has %lld)", path, *t, (long long)nt);
    if (*t < 0) *t = 0;
    int64_t nx = h->nx > 0 ? h->nx : 1, ny = h->ny > 0 ? h->ny : 1, nz = h->dim[0] >= 3 && h->nz > 0 ? h->nz : 1;
    if (nx > INT_MAX || ny > INT_MAX || nz > INT_MAX || nx * ny * nz > FESF_VOLUME_MAX_VOXELS)
        return fesf_error("'%s': volume of %lld x %lld x %lld voxels is too large", path, (long long)nz,
                          (long long)ny, (long long)nx);
    dims[0] = (int)nz, dims[1] = (int)ny, dims[2] = (int)nx;
    /* an uncompressed file must hold all its voxels (a .gz is checked as it is read) */
    struct stat st;
    if (h->iname && !nifti_is_gzfile(h->iname) && stat(h->iname, &st) == 0 &&
        (int64_t)st.st_size < h->iname_offset + h->nvox * (int64_t)h->nbyper)
        return fesf_error("'%s': truncated: %lld bytes, the header needs %lld", path, (long long)st.st_size,
                          (long long)(h->iname_offset + h->nvox * (int64_t)h->nbyper));
    return 0;
}

static int nifti_probe(const char *path, int dims[3])
{
    nifti_image *nim;
    long t;
    int rc = open_header(path, &nim, &t, dims);
    if (nim) nifti_image_free(nim);
    return rc;
}

/* n voxels of datatype dt at raw -> float, times slope plus inter. */
static void to_float(const void *raw, int dt, size_t n, double slope, double inter, float *out)
{
#define CONV(T)                                                       \
    for (size_t i = 0; i < n; i++) out[i] = (float)((double)((const T *)raw)[i] * slope + inter); \
    break;
    switch (dt) {
    case DT_UINT8: CONV(uint8_t)
    case DT_INT8: CONV(int8_t)
    case DT_INT16: CONV(int16_t)
    case DT_UINT16: CONV(uint16_t)
    case DT_INT32: CONV(int32_t)
    case DT_UINT32: CONV(uint32_t)
    case DT_INT64: CONV(int64_t)
    case DT_UINT64: CONV(uint64_t)
    case DT_FLOAT32: CONV(float)
    default: CONV(double)
    }
#undef CONV
}

int fesf_nifti_read(const char *path, float **vox, int dims[3])
{
    nifti_image *nim = NULL;
    void *raw = NULL;
    float *out = NULL;
    long t;
    int rc = -1;
    *vox = NULL;
    if (open_header(path, &nim, &t, dims)) goto cleanup;
    size_t n = (size_t)dims[0] * dims[1] * dims[2];
    /* volume T read through znzlib here (the library's own collapsed read prints its errors) */
    size_t bytes = n * (size_t)nim->nbyper;
    int gz = nifti_is_gzfile(nim->iname);
    znzFile zf = znzopen(nim->iname, "rb", gz);
    if (znz_isnull(zf)) {
        fesf_error("cannot open '%s': %s", path, strerror(errno));
        goto cleanup;
    }
    int ok = (raw = malloc(bytes ? bytes : 1)) != NULL &&
             znzseek(zf, (znz_off_t)(nim->iname_offset + (int64_t)t * (int64_t)bytes), SEEK_SET) >= 0 &&
             znzread(raw, 1, bytes, zf) == bytes;
    znzclose(zf);
    if (!ok) {
        fesf_error(raw ? "'%s': cannot read its voxels (truncated or corrupt file)" : "'%s': out of memory", path);
        goto cleanup;
    }
    if (nim->byteorder != nifti_short_order() && nim->swapsize > 1)
        nifti_swap_Nbytes((int64_t)n, nim->swapsize, raw);
    if (!(out = malloc(n * sizeof *out))) {
        fesf_error("'%s': out of memory", path);
        goto cleanup;
    }
    double slope = nim->scl_slope, inter = nim->scl_inter;
    if (slope == 0 || !isfinite(slope)) slope = 1, inter = 0;
    if (!isfinite(inter)) inter = 0;
    to_float(raw, nim->datatype, n, slope, inter, out);
    *vox = out;
    out = NULL;
    rc = 0;
cleanup:
    free(out);
    free(raw);
    if (nim) nifti_image_free(nim);
    return rc;
}

int fesf_nifti_open(fesf_source **out, const char *dir, const char *csv, const fesf_volume_opts *o)
{
    static const fesf_vol_reader r = {"nifti", FESF_CSV_FILE_FRAME, nifti_probe, fesf_nifti_read};
    return fesf_volsource_open(out, &r, dir, csv, o);
}
