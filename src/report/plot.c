/* Plots on a cairo image surface with cairo's toy text API (font "sans").
 * Three steps: layout (plot area, ticks, the places of the point labels and
 * of the legend, all in pixels), drawing, and an atomic PNG write.
 * Sizes scale with the canvas through one unit u (1 at 800 x 560).
 * This file: the entry points, the point labels and the legend, the data, and
 * the output; plot_axes.c: ticks, the plot area, grid, axes and titles. */
#include "plot_canvas.h"

#include "fesf/error.h"
#include "fesf/fsutil.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_W 800
#define DEFAULT_H 560
#define MIN_SIDE 200
#define MAX_SIDE 8192
#define HIT 1000 /* collision weight of a marker, a label or leaving the plot area */

/* Okabe & Ito (2008), colour-blind safe; yellow, the weakest on white, last. */
static const unsigned palette[] = {0x0072B2, 0xD55E00, 0x009E73, 0xE69F00,
                                   0xCC79A7, 0x56B4E9, 0x000000, 0xF0E442};
#define N_COLORS ((int)(sizeof palette / sizeof palette[0]))
#define N_SHAPES 5 /* circle, square, triangle up, diamond, triangle down */

unsigned fesf_plot_color(int i)
{
    return palette[(i < 0 ? 0 : i) % N_COLORS];
}

/* ---- point labels and legend ------------------------------------------------- */

static int add_dot(plot *p, double x, double y, double r)
{
    if (p->n_dots == p->cap_dots) {
        size_t cap = p->cap_dots ? 2 * p->cap_dots : 256;
        dot *d = realloc(p->dots, cap * sizeof *d);
        if (!d)
            return fesf_error("out of memory");
        p->dots = d;
        p->cap_dots = cap;
    }
    p->dots[p->n_dots++] = (dot){x, y, r};
    return 0;
}

/* Obstacles of series k: its markers, and points every 4u pixels along its line. */
static int series_dots(plot *p, int k)
{
    const fesf_plot_series *s = &p->s[k];
    double px = NAN, py = NAN, step = 4 * p->u;
    for (int i = 0; i < s->n; i++) {
        if (!finite_pt(s, i))
            continue;
        double x = px_x(p, s->x[i]), y = px_y(p, s->y[i]);
        if (add_dot(p, x, y, (s->markers ? MARKER_R + 1 : 2) * p->u))
            return -1;
        int m = s->lines && !isnan(px) ? (int)ceil(hypot(x - px, y - py) / step) : 0;
        for (int j = 1; j < m; j++)
            if (add_dot(p, px + (x - px) * j / m, py + (y - py) * j / m, 0))
                return -1;
        px = x;
        py = y;
    }
    return 0;
}

