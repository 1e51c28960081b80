/* Plots (fesf_plot_png) and their 1-2-5 ticks: ticks are checked exactly;
 * plots are written to a temp dir and read back with cairo for their size,
 * ink, series colours, determinism and the handling of NaN, single points,
 * equal values, empty input and bad arguments. The figures' titled image
 * grids (fesf_png_write_grid_titled) are read back with libpng: size, grey
 * or RGB, text in the title row over the titled columns only, and every
 * image pixel at the integer scale, nearest neighbour. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cairo.h>
#include <ftw.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fesf/error.h"
#include "fesf/plot.h"
#include "fesf/png.h"

static char tmpdir[64];

#define FX(var, name) \
    char var[256];    \
    snprintf(var, sizeof var, "%s/%s", tmpdir, name)

/* ---- helpers ---------------------------------------------------------- */

/* A plot read back: size, pixels that are not white, pixels of each of the
 * first 8 palette colours exactly. */
typedef struct {
    int w, h;
    long ink;
    long color[8];
} pic;

static pic read_pic(const char *path)
{
    pic r = {0};
    cairo_surface_t *sf = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(sf), CAIRO_STATUS_SUCCESS);
    r.w = cairo_image_surface_get_width(sf);
    r.h = cairo_image_surface_get_height(sf);
    int stride = cairo_image_surface_get_stride(sf);
    const unsigned char *data = cairo_image_surface_get_data(sf);
    for (int y = 0; y < r.h; y++)
        for (int x = 0; x < r.w; x++) {
            uint32_t px = *(const uint32_t *)(data + (size_t)y * stride + 4 * (size_t)x) & 0xFFFFFF;
            r.ink += px != 0xFFFFFF;
            for (int k = 0; k < 8; k++)
                r.color[k] += px == fesf_plot_color(k);
        }
    cairo_surface_destroy(sf);
    return r;
}

static void check_ticks(double lo, double hi, int max, double first, double step, int count)
{
    double f = -1, s = -1;
    int n = -1;
    assert_int_equal(fesf_plot_ticks(lo, hi, max, &f, &s, &n), 0);
    assert_true(f == first);
    assert_true(s == step);
    assert_int_equal(n, count);
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---- tests ---------------------------------------------------------- */

static void test_ticks(void **state)
{
    check_ticks(0, 1, 6, 0, 0.2, 6);
    check_ticks(0, 1, 5, 0, 0.5, 3);
    check_ticks(0, 1, 11, 0, 0.1, 11);
    check_ticks(-0.05, 1.05, 8, 0, 0.2, 6);
    check_ticks(0.53, 0.91, 6, 0.6, 0.1, 4); /* 0.6 exactly: the double nearest to 6/10 */
    check_ticks(0.53, 0.91, 8, 0.55, 0.05, 8);
    check_ticks(-3.7, 12.2, 10, -2, 2, 8);
    check_ticks(0, 950, 5, 0, 200, 5);
    check_ticks(1e6, 1e6 + 3, 4, 1e6, 1, 4);
    check_ticks(-2e-5, 7e-5, 10, -2e-5, 1e-5, 10);
    double f, s;
    int n;
    assert_int_equal(fesf_plot_ticks(1, 1, 5, &f, &s, &n), -1);
    assert_int_equal(fesf_plot_ticks(2, 1, 5, &f, &s, &n), -1);
    assert_int_equal(fesf_plot_ticks(NAN, 1, 5, &f, &s, &n), -1);
    assert_int_equal(fesf_plot_ticks(0, INFINITY, 5, &f, &s, &n), -1);
    assert_int_equal(fesf_plot_ticks(0, 1, 2, &f, &s, &n), -1);
    assert_non_null(strstr(fesf_errmsg(), "ticks"));
}

static void test_colors(void **state)
{
    assert_int_equal(fesf_plot_color(0), 0x0072B2);
    assert_int_equal(fesf_plot_color(1), 0xD55E00);
    assert_int_equal(fesf_plot_color(8), fesf_plot_color(0));
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < i; j++)
            assert_true(fesf_plot_color(i) != fesf_plot_color(j));
}

