/* data.size for volume sources that deliver their own size (an .npz in
 * MedMNIST3D's layout): a source wrapped so that every volume is read from
 * the inner one, widened to float (uint8 as x / 255) and resampled
 * trilinearly to D x H x W (volume.h); labels, names and sites pass
 * through. One inner volume in memory at a time. */
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/volume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fesf_source base; /* first member: the public handle */
    fesf_source *in;  /* owned */
    void *item;       /* one inner item, its dtype */
    float *wide;      /* one inner channel volume as float */
} resampled;

static int rs_labels(fesf_source *s, int split, int32_t *labels)
{
    fesf_source *in = ((resampled *)s)->in;
    return in->read_labels(in, split, labels);
}

static int rs_sites(fesf_source *s, int split, int32_t *sites)
{
    fesf_source *in = ((resampled *)s)->in;
    return in->read_sites ? in->read_sites(in, split, sites) : -1;
}

static int rs_name(fesf_source *s, int split, int64_t i, char *buf, size_t size)
{
    fesf_source *in = ((resampled *)s)->in;
    return in->item_name ? in->item_name(in, split, i, buf, size) : -1;
}

static int rs_images(fesf_source *s, int split, int64_t start, int64_t count, void *buf)
{
    resampled *r = (resampled *)s;
    const fesf_source_info *a = &r->in->info, *b = &s->info;
    size_t vin = (size_t)a->d * a->h * a->w, vout = (size_t)b->d * b->h * b->w;
    for (int64_t i = 0; i < count; i++) {
        if (r->in->read_images(r->in, split, start + i, 1, r->item)) return -1;
        for (int c = 0; c < a->c; c++) {
            float *src = r->wide;
            if (a->dtype == FESF_U8)
                for (size_t q = 0; q < vin; q++) src[q] = ((const uint8_t *)r->item)[vin * c + q] / 255.0f;
            else
                src = (float *)r->item + vin * c;
            float *dst = (float *)buf + vout * ((size_t)i * a->c + c);
            if (fesf_volume_resample(src, a->d, a->h, a->w, dst, b->d, b->h, b->w)) return -1;
        }
    }
    return 0;
}

static void rs_close(fesf_source *s)
{
    resampled *r = (resampled *)s;
    fesf_source_close(r->in);
    free(r->item), free(r->wide), free(r);
}

int fesf_source_resample(fesf_source **s, int d, int h, int w)
{
    fesf_source *in = *s;
    if (in->info.d <= 1)
        return fesf_error("'%s' holds 2-D images of %dx%d: data.size resamples volumes only", in->desc, in->info.h,
                          in->info.w);
    resampled *r = calloc(1, sizeof *r);
    size_t vin = (size_t)in->info.d * in->info.h * in->info.w;
    if (r) r->item = malloc(vin * (size_t)in->info.c * (size_t)fesf_dtype_size(in->info.dtype));
    if (r) r->wide = malloc(vin * sizeof(float));
    if (!r || !r->item || !r->wide) {
        if (r) free(r->item), free(r->wide), free(r);
        return fesf_error("out of memory for a %d x %d x %d volume", in->info.d, in->info.h, in->info.w);
    }
    r->in = in;
    r->base.info = in->info;
    r->base.info.d = d, r->base.info.h = h, r->base.info.w = w, r->base.info.dtype = FESF_F32;
    snprintf(r->base.desc, sizeof r->base.desc, "%.400s, resampled from %dx%dx%d to %dx%dx%d", in->desc, in->info.d,
             in->info.h, in->info.w, d, h, w);
    r->base.read_labels = rs_labels, r->base.read_images = rs_images, r->base.close = rs_close;
    r->base.item_name = in->item_name ? rs_name : NULL;
    r->base.read_sites = in->read_sites ? rs_sites : NULL;
    *s = &r->base;
    return 0;
}
