/* Ticks and their labels, the plot area, and the grid, axes and titles
 * drawn around it (the rest of the plot is in plot.c). */
#include "plot_canvas.h"

#include "fesf/error.h"

#include <stdio.h>

#define MARGIN 0.05 /* fraction of the data span added on each side of an axis */

/* ---- ticks --------------------------------------------------------------- */

static double tick_step(const ticks *t)
{
    return t->e >= 0 ? t->mult * pow(10, t->e) : t->mult / pow(10, -t->e);
}

static double tick_value(const ticks *t, int i)
{
    double m = (double)((t->k0 + i) * t->mult);
    return t->e >= 0 ? m * pow(10, t->e) : m / pow(10, -t->e);
}

/* The smallest 1-2-5 step with at most max ticks in [lo, hi]; with max >= 3
 * that step is below the span, so there is at least one tick. */
static int find_ticks(double lo, double hi, int max, ticks *t)
{
    static const int mults[] = {1, 2, 5};
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo) || !isfinite(hi - lo) || max < 3)
        return fesf_error("cannot place at most %d ticks in [%g, %g]", max, lo, hi);
    for (int e = (int)floor(log10((hi - lo) / max));; e++)
        for (int j = 0; j < 3; j++) {
            t->mult = mults[j];
            t->e = e;
            double step = tick_step(t);
            double a = ceil(lo / step - 1e-9), b = floor(hi / step + 1e-9);
            if (!(fabs(a) < 1e15 && fabs(b) < 1e15)) /* also NaN: span too small for doubles */
                return fesf_error("cannot place ticks in [%g, %g]", lo, hi);
            if (b - a + 1 <= max) {
                t->k0 = (long long)a;
                t->count = (int)(b - a + 1);
                return 0;
            }
        }
}

int fesf_plot_ticks(double lo, double hi, int max_ticks, double *first, double *step, int *count)
{
    ticks t;
    if (find_ticks(lo, hi, max_ticks, &t))
        return -1;
    *first = tick_value(&t, 0);
    *step = tick_step(&t);
    *count = t.count;
    return 0;
}

/* Tick labels share the decimals of the step; extreme magnitudes use %g with
 * as many significant digits as the step needs. */
static void tick_label(const ticks *t, int i, char *buf, size_t n)
{
    double v = tick_value(t, i);
    if (t->e >= -5 && t->e <= 5) {
        snprintf(buf, n, "%.*f", t->e < 0 ? -t->e : 0, v);
        return;
    }
    double big = fmax(fabs(tick_value(t, 0)), fabs(tick_value(t, t->count - 1)));
    int digits = big > 0 ? (int)floor(log10(big)) - t->e + 1 : 1;
    snprintf(buf, n, "%.*g", digits < 1 ? 1 : digits > 15 ? 15 : digits, v);
}

/* ---- layout ------------------------------------------------------------------ */

/* Widen [lo, hi] by MARGIN, or around a single value by 5% of it (0.5 at 0). */
static void pad_range(axis *a)
{
    double m = a->hi > a->lo ? MARGIN * (a->hi - a->lo) : fabs(a->lo) > 0 ? 0.05 * fabs(a->lo) : 0.5;
    a->lo -= m;
    a->hi += m;
}

/* Axis ranges from the finite points; [0, 1] on both axes without any. */
void fesf_plot_ranges(plot *p)
{
    p->ax.lo = p->ay.lo = INFINITY;
    p->ax.hi = p->ay.hi = -INFINITY;
    for (int k = 0; k < p->ns; k++)
        for (int i = 0; i < p->s[k].n; i++)
            if (finite_pt(&p->s[k], i)) {
                p->ax.lo = fmin(p->ax.lo, p->s[k].x[i]);
                p->ax.hi = fmax(p->ax.hi, p->s[k].x[i]);
                p->ay.lo = fmin(p->ay.lo, p->s[k].y[i]);
                p->ay.hi = fmax(p->ay.hi, p->s[k].y[i]);
                p->any = 1;
            }
    if (!p->any) {
        p->ax = p->ay = (axis){.lo = 0, .hi = 1};
        return;
    }
    pad_range(&p->ax);
    pad_range(&p->ay);
}