/* Two series as in the frontier plot, with a NaN, an inf and point labels. */
static void test_two_series(void **state)
{
    FX(path, "two.png");
    FX(tmp, "two.png.tmp");
    const double x1[] = {0.02, 0.05, NAN, 0.11, 0.20}, y1[] = {0.71, 0.78, 0.80, 0.83, 0.86};
    const double x2[] = {0.01, 0.03, 0.06, 0.09}, y2[] = {0.66, INFINITY, 0.74, 0.79};
    const char *const names[] = {"a=0.1", "a=0.2", "a=0.3", "a=0.5", "a=0.9"};
    fesf_plot_series s[] = {
        {.label = "beta=0.5", .n = 5, .x = x1, .y = y1, .point_labels = names, .lines = 1, .markers = 1},
        {.label = "beta=1.0", .n = 4, .x = x2, .y = y2, .lines = 0, .markers = 1},
    };
    fesf_plot_opts o = {.title = "Privacy-utility frontier", .xlabel = "attack advantage",
                        .ylabel = "test accuracy", .width = 640, .height = 480};
    fesf_error_clear();
    assert_int_equal(fesf_plot_png(path, &o, s, 2), 0);
    assert_string_equal(fesf_errmsg(), "");
    assert_false(file_exists(tmp));
    pic r = read_pic(path);
    assert_int_equal(r.w, 640);
    assert_int_equal(r.h, 480);
    assert_true(r.ink > 640 * 480 / 50); /* frame, grid, texts, data: well over 2% */
    assert_true(r.ink < 640 * 480 / 2);  /* but a white background */
    assert_true(r.color[0] > 100);       /* line and markers */
    assert_true(r.color[1] > 40);        /* 3 finite markers + legend */
    assert_int_equal(r.color[2], 0);
}

/* Training curves: three lines without markers, NaN on rounds not evaluated;
 * default size; the same input gives the same bytes. */
static void test_curves_deterministic(void **state)
{
    FX(p1, "curves1.png");
    FX(p2, "curves2.png");
    double x[60], y[3][60];
    for (int i = 0; i < 60; i++) {
        x[i] = i + 1;
        for (int k = 0; k < 3; k++)
            y[k][i] = i % 5 ? NAN : 0.95 - (0.1 + 0.1 * k) * exp(-i / 15.0);
    }
    fesf_plot_series s[3] = {
        {.label = "plain", .n = 60, .x = x, .y = y[0], .lines = 1},
        {.label = "synthetic", .n = 60, .x = x, .y = y[1], .lines = 1},
        {.label = "surrogate", .n = 60, .x = x, .y = y[2], .lines = 1},
    };
    fesf_plot_opts o = {.title = "Validation AUC", .xlabel = "round", .ylabel = "AUC"};
    assert_int_equal(fesf_plot_png(p1, &o, s, 3), 0);
    assert_int_equal(fesf_plot_png(p2, &o, s, 3), 0);
    pic r = read_pic(p1);
    assert_int_equal(r.w, 800);
    assert_int_equal(r.h, 560);
    for (int k = 0; k < 3; k++)
        assert_true(r.color[k] > 50);
    FILE *f1 = fopen(p1, "rb"), *f2 = fopen(p2, "rb");
    assert_non_null(f1);
    assert_non_null(f2);
    int a, b;
    do {
        a = getc(f1);
        b = getc(f2);
        assert_int_equal(a, b);
    } while (a != EOF);
    fclose(f1);
    fclose(f2);
}

static void test_single_point_and_equal_values(void **state)
{
    FX(path, "single.png");
    const double x[] = {3, 3, 3}, y[] = {0.8, 0.8, 0.8}, zero[] = {0, 0, 0};
    fesf_plot_series one = {.label = "one", .n = 1, .x = x, .y = y, .markers = 1};
    assert_int_equal(fesf_plot_png(path, NULL, &one, 1), 0);
    pic r = read_pic(path);
    assert_int_equal(r.w, 800);
    assert_int_equal(r.h, 560);
    assert_true(r.color[0] > 20);
    fesf_plot_series eq[] = {
        {.label = "equal", .n = 3, .x = x, .y = y, .lines = 1, .markers = 1},
        {.label = "zeros", .n = 3, .x = zero, .y = zero, .lines = 1, .markers = 1},
    };
    assert_int_equal(fesf_plot_png(path, NULL, eq, 1), 0);
    assert_true(read_pic(path).color[0] > 20);
    assert_int_equal(fesf_plot_png(path, NULL, eq + 1, 1), 0);
    assert_true(read_pic(path).color[0] > 20);
    assert_int_equal(fesf_plot_png(path, NULL, eq, 2), 0);
    r = read_pic(path);
    assert_true(r.color[0] > 20 && r.color[1] > 20);
}

