/* MedMNIST-style .npz reader: a zip (usually DEFLATE) of .npy members
 * {train,val,test}_{images,labels}.npy, read through libzip.
 *
 * Labels are read whole (they are small). Images are streamed: each split
 * keeps one open zip_file_t and the index of the next image it delivers;
 * reading ahead skips forward, reading behind reopens the member. Images
 * stored NHWC (N,H,W,3) are delivered NCHW. */
#include "fesf/dataset.h"
#include "fesf/error.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#define NPY_MAXDIM 8
#define NPY_MAX_HEADER 65536   /* real headers are ~128 bytes */
#define SKIP_CHUNK 65536
#define MAX_IMAGE_ELEMS (1 << 26)

enum { IMAGES = 0, LABELS = 1 };

/* One .npy member of the archive, as its header describes it. */
typedef struct {
    zip_int64_t index;      /* member index in the zip; -1 = absent */
    char array[32];         /* array name, e.g. "train_images" */
    char descr[16];         /* dtype string, e.g. "|u1" */
    int fortran;            /* fortran_order */
    int ndim;
    int64_t shape[NPY_MAXDIM];
    int64_t data_off;       /* bytes of preamble + header before the data */
    int esize;              /* bytes per element */
    int is_signed;          /* labels: signed integer type */
} npy_member;

typedef struct {
    npy_member m[2];        /* IMAGES, LABELS */
    int64_t n;              /* images in the split; 0 = absent */
    zip_file_t *zf;         /* open image stream, or NULL */
    int64_t pos;            /* index of the next image zf delivers */
} npz_split;

typedef struct {
    fesf_source base;       /* first member: the public handle */
    char *path;
    zip_t *za;
    npz_split sp[FESF_NSPLITS];
    size_t img_bytes;       /* bytes per image */
    uint8_t *scratch;       /* one image, or a skip chunk */
    size_t scratch_bytes;
} npz_source;

/* Label dtypes we accept, converted to int32. */
static const struct { const char *descr; int esize, is_signed; } label_types[] = {
    {"|u1", 1, 0}, {"|i1", 1, 1}, {"<u2", 2, 0}, {"<i2", 2, 1},
    {"<u4", 4, 0}, {"<i4", 4, 1}, {"<u8", 8, 0}, {"<i8", 8, 1},
};