static int overlaps(rect a, rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/* How badly box b would sit: HIT for each marker or placed label it covers and
 * for leaving the plot area, 1 for each line point it covers. */
static long collisions(const plot *p, rect b)
{
    long n = 0;
    rect in = {p->area.x + 2, p->area.y + 2, p->area.w - 4, p->area.h - 4};
    if (b.x < in.x || b.y < in.y || b.x + b.w > in.x + in.w || b.y + b.h > in.y + in.h)
        n += HIT;
    for (size_t i = 0; i < p->n_dots; i++) {
        const dot *d = &p->dots[i];
        if (overlaps(b, (rect){d->x - d->r, d->y - d->r, 2 * d->r, 2 * d->r}))
            n += d->r > 0 ? HIT : 1;
    }
    for (size_t i = 0; i < p->n_labels; i++)
        n += overlaps(b, p->labels[i].box) ? HIT : 0;
    return n;
}

/* Put a label next to the marker at (x, y): of eight places around it (right
 * first, as readers expect), the first with the fewest collisions. */
static void place_label(plot *p, const char *text, double x, double y)
{
    static const double at[8][2] = {{1, 0}, {0.7, -0.7}, {0.7, 0.7}, {-1, 0},
                                    {-0.7, -0.7}, {-0.7, 0.7}, {0, -1}, {0, 1}};
    double w = text_w(p->cr, text), h = text_h(p->cr), d = (MARKER_R + 3) * p->u;
    rect best = {0};
    long best_n = -1;
    for (int c = 0; c < 8; c++) {
        double cx = x + at[c][0] * (d + w / 2), cy = y + at[c][1] * (d + h / 2);
        rect b = {cx - w / 2, cy - h / 2, w, h};
        long n = collisions(p, b);
        if (best_n < 0 || n < best_n) {
            best = b;
            best_n = n;
        }
    }
    p->labels[p->n_labels++] = (label){best, text};
}

/* Obstacles of every series, then the point labels in series order. */
static int place_labels(plot *p)
{
    size_t n = 0;
    p->n_dots = p->n_labels = 0;
    for (int k = 0; k < p->ns; k++) {
        if (series_dots(p, k))
            return -1;
        n += p->s[k].point_labels ? (size_t)p->s[k].n : 0;
    }
    free(p->labels);
    if (!(p->labels = malloc((n ? n : 1) * sizeof *p->labels)))
        return fesf_error("out of memory");
    set_font(p->cr, FONT_POINT * p->u, 0);
    for (int k = 0; k < p->ns; k++) {
        const fesf_plot_series *s = &p->s[k];
        for (int i = 0; s->point_labels && i < s->n; i++)
            if (finite_pt(s, i) && has_text(s->point_labels[i]))
                place_label(p, s->point_labels[i], px_x(p, s->x[i]), px_y(p, s->y[i]));
    }
    return 0;
}

/* Legend geometry: one row per labelled series (swatch, gap, text). */
static int legend_rows(const plot *p)
{
    int n = 0;
    for (int k = 0; k < p->ns; k++)
        n += has_text(p->s[k].label);
    return n;
}

static double legend_row_h(plot *p)
{
    set_font(p->cr, FONT_LEGEND * p->u, 0);
    return fmax(text_h(p->cr), 2 * (MARKER_R + 2) * p->u) + 3 * p->u;
}

static void legend_size(plot *p, double *w, double *h)
{
    double tw = 0, row = legend_row_h(p);
    for (int k = 0; k < p->ns; k++)
        if (has_text(p->s[k].label))
            tw = fmax(tw, text_w(p->cr, p->s[k].label));
    *w = (2 * 8 + 26 + 8) * p->u + tw;
    *h = 2 * 6 * p->u + legend_rows(p) * row;
}

/* An inside corner of the plot area that covers nothing (upper right, upper
 * left, lower right, lower left); 0 if found, 1 if the legend must go outside. */
static int legend_inside(plot *p, double w, double h)
{
    double in = 8 * p->u;
    rect a = p->area;
    double xs[4] = {a.x + a.w - in - w, a.x + in, a.x + a.w - in - w, a.x + in};
    double ys[4] = {a.y + in, a.y + in, a.y + a.h - in - h, a.y + a.h - in - h};
    for (int c = 0; c < 4; c++) {
        rect b = {round(xs[c]), round(ys[c]), round(w), round(h)};
        if (collisions(p, b) == 0) {
            p->legend = b;
            return 0;
        }
    }
    return 1;
}

/* The whole layout: first with the legend inside the plot area; if no corner
 * is free, again with room for the legend on the right. */
static int arrange(plot *p)
{
    double lw = 0, lh = 0;
    int rows = legend_rows(p);
    p->legend = (rect){0};
    if (rows)
        legend_size(p, &lw, &lh);
    if (fesf_plot_layout(p, 0) || place_labels(p))
        return -1;
    if (!rows || legend_inside(p, lw, lh) == 0)
        return 0;
    if (fesf_plot_layout(p, lw) || place_labels(p))
        return -1;
    p->legend = (rect){round(p->area.x + p->area.w + 1.5 * PAD * p->u), p->area.y, round(lw), round(lh)};
    return 0;
}

/* ---- drawing ----------------------------------------------------------------- */

/* Path of marker `shape` centred at (x, y), of about the area of a circle of radius r. */
static void marker_path(cairo_t *cr, int shape, double x, double y, double r)
{
    double t = 1.3 * r, q = 0.89 * r, d = 1.2 * r;
    cairo_new_sub_path(cr);
    switch (shape % N_SHAPES) {
    case 0: cairo_arc(cr, x, y, r, 0, 2 * M_PI); break;
    case 1: cairo_rectangle(cr, x - q, y - q, 2 * q, 2 * q); break;
    case 2:
        cairo_move_to(cr, x, y - t);
        cairo_line_to(cr, x + 0.866 * t, y + 0.5 * t);
        cairo_line_to(cr, x - 0.866 * t, y + 0.5 * t);
        break;
    case 3:
        cairo_move_to(cr, x, y - d);
        cairo_line_to(cr, x + d, y);
        cairo_line_to(cr, x, y + d);
        cairo_line_to(cr, x - d, y);
        break;
    default:
        cairo_move_to(cr, x, y + t);
        cairo_line_to(cr, x + 0.866 * t, y - 0.5 * t);
        cairo_line_to(cr, x - 0.866 * t, y - 0.5 * t);
    }
    cairo_close_path(cr);
}

/* A filled marker with a thin white rim, so that markers stand out from lines. */
static void draw_marker(plot *p, int k, double x, double y)
{
    marker_path(p->cr, k, x, y, MARKER_R * p->u);
    set_rgb(p->cr, fesf_plot_color(k));
    cairo_fill_preserve(p->cr);
    set_rgb(p->cr, 0xFFFFFF);
    cairo_set_line_width(p->cr, 0.8 * p->u);
    cairo_stroke(p->cr);
}

/* Line through the finite points of series k, then its markers. */
static void draw_series(plot *p, int k)
{
    const fesf_plot_series *s = &p->s[k];
    cairo_t *cr = p->cr;
    if (s->lines) {
        for (int i = 0; i < s->n; i++)
            if (finite_pt(s, i))
                cairo_line_to(cr, px_x(p, s->x[i]), px_y(p, s->y[i]));
        set_rgb(cr, fesf_plot_color(k));
        cairo_set_line_width(cr, LINE_W * p->u);
        cairo_stroke(cr);
    }
    for (int i = 0; s->markers && i < s->n; i++)
        if (finite_pt(s, i))
            draw_marker(p, k, px_x(p, s->x[i]), px_y(p, s->y[i]));
}

static void draw_data(plot *p)
{
    cairo_t *cr = p->cr;
    cairo_save(cr);
    cairo_rectangle(cr, p->area.x, p->area.y, p->area.w, p->area.h);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (int k = 0; k < p->ns; k++)
        draw_series(p, k);
    set_rgb(cr, INK);
    set_font(cr, FONT_POINT * p->u, 0);
    for (size_t i = 0; i < p->n_labels; i++)
        draw_text(cr, p->labels[i].text, p->labels[i].box.x, p->labels[i].box.y, 0, 0);
    if (!p->any) {
        set_rgb(cr, 0x888888);
        set_font(cr, FONT_AXIS * p->u, 0);
        draw_text(cr, "no data", p->area.x + p->area.w / 2, p->area.y + p->area.h / 2, 0.5, 0.5);
    }
    cairo_restore(cr);
}

/* White box with a grey border; per row a line and/or marker swatch and the label. */
static void draw_legend(plot *p)
{
    cairo_t *cr = p->cr;
    rect b = p->legend;
    double u = p->u, row = legend_row_h(p), y = b.y + 6 * u + row / 2, x = b.x + 8 * u;
    if (b.w <= 0)
        return;
    cairo_rectangle(cr, b.x + 0.5, b.y + 0.5, b.w - 1, b.h - 1);
    set_rgb(cr, 0xFFFFFF);
    cairo_fill_preserve(cr);
    set_rgb(cr, BORDER);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int k = 0; k < p->ns; k++) {
        if (!has_text(p->s[k].label))
            continue;
        if (p->s[k].lines) {
            set_rgb(cr, fesf_plot_color(k));
            cairo_set_line_width(cr, LINE_W * u);
            line(cr, x, y, x + 26 * u, y);
        }
        if (p->s[k].markers || !p->s[k].lines)
            draw_marker(p, k, x + 13 * u, y);
        set_rgb(cr, INK);
        set_font(cr, FONT_LEGEND * u, 0);
        draw_text(cr, p->s[k].label, x + 34 * u, y, 0, 0.5);
        y += row;
    }
}

