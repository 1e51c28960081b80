/* Checked reads (see h5io.h): an attribute or dataset is read only once its
 * dataspace and type are what the caller expects, into a memory shape the
 * caller gives; a refusal names the file, the object, what was expected and
 * what was found. */
#include "fesf/h5io.h"
#include "fesf/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fesf_h5_type_name(hid_t t)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls == H5T_STRING) return "string";
    if (cls == H5T_FLOAT) return size == 2 ? "float16" : size == 4 ? "float32" : size == 8 ? "float64" : "float";
    if (cls == H5T_INTEGER) {
        int sign = H5Tget_sign(t) == H5T_SGN_2;
        switch (size) {
        case 1: return sign ? "int8" : "uint8";
        case 2: return sign ? "int16" : "uint16";
        case 4: return sign ? "int32" : "uint32";
        case 8: return sign ? "int64" : "uint64";
        }
        return "integer";
    }
    static const char *const names[] = {"integer", "float", "time", "string", "bitfield", "opaque",
                                        "compound", "reference", "enum", "vlen", "array"};
    return cls >= 0 && cls < (int)(sizeof names / sizeof names[0]) ? names[cls] : "unknown";
}

static int type_ok(hid_t t, unsigned types)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    return ((types & FESF_H5_T_U8) && cls == H5T_INTEGER && size == 1 && H5Tget_sign(t) == H5T_SGN_NONE) ||
           ((types & FESF_H5_T_F32) && cls == H5T_FLOAT && size == 4) || ((types & FESF_H5_T_INT) && cls == H5T_INTEGER) ||
           ((types & FESF_H5_T_FLOAT) && cls == H5T_FLOAT) || ((types & FESF_H5_T_STR) && cls == H5T_STRING);
}

static void types_text(unsigned types, char *buf, size_t size)
{
    static const char *const names[] = {"uint8", "float32", "an integer type", "a float type", "a string"};
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0, n = 0; i < 5; i++)
        if (types & (1u << i)) len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s", n++ ? " or " : "", names[i]);
}

/* "'FILE': dataset '/a/b'", "'FILE': attribute 'x'" (root) or "'FILE': attribute 'x' of '/a'". */
static void subject(hid_t obj, const char *attr, char *buf, size_t size)
{
    char file[1100], path[512] = "?";
    fesf_h5_file_name(obj, file, sizeof file);
    if (H5Iget_name(obj, path, sizeof path) <= 0) snprintf(path, sizeof path, "?");
    if (!attr) snprintf(buf, size, "'%s': dataset '%s'", file, path);
    else if (!strcmp(path, "/")) snprintf(buf, size, "'%s': attribute '%s'", file, attr);
    else snprintf(buf, size, "'%s': attribute '%s' of '%s'", file, attr, path);
}

/* "[600, 2]", "a scalar" or "empty"; extents FESF_H5_ANY print as N. */
static void shape_text(int rank, const hsize_t *dims, int null, char *buf, size_t size)
{
    size_t len = 0;
    if (null) {
        snprintf(buf, size, "empty (a null dataspace)");
        return;
    }
    if (rank == 0) {
        snprintf(buf, size, "a scalar");
        return;
    }
    len += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && len < size; i++) {
        if (dims[i] == FESF_H5_ANY) len += (size_t)snprintf(buf + len, size - len, "%sN", i ? ", " : "");
        else len += (size_t)snprintf(buf + len, size - len, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    }
    if (len < size) snprintf(buf + len, size - len, "]");
}

/* The extent of sp into dims (room for H5S_MAX_RANK); its rank, or -1 for a null dataspace. */
static int extent(hid_t sp, hsize_t *dims)
{
    if (H5Sget_simple_extent_type(sp) == H5S_NULL) return -1;
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank > 0) H5Sget_simple_extent_dims(sp, dims, NULL);
    return rank < 0 ? -1 : rank;
}

