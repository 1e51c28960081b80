/* Line and scatter plots as PNG through cairo, for the figures of the run
 * report (DESIGN section 3): training curves (validation AUC per round for
 * each training input) and the privacy-utility frontier (one series per
 * beta, one labelled point per alpha).
 *
 * A plot has a white background, a framed plot area with 1-2-5 ticks, grid
 * lines and tick labels, optional title and axis labels, and a legend that
 * sits in an empty corner of the plot area (or right of it when no corner
 * is free). Series take their colour from a colour-blind safe palette
 * (Okabe-Ito) and a marker shape from their index. Output is deterministic. */
#ifndef FESF_PLOT_H
#define FESF_PLOT_H

typedef struct {
    const char *label;               /* legend entry; NULL or "" -> not in the legend */
    int n;                           /* number of points */
    const double *x, *y;             /* n coordinates; a point with a NaN or inf is skipped */
    const char *const *point_labels; /* NULL or n labels (entries may be NULL) drawn next to the markers */
    int lines;                       /* 1: join the (finite) points in order with a line */
    int markers;                     /* 1: draw a marker at each point */
} fesf_plot_series;

typedef struct {
    const char *title, *xlabel, *ylabel; /* NULL -> none */
    int width, height;                   /* pixels, 0 -> 800 x 560; otherwise 200 to 8192 */
} fesf_plot_opts;

/* Draw the series (axis ranges from the finite points plus a 5% margin) and
 * write the PNG atomically (PATH.tmp, fsync, rename). o may be NULL (no
 * texts, default size). With no finite point the axes span [0, 1] and say
 * "no data". 0, or -1 with a message naming the path. */
int fesf_plot_png(const char *path, const fesf_plot_opts *o, const fesf_plot_series *s, int n_series);

/* Colour of series i as 0xRRGGBB (the palette repeats after 8 series). */
unsigned fesf_plot_color(int i);

/* Tick marks for the axis range [lo, hi]: the smallest step of the form
 * {1, 2, 5} x 10^k that puts at most max_ticks ticks in the range; the ticks
 * are first + i*step for i < count, first the smallest multiple of step >= lo.
 * Needs finite lo < hi and max_ticks >= 2; 0, or -1 with a message. */
int fesf_plot_ticks(double lo, double hi, int max_ticks, double *first, double *step, int *count);

#endif
