/* Internal to src/report/plot*.c: the plot under construction (its geometry
 * in pixels), the sizes and colours of its parts, and the small cairo helpers
 * both files draw with. plot.c has the entry points, point labels, legend,
 * data and PNG output; plot_axes.c the ticks and their labels, the plot area,
 * grid, axes and titles. */
#ifndef FESF_REPORT_PLOT_CANVAS_H
#define FESF_REPORT_PLOT_CANVAS_H

#include "fesf/plot.h"

#include <cairo.h>
#include <math.h>
#include <stddef.h>

/* Sizes in units u. */
#define PAD 12.0
#define TICK_LEN 5.0
#define MARKER_R 4.5
#define LINE_W 2.0
#define FONT_TITLE 17.0
#define FONT_AXIS 14.0
#define FONT_TICK 12.0
#define FONT_LEGEND 12.5
#define FONT_POINT 11.0

#define INK 0x333333   /* frame, ticks, texts */
#define GRID 0xE3E3E3  /* grid lines */
#define BORDER 0xBBBBBB /* legend box */

/* Tick i is (k0 + i) * mult * 10^e, kept in integers so that every tick is
 * the double nearest to the decimal it stands for (0.3, not 0.30000000000000004). */
typedef struct {
    long long k0;
    int mult, e, count;
} ticks;

typedef struct {
    double lo, hi; /* axis range in data units */
    ticks t;
} axis;

typedef struct {
    double x, y, w, h;
} rect;

/* An obstacle for labels and the legend: a marker (r > 0) or a point on a line (r = 0). */
typedef struct {
    double x, y, r;
} dot;

typedef struct {
    rect box; /* font box of the text */
    const char *text;
} label;

typedef struct {
    cairo_t *cr;
    const char *title, *xlabel, *ylabel;
    const fesf_plot_series *s;
    int ns, w, h, any; /* any: some finite point */
    double u;
    rect area; /* plot area */
    axis ax, ay;
    dot *dots;
    size_t n_dots, cap_dots;
    label *labels;
    size_t n_labels;
    rect legend; /* w == 0: no legend */
} plot;

/* ---- text and lines -------------------------------------------------------- */

static inline void set_rgb(cairo_t *cr, unsigned rgb)
{
    cairo_set_source_rgb(cr, (rgb >> 16 & 255) / 255.0, (rgb >> 8 & 255) / 255.0, (rgb & 255) / 255.0);
}

static inline void set_font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static inline double text_w(cairo_t *cr, const char *text)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, text, &e);
    return e.x_advance;
}

/* Height of the font box (ascent + descent): the same for every text, so
 * labels on one line share a baseline. */
static inline double text_h(cairo_t *cr)
{
    cairo_font_extents_t f;
    cairo_font_extents(cr, &f);
    return f.ascent + f.descent;
}

/* Draw text with its font box anchored at (x, y): ax, ay = 0 left/top,
 * 0.5 centre, 1 right/bottom. */
static inline void draw_text(cairo_t *cr, const char *text, double x, double y, double ax, double ay)
{
    cairo_font_extents_t f;
    cairo_font_extents(cr, &f);
    cairo_move_to(cr, x - ax * text_w(cr, text), y - ay * (f.ascent + f.descent) + f.ascent);
    cairo_show_text(cr, text);
}

static inline int has_text(const char *s)
{
    return s && *s;
}

static inline int finite_pt(const fesf_plot_series *s, int i)
{
    return isfinite(s->x[i]) && isfinite(s->y[i]);
}

/* Pixel coordinates of data values. */
static inline double px_x(const plot *p, double v)
{
    return p->area.x + (v - p->ax.lo) / (p->ax.hi - p->ax.lo) * p->area.w;
}

static inline double px_y(const plot *p, double v)
{
    return p->area.y + p->area.h - (v - p->ay.lo) / (p->ay.hi - p->ay.lo) * p->area.h;
}

static inline void line(cairo_t *cr, double x0, double y0, double x1, double y1)
{
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
}

/* ---- plot_axes.c --------------------------------------------------------------- */

/* Axis ranges from the finite points; [0, 1] on both axes without any. */
void fesf_plot_ranges(plot *p);
/* Plot area and ticks, leaving legend_w pixels on the right (0: a small margin). */
int fesf_plot_layout(plot *p, double legend_w);
void fesf_plot_draw_grid(plot *p);   /* grid lines at the ticks, under the data */
void fesf_plot_draw_axes(plot *p);   /* frame, tick marks and tick labels */
void fesf_plot_draw_titles(plot *p); /* title, x label and y label */

#endif
