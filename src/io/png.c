/* PNG writers on libpng's simplified API: single 8-bit images, grids of
 * NCHW tensors, and the figures' grids with a title row (the titles drawn
 * by cairo into the same 8-bit canvas, so every grid leaves through
 * fesf_png_write). Files are written to PATH.tmp and renamed into place. */
#include "fesf/png.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
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
        return fesf_error("cannot write '%s': %s", path, img.message);
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

/* The arguments both grid writers take: 0, or -1 with a message. */
static int check_grid(const char *path, int n, int c, int h, int w, int cols)
{
    if (n < 1 || cols < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE)
        return fesf_error("'%s': cannot lay out %d images of %dx%dx%d in %d columns", path, n, c,
                          h, w, cols);
    return 0;
}

/* Grid of n NCHW images (uint8 if u8 != NULL, else float f32) written as
 * an HWC canvas with a black GRID_BORDER around every tile. */
static int write_grid(const char *path, const uint8_t *u8, const float *f32, int n, int c, int h,
                      int w, int cols)
{
    if (check_grid(path, n, c, h, w, cols))
        return -1;
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

/* ---- grids with column titles (the figures) ---------------------------------------- */

#define TITLE_FONT 14.0     /* pixels, cairo's toy font "sans" */
#define TITLE_PAD 6         /* pixels above, below and beside a title */
#define TITLE_INK 0x20      /* grey level of the text, on white */
#define CELL_GAP 4          /* white pixels between and around the cells */
#define MIN_CELL 96         /* an image is scaled up to at least this width */
#define CAIRO_SIDE 32767    /* cairo's largest image surface */

typedef struct {
    int s, cols, rows, cw, ch, th; /* scale, grid, cell size, title row height */
    int64_t gw, gh;                /* the canvas */
} titled_layout;

static int has_title(const char *t)
{
    return t && *t;
}

static void set_title_font(cairo_t *cr)
{
    cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, TITLE_FONT);
}

/* Width of the widest title and the height of the font box, in pixels. */
static int measure_titles(const char *path, const char *const *titles, int cols, double *tw, double *fh)
{
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1);
    cairo_t *cr = cairo_create(sf);
    set_title_font(cr);
    cairo_font_extents_t f;
    cairo_font_extents(cr, &f);
    *fh = f.ascent + f.descent;
    *tw = 0;
    for (int k = 0; k < cols; k++)
        if (has_title(titles[k])) {
            cairo_text_extents_t e;
            cairo_text_extents(cr, titles[k], &e);
            *tw = fmax(*tw, e.x_advance);
        }
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return st == CAIRO_STATUS_SUCCESS ? 0 : fesf_error("'%s': cairo: %s", path, cairo_status_to_string(st));
}

/* Scale: the smallest integer that makes a cell MIN_CELL wide and wide enough for every title. */
static int layout_titled(const char *path, const char *const *titles, int n, int h, int w, int cols,
                         titled_layout *L)
{
    double tw, fh;
    if (measure_titles(path, titles, cols, &tw, &fh))
        return -1;
    int64_t s = (MIN_CELL + w - 1) / w, st = (int64_t)ceil((tw + 2 * TITLE_PAD) / w);
    s = s > st ? s : st;
    if (s > CAIRO_SIDE)
        s = CAIRO_SIDE; /* the size check below fails */
    L->cols = cols;
    L->rows = (n + cols - 1) / cols;
    L->th = (int)ceil(fh) + 2 * TITLE_PAD;
    L->gw = cols * (w * s + CELL_GAP) + CELL_GAP;
    L->gh = L->th + L->rows * (h * s + CELL_GAP);
    if (L->gw > CAIRO_SIDE || L->gh > CAIRO_SIDE)
        return fesf_error("'%s': titled image grid of %lldx%lld pixels is too large", path,
                          (long long)L->gh, (long long)L->gw);
    L->s = (int)s, L->cw = w * L->s, L->ch = h * L->s;
    return 0;
}

/* Draw the titles (coverage, cairo A8) centred over their columns and blend
 * them into the white title row of the HWC canvas as dark grey text. */
static int draw_titles(const char *path, const char *const *titles, const titled_layout *L, uint8_t *canvas,
                       int c)
{
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_A8, (int)L->gw, L->th);
    cairo_t *cr = cairo_create(sf);
    set_title_font(cr);
    cairo_font_extents_t f;
    cairo_font_extents(cr, &f);
    for (int k = 0; k < L->cols; k++) {
        if (!has_title(titles[k]))
            continue;
        cairo_text_extents_t e;
        cairo_text_extents(cr, titles[k], &e);
        double x0 = CELL_GAP + (double)k * (L->cw + CELL_GAP);
        cairo_move_to(cr, round(x0 + (L->cw - e.x_advance) / 2), TITLE_PAD + round(f.ascent));
        cairo_show_text(cr, titles[k]);
    }
    cairo_surface_flush(sf);
    cairo_status_t st = cairo_status(cr);
    const unsigned char *a = cairo_image_surface_get_data(sf);
    int stride = cairo_image_surface_get_stride(sf);
    for (int y = 0; st == CAIRO_STATUS_SUCCESS && y < L->th; y++)
        for (int64_t x = 0; x < L->gw; x++) {
            int cov = a[(size_t)y * stride + (size_t)x];
            uint8_t v = (uint8_t)(255 - (cov * (255 - TITLE_INK) + 127) / 255);
            for (int k = 0; k < c; k++)
                canvas[((size_t)y * L->gw + (size_t)x) * c + k] = v;
        }
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return st == CAIRO_STATUS_SUCCESS ? 0 : fesf_error("'%s': cairo: %s", path, cairo_status_to_string(st));
}

/* Image i, scaled L->s times (nearest neighbour), into its cell below the title row. */
static void paste_scaled(uint8_t *canvas, const titled_layout *L, const float *img, int i, int c, int h, int w)
{
    size_t y0 = (size_t)L->th + (size_t)(i / L->cols) * (L->ch + CELL_GAP);
    size_t x0 = CELL_GAP + (size_t)(i % L->cols) * (L->cw + CELL_GAP);
    for (int y = 0; y < L->ch; y++)
        for (int x = 0; x < L->cw; x++)
            for (int k = 0; k < c; k++) {
                float v = img[((size_t)k * h + y / L->s) * w + x / L->s];
                canvas[((y0 + y) * L->gw + x0 + x) * c + k] = f32_to_u8(v);
            }
}

int fesf_png_write_grid_titled(const char *path, const float *nchw, int n, int c, int h, int w, int cols,
                               const char *const *titles)
{
    if (check_grid(path, n, c, h, w, cols))
        return -1;
    if (!titles)
        return fesf_error("'%s': no column titles", path);
    titled_layout L = {0};
    if (layout_titled(path, titles, n, h, w, cols < n ? cols : n, &L))
        return -1;
    uint8_t *canvas = malloc((size_t)L.gh * (size_t)L.gw * (size_t)c);
    if (!canvas)
        return fesf_error("'%s': out of memory for the image grid", path);
    memset(canvas, 255, (size_t)L.gh * (size_t)L.gw * (size_t)c);
    int rc = draw_titles(path, titles, &L, canvas, c);
    for (int i = 0; i < n && !rc; i++)
        paste_scaled(canvas, &L, nchw + (size_t)i * c * h * w, i, c, h, w);
    if (!rc)
        rc = fesf_png_write(path, canvas, (int)L.gh, (int)L.gw, c);
    free(canvas);
    return rc;
}