/* ---- .npy header parsing -------------------------------------------- */

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
static int parse_shape(npy_cursor *c, npy_member *m)
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
        if (m->ndim == NPY_MAXDIM) {
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
static int parse_dict(npy_cursor *c, npy_member *m)
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

/* ---- reading zip members ---------------------------------------------- */

static void split_stream_close(npz_split *sp)
{
    if (sp->zf)
        zip_fclose(sp->zf);
    sp->zf = NULL;
    sp->pos = 0;
}

/* Read exactly n bytes; a short member or a zip/inflate/CRC error is an error. */
static int read_exact(npz_source *ns, zip_file_t *zf, const npy_member *m, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        zip_int64_t got = zip_fread(zf, p, n);
        if (got < 0)
            return fesf_error("'%s': cannot read member '%s': %s", ns->path, m->array,
                              zip_error_strerror(zip_file_get_error(zf)));
        if (got == 0)
            return fesf_error("'%s': member '%s' is truncated (ends before the data the header says)",
                              ns->path, m->array);
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Read and discard n bytes through the scratch buffer. */
static int skip_bytes(npz_source *ns, zip_file_t *zf, const npy_member *m, int64_t n)
{
    while (n > 0) {
        size_t k = n < (int64_t)ns->scratch_bytes ? (size_t)n : ns->scratch_bytes;
        if (read_exact(ns, zf, m, ns->scratch, k) != 0)
            return -1;
        n -= (int64_t)k;
    }
    return 0;
}

/* After the last element, read once more so libzip reaches the end of the
 * member and checks its CRC. Trailing bytes are ignored. */
static int check_member_end(npz_source *ns, zip_file_t *zf, const npy_member *m)
{
    uint8_t b;
    if (zip_fread(zf, &b, 1) < 0)
        return fesf_error("'%s': cannot read member '%s': %s", ns->path, m->array,
                          zip_error_strerror(zip_file_get_error(zf)));
    return 0;
}

static int open_member(npz_source *ns, const npy_member *m, zip_file_t **zf)
{
    *zf = zip_fopen_index(ns->za, (zip_uint64_t)m->index, 0);
    if (!*zf)
        return fesf_error("'%s': cannot open member '%s': %s", ns->path, m->array,
                          zip_strerror(ns->za));
    return 0;
}

/* Open a member positioned at the start of its array data. */
static int open_member_data(npz_source *ns, const npy_member *m, zip_file_t **zf)
{
    if (open_member(ns, m, zf) != 0)
        return -1;
    if (skip_bytes(ns, *zf, m, m->data_off) != 0) {
        zip_fclose(*zf);
        *zf = NULL;
        return -1;
    }
    return 0;
}

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Read the preamble and header dict of member m into m. */
static int read_header(npz_source *ns, npy_member *m)
{
    zip_file_t *zf = NULL;
    char *hdr = NULL;
    int rc = -1;
    uint8_t pre[12];

    if (open_member(ns, m, &zf) != 0)
        goto cleanup;
    if (read_exact(ns, zf, m, pre, 10) != 0)
        goto cleanup;
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        fesf_error("'%s': member '%s' is not a .npy array (bad magic)", ns->path, m->array);
        goto cleanup;
    }
    uint32_t hlen;
    if (pre[6] == 1) {
        hlen = le16(pre + 8);
        m->data_off = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (read_exact(ns, zf, m, pre + 10, 2) != 0)
            goto cleanup;
        hlen = le32(pre + 8);
        m->data_off = 12;
    } else {
        fesf_error("'%s': member '%s' has unsupported .npy version %d.%d", ns->path, m->array,
                   pre[6], pre[7]);
        goto cleanup;
    }
    if (hlen > NPY_MAX_HEADER) {
        fesf_error("'%s': member '%s' has a .npy header of %u bytes (too long)", ns->path,
                   m->array, hlen);
        goto cleanup;
    }
    m->data_off += hlen;
    hdr = malloc(hlen + 1);
    if (!hdr) {
        fesf_error("'%s': out of memory", ns->path);
        goto cleanup;
    }
    if (read_exact(ns, zf, m, hdr, hlen) != 0)
        goto cleanup;
    npy_cursor c = {hdr, hdr + hlen, NULL};
    if (parse_dict(&c, m) != 0) {
        fesf_error("'%s': member '%s' has a malformed .npy header: %s", ns->path, m->array, c.err);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(hdr);
    if (zf)
        zip_fclose(zf);
    return rc;
}

/* ---- validation -------------------------------------------------------- */

/* descr d names dtype want ("|u1", "<i8"...); for one-byte types the byte
 * order character does not matter ('|u1', '<u1', '=u1' are the same). */
static int descr_is(const char *d, const char *want)
{
    if (strcmp(d, want) == 0)
        return 1;
    return strlen(d) == 3 && want[2] == '1' && strchr("<>=|", d[0]) && strcmp(d + 1, want + 1) == 0;
}

static void shape_str(const npy_member *m, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < m->ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", d ? ", " : "", (long long)m->shape[d]);
    if (len < n)
        snprintf(buf + len, n - len, ")");
}

/* Product of the dims; -1 on overflow. */
static int64_t elem_count(const npy_member *m)
{
    int64_t n = 1;
    for (int d = 0; d < m->ndim; d++) {
        if (m->shape[d] != 0 && n > INT64_MAX / m->shape[d])
            return -1;
        n *= m->shape[d];
    }
    return n;
}

/* The member must hold at least data_off + elems*esize bytes. */
static int check_member_size(npz_source *ns, const npy_member *m)
{
    zip_stat_t st;
    int64_t elems = elem_count(m);
    if (elems < 0 || elems > (INT64_MAX - m->data_off) / m->esize)
        return fesf_error("'%s': member '%s' has an impossibly large shape", ns->path, m->array);
    int64_t need = m->data_off + elems * m->esize;
    zip_stat_init(&st);
    if (zip_stat_index(ns->za, (zip_uint64_t)m->index, 0, &st) != 0)
        return fesf_error("'%s': cannot stat member '%s': %s", ns->path, m->array,
                          zip_strerror(ns->za));
    if ((st.valid & ZIP_STAT_SIZE) && st.size < (zip_uint64_t)need)
        return fesf_error("'%s': member '%s' is truncated: header says %lld bytes, member has %llu",
                          ns->path, m->array, (long long)need, (unsigned long long)st.size);
    return 0;
}

/* Images: |u1 or <f4, shape (N,H,W) or (N,H,W,C) with C in {1,3}. */
static int check_images(npz_source *ns, npy_member *m, fesf_dtype *dt, int *c, int *h, int *w)
{
    char shape[160];
    if (descr_is(m->descr, "|u1"))
        *dt = FESF_U8, m->esize = 1;
    else if (descr_is(m->descr, "<f4"))
        *dt = FESF_F32, m->esize = 4;
    else
        return fesf_error("'%s': member '%s' has unsupported dtype '%s' (expected |u1 or <f4)",
                          ns->path, m->array, m->descr);
    if (m->fortran)
        return fesf_error("'%s': member '%s' is in fortran order (unsupported)", ns->path, m->array);
    shape_str(m, shape, sizeof shape);
    if (!(m->ndim == 3 || (m->ndim == 4 && (m->shape[3] == 1 || m->shape[3] == 3))))
        return fesf_error("'%s': member '%s' has shape %s (expected (N,H,W) or (N,H,W,3))",
                          ns->path, m->array, shape);
    *c = m->ndim == 4 ? (int)m->shape[3] : 1;
    if (m->shape[1] < 1 || m->shape[2] < 1 || m->shape[1] > MAX_IMAGE_ELEMS ||
        m->shape[2] > MAX_IMAGE_ELEMS / m->shape[1] / *c)
        return fesf_error("'%s': member '%s' has unusable image size in shape %s", ns->path,
                          m->array, shape);
    *h = (int)m->shape[1];
    *w = (int)m->shape[2];
    return check_member_size(ns, m);
}

/* Labels: an integer dtype, shape (N,) or (N,1) with N = the image count. */
static int check_labels(npz_source *ns, npy_member *m, int64_t n_images)
{
    char shape[160];
    size_t k, nt = sizeof label_types / sizeof label_types[0];
    for (k = 0; k < nt && !descr_is(m->descr, label_types[k].descr); k++)
        ;
    if (k == nt)
        return fesf_error("'%s': member '%s' has unsupported dtype '%s' (expected an integer type "
                          "such as |u1 or <i8)", ns->path, m->array, m->descr);
    m->esize = label_types[k].esize;
    m->is_signed = label_types[k].is_signed;
    shape_str(m, shape, sizeof shape); /* (N,) and (N,1): fortran_order does not matter */
    if (!(m->ndim == 1 || (m->ndim == 2 && m->shape[1] == 1)))
        return fesf_error("'%s': member '%s' has shape %s (expected (N,) or (N,1))", ns->path,
                          m->array, shape);
    if (m->shape[0] != n_images)
        return fesf_error("'%s': member '%s' has %lld labels but the images member has %lld",
                          ns->path, m->array, (long long)m->shape[0], (long long)n_images);
    return check_member_size(ns, m);
}

/* Find both members of split s and read their headers. */
static int locate_split(npz_source *ns, int s)
{
    npz_split *sp = &ns->sp[s];
    static const char *const kind[2] = {"images", "labels"};
    char name[2][48];
    for (int k = 0; k < 2; k++) {
        npy_member *m = &sp->m[k];
        snprintf(m->array, sizeof m->array, "%s_%s", fesf_split_names[s], kind[k]);
        snprintf(name[k], sizeof name[k], "%s.npy", m->array);
        m->index = zip_name_locate(ns->za, name[k], 0);
    }
    if (s == FESF_SPLIT_TRAIN && sp->m[IMAGES].index < 0)
        return fesf_error("'%s': no '%s' member (expected a MedMNIST-style .npz)", ns->path, name[0]);
    if ((sp->m[IMAGES].index < 0) != (sp->m[LABELS].index < 0)) {
        int have = sp->m[IMAGES].index < 0;
        return fesf_error("'%s': has '%s' but no '%s' member", ns->path, name[have], name[!have]);
    }
    if (sp->m[IMAGES].index < 0)
        return 0;
    if (read_header(ns, &sp->m[IMAGES]) != 0 || read_header(ns, &sp->m[LABELS]) != 0)
        return -1;
    return 0;
}

/* Headers of every split; all must agree on C, H, W and dtype. */
static int check_splits(npz_source *ns)
{
    fesf_source_info *info = &ns->base.info;
    const npy_member *first = NULL;
    for (int s = 0; s < FESF_NSPLITS; s++) {
        npz_split *sp = &ns->sp[s];
        fesf_dtype dt = FESF_U8;
        int c = 0, h = 0, w = 0;
        if (locate_split(ns, s) != 0)
            return -1;
        if (sp->m[IMAGES].index < 0)
            continue;
        if (check_images(ns, &sp->m[IMAGES], &dt, &c, &h, &w) != 0 ||
            check_labels(ns, &sp->m[LABELS], sp->m[IMAGES].shape[0]) != 0)
            return -1;
        if (!first) {
            first = &sp->m[IMAGES];
            info->c = c, info->h = h, info->w = w, info->dtype = dt;
        } else if (c != info->c || h != info->h || w != info->w || dt != info->dtype) {
            return fesf_error("'%s': member '%s' is %dx%dx%d %s but '%s' is %dx%dx%d %s "
                              "(all splits must match)", ns->path, sp->m[IMAGES].array, h, w, c,
                              sp->m[IMAGES].descr, first->array, info->h, info->w, info->c,
                              first->descr);
        }
        sp->n = sp->m[IMAGES].shape[0];
        info->n[s] = sp->n;
    }
    if (ns->sp[FESF_SPLIT_TRAIN].n == 0)
        return fesf_error("'%s': member 'train_images' holds no images", ns->path);
    return 0;
}

/* ---- the source methods ------------------------------------------------- */

static int check_split_arg(npz_source *ns, int split)
{
    if (split < 0 || split >= FESF_NSPLITS)
        return fesf_error("'%s': no split %d", ns->path, split);
    return 0;
}

/* Convert n little-endian integers of member m to int32, rejecting labels
 * outside [0, INT32_MAX]. */
static int convert_labels(npz_source *ns, const npy_member *m, const uint8_t *raw, int64_t n,
                          int32_t *labels)
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
        if (v < 0 || v > INT32_MAX)
            return fesf_error("'%s': member '%s' has label %lld at index %lld (expected 0..%d)",
                              ns->path, m->array, (long long)v, (long long)i, INT32_MAX);
        labels[i] = (int32_t)v;
    }
    return 0;
}

