/* MedMNIST-style .npz reader: a zip (usually DEFLATE) of .npy members
 * {train,val,test}_{images,labels}.npy, read through libzip. An archive
 * without train_images.npy may be one labelled pool (images.npy +
 * labels.npy, or a single split such as test_*): see locate_pool. Optional
 * {train,val,test}_sites.npy (a pool's sites.npy) give each image's site id
 * (1..N), an integer array like the labels: read_sites.
 *
 * Labels are read whole (they are small). Images are streamed: each split
 * keeps one open zip_file_t and the index of the next image it delivers;
 * reading ahead skips forward, reading behind reopens the member. Images
 * stored NHWC (N,H,W,3) are delivered NCHW. This file reads the zip and
 * implements the source; npy.c parses and checks the .npy headers and
 * converts the elements. fesf_npz_open_images opens only the images (a
 * public host set needs no labels: the label members are not looked at). */
#include "npy.h"

#include "fesf/dataset.h"
#include "fesf/error.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#define SKIP_CHUNK 65536

enum { IMAGES = 0, LABELS = 1, SITES = 2, NMEMBERS = 3 };

/* One .npy member of the archive. */
typedef struct {
    zip_int64_t index;      /* member index in the zip; -1 = absent */
    fesf_npy_array a;       /* its header; a.name is the array name, e.g. "train_images" */
} npy_member;

typedef struct {
    npy_member m[NMEMBERS]; /* IMAGES, LABELS, SITES (optional) */
    int64_t n;              /* images in the split; 0 = absent */
    zip_file_t *zf;         /* open image stream, or NULL */
    int64_t pos;            /* index of the next image zf delivers */
} npz_split;

typedef struct {
    fesf_source base;       /* first member: the public handle */
    char *path;
    zip_t *za;
    npz_split sp[FESF_NSPLITS];
    int images_only;        /* labels (and sites) neither required nor read */
    int has_sites;          /* some split has a sites member */
    size_t img_bytes;       /* bytes per image */
    uint8_t *scratch;       /* one image, or a skip chunk */
    size_t scratch_bytes;
} npz_source;

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
            return fesf_error("'%s': cannot read member '%s': %s", ns->path, m->a.name,
                              zip_error_strerror(zip_file_get_error(zf)));
        if (got == 0)
            return fesf_error("'%s': member '%s' is truncated (ends before the data the header says)",
                              ns->path, m->a.name);
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
        return fesf_error("'%s': cannot read member '%s': %s", ns->path, m->a.name,
                          zip_error_strerror(zip_file_get_error(zf)));
    return 0;
}

static int open_member(npz_source *ns, const npy_member *m, zip_file_t **zf)
{
    *zf = zip_fopen_index(ns->za, (zip_uint64_t)m->index, 0);
    if (!*zf)
        return fesf_error("'%s': cannot open member '%s': %s", ns->path, m->a.name,
                          zip_strerror(ns->za));
    return 0;
}

/* Open a member positioned at the start of its array data. */
static int open_member_data(npz_source *ns, const npy_member *m, zip_file_t **zf)
{
    if (open_member(ns, m, zf) != 0)
        return -1;
    if (skip_bytes(ns, *zf, m, m->a.data_off) != 0) {
        zip_fclose(*zf);
        *zf = NULL;
        return -1;
    }
    return 0;
}

/* Read the preamble and header dict of member m into m->a. */
static int read_header(npz_source *ns, npy_member *m)
{
    zip_file_t *zf = NULL;
    char *hdr = NULL;
    int rc = -1, plen;
    int64_t hlen;
    uint8_t pre[FESF_NPY_PREAMBLE + 2];

    if (open_member(ns, m, &zf) != 0 || read_exact(ns, zf, m, pre, FESF_NPY_PREAMBLE) != 0)
        goto cleanup;
    if ((plen = fesf_npy_preamble_len(ns->path, &m->a, pre)) < 0 ||
        read_exact(ns, zf, m, pre + FESF_NPY_PREAMBLE, (size_t)plen - FESF_NPY_PREAMBLE) != 0 ||
        (hlen = fesf_npy_header_len(ns->path, &m->a, pre)) < 0)
        goto cleanup;
    hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        fesf_error("'%s': out of memory", ns->path);
        goto cleanup;
    }
    if (read_exact(ns, zf, m, hdr, (size_t)hlen) != 0 ||
        fesf_npy_parse_header(ns->path, &m->a, hdr, (size_t)hlen) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    free(hdr);
    if (zf)
        zip_fclose(zf);
    return rc;
}

