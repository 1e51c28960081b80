/* The voxel transforms of data.window and data.size (volume.h). */
#include "fesf/volume.h"
#include "fesf/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fesf_volume_window(float *x, size_t n, double lo, double hi)
{
    double scale = 1.0 / (hi - lo);
    for (size_t i = 0; i < n; i++) {
        double v = ((double)x[i] - lo) * scale;
        x[i] = v > 0.0 ? (v < 1.0 ? (float)v : 1.0f) : 0.0f; /* NaN -> 0 */
    }
}

void fesf_volume_minmax(float *x, size_t n)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (!(hi > lo)) { /* constant, empty or all NaN */
        for (size_t i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    fesf_volume_window(x, n, lo, hi);
}

/* One axis of the resampling: for each output index its two source indices
 * and the weight of the second, PyTorch's area_pixel_compute_source_index
 * with align_corners=False: src = (o + 0.5) * in / out - 0.5, clamped at 0. */
typedef struct {
    int *i0, *i1;
    double *l1;
} axis_map;

static int axis_make(axis_map *a, int in, int out)
{
    a->i0 = malloc(sizeof(int) * (size_t)out);
    a->i1 = malloc(sizeof(int) * (size_t)out);
    a->l1 = malloc(sizeof(double) * (size_t)out);
    if (!a->i0 || !a->i1 || !a->l1) return -1;
    double scale = (double)in / out;
    for (int o = 0; o < out; o++) {
        double s = scale * (o + 0.5) - 0.5;
        if (s < 0) s = 0;
        int i = (int)s;
        if (i > in - 1) i = in - 1;
        a->i0[o] = i;
        a->i1[o] = i < in - 1 ? i + 1 : i;
        a->l1[o] = s - i;
    }
    return 0;
}

static void axis_free(axis_map *a)
{
    free(a->i0);
    free(a->i1);
    free(a->l1);
}

int fesf_volume_resample(const float *src, int d, int h, int w, float *dst, int D, int H, int W)
{
    if (d < 1 || h < 1 || w < 1 || D < 1 || H < 1 || W < 1)
        return fesf_error("resample: sizes must be positive (%d x %d x %d to %d x %d x %d)", d, h, w, D, H, W);
    axis_map ad = {0}, ah = {0}, aw = {0};
    int rc = -1;
    if (axis_make(&ad, d, D) || axis_make(&ah, h, H) || axis_make(&aw, w, W)) {
        fesf_error("resample: out of memory");
        goto cleanup;
    }
    size_t hw = (size_t)h * w;
    for (int z = 0; z < D; z++) {
        const float *p0 = src + (size_t)ad.i0[z] * hw, *p1 = src + (size_t)ad.i1[z] * hw;
        double lz = ad.l1[z];
        for (int y = 0; y < H; y++) {
            size_t r0 = (size_t)ah.i0[y] * w, r1 = (size_t)ah.i1[y] * w;
            double ly = ah.l1[y];
            float *out = dst + ((size_t)z * H + y) * W;
            for (int x = 0; x < W; x++) {
                int c0 = aw.i0[x], c1 = aw.i1[x];
                double lx = aw.l1[x];
                double a0 = (1 - lx) * p0[r0 + c0] + lx * p0[r0 + c1];
                double a1 = (1 - lx) * p0[r1 + c0] + lx * p0[r1 + c1];
                double b0 = (1 - lx) * p1[r0 + c0] + lx * p1[r0 + c1];
                double b1 = (1 - lx) * p1[r1 + c0] + lx * p1[r1 + c1];
                double a = (1 - ly) * a0 + ly * a1, b = (1 - ly) * b0 + ly * b1;
                out[x] = (float)((1 - lz) * a + lz * b);
            }
        }
    }
    rc = 0;
cleanup:
    axis_free(&ad);
    axis_free(&ah);
    axis_free(&aw);
    return rc;
}

void fesf_volume_mid_plane(const float *item, int c, int d, int h, int w, float *out)
{
    size_t hw = (size_t)h * (size_t)w;
    for (int ch = 0; ch < c; ch++) memcpy(out + hw * ch, item + hw * ((size_t)ch * d + d / 2), sizeof(float) * hw);
}
