/* The .npy side of the npz reader: the preamble and header dict of an array,
 * the dtype and shape checks of the image and label arrays, and the
 * conversion of their elements. Nothing here reads a file: npz.c reads the
 * zip members and hands the bytes over. */
#include "npy.h"

#include "fesf/error.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define NPY_MAX_HEADER 65536 /* real headers are ~128 bytes */
#define MAX_IMAGE_ELEMS (1 << 26)

/* Label dtypes we accept, converted to int32. */
static const struct { const char *descr; int esize, is_signed; } label_types[] = {
    {"|u1", 1, 0}, {"|i1", 1, 1}, {"<u2", 2, 0}, {"<i2", 2, 1},
    {"<u4", 4, 0}, {"<i4", 4, 1}, {"<u8", 8, 0}, {"<i8", 8, 1},
};
/* ---- the header dict ------------------------------------------------- */

/* Cursor over the header dict literal; err holds the first problem. */
typedef struct {
    const char *p, *end;
    const char *err;
} npy_cursor;

static void skip_ws(npy_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int expect(npy_cursor *c, char ch, const char *what)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch) {
        c->err = what;
        return -1;
    }
    c->p++;
    return 0;
}

/* A quoted Python string without escapes, copied into out[outsz]. */
static int parse_str(npy_cursor *c, char *out, size_t outsz)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) {
        c->err = "expected a quoted string";
        return -1;
    }
    char q = *c->p++;
    size_t len = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || len + 1 >= outsz) {
            c->err = *c->p == '\\' ? "escaped string" : "string too long";
            return -1;
        }
        out[len++] = *c->p++;
    }
    if (c->p >= c->end) {
        c->err = "unterminated string";
        return -1;
    }
    c->p++;
    out[len] = '\0';
    return 0;
}

static int parse_bool(npy_cursor *c, int *out)
{
    skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        *out = 1;
        c->p += 4;
    } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        *out = 0;
        c->p += 5;
    } else {
        c->err = "fortran_order is not True or False";
        return -1;
    }
    return 0;
}

static int parse_int(npy_cursor *c, int64_t *out)
{
    skip_ws(c);
    int64_t v = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p++ - '0';
        if (v > (INT64_MAX - d) / 10) {
            c->err = "dimension too large";
            return -1;
        }
        v = v * 10 + d;
    }
    if (c->p == start) {
        c->err = "expected a dimension";
        return -1;
    }
    if (c->p < c->end && *c->p == 'L') /* Python 2 long */
        c->p++;
    *out = v;
    return 0;
}

/* A shape tuple: (), (5,), (5, 28, 28). */
static int parse_shape(npy_cursor *c, fesf_npy_array *m)
{
    if (expect(c, '(', "shape is not a tuple") != 0)
        return -1;
    m->ndim = 0;
    for (;;) {
        skip_ws(c);
        if (c->p < c->end && *c->p == ')') {
            c->p++;
            return 0;
        }
        if (m->ndim == FESF_NPY_MAXDIM) {
            c->err = "too many dimensions";
            return -1;
        }
        if (parse_int(c, &m->shape[m->ndim++]) != 0)
            return -1;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p >= c->end || *c->p != ')') {
            c->err = "malformed shape tuple";
            return -1;
        }
    }
}

/* The header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (...), } */
static int parse_dict(npy_cursor *c, fesf_npy_array *m)
{
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    if (expect(c, '{', "header is not a dict") != 0)
        return -1;
    for (;;) {
        char key[32];
        skip_ws(c);
        if (c->p < c->end && *c->p == '}')
            break;
        if (parse_str(c, key, sizeof key) != 0 || expect(c, ':', "expected ':'") != 0)
            return -1;
        int rc;
        if (strcmp(key, "descr") == 0)
            rc = parse_str(c, m->descr, sizeof m->descr), seen_descr = 1;
        else if (strcmp(key, "fortran_order") == 0)
            rc = parse_bool(c, &m->fortran), seen_fortran = 1;
        else if (strcmp(key, "shape") == 0)
            rc = parse_shape(c, m), seen_shape = 1;
        else
            rc = -1, c->err = "unexpected key (structured dtype?)";
        if (rc != 0)
            return -1;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p >= c->end || *c->p != '}') {
            c->err = "expected ',' or '}'";
            return -1;
        }
    }
    c->p++;
    skip_ws(c);
    if (c->p != c->end) {
        c->err = "trailing characters";
        return -1;
    }
    if (!seen_descr || !seen_fortran || !seen_shape) {
        c->err = "missing 'descr', 'fortran_order' or 'shape'";
        return -1;
    }
    return 0;
}

