/* fesf inspect: summary of a fesf HDF5 file (see inspect.h). */
#include "fesf/inspect.h"
#include "fesf/error.h"
#include "fesf/h5io.h"
#include "fesf/png.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_formats[] = {"fesf-shard", "fesf-hosts", "fesf-model", NULL};
#define LABEL_STRIP 65536
#define MAX_SHOWN 48 /* array attribute values printed */

static void print_dims(FILE *out, int rank, const hsize_t *dims)
{
    fputc('[', out);
    for (int i = 0; i < rank; i++) fprintf(out, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    fputc(']', out);
}

/* Print one attribute's value (strings, numbers, small arrays). */
static void print_attr_value(FILE *out, hid_t a, const char *name, int show_config)
{
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hsize_t dims[H5S_MAX_RANK] = {0}; /* any rank HDF5 allows (32) */
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank > 0 && rank <= H5S_MAX_RANK) H5Sget_simple_extent_dims(sp, dims, NULL);
    else if (rank > H5S_MAX_RANK) rank = 0;
    hssize_t n = H5Sget_simple_extent_type(sp) == H5S_NULL ? 0 : H5Sget_simple_extent_npoints(sp);
    H5T_class_t cls = H5Tget_class(t);
    if (n <= 0) {
        fprintf(out, "(empty)");
    } else if (cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        char **v = calloc((size_t)n, sizeof(char *));
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        if (v && H5Aread(a, mt, v) >= 0) {
            if (!strcmp(name, "config") && !show_config) {
                int lines = 0;
                for (const char *s = v[0]; s && *s; s++) lines += *s == '\n';
                fprintf(out, "(%d lines; 'fesf inspect --config' or 'h5dump -a /config' shows it)", lines);
            } else if (!strcmp(name, "config")) {
                fprintf(out, "\n%s", v[0] ? v[0] : "");
            } else {
                for (hssize_t i = 0; i < n; i++) fprintf(out, "%s%s", i ? ", " : "", v[i] ? v[i] : "");
            }
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        }
        free(v);
        H5Tclose(mt);
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (v && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
            if (rank > 0) {
                print_dims(out, rank, dims);
                fputc(' ', out);
            }
            for (hssize_t i = 0; i < n && i < MAX_SHOWN; i++) fprintf(out, "%s%.10g", i ? " " : "", v[i]);
            if (n > MAX_SHOWN) fprintf(out, " ...");
        }
        free(v);
    } else {
        fprintf(out, "(%s)", fesf_h5_type_name(t));
    }
    H5Sclose(sp);
    H5Tclose(t);
}

typedef struct {
    FILE *out;
    int show_config;
    const char *indent;
} walk_ctx;

static herr_t on_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    walk_ctx *w = data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    fprintf(w->out, "%s%s = ", w->indent, name);
    print_attr_value(w->out, a, name, w->show_config);
    fputc('\n', w->out);
    H5Aclose(a);
    return 0;
}

static void print_filters(FILE *out, hid_t dcpl)
{
    if (H5Pget_layout(dcpl) != H5D_CHUNKED) {
        fprintf(out, "  contiguous");
        return;
    }
    hsize_t chunk[H5S_MAX_RANK];
    int rank = H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk);
    fprintf(out, "  chunks ");
    print_dims(out, rank, chunk);
    for (int i = 0; i < H5Pget_nfilters(dcpl); i++) {
        unsigned flags, cd[4];
        size_t ncd = 4;
        char fname[32];
        H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, NULL);
        if (f == H5Z_FILTER_DEFLATE) fprintf(out, " deflate(%u)", ncd ? cd[0] : 0);
        else if (f == H5Z_FILTER_SHUFFLE) fprintf(out, " shuffle");
        else fprintf(out, " %s", fname);
    }
}

/* Class counts of a 1-D integer label dataset, read in strips. */
static void print_class_counts(FILE *out, hid_t d, hsize_t n)
{
    int32_t *buf = malloc(sizeof(int32_t) * LABEL_STRIP);
    int64_t counts[256] = {0}, other = 0;
    int top = -1;
    if (!buf) return;
    for (hsize_t s = 0; s < n; s += LABEL_STRIP) {
        int64_t k = n - s < LABEL_STRIP ? (int64_t)(n - s) : LABEL_STRIP;
        fesf_h5_shape want = {1, {n}, FESF_H5_T_INT};
        if (fesf_h5_read_rows(d, &want, (int64_t)s, k, H5T_NATIVE_INT32, buf)) break;
        for (int64_t i = 0; i < k; i++) {
            if (buf[i] >= 0 && buf[i] < 256) {
                counts[buf[i]]++;
                top = buf[i] > top ? buf[i] : top;
            } else {
                other++;
            }
        }
    }
    fprintf(out, "  classes");
    for (int c = 0; c <= top; c++) fprintf(out, " %d:%lld", c, (long long)counts[c]);
    if (other) fprintf(out, " other:%lld", (long long)other);
    free(buf);
}