/* No finite point at all, or no series: axes over [0, 1] and "no data". */
static void test_no_data(void **state)
{
    FX(path, "empty.png");
    const double nan[] = {NAN, NAN};
    fesf_plot_series s = {.label = "nothing", .n = 2, .x = nan, .y = nan, .lines = 1, .markers = 1};
    fesf_plot_opts o = {.width = 300, .height = 200};
    assert_int_equal(fesf_plot_png(path, &o, &s, 1), 0);
    pic r = read_pic(path);
    assert_int_equal(r.w, 300);
    assert_int_equal(r.h, 200);
    assert_true(r.ink > 500);
    assert_int_equal(fesf_plot_png(path, NULL, NULL, 0), 0);
}

static void test_bad_arguments(void **state)
{
    const char *bad = "/nonexistent-fesf-dir/plot.png";
    const double x[] = {1, 2}, y[] = {1, 2};
    fesf_plot_series s = {.label = "s", .n = 2, .x = x, .y = y, .lines = 1};
    fesf_error_clear();
    assert_int_equal(fesf_plot_png(bad, NULL, &s, 1), -1);
    assert_non_null(strstr(fesf_errmsg(), bad));
    assert_false(file_exists("/nonexistent-fesf-dir"));

    FX(path, "bad.png");
    fesf_plot_series no_y = {.n = 2, .x = x};
    assert_int_equal(fesf_plot_png(path, NULL, &no_y, 1), -1);
    assert_non_null(strstr(fesf_errmsg(), path));
    assert_int_equal(fesf_plot_png(path, NULL, &s, -1), -1);
    assert_non_null(strstr(fesf_errmsg(), path));
    fesf_plot_opts tiny = {.width = 50, .height = 40};
    assert_int_equal(fesf_plot_png(path, &tiny, &s, 1), -1);
    assert_non_null(strstr(fesf_errmsg(), "50x40"));
    assert_int_equal(fesf_plot_png(NULL, NULL, &s, 1), -1);
    assert_false(file_exists(path));
}

/* ---- titled image grids ---------------------------------------------- */

/* A PNG read back in its own format (grey or RGB), 8 bits. */
typedef struct {
    int w, h, c;
    uint8_t *px;
} png8;

static png8 read_png8(const char *path)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, path));
    png8 r = {(int)img.width, (int)img.height, img.format & PNG_FORMAT_FLAG_COLOR ? 3 : 1, NULL};
    img.format = r.c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    r.px = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(r.px);
    assert_true(png_image_finish_read(&img, NULL, r.px, 0, NULL));
    return r;
}

static int px8(const png8 *p, int y, int x, int k)
{
    return p->px[((size_t)y * p->w + x) * p->c + k];
}

/* Pixels darker than 128 in rows [y0, y1) and columns [x0, x1), any channel. */
static long dark(const png8 *p, int y0, int y1, int x0, int x1)
{
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            for (int k = 0; k < p->c; k++)
                n += px8(p, y, x, k) < 128;
    return n;
}

/* Test image i, channel k: distinct values v/255, v in [20, 219]. */
static int pattern(int i, int k, int y, int x)
{
    return 20 + (i * 37 + k * 61 + y * 5 + x * 3) % 200;
}

static float *patterns(int n, int c, int h, int w)
{
    float *t = malloc(sizeof(float) * (size_t)n * c * h * w);
    assert_non_null(t);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    t[(((size_t)i * c + k) * h + y) * w + x] = pattern(i, k, y, x) / 255.0f;
    return t;
}

/* The geometry of png.h (4-pixel white gaps, a title row of height T) with
 * scale s >= min_s: each present image's pixels at s x s, nearest neighbour,
 * missing cells white, the title row dark over titled columns only. */