/* ---- preamble ---------------------------------------------------------- */

/* Little-endian integers, as .npy stores its header length and our labels. */
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4. */
int fesf_npy_preamble_len(const char *path, const fesf_npy_array *m, const uint8_t *pre)
{
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return fesf_error("'%s': member '%s' is not a .npy array (bad magic)", path, m->name);
    if (pre[6] == 1)
        return FESF_NPY_PREAMBLE;
    if (pre[6] == 2 || pre[6] == 3)
        return FESF_NPY_PREAMBLE + 2;
    return fesf_error("'%s': member '%s' has unsupported .npy version %d.%d", path, m->name,
                      pre[6], pre[7]);
}

int64_t fesf_npy_header_len(const char *path, fesf_npy_array *m, const uint8_t *pre)
{
    uint32_t hlen = pre[6] == 1 ? le16(pre + 8) : le32(pre + 8);
    if (hlen > NPY_MAX_HEADER)
        return fesf_error("'%s': member '%s' has a .npy header of %u bytes (too long)", path,
                          m->name, hlen);
    m->data_off = (pre[6] == 1 ? FESF_NPY_PREAMBLE : FESF_NPY_PREAMBLE + 2) + (int64_t)hlen;
    return hlen;
}

int fesf_npy_parse_header(const char *path, fesf_npy_array *m, const char *hdr, size_t len)
{
    npy_cursor c = {hdr, hdr + len, NULL};
    if (parse_dict(&c, m) != 0)
        return fesf_error("'%s': member '%s' has a malformed .npy header: %s", path, m->name,
                          c.err);
    return 0;
}

/* ---- dtype and shape ---------------------------------------------------- */

/* descr d names dtype want ("|u1", "<i8"...); for one-byte types the byte
 * order character does not matter ('|u1', '<u1', '=u1' are the same). */
static int descr_is(const char *d, const char *want)
{
    if (strcmp(d, want) == 0)
        return 1;
    return strlen(d) == 3 && want[2] == '1' && strchr("<>=|", d[0]) && strcmp(d + 1, want + 1) == 0;
}

static void shape_str(const fesf_npy_array *m, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < m->ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", d ? ", " : "", (long long)m->shape[d]);
    if (len < n)
        snprintf(buf + len, n - len, ")");
}

/* Product of the dims; -1 on overflow. */
static int64_t elem_count(const fesf_npy_array *m)
{
    int64_t n = 1;
    for (int d = 0; d < m->ndim; d++) {
        if (m->shape[d] != 0 && n > INT64_MAX / m->shape[d])
            return -1;
        n *= m->shape[d];
    }
    return n;
}

int64_t fesf_npy_nbytes(const fesf_npy_array *m)
{
    int64_t elems = elem_count(m);
    if (elems < 0 || elems > (INT64_MAX - m->data_off) / m->esize)
        return -1;
    return m->data_off + elems * m->esize;
}

/* Images: |u1 or <f4, shape (N,H,W) or (N,H,W,C) with C in {1,3}; or
 * volumes (N,D,H,W) (MedMNIST3D: a 4-D array whose last axis is not 1 or 3). */