static double widest_tick_label(plot *p, const axis *a)
{
    char buf[64];
    double w = 0;
    for (int i = 0; i < a->t.count; i++) {
        tick_label(&a->t, i, buf, sizeof buf);
        w = fmax(w, text_w(p->cr, buf));
    }
    return w;
}

/* Ticks for an axis of len pixels: about one per 80u (x) or 50u (y) pixels,
 * fewer while neighbouring labels would touch. */
static int axis_ticks(plot *p, axis *a, double len, int horizontal)
{
    set_font(p->cr, FONT_TICK * p->u, 0);
    int max = (int)(len / ((horizontal ? 80 : 50) * p->u));
    for (max = max < 3 ? 3 : max;; max--) {
        if (find_ticks(a->lo, a->hi, max, &a->t))
            return -1;
        double need = horizontal ? widest_tick_label(p, a) + 12 * p->u : text_h(p->cr) + 6 * p->u;
        if (len * tick_step(&a->t) / (a->hi - a->lo) >= need || max == 3)
            return 0;
    }
}

/* Narrow the plot area if the label of the last x tick (centred on the tick,
 * which may sit on the right edge) would leave the canvas. */
static int fit_last_x_label(plot *p)
{
    char buf[64];
    const ticks *t = &p->ax.t;
    tick_label(t, t->count - 1, buf, sizeof buf);
    double over = px_x(p, tick_value(t, t->count - 1)) + text_w(p->cr, buf) / 2 - (p->w - PAD * p->u);
    if (over <= 0)
        return 0;
    p->area.w -= ceil(over);
    return axis_ticks(p, &p->ax, p->area.w, 1);
}

/* Plot area and ticks: title above, x tick labels and x label below, y label
 * and y tick labels left, and on the right either a small margin or the legend. */
int fesf_plot_layout(plot *p, double legend_w)
{
    cairo_t *cr = p->cr;
    double u = p->u, pad = PAD * u, top = pad, bottom = pad, left = pad;
    if (has_text(p->title)) {
        set_font(cr, FONT_TITLE * u, 1);
        top += text_h(cr) + 0.4 * pad;
    }
    set_font(cr, FONT_AXIS * u, 0);
    double axis_h = text_h(cr);
    set_font(cr, FONT_TICK * u, 0);
    top += text_h(cr) / 2; /* room for the label of a tick at the top edge */
    bottom += (TICK_LEN + 3) * u + text_h(cr) + (has_text(p->xlabel) ? axis_h + 0.5 * pad : 0);
    p->area.y = round(top);
    p->area.h = round(p->h - bottom) - p->area.y;
    if (p->area.h < 60)
        return fesf_error("%dx%d pixels leave no room for the plot", p->w, p->h);
    if (axis_ticks(p, &p->ay, p->area.h, 0))
        return -1;
    left += (TICK_LEN + 4) * u + widest_tick_label(p, &p->ay);
    left += has_text(p->ylabel) ? axis_h + 0.5 * pad : 0;
    p->area.x = round(left);
    p->area.w = round(p->w - (legend_w > 0 ? legend_w + 2.5 * pad : 2 * pad)) - p->area.x;
    if (p->area.w < 60)
        return fesf_error("%dx%d pixels leave no room for the plot", p->w, p->h);
    if (axis_ticks(p, &p->ax, p->area.w, 1))
        return -1;
    return fit_last_x_label(p);
}

/* ---- drawing ----------------------------------------------------------------- */

/* Coordinate of a crisp line of width lw near v (odd widths on pixel centres). */
static double crisp(double v, double lw)
{
    return ((int)lw % 2) ? floor(v) + 0.5 : round(v);
}