static void check_titled(const png8 *p, int n, int c, int h, int w, int cols, const char *const *titles, int min_s)
{
    int rows = (n + cols - 1) / cols;
    assert_int_equal(p->c, c);
    assert_int_equal((p->w - 4 * (cols + 1)) % (cols * w), 0);
    int s = (p->w - 4 * (cols + 1)) / (cols * w), T = p->h - rows * (h * s + 4);
    assert_true(s >= min_s);
    assert_true(T >= 16 && T <= 60);
    for (int j = 0; j < cols; j++) {
        int x0 = 4 + j * (w * s + 4);
        long ink = dark(p, 0, T, x0, x0 + w * s);
        if (titles[j] && *titles[j]) assert_true(ink > 30); /* glyphs, not a stray pixel */
        else assert_int_equal(ink, 0);
        assert_int_equal(dark(p, 0, p->h, x0 - 4, x0), 0); /* the white gap left of the column */
    }
    for (int i = 0; i < rows * cols; i++) {
        int y0 = T + (i / cols) * (h * s + 4), x0 = 4 + (i % cols) * (w * s + 4);
        for (int y = 0; y < h * s; y++)
            for (int x = 0; x < w * s; x++)
                for (int k = 0; k < c; k++)
                    if (px8(p, y0 + y, x0 + x, k) != (i < n ? pattern(i, k, y / s, x / s) : 255))
                        fail_msg("image %d channel %d pixel (%d, %d) at scale %d is %d", i, k, y, x, s,
                                 px8(p, y0 + y, x0 + x, k));
    }
}

/* Grey 28x28 images, 6 in 4 columns (the last row half full), one column
 * untitled: a grey PNG, scaled at least 4 times (96 / 28 rounded up). */
static void test_titled_grid_grey(void **state)
{
    FX(path, "grid-grey.png");
    FX(tmp, "grid-grey.png.tmp");
    const char *const titles[4] = {"plaintext", "released (synthetic)", NULL, "prior"};
    float *t = patterns(6, 1, 28, 28);
    fesf_error_clear();
    assert_int_equal(fesf_png_write_grid_titled(path, t, 6, 1, 28, 28, 4, titles), 0);
    assert_string_equal(fesf_errmsg(), "");
    assert_false(file_exists(tmp));
    png8 p = read_png8(path);
    check_titled(&p, 6, 1, 28, 28, 4, titles, 4);
    free(p.px);
    free(t);
}

/* RGB 64x64 images in 3 columns, scaled at least twice; values outside [0, 1]
 * and NaN are clamped. */
static void test_titled_grid_rgb(void **state)
{
    FX(path, "grid-rgb.png");
    const char *const titles[3] = {"host", "plaintext", "surrogate"};
    float *t = patterns(3, 3, 64, 64);
    assert_int_equal(fesf_png_write_grid_titled(path, t, 3, 3, 64, 64, 3, titles), 0);
    png8 p = read_png8(path);
    check_titled(&p, 3, 3, 64, 64, 3, titles, 2);
    free(p.px);
    t[0] = 2.0f, t[1] = -1.0f, t[2] = NAN;
    assert_int_equal(fesf_png_write_grid_titled(path, t, 3, 3, 64, 64, 3, titles), 0);
    p = read_png8(path);
    int s = (p.w - 16) / (3 * 64), T = p.h - (64 * s + 4);
    assert_int_equal(px8(&p, T, 4, 0), 255);
    assert_int_equal(px8(&p, T, 4 + s, 0), 0);
    assert_int_equal(px8(&p, T, 4 + 2 * s, 0), 0);
    free(p.px);
    free(t);
}

static void test_titled_grid_bad_arguments(void **state)
{
    FX(path, "grid-bad.png");
    const char *const titles[2] = {"a", "b"};
    float img[4 * 4] = {0};
    assert_int_equal(fesf_png_write_grid_titled(path, img, 1, 1, 4, 4, 2, NULL), -1);
    assert_non_null(strstr(fesf_errmsg(), "no column titles"));
    assert_int_equal(fesf_png_write_grid_titled(path, img, 1, 2, 2, 4, 2, titles), -1);
    assert_non_null(strstr(fesf_errmsg(), path));
    assert_int_equal(fesf_png_write_grid_titled(path, img, 0, 1, 4, 4, 2, titles), -1);
    assert_false(file_exists(path));
    assert_int_equal(fesf_png_write_grid_titled("/nonexistent-fesf-dir/g.png", img, 1, 1, 4, 4, 1, titles), -1);
    assert_non_null(strstr(fesf_errmsg(), "/nonexistent-fesf-dir/g.png"));
}

/* ---- driver ---------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fesf-test-plot-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks),
        cmocka_unit_test(test_colors),
        cmocka_unit_test(test_two_series),
        cmocka_unit_test(test_curves_deterministic),
        cmocka_unit_test(test_single_point_and_equal_values),
        cmocka_unit_test(test_no_data),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_titled_grid_grey),
        cmocka_unit_test(test_titled_grid_rgb),
        cmocka_unit_test(test_titled_grid_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