int fesf_npy_check_images(const char *path, fesf_npy_array *m, fesf_dtype *dt, int *c, int *d, int *h,
                          int *w)
{
    char shape[160];
    if (descr_is(m->descr, "|u1"))
        *dt = FESF_U8, m->esize = 1;
    else if (descr_is(m->descr, "<f4"))
        *dt = FESF_F32, m->esize = 4;
    else
        return fesf_error("'%s': member '%s' has unsupported dtype '%s' (expected |u1 or <f4)",
                          path, m->name, m->descr);
    if (m->fortran)
        return fesf_error("'%s': member '%s' is in fortran order (unsupported)", path, m->name);
    shape_str(m, shape, sizeof shape);
    if (m->ndim != 3 && m->ndim != 4)
        return fesf_error("'%s': member '%s' has shape %s (expected (N,H,W), (N,H,W,3) or volumes (N,D,H,W))",
                          path, m->name, shape);
    int vol = m->ndim == 4 && m->shape[3] != 1 && m->shape[3] != 3;
    const int64_t *s = m->shape + 1 + vol; /* H, W */
    *c = m->ndim == 4 && !vol ? (int)m->shape[3] : 1;
    int64_t dd = vol ? m->shape[1] : 1;
    if (dd < 1 || s[0] < 1 || s[1] < 1 || dd > MAX_IMAGE_ELEMS || s[0] > MAX_IMAGE_ELEMS / dd ||
        s[1] > MAX_IMAGE_ELEMS / dd / s[0] / *c)
        return fesf_error("'%s': member '%s' has unusable image size in shape %s", path,
                          m->name, shape);
    *d = (int)dd;
    *h = (int)s[0];
    *w = (int)s[1];
    return 0;
}

/* Labels (or site ids, what = "site id"): an integer dtype, shape (N,) or
 * (N,1) with N = the image count. */
int fesf_npy_check_labels(const char *path, fesf_npy_array *m, int64_t n_images, const char *what)
{
    char shape[160];
    size_t k, nt = sizeof label_types / sizeof label_types[0];
    for (k = 0; k < nt && !descr_is(m->descr, label_types[k].descr); k++)
        ;
    if (k == nt)
        return fesf_error("'%s': member '%s' has unsupported dtype '%s' (expected an integer type "
                          "such as |u1 or <i8)", path, m->name, m->descr);
    m->esize = label_types[k].esize;
    m->is_signed = label_types[k].is_signed;
    shape_str(m, shape, sizeof shape); /* (N,) and (N,1): fortran_order does not matter */
    if (!(m->ndim == 1 || (m->ndim == 2 && m->shape[1] == 1)))
        return fesf_error("'%s': member '%s' has shape %s (expected (N,) or (N,1))", path,
                          m->name, shape);
    if (m->shape[0] != n_images)
        return fesf_error("'%s': member '%s' has %lld %ss but the images member has %lld",
                          path, m->name, (long long)m->shape[0], what, (long long)n_images);
    return 0;
}

/* ---- elements ----------------------------------------------------------- */

/* Convert n little-endian integers of member m to int32, rejecting values
 * outside [lo, INT32_MAX] (labels: lo = 0, what = "label"). */
int fesf_npy_to_labels(const char *path, const fesf_npy_array *m, const uint8_t *raw, int64_t n,
                       int32_t lo, const char *what, int32_t *labels)
{
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *p = raw + i * m->esize;
        uint64_t u = m->esize == 1 ? p[0] : m->esize == 2 ? le16(p) : m->esize == 4 ? le32(p) : le64(p);
        int64_t v;
        if (m->is_signed) {
            int shift = 64 - 8 * m->esize; /* sign-extend */
            v = (int64_t)(u << shift) >> shift;
        } else {
            v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
        }
        if (v < lo || v > INT32_MAX)
            return fesf_error("'%s': member '%s' has %s %lld at index %lld (expected %d..%d)",
                              path, m->name, what, (long long)v, (long long)i, lo, INT32_MAX);
        labels[i] = (int32_t)v;
    }
    return 0;
}

void fesf_npy_f32_to_host(float *f, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&f[i], &u, 4);
    }
#else
    (void)f, (void)n; /* file and host are both little-endian */
#endif
}