/* ---- validation -------------------------------------------------------- */

/* The member must hold at least data_off + elems*esize bytes. */
static int check_member_size(npz_source *ns, const npy_member *m)
{
    zip_stat_t st;
    int64_t need = fesf_npy_nbytes(&m->a);
    if (need < 0)
        return fesf_error("'%s': member '%s' has an impossibly large shape", ns->path, m->a.name);
    zip_stat_init(&st);
    if (zip_stat_index(ns->za, (zip_uint64_t)m->index, 0, &st) != 0)
        return fesf_error("'%s': cannot stat member '%s': %s", ns->path, m->a.name,
                          zip_strerror(ns->za));
    if ((st.valid & ZIP_STAT_SIZE) && st.size < (zip_uint64_t)need)
        return fesf_error("'%s': member '%s' is truncated: header says %lld bytes, member has %llu",
                          ns->path, m->a.name, (long long)need, (unsigned long long)st.size);
    return 0;
}

/* Find the members of a split ("train", "val", "test"; "" for the pool's
 * bare images.npy / labels.npy / sites.npy) into sp and read their headers. */
static int locate_members(npz_source *ns, npz_split *sp, const char *split)
{
    static const char *const kind[NMEMBERS] = {"images", "labels", "sites"};
    char name[NMEMBERS][48];
    for (int k = 0; k < NMEMBERS; k++) {
        npy_member *m = &sp->m[k];
        snprintf(m->a.name, sizeof m->a.name, "%s%s%s", split, split[0] ? "_" : "", kind[k]);
        snprintf(name[k], sizeof name[k], "%s.npy", m->a.name);
        m->index = k != IMAGES && ns->images_only ? -1 : zip_name_locate(ns->za, name[k], 0);
    }
    if (!ns->images_only && (sp->m[IMAGES].index < 0) != (sp->m[LABELS].index < 0)) {
        int have = sp->m[IMAGES].index < 0;
        return fesf_error("'%s': has '%s' but no '%s' member", ns->path, name[have], name[!have]);
    }
    if (sp->m[IMAGES].index < 0 && sp->m[SITES].index >= 0)
        return fesf_error("'%s': has '%s' but no '%s' member", ns->path, name[SITES], name[IMAGES]);
    for (int k = 0; k < NMEMBERS; k++)
        if (sp->m[k].index >= 0 && read_header(ns, &sp->m[k]) != 0)
            return -1;
    return 0;
}

/* An archive without train_images is one labelled pool when it holds
 * images.npy (+ labels.npy) or exactly one other split: that pool is
 * delivered as the train split, and `fesf prepare` carves test and val from
 * it (data.test_fraction, data.val_fraction). */
static int locate_pool(npz_source *ns)
{
    npz_split *train = &ns->sp[FESF_SPLIT_TRAIN];
    if (locate_members(ns, train, "") != 0)
        return -1;
    int other = -1, n_other = 0;
    for (int s = FESF_SPLIT_VAL; s < FESF_NSPLITS; s++)
        if (ns->sp[s].m[IMAGES].index >= 0) other = s, n_other++;
    if (train->m[IMAGES].index >= 0) {
        if (n_other)
            return fesf_error("'%s': has 'images.npy' and '%s_images.npy' but no 'train_images.npy' member "
                              "(a pool or MedMNIST splits, not both)", ns->path, fesf_split_names[other]);
    } else if (n_other == 1) {
        *train = ns->sp[other];
        memset(&ns->sp[other], 0, sizeof ns->sp[other]);
        for (int k = 0; k < NMEMBERS; k++)
            ns->sp[other].m[k].index = -1;
    } else {
        return fesf_error("'%s': no 'train_images.npy' member (expected a MedMNIST-style .npz, or one labelled "
                          "pool: 'images.npy' or a single split)", ns->path);
    }
    ns->base.info.pool = 1;
    return 0;
}