int fesf_h5_check(hid_t dset, const fesf_h5_shape *want, hsize_t *dims)
{
    hsize_t got[H5S_MAX_RANK] = {0};
    char who[1700], found[400], expected[400];
    if (want->rank < 0 || want->rank > FESF_H5_MAX_RANK) return fesf_error("a dataset check of rank %d", want->rank);
    hid_t sp = H5Dget_space(dset), t = H5Dget_type(dset);
    int rank = sp >= 0 ? extent(sp, got) : -1, rc = 0;
    int ok = sp >= 0 && rank == want->rank;
    for (int i = 0; ok && i < rank; i++) ok = want->dims[i] == FESF_H5_ANY || want->dims[i] == got[i];
    if (!ok || t < 0 || !type_ok(t, want->types)) subject(dset, NULL, who, sizeof who);
    if (!ok) {
        int any = 1;
        for (int i = 0; i < want->rank; i++) any = any && want->dims[i] == FESF_H5_ANY;
        shape_text(rank < 0 ? 0 : rank, got, rank < 0, found, sizeof found);
        shape_text(want->rank, want->dims, 0, expected, sizeof expected);
        if (any && want->rank > 0) snprintf(expected, sizeof expected, "%d dimensions", want->rank);
        rc = fesf_error("%s has shape %s, expected %s", who, found, expected);
    } else if (t < 0 || !type_ok(t, want->types)) {
        types_text(want->types, expected, sizeof expected);
        rc = fesf_error("%s has type %s, expected %s", who, t < 0 ? "unknown" : fesf_h5_type_name(t), expected);
    } else if (dims) {
        memcpy(dims, got, sizeof(hsize_t) * (size_t)rank);
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

int fesf_h5_image_dims_ok(const hsize_t *chw)
{
    return chw[0] >= 1 && chw[0] <= 16 && chw[1] >= 1 && chw[1] <= 65536 && chw[2] >= 1 && chw[2] <= 65536 &&
           chw[0] * chw[1] * chw[2] <= ((hsize_t)1 << 28);
}

int fesf_h5_volume_dims_ok(const hsize_t *cdhw)
{
    return cdhw[1] >= 1 && cdhw[1] <= 65536 && fesf_h5_image_dims_ok((hsize_t[]){cdhw[0], cdhw[2], cdhw[3]}) &&
           cdhw[0] * cdhw[1] * cdhw[2] * cdhw[3] <= ((hsize_t)1 << 31);
}

int fesf_h5_read_rows(hid_t dset, const fesf_h5_shape *want, int64_t start, int64_t count, hid_t memtype, void *buf)
{
    hsize_t dims[FESF_H5_MAX_RANK], off[FESF_H5_MAX_RANK] = {0}, cnt[FESF_H5_MAX_RANK];
    char who[1700];
    if (want->rank < 1 || want->rank > FESF_H5_MAX_RANK) return fesf_error("rows of a dataset of rank %d", want->rank);
    for (int i = 1; i < want->rank; i++)
        if (want->dims[i] == FESF_H5_ANY) return fesf_error("rows of a dataset of unknown row shape");
    if (fesf_h5_check(dset, want, dims)) return -1;
    if (start < 0 || count < 0 || (hsize_t)(start + count) > dims[0]) {
        subject(dset, NULL, who, sizeof who);
        return fesf_error("%s: rows [%lld, %lld) outside its %llu rows", who, (long long)start, (long long)(start + count),
                          (unsigned long long)dims[0]);
    }
    if (count == 0) return 0;
    memcpy(cnt, want->dims, sizeof(hsize_t) * (size_t)want->rank); /* the memory shape is the caller's */
    off[0] = (hsize_t)start;
    cnt[0] = (hsize_t)count;
    hid_t fs = H5Dget_space(dset), ms = H5Screate_simple(want->rank, cnt, NULL);
    herr_t st = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
    if (st >= 0) st = H5Dread(dset, memtype, ms, fs, H5P_DEFAULT, buf);
    int corrupt = st < 0 && fesf_h5_checksum_failed();
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (st < 0) {
        subject(dset, NULL, who, sizeof who);
        if (corrupt) return fesf_error("%s fails its checksum (Fletcher32): the file is corrupt", who);
        return fesf_error("%s: cannot read rows [%lld, %lld)", who, (long long)start, (long long)(start + count));
    }
    return 0;
}

int fesf_h5_read(hid_t loc, const char *path, const fesf_h5_shape *want, hid_t memtype, void *buf)
{
    char file[1100];
    for (int i = 0; i < want->rank; i++)
        if (want->dims[i] == FESF_H5_ANY) return fesf_error("a whole dataset of unknown shape");
    if (H5Lexists(loc, path, H5P_DEFAULT) <= 0) {
        fesf_h5_file_name(loc, file, sizeof file);
        return fesf_error("'%s' has no dataset '%s'", file, path);
    }
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    int rc = d < 0 ? -1 : fesf_h5_check(d, want, NULL);
    if (d < 0) {
        fesf_h5_file_name(loc, file, sizeof file);
        fesf_error("'%s': '%s' is not a dataset", file, path);
    } else if (!rc && H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        char who[1700];
        int corrupt = fesf_h5_checksum_failed();
        subject(d, NULL, who, sizeof who);
        rc = corrupt ? fesf_error("%s fails its checksum (Fletcher32): the file is corrupt", who)
                     : fesf_error("%s: cannot read it", who);
    }
    if (d >= 0) H5Dclose(d);
    return rc;
}

int fesf_h5_dims(hid_t dset, hsize_t *dims)
{
    hid_t sp = H5Dget_space(dset);
    int rank = sp >= 0 ? extent(sp, dims) : -1;
    if (sp >= 0) H5Sclose(sp);
    return rank;
}

/* ---- attributes ---------------------------------------------------------------- */

/* Open attribute `name` of obj, holding `n` values (n < 0: one value, in a
 * scalar or any 1-element dataspace; n >= 0: a 1-D array of n) of `types`. */
static hid_t attr_open(hid_t obj, const char *name, int n, unsigned types, hid_t *type)
{
    char who[1700], found[400], expected[400];
    hsize_t dims[H5S_MAX_RANK] = {0}, want = (hsize_t)(n < 0 ? 1 : n);
    *type = H5I_INVALID_HID;
    if (H5Aexists(obj, name) <= 0) {
        subject(obj, name, who, sizeof who);
        return fesf_error("%s is missing", who);
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    int rank = sp >= 0 ? extent(sp, dims) : -1;
    hssize_t points = rank < 0 ? 0 : H5Sget_simple_extent_npoints(sp);
    int ok = n < 0 ? rank >= 0 && points == 1 : rank == 1 && dims[0] == want;
    *type = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0 && *type >= 0 && ok && type_ok(*type, types)) return a;
    subject(obj, name, who, sizeof who);
    if (a < 0 || *type < 0) {
        ok = fesf_error("%s cannot be read", who);
    } else if (!ok) {
        shape_text(rank < 0 ? 0 : rank, dims, rank < 0, found, sizeof found);
        if (n < 0) snprintf(expected, sizeof expected, "a scalar");
        else shape_text(1, &want, 0, expected, sizeof expected);
        ok = fesf_error("%s has shape %s, expected %s", who, found, expected);
    } else if (!type_ok(*type, types)) {
        types_text(types, expected, sizeof expected);
        ok = fesf_error("%s has type %s, expected %s", who, fesf_h5_type_name(*type), expected);
    }
    if (*type >= 0) H5Tclose(*type);
    if (a >= 0) H5Aclose(a);
    *type = H5I_INVALID_HID;
    return ok;
}


/* The n strings of attribute a (type ft) as malloc'ed "s1\0s2\0...", *len bytes in all. */
static char *read_strs(hid_t a, hid_t ft, size_t n, size_t *len)
{
    hid_t mt = H5I_INVALID_HID;
    char *out = NULL, **v = NULL, *fixed = NULL;
    size_t each = H5Tget_size(ft), total = 0;
    int vlen = H5Tis_variable_str(ft) > 0;
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(ft)); /* HDF5 converts no string between character sets */
    if (vlen) {
        H5Tset_size(mt, H5T_VARIABLE);
        v = calloc(n, sizeof(char *));
        if (!v || H5Aread(a, mt, v) < 0) goto done;
        for (size_t i = 0; i < n; i++) total += (v[i] ? strlen(v[i]) : 0) + 1;
    } else {
        H5Tset_size(mt, each + 1); /* room for the terminator HDF5 adds */
        fixed = calloc(n, each + 1);
        if (!fixed || H5Aread(a, mt, fixed) < 0) goto done;
        for (size_t i = 0; i < n; i++) total += strlen(fixed + i * (each + 1)) + 1;
    }
    if (!(out = malloc(total ? total : 1))) goto done;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = vlen ? (v[i] ? v[i] : "") : fixed + i * (each + 1);
        size_t k = strlen(s) + 1;
        memcpy(out + *len, s, k);
        *len += k;
    }
done:
    if (v) {
        for (size_t i = 0; i < n; i++) H5free_memory(v[i]);
        free(v);
    }
    free(fixed);
    if (mt >= 0) H5Tclose(mt);
    return out;
}

