/* PNG pictures through libpng: write 8-bit grey or RGB images, and image
 * grids of float or uint8 NCHW tensors (used by `fesf inspect --png` and
 * the figure grids). */
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

#endif