static void draw(plot *p)
{
    set_rgb(p->cr, 0xFFFFFF);
    cairo_paint(p->cr);
    fesf_plot_draw_grid(p);
    draw_data(p);
    fesf_plot_draw_axes(p);
    fesf_plot_draw_titles(p);
    draw_legend(p);
}

/* ---- output ------------------------------------------------------------------ */

static cairo_status_t write_cb(void *f, const unsigned char *data, unsigned int len)
{
    return fwrite(data, 1, len, f) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

/* PNG to PATH atomically (fsutil's atomic files: PATH.tmp, fsync, rename). */
static int write_png(cairo_surface_t *sf, const char *path)
{
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    cairo_status_t st = cairo_surface_write_to_png_stream(sf, write_cb, f);
    if (st != CAIRO_STATUS_SUCCESS) {
        fesf_atomic_abort(f, path);
        return fesf_error("cannot write '%s': %s", path, cairo_status_to_string(st));
    }
    return fesf_atomic_commit(f, path);
}

static int check_args(const char *path, const fesf_plot_series *s, int ns, int w, int h)
{
    if (!has_text(path))
        return fesf_error("plot: no output path");
    if (ns < 0 || (ns > 0 && !s))
        return fesf_error("'%s': cannot plot %d series", path, ns);
    for (int k = 0; k < ns; k++)
        if (s[k].n < 0 || (s[k].n > 0 && (!s[k].x || !s[k].y)))
            return fesf_error("'%s': series %d ('%s') has %d points and no coordinates", path, k + 1,
                              has_text(s[k].label) ? s[k].label : "", s[k].n);
    if (w < MIN_SIDE || h < MIN_SIDE || w > MAX_SIDE || h > MAX_SIDE)
        return fesf_error("'%s': plot size %dx%d is out of range (%d to %d pixels a side)", path, w, h,
                          MIN_SIDE, MAX_SIDE);
    return 0;
}

int fesf_plot_png(const char *path, const fesf_plot_opts *o, const fesf_plot_series *s, int n_series)
{
    plot p = {.s = s, .ns = n_series};
    p.w = o && o->width ? o->width : DEFAULT_W;
    p.h = o && o->height ? o->height : DEFAULT_H;
    if (check_args(path, s, n_series, p.w, p.h))
        return -1;
    if (o) {
        p.title = o->title;
        p.xlabel = o->xlabel;
        p.ylabel = o->ylabel;
    }
    p.u = fmin(4, fmax(0.75, fmin(p.w / (double)DEFAULT_W, p.h / (double)DEFAULT_H)));
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, p.w, p.h);
    p.cr = cairo_create(sf);
    int rc = -1;
    fesf_plot_ranges(&p);
    if (cairo_status(p.cr) != CAIRO_STATUS_SUCCESS)
        fesf_error("'%s': cairo: %s", path, cairo_status_to_string(cairo_status(p.cr)));
    else if (arrange(&p))
        fesf_error("'%s': %s", path, fesf_errmsg());
    else {
        draw(&p);
        if (cairo_status(p.cr) != CAIRO_STATUS_SUCCESS)
            fesf_error("'%s': cairo: %s", path, cairo_status_to_string(cairo_status(p.cr)));
        else
            rc = write_png(sf, path);
    }
    cairo_destroy(p.cr);
    cairo_surface_destroy(sf);
    free(p.dots);
    free(p.labels);
    return rc;
}