static int strs_get(hid_t obj, const char *name, int n, char **out, size_t *len)
{
    hid_t t, a = attr_open(obj, name, n, FESF_H5_T_STR, &t);
    size_t l = 0;
    if (a < 0) return -1;
    *out = read_strs(a, t, n < 0 ? 1 : (size_t)n, &l);
    H5Tclose(t);
    H5Aclose(a);
    if (len) *len = l;
    if (*out) return 0;
    char who[1700];
    subject(obj, name, who, sizeof who);
    return fesf_error("%s cannot be read", who);
}

int fesf_h5_attr_get_str(hid_t obj, const char *name, char *buf, size_t size)
{
    char *s = NULL;
    if (strs_get(obj, name, -1, &s, NULL)) return -1;
    snprintf(buf, size, "%s", s);
    free(s);
    return 0;
}

char *fesf_h5_attr_get_strs(hid_t obj, const char *name, int n, size_t *len)
{
    char *s = NULL;
    return strs_get(obj, name, n, &s, len) ? NULL : s;
}

static int attr_get(hid_t obj, const char *name, unsigned types, hid_t memtype, void *value)
{
    hid_t t, a = attr_open(obj, name, -1, types, &t);
    if (a < 0) return -1;
    int rc = 0;
    if (H5Aread(a, memtype, value) < 0) {
        char who[1700];
        subject(obj, name, who, sizeof who);
        rc = fesf_error("%s cannot be read", who);
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int fesf_h5_attr_get_i64(hid_t obj, const char *name, int64_t *value)
{
    return attr_get(obj, name, FESF_H5_T_INT, H5T_NATIVE_INT64, value);
}

int fesf_h5_attr_get_f64(hid_t obj, const char *name, double *value)
{
    return attr_get(obj, name, FESF_H5_T_INT | FESF_H5_T_FLOAT, H5T_NATIVE_DOUBLE, value);
}