/* "HxWxC" of images, "DxHxW" of volumes (the .npy's own axis order). */
static const char *dims_text(char *buf, size_t size, int c, int d, int h, int w)
{
    if (d > 1) snprintf(buf, size, "%dx%dx%d", d, h, w);
    else snprintf(buf, size, "%dx%dx%d", h, w, c);
    return buf;
}

/* Headers of every split; all must agree on C, D, H, W and dtype. */
static int check_splits(npz_source *ns)
{
    fesf_source_info *info = &ns->base.info;
    const npy_member *first = NULL;
    for (int s = 0; s < FESF_NSPLITS; s++)
        if (locate_members(ns, &ns->sp[s], fesf_split_names[s]) != 0)
            return -1;
    if (ns->sp[FESF_SPLIT_TRAIN].m[IMAGES].index < 0 && locate_pool(ns) != 0)
        return -1;
    for (int s = 0; s < FESF_NSPLITS; s++) {
        npz_split *sp = &ns->sp[s];
        fesf_dtype dt = FESF_U8;
        int c = 0, d = 0, h = 0, w = 0;
        if (sp->m[IMAGES].index < 0)
            continue;
        npy_member *im = &sp->m[IMAGES], *lb = &sp->m[LABELS], *st = &sp->m[SITES];
        if (fesf_npy_check_images(ns->path, &im->a, &dt, &c, &d, &h, &w) != 0 ||
            check_member_size(ns, im) != 0 ||
            (lb->index >= 0 && (fesf_npy_check_labels(ns->path, &lb->a, im->a.shape[0], "label") != 0 ||
                                check_member_size(ns, lb) != 0)) ||
            (st->index >= 0 && (fesf_npy_check_labels(ns->path, &st->a, im->a.shape[0], "site id") != 0 ||
                                check_member_size(ns, st) != 0)))
            return -1;
        ns->has_sites |= st->index >= 0;
        if (!first) {
            first = im;
            info->c = c, info->d = d, info->h = h, info->w = w, info->dtype = dt;
        } else if (c != info->c || d != info->d || h != info->h || w != info->w || dt != info->dtype) {
            char a[48], b[48];
            return fesf_error("'%s': member '%s' is %s %s but '%s' is %s %s (all splits must match)", ns->path,
                              im->a.name, dims_text(a, sizeof a, c, d, h, w), im->a.descr, first->a.name,
                              dims_text(b, sizeof b, info->c, info->d, info->h, info->w), first->a.descr);
        }
        sp->n = im->a.shape[0];
        info->n[s] = sp->n;
    }
    if (ns->sp[FESF_SPLIT_TRAIN].n == 0)
        return fesf_error("'%s': member '%s' holds no images", ns->path, ns->sp[FESF_SPLIT_TRAIN].m[IMAGES].a.name);
    return 0;
}

/* ---- the source methods ------------------------------------------------- */

static int check_split_arg(npz_source *ns, int split)
{
    if (split < 0 || split >= FESF_NSPLITS)
        return fesf_error("'%s': no split %d", ns->path, split);
    return 0;
}