static herr_t on_object(hid_t loc, const char *name, const H5O_info_t *info, void *data)
{
    walk_ctx *w = data;
    walk_ctx inner = {w->out, w->show_config, "      "};
    if (info->type == H5O_TYPE_GROUP && strcmp(name, ".")) {
        fprintf(w->out, "  /%s/\n", name);
        hid_t g = H5Gopen2(loc, name, H5P_DEFAULT);
        if (g >= 0) {
            H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, NULL, on_attr, &inner);
            H5Gclose(g);
        }
    } else if (info->type == H5O_TYPE_DATASET) {
        hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
        if (d < 0) return 0;
        hid_t t = H5Dget_type(d), dcpl = H5Dget_create_plist(d);
        hsize_t dims[H5S_MAX_RANK];
        int rank = fesf_h5_dims(d, dims);
        fprintf(w->out, "  /%s  %s ", name, fesf_h5_type_name(t));
        print_dims(w->out, rank, dims);
        print_filters(w->out, dcpl);
        const char *base = strrchr(name, '/');
        if (rank == 1 && H5Tget_class(t) == H5T_INTEGER && !strcmp(base ? base + 1 : name, "labels"))
            print_class_counts(w->out, d, dims[0]);
        fputc('\n', w->out);
        H5Aiterate2(d, H5_INDEX_NAME, H5_ITER_INC, NULL, on_attr, &inner);
        H5Pclose(dcpl);
        H5Tclose(t);
        H5Dclose(d);
    }
    return 0;
}

static hid_t open_any(const char *path)
{
    char fmt[128];
    hid_t f = fesf_h5_open(path, NULL, 0, 0);
    if (f < 0) return -1;
    fesf_h5_attr_get_str(f, "format", fmt, sizeof fmt);
    for (int i = 0; known_formats[i]; i++)
        if (!strcmp(fmt, known_formats[i])) return f;
    H5Fclose(f);
    return fesf_error("'%s' has unknown format '%s'", path, fmt);
}

int fesf_inspect(const char *path, FILE *out, int show_config)
{
    hid_t f = open_any(path);
    if (f < 0) return -1;
    walk_ctx w = {out, show_config, "  "};
    fprintf(out, "%s\nattributes:\n", path);
    H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, NULL, on_attr, &w);
    fprintf(out, "objects:\n");
    herr_t st = H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, on_object, &w);
    H5Fclose(f);
    return st < 0 ? fesf_error("'%s': cannot walk the file", path) : 0;
}

static herr_t find_images(hid_t loc, const char *name, const H5O_info_t *info, void *data)
{
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hsize_t dims[H5S_MAX_RANK];
    int rank = d >= 0 ? fesf_h5_dims(d, dims) : -1;
    if (d >= 0) H5Dclose(d);
    if ((rank == 4 || rank == 5) && dims[0] > 0) {
        snprintf(data, 512, "/%s", name);
        return 1;
    }
    return 0;
}

/* Plane D/2 of the first n volumes of [N, C, D, H, W] into buf [n, C, H, W]. */
static int read_middle_planes(hid_t d, const hsize_t *dims, int n, hid_t memtype, void *buf)
{
    hsize_t off[5] = {0, 0, dims[2] / 2, 0, 0}, cnt[5] = {(hsize_t)n, dims[1], 1, dims[3], dims[4]};
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(5, cnt, NULL);
    int rc = fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
             H5Dread(d, memtype, ms, fs, H5P_DEFAULT, buf) < 0;
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    return rc ? fesf_error("cannot read the volumes' middle planes: %s", fesf_h5_reason()) : 0;
}

int fesf_inspect_png(const char *path, const char *dataset, int count, const char *png_path)
{
    char found[512] = "";
    hid_t f = open_any(path), d = H5I_INVALID_HID, t = H5I_INVALID_HID;
    void *buf = NULL;
    int rc = -1;
    if (f < 0) return -1;
    if (!dataset) {
        if (H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, find_images, found) <= 0) {
            fesf_error("'%s' has no non-empty image dataset", path);
            goto done;
        }
        dataset = found;
    }
    hsize_t dims[H5S_MAX_RANK];
    d = H5Lexists(f, dataset, H5P_DEFAULT) > 0 ? H5Dopen2(f, dataset, H5P_DEFAULT) : H5I_INVALID_HID;
    int rank = d >= 0 ? fesf_h5_dims(d, dims) : -1, vol = rank == 5;
    const hsize_t *hw = dims + 2 + vol; /* volumes [N, C, D, H, W]: their middle plane */
    if ((rank != 4 && rank != 5) || (dims[1] != 1 && dims[1] != 3) || dims[0] == 0 || (vol && dims[2] < 1) ||
        hw[0] < 1 || hw[1] < 1 || hw[0] * hw[1] > ((hsize_t)1 << 26)) {
        fesf_error("'%s': '%s' is not a non-empty image dataset [N, 1|3, H, W] or volumes [N, 1|3, D, H, W]", path,
                   dataset);
        goto done;
    }
    fesf_h5_shape want = {rank, {dims[0], dims[1], dims[2], dims[3], vol ? dims[4] : 0}, FESF_H5_T_U8 | FESF_H5_T_F32};
    if (fesf_h5_check(d, &want, NULL)) goto done; /* an int16 grid would be unscaled floats */
    int n = dims[0] < (hsize_t)count ? (int)dims[0] : count;
    int c = (int)dims[1], h = (int)hw[0], w = (int)hw[1];
    int cols = (int)ceil(sqrt((double)n));
    t = H5Dget_type(d);
    int is_u8 = H5Tget_class(t) == H5T_INTEGER;
    buf = malloc((size_t)n * (size_t)c * (size_t)h * (size_t)w * (is_u8 ? 1 : sizeof(float)));
    if (!buf) {
        fesf_error("out of memory");
        goto done;
    }
    if (vol ? read_middle_planes(d, dims, n, is_u8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, buf)
            : fesf_h5_read_rows(d, &want, 0, n, is_u8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, buf))
        goto done;
    rc = is_u8 ? fesf_png_write_grid_u8(png_path, buf, n, c, h, w, cols)
               : fesf_png_write_grid_f32(png_path, buf, n, c, h, w, cols);
done:
    free(buf);
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return rc;
}