static int npz_read_labels(fesf_source *s, int split, int32_t *labels)
{
    npz_source *ns = (npz_source *)s;
    zip_file_t *zf = NULL;
    uint8_t *raw = NULL;
    int rc = -1;

    if (check_split_arg(ns, split) != 0)
        return -1;
    const npy_member *m = &ns->sp[split].m[LABELS];
    int64_t n = ns->sp[split].n;
    if (n == 0)
        return 0;
    raw = malloc((size_t)n * (size_t)m->esize);
    if (!raw) {
        fesf_error("'%s': out of memory reading '%s'", ns->path, m->array);
        goto cleanup;
    }
    if (open_member_data(ns, m, &zf) != 0 ||
        read_exact(ns, zf, m, raw, (size_t)n * (size_t)m->esize) != 0 ||
        check_member_end(ns, zf, m) != 0 || convert_labels(ns, m, raw, n, labels) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (zf)
        zip_fclose(zf);
    free(raw);
    return rc;
}

static void fix_f32_order(float *f, size_t n)
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

/* Float images must lie in [0,1] (NaN is rejected too). */
static int check_f32_range(npz_source *ns, const npy_member *m, const float *f, size_t n,
                           int64_t first_image, size_t per_image)
{
    for (size_t i = 0; i < n; i++)
        if (!(f[i] >= 0.0f && f[i] <= 1.0f))
            return fesf_error("'%s': member '%s' has value %g in image %lld (expected [0,1])",
                              ns->path, m->array, (double)f[i],
                              (long long)(first_image + (int64_t)(i / per_image)));
    return 0;
}

/* HWC -> CHW for one image of hw pixels, c channels, esize-byte elements. */
static void hwc_to_chw(uint8_t *dst, const uint8_t *src, int c, size_t hw, int esize)
{
    for (int k = 0; k < c; k++)
        for (size_t p = 0; p < hw; p++)
            memcpy(dst + (k * hw + p) * esize, src + (p * c + k) * esize, (size_t)esize);
}

/* Position split sp's stream at image `start` (reopen if behind). */
static int seek_images(npz_source *ns, npz_split *sp, int64_t start)
{
    if (sp->zf && start < sp->pos)
        split_stream_close(sp);
    if (!sp->zf) {
        if (open_member_data(ns, &sp->m[IMAGES], &sp->zf) != 0)
            return -1;
        sp->pos = 0;
    }
    if (skip_bytes(ns, sp->zf, &sp->m[IMAGES], (start - sp->pos) * (int64_t)ns->img_bytes) != 0)
        return -1;
    sp->pos = start;
    return 0;
}

static int read_images_at(npz_source *ns, npz_split *sp, int64_t start, int64_t count, uint8_t *buf)
{
    const fesf_source_info *info = &ns->base.info;
    const npy_member *m = &sp->m[IMAGES];
    size_t hw = (size_t)info->h * (size_t)info->w, per_image = hw * (size_t)info->c;
    if (seek_images(ns, sp, start) != 0)
        return -1;
    if (info->c == 1) {
        if (read_exact(ns, sp->zf, m, buf, (size_t)count * ns->img_bytes) != 0)
            return -1;
    } else {
        for (int64_t i = 0; i < count; i++) {
            if (read_exact(ns, sp->zf, m, ns->scratch, ns->img_bytes) != 0)
                return -1;
            hwc_to_chw(buf + (size_t)i * ns->img_bytes, ns->scratch, info->c, hw, m->esize);
        }
    }
    sp->pos = start + count;
    if (info->dtype == FESF_F32) {
        fix_f32_order((float *)buf, (size_t)count * per_image);
        if (check_f32_range(ns, m, (float *)buf, (size_t)count * per_image, start, per_image) != 0)
            return -1;
    }
    if (sp->pos == sp->n)
        return check_member_end(ns, sp->zf, m);
    return 0;
}

static int npz_read_images(fesf_source *s, int split, int64_t start, int64_t count, void *buf)
{
    npz_source *ns = (npz_source *)s;
    if (check_split_arg(ns, split) != 0)
        return -1;
    npz_split *sp = &ns->sp[split];
    if (start < 0 || count < 0 || start > sp->n || count > sp->n - start)
        return fesf_error("'%s': images [%lld, %lld) out of range for split '%s' (%lld images)",
                          ns->path, (long long)start, (long long)(start + count),
                          fesf_split_names[split], (long long)sp->n);
    if (count == 0)
        return 0;
    if (read_images_at(ns, sp, start, count, buf) != 0) {
        split_stream_close(sp); /* position unknown: restart next time */
        return -1;
    }
    return 0;
}

static void npz_free(npz_source *ns)
{
    if (!ns)
        return;
    for (int s = 0; s < FESF_NSPLITS; s++)
        split_stream_close(&ns->sp[s]);
    if (ns->za)
        zip_discard(ns->za);
    free(ns->scratch);
    free(ns->path);
    free(ns);
}

static void npz_close(fesf_source *s) { npz_free((npz_source *)s); }

/* ---- open ---------------------------------------------------------------- */

/* A 0-byte file opens as an empty archive in libzip, so check first. */
static int check_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fesf_error("cannot open '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fesf_error("cannot open '%s': %s", path, strerror(EISDIR));
    if (st.st_size == 0)
        return fesf_error("'%s': empty file", path);
    return 0;
}

static int open_zip(npz_source *ns)
{
    int code = 0;
    ns->za = zip_open(ns->path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (ns->za)
        return 0;
    if (code == ZIP_ER_NOZIP)
        return fesf_error("'%s': not a zip archive (or truncated)", ns->path);
    if (code == ZIP_ER_INCONS)
        return fesf_error("'%s': inconsistent zip archive (truncated or corrupt)", ns->path);
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    fesf_error("cannot open '%s': %s", ns->path, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return -1;
}

int fesf_npz_open(fesf_source **out, const char *path)
{
    npz_source *ns = NULL;
    int rc = -1;

    *out = NULL;
    if (check_file(path) != 0)
        goto cleanup;
    ns = calloc(1, sizeof *ns);
    if (!ns || !(ns->path = strdup(path))) {
        fesf_error("'%s': out of memory", path);
        goto cleanup;
    }
    for (int s = 0; s < FESF_NSPLITS; s++)
        ns->sp[s].m[IMAGES].index = ns->sp[s].m[LABELS].index = -1;
    ns->scratch_bytes = SKIP_CHUNK;
    if (!(ns->scratch = malloc(ns->scratch_bytes))) {
        fesf_error("'%s': out of memory", path);
        goto cleanup;
    }
    if (open_zip(ns) != 0 || check_splits(ns) != 0)
        goto cleanup;

    fesf_source_info *info = &ns->base.info;
    ns->img_bytes = (size_t)info->c * info->h * info->w * (info->dtype == FESF_F32 ? 4 : 1);
    if (ns->img_bytes > ns->scratch_bytes) {
        uint8_t *p = realloc(ns->scratch, ns->img_bytes);
        if (!p) {
            fesf_error("'%s': out of memory", path);
            goto cleanup;
        }
        ns->scratch = p;
        ns->scratch_bytes = ns->img_bytes;
    }
    snprintf(ns->base.desc, sizeof ns->base.desc, "npz:%s", path);
    ns->base.read_labels = npz_read_labels;
    ns->base.read_images = npz_read_images;
    ns->base.close = npz_close;
    *out = &ns->base;
    ns = NULL;
    rc = 0;
cleanup:
    npz_free(ns);
    return rc;
}
