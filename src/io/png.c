/* PNG writers on libpng's simplified API: single 8-bit images and grids of
 * NCHW tensors. Files are written to PATH.tmp and renamed into place. */
#include "fesf/png.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRID_BORDER 2
#define MAX_SIDE 65535 /* keeps h*w*c far from overflow and PNGs viewable */

int fesf_png_write(const char *path, const uint8_t *hwc, int h, int w, int c)
{
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE)
        return fesf_error("'%s': cannot write a %dx%d png with %d channels", path, h, w, c);
    FILE *f = fesf_atomic_open(path); /* PATH.tmp, renamed on commit */
    if (!f) return -1;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    if (!png_image_write_to_stdio(&img, f, 0, hwc, 0, NULL)) {
        fesf_atomic_abort(f, path);
        return fesf_error("cannot write '%s.tmp': %s", path, img.message);
    }
    return fesf_atomic_commit(f, path);
}

static uint8_t f32_to_u8(float v)
{
    if (!(v > 0.0f)) /* also NaN */
        return 0;
    if (v >= 1.0f)
        return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

/* Grid of n NCHW images (uint8 if u8 != NULL, else float f32) written as
 * an HWC canvas with a black GRID_BORDER around every tile. */
static int write_grid(const char *path, const uint8_t *u8, const float *f32, int n, int c, int h,
                      int w, int cols)
{
    if (n < 1 || cols < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE)
        return fesf_error("'%s': cannot lay out %d images of %dx%dx%d in %d columns", path, n, c,
                          h, w, cols);
    if (cols > n)
        cols = n;
    int rows = (n + cols - 1) / cols;
    int64_t gw = (int64_t)cols * (w + GRID_BORDER) + GRID_BORDER;
    int64_t gh = (int64_t)rows * (h + GRID_BORDER) + GRID_BORDER;
    if (gw > MAX_SIDE || gh > MAX_SIDE)
        return fesf_error("'%s': image grid of %lldx%lld pixels is too large", path,
                          (long long)gh, (long long)gw);
    uint8_t *canvas = calloc((size_t)gh * (size_t)gw, (size_t)c);
    if (!canvas)
        return fesf_error("'%s': out of memory for the image grid", path);
    size_t hw = (size_t)h * w;
    for (int i = 0; i < n; i++) {
        int64_t y0 = (int64_t)(i / cols) * (h + GRID_BORDER) + GRID_BORDER;
        int64_t x0 = (int64_t)(i % cols) * (w + GRID_BORDER) + GRID_BORDER;
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    size_t src = ((size_t)i * c + k) * hw + (size_t)y * w + x;
                    size_t dst = ((size_t)(y0 + y) * gw + (size_t)(x0 + x)) * c + k;
                    canvas[dst] = u8 ? u8[src] : f32_to_u8(f32[src]);
                }
    }
    int rc = fesf_png_write(path, canvas, (int)gh, (int)gw, c);
    free(canvas);
    return rc;
}

int fesf_png_write_grid_f32(const char *path, const float *nchw, int n, int c, int h, int w, int cols)
{
    return write_grid(path, NULL, nchw, n, c, h, w, cols);
}

int fesf_png_write_grid_u8(const char *path, const uint8_t *nchw, int n, int c, int h, int w, int cols)
{
    return write_grid(path, nchw, NULL, n, c, h, w, cols);
}