/* Grid lines under the data, at every tick. */
void fesf_plot_draw_grid(plot *p)
{
    cairo_t *cr = p->cr;
    rect a = p->area;
    set_rgb(cr, GRID);
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < p->ax.t.count; i++) {
        double x = crisp(px_x(p, tick_value(&p->ax.t, i)), 1);
        line(cr, x, a.y, x, a.y + a.h);
    }
    for (int i = 0; i < p->ay.t.count; i++) {
        double y = crisp(px_y(p, tick_value(&p->ay.t, i)), 1);
        line(cr, a.x, y, a.x + a.w, y);
    }
}

/* Frame around the plot area, outward tick marks and tick labels. */
void fesf_plot_draw_axes(plot *p)
{
    cairo_t *cr = p->cr;
    rect a = p->area;
    double lw = fmax(1, round(p->u)), tl = TICK_LEN * p->u, x0 = crisp(a.x, lw), y1 = crisp(a.y + a.h, lw);
    char buf[64];
    set_rgb(cr, INK);
    cairo_set_line_width(cr, lw);
    cairo_rectangle(cr, x0, crisp(a.y, lw), crisp(a.x + a.w, lw) - x0, y1 - crisp(a.y, lw));
    cairo_stroke(cr);
    set_font(cr, FONT_TICK * p->u, 0);
    for (int i = 0; i < p->ax.t.count; i++) {
        double x = crisp(px_x(p, tick_value(&p->ax.t, i)), lw);
        line(cr, x, y1, x, y1 + tl);
        tick_label(&p->ax.t, i, buf, sizeof buf);
        draw_text(cr, buf, x, y1 + tl + 3 * p->u, 0.5, 0);
    }
    for (int i = 0; i < p->ay.t.count; i++) {
        double y = crisp(px_y(p, tick_value(&p->ay.t, i)), lw);
        line(cr, x0 - tl, y, x0, y);
        tick_label(&p->ay.t, i, buf, sizeof buf);
        draw_text(cr, buf, x0 - tl - 4 * p->u, y, 1, 0.5);
    }
}

/* Shrink the font until text fits in maxw pixels (long titles). */
static void set_font_fit(cairo_t *cr, double size, int bold, const char *text, double maxw)
{
    cairo_text_extents_t e;
    set_font(cr, size, bold);
    cairo_text_extents(cr, text, &e);
    if (e.x_advance > maxw && maxw > 0)
        set_font(cr, fmax(6.0, size * maxw / e.x_advance), bold);
}

/* Title centred over the plot area, x label under it, y label rotated on the left. */
void fesf_plot_draw_titles(plot *p)
{
    cairo_t *cr = p->cr;
    double pad = PAD * p->u, cx = p->area.x + p->area.w / 2;
    set_rgb(cr, INK);
    if (has_text(p->title)) {
        set_font_fit(cr, FONT_TITLE * p->u, 1, p->title, p->w - 2 * pad);
        double half = text_w(cr, p->title) / 2; /* centred, but kept on the canvas */
        draw_text(cr, p->title, fmin(fmax(cx, pad + half), p->w - pad - half), pad, 0.5, 0);
    }
    if (has_text(p->xlabel)) {
        set_font_fit(cr, FONT_AXIS * p->u, 0, p->xlabel, p->area.w);
        draw_text(cr, p->xlabel, cx, p->h - pad, 0.5, 1);
    }
    if (has_text(p->ylabel)) {
        set_font_fit(cr, FONT_AXIS * p->u, 0, p->ylabel, p->area.h);
        cairo_save(cr);
        cairo_translate(cr, pad, p->area.y + p->area.h / 2);
        cairo_rotate(cr, -M_PI / 2);
        draw_text(cr, p->ylabel, 0, 0, 0.5, 0);
        cairo_restore(cr);
    }
}