/* Member k (LABELS or SITES) of split whole, as int32 values >= lo. */
static int read_ints(npz_source *ns, int split, int k, int32_t lo, const char *what, int32_t *out)
{
    zip_file_t *zf = NULL;
    uint8_t *raw = NULL;
    int rc = -1;

    if (check_split_arg(ns, split) != 0)
        return -1;
    const npy_member *m = &ns->sp[split].m[k];
    int64_t n = ns->sp[split].n;
    if (n == 0)
        return 0;
    if (m->index < 0 && k == SITES)
        return fesf_error("'%s': no '%s.npy' member (the site of each %s image)", ns->path, m->a.name,
                          fesf_split_names[split]);
    if (m->index < 0)
        return fesf_error("'%s': opened for its images only: no labels", ns->path);
    raw = malloc((size_t)n * (size_t)m->a.esize);
    if (!raw) {
        fesf_error("'%s': out of memory reading '%s'", ns->path, m->a.name);
        goto cleanup;
    }
    if (open_member_data(ns, m, &zf) != 0 ||
        read_exact(ns, zf, m, raw, (size_t)n * (size_t)m->a.esize) != 0 ||
        check_member_end(ns, zf, m) != 0 ||
        fesf_npy_to_labels(ns->path, &m->a, raw, n, lo, what, out) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (zf)
        zip_fclose(zf);
    free(raw);
    return rc;
}

static int npz_read_labels(fesf_source *s, int split, int32_t *labels)
{
    return read_ints((npz_source *)s, split, LABELS, 0, "label", labels);
}

static int npz_read_sites(fesf_source *s, int split, int32_t *sites)
{
    return read_ints((npz_source *)s, split, SITES, 1, "site id", sites);
}

/* Float images must lie in [0,1] (NaN is rejected too). */
static int check_f32_range(npz_source *ns, const npy_member *m, const float *f, size_t n,
                           int64_t first_image, size_t per_image)
{
    for (size_t i = 0; i < n; i++)
        if (!(f[i] >= 0.0f && f[i] <= 1.0f))
            return fesf_error("'%s': member '%s' has value %g in image %lld (expected [0,1])",
                              ns->path, m->a.name, (double)f[i],
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
    size_t hw = (size_t)info->h * (size_t)info->w, per_image = (size_t)fesf_source_item_elems(info);
    if (seek_images(ns, sp, start) != 0)
        return -1;
    if (info->c == 1) {
        if (read_exact(ns, sp->zf, m, buf, (size_t)count * ns->img_bytes) != 0)
            return -1;
    } else {
        for (int64_t i = 0; i < count; i++) {
            if (read_exact(ns, sp->zf, m, ns->scratch, ns->img_bytes) != 0)
                return -1;
            hwc_to_chw(buf + (size_t)i * ns->img_bytes, ns->scratch, info->c, hw, m->a.esize);
        }
    }
    sp->pos = start + count;
    if (info->dtype == FESF_F32) {
        fesf_npy_f32_to_host((float *)buf, (size_t)count * per_image);
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

static int npz_item_name(fesf_source *s, int split, int64_t i, char *buf, size_t size)
{
    npz_source *ns = (npz_source *)s;
    if (check_split_arg(ns, split) != 0) return -1;
    snprintf(buf, size, "%s:%s[%lld]", ns->path, ns->sp[split].m[IMAGES].a.name, (long long)i);
    return 0;
}

static int npz_open(fesf_source **out, const char *path, int images_only)
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
    ns->images_only = images_only;
    for (int s = 0; s < FESF_NSPLITS; s++)
        for (int k = 0; k < NMEMBERS; k++)
            ns->sp[s].m[k].index = -1;
    ns->scratch_bytes = SKIP_CHUNK;
    if (!(ns->scratch = malloc(ns->scratch_bytes))) {
        fesf_error("'%s': out of memory", path);
        goto cleanup;
    }
    if (open_zip(ns) != 0 || check_splits(ns) != 0)
        goto cleanup;

    fesf_source_info *info = &ns->base.info;
    ns->img_bytes = (size_t)fesf_source_item_elems(info) * (info->dtype == FESF_F32 ? 4 : 1);
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
    ns->base.item_name = npz_item_name;
    ns->base.read_sites = ns->has_sites ? npz_read_sites : NULL;
    ns->base.info.unlabelled = images_only;
    *out = &ns->base;
    ns = NULL;
    rc = 0;
cleanup:
    npz_free(ns);
    return rc;
}

int fesf_npz_open(fesf_source **out, const char *path) { return npz_open(out, path, 0); }

int fesf_npz_open_images(fesf_source **out, const char *path) { return npz_open(out, path, 1); }
