/* The public host set of data.hosts (hosts_set.h): opened with the existing
 * readers (npz.c, pngdir.c), checked against the source, streamed into
 * hosts.h5 as float32. */
#include "hosts_set.h"

#include "fesf/error.h"
#include "fesf/log.h"
#include "fesf/shard.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define STRIP_BYTES (16u << 20) /* bound on the float strip in memory */

/* The file or folder a spec reads (npz:PATH, png:DIR, or png:DIR:CSV when
 * has_csv), resolved into out[PATH_MAX]; 0 if there is none. */
static int spec_target(const char *spec, int has_csv, char *out)
{
    char path[PATH_MAX];
    const char *s = spec + 4, *end = has_csv && !strncmp(spec, "png:", 4) ? strrchr(s, ':') : NULL;
    size_t n = end ? (size_t)(end - s) : strlen(s);
    if ((strncmp(spec, "npz:", 4) && strncmp(spec, "png:", 4)) || n == 0 || n >= sizeof path) return 0;
    memcpy(path, s, n);
    path[n] = '\0';
    return realpath(path, out) != NULL;
}

int fesf_hosts_set_open(fesf_source **out, const char *spec, const fesf_source_info *like, const char *like_desc)
{
    *out = NULL;
    int rc = !strncmp(spec, "npz:", 4) && spec[4]   ? fesf_npz_open_images(out, spec + 4)
             : !strncmp(spec, "png:", 4) && spec[4] ? fesf_pngdir_open_folder(out, spec + 4)
                                                    : fesf_error("data.hosts = '%s': expected npz:PATH | png:DIR", spec);
    if (rc) return fesf_error("data.hosts: %s", fesf_errmsg());
    const fesf_source_info *in = &(*out)->info;
    if (in->c != like->c || in->d != like->d || in->h != like->h || in->w != like->w) {
        fesf_error("data.hosts '%s' has images of %d x %d x %d (channels x height x width) but data.source '%s' "
                   "has %d x %d x %d: the hosts must match the images they hide", spec, in->c, in->h, in->w,
                   like_desc, like->c, like->h, like->w);
        fesf_source_close(*out);
        *out = NULL;
        return -1;
    }
    char a[PATH_MAX], b[PATH_MAX];
    if (spec_target(spec, 0, a) && spec_target(like_desc, 1, b) && !strcmp(a, b))
        fesf_warn("data.hosts '%s' reads the files of data.source: its hosts are patient images of the sites' own "
                  "dataset, not a separate public set", spec);
    return 0;
}

int64_t fesf_hosts_set_count(const fesf_source *set) { return set->info.n[FESF_SPLIT_TRAIN]; }

int fesf_hosts_set_copy(fesf_source *set, hid_t images)
{
    const fesf_source_info *in = &set->info;
    size_t elems = (size_t)fesf_source_item_elems(in);
    int64_t n = fesf_hosts_set_count(set), strip = (int64_t)(STRIP_BYTES / (elems * sizeof(float)));
    if (strip < 1) strip = 1;
    if (strip > n) strip = n;
    float *f = malloc(sizeof(float) * elems * (size_t)strip);
    uint8_t *u8 = in->dtype == FESF_U8 ? malloc(elems * (size_t)strip) : NULL;
    int rc = -1;
    if (!f || (in->dtype == FESF_U8 && !u8)) {
        fesf_error("out of memory for the host set");
        goto done;
    }
    for (int64_t start = 0; start < n; start += strip) {
        int64_t k = n - start < strip ? n - start : strip;
        if (set->read_images(set, FESF_SPLIT_TRAIN, start, k, u8 ? (void *)u8 : (void *)f)) goto done;
        if (u8) fesf_u8_to_f32(u8, f, elems * (size_t)k);
        if (fesf_h5_write_rows(images, start, k, H5T_NATIVE_FLOAT, f)) goto done;
    }
    rc = 0;
done:
    free(u8);
    free(f);
    return rc;
}
