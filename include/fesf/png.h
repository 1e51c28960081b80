/* PNG pictures through libpng: write 8-bit grey or RGB images, image grids
 * of float or uint8 NCHW tensors (`fesf inspect --png`), and the figures'
 * grids with a row of column titles drawn by cairo (site-NNN/figures/iqem.png
 * and audit-<target>.png). */
#ifndef FESF_PNG_H
#define FESF_PNG_H

#include <stdint.h>

/* Write an 8-bit image, c = 1 (grey) or 3 (RGB), pixels interleaved HWC.
 * Atomic: writes PATH.tmp then renames. 0 or -1. */
int fesf_png_write(const char *path, const uint8_t *hwc, int h, int w, int c);

/* Lay out n images (NCHW, c = 1 or 3) in a grid of `cols` columns (at most
 * n) separated and surrounded by a 2-pixel black border, so the picture is
 * cols*(w+2)+2 pixels wide, and write it as PNG. Float images are taken as [0,1] and
 * clamped; uint8 images as they are. 0 or -1. */
int fesf_png_write_grid_f32(const char *path, const float *nchw, int n, int c, int h, int w, int cols);
int fesf_png_write_grid_u8(const char *path, const uint8_t *nchw, int n, int c, int h, int w, int cols);

/* A figure: n float images (NCHW, c = 1 or 3, [0,1] clamped) in `cols`
 * columns (at most n) under a white title row holding titles[k] (cols
 * entries; NULL or "" leaves column k untitled) centred in dark grey, cairo's
 * toy font "sans" at 14 px. Each image is scaled up by the smallest integer s
 * (nearest neighbour) that makes it at least 96 pixels wide and wider than
 * every title plus 12 pixels; cells are separated and surrounded by 4 white
 * pixels, so the picture is cols*(w*s+4)+4 wide and T + rows*(h*s+4) high
 * (T the title row's height, about 30). Grey images give a grey PNG. Atomic
 * like fesf_png_write. 0 or -1. */
int fesf_png_write_grid_titled(const char *path, const float *nchw, int n, int c, int h, int w, int cols,
                               const char *const *titles);

#endif
