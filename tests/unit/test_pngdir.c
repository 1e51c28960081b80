/* PNG folder + CSV source and the PNG writers: fixtures are written with
 * fesf_png_write into a temp dir; labels, splits, NCHW pixels, format
 * conversion, CSV errors, size mismatch, and the grid layout read back. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/png.h"

static char tmpdir[64];

#define FX(var, name) \
    char var[256];    \
    snprintf(var, sizeof var, "%s/%s", tmpdir, name)

/* ---- fixtures --------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void make_dir(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(out, 0755), 0);
}

/* Grey image i of h x w: value i*40 + y*4 + x. */
static uint8_t grey_pix(int i, int y, int x) { return (uint8_t)(i * 40 + y * 4 + x); }

static void write_grey_png(const char *dir, const char *name, int i, int h, int w)
{
    char path[512];
    uint8_t *p = malloc((size_t)h * w);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            p[y * w + x] = grey_pix(i, y, x);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(fesf_png_write(path, p, h, w, 1), 0);
    free(p);
}

/* RGB image i: channel k of pixel (y, x) is i*60 + k*20 + y*6 + x. */
static uint8_t rgb_pix(int i, int y, int x, int k) { return (uint8_t)(i * 60 + k * 20 + y * 6 + x); }

static void write_rgb_png(const char *dir, const char *name, int i, int h, int w)
{
    char path[512];
    uint8_t *p = malloc((size_t)h * w * 3);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                p[(y * w + x) * 3 + k] = rgb_pix(i, y, x, k);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(fesf_png_write(path, p, h, w, 3), 0);
    free(p);
}

static void expect_open_fails(const char *dir, const char *csv, const char *w1, const char *w2)
{
    fesf_source *s = (fesf_source *)&s; /* must be reset to NULL */
    fesf_error_clear();
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), -1);
    assert_null(s);
    const char *msg = fesf_errmsg();
    if (!strstr(msg, w1) || !strstr(msg, w2))
        fail_msg("message '%s' lacks '%s' or '%s'", msg, w1, w2);
    assert_null(strchr(msg, '\n'));
}

/* Read a PNG back as 8-bit grey or RGB; malloc'd. */
static uint8_t *read_png(const char *path, int c, int *h, int *w)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, path));
    img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    uint8_t *p = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(p);
    assert_true(png_image_finish_read(&img, NULL, p, 0, NULL));
    *h = (int)img.height;
    *w = (int)img.width;
    return p;
}

/* ---- the source -------------------------------------------------------- */

static void test_grey_csv(void **state)
{
    char dir[256];
    make_dir("grey", dir, sizeof dir);
    enum { H = 3, W = 4 };
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "g%d.png", i);
        write_grey_png(dir, name, i, H, W);
    }
    FX(csv, "grey.csv");
    write_text(csv, "file,label,split\r\n"
                    "g0.png,0,train\r\n"
                    "\r\n"
                    "  g1.png , 1 ,val\r\n"
                    "g2.png,2\r\n"
                    "\"g3.png\",1,test\r\n"
                    "g4.png,0,train"); /* no final newline */
    fesf_source *s = NULL;
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 3);
    assert_int_equal(s->info.n[FESF_SPLIT_VAL], 1);
    assert_int_equal(s->info.n[FESF_SPLIT_TEST], 1);
    assert_int_equal(s->info.c, 1);
    assert_int_equal(s->info.h, H);
    assert_int_equal(s->info.w, W);
    assert_int_equal(s->info.dtype, FESF_U8);
    char desc[600];
    snprintf(desc, sizeof desc, "png:%s:%s", dir, csv);
    assert_string_equal(s->desc, desc);

    int32_t lab[3];
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, lab), 0);
    assert_int_equal(lab[0], 0);
    assert_int_equal(lab[1], 2);
    assert_int_equal(lab[2], 0);
    assert_int_equal(s->read_labels(s, FESF_SPLIT_VAL, lab), 0);
    assert_int_equal(lab[0], 1);
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TEST, lab), 0);
    assert_int_equal(lab[0], 1);

    uint8_t out[3 * H * W];
    static const int train_ids[3] = {0, 2, 4};
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 3, out), 0);
    for (int i = 0; i < 3; i++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                assert_int_equal(out[(i * H + y) * W + x], grey_pix(train_ids[i], y, x));
    assert_int_equal(s->read_images(s, FESF_SPLIT_TEST, 0, 1, out), 0);
    assert_int_equal(out[0], grey_pix(3, 0, 0));
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 2, 1, out), 0);
    assert_int_equal(out[H * W - 1], grey_pix(4, H - 1, W - 1));

    assert_int_equal(s->read_images(s, FESF_SPLIT_VAL, 1, 1, out), -1);
    assert_non_null(strstr(fesf_errmsg(), "out of range"));
    assert_int_equal(s->read_images(s, 7, 0, 1, out), -1);
    fesf_source_close(s);
}

static void test_rgb_nchw(void **state)
{
    char dir[256];
    make_dir("rgb", dir, sizeof dir);
    enum { H = 2, W = 3 };
    write_rgb_png(dir, "a.png", 0, H, W);
    write_rgb_png(dir, "b.png", 1, H, W);
    FX(csv, "rgb.csv");
    write_text(csv, "\xef\xbb\xbf" "a.png,3\nb.png,5\n"); /* with a UTF-8 BOM */
    fesf_source *s = NULL;
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
    assert_int_equal(s->info.c, 3);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 2);
    int32_t lab[2];
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, lab), 0);
    assert_int_equal(lab[0], 3);
    assert_int_equal(lab[1], 5);
    uint8_t out[2 * 3 * H * W];
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 2, out), 0);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    assert_int_equal(out[((i * 3 + k) * H + y) * W + x], rgb_pix(i, y, x, k));
    fesf_source_close(s);
}

/* The first image decides C; others are converted to its format. */
static void test_format_conversion(void **state)
{
    char dir[256], path[512];
    make_dir("mixed", dir, sizeof dir);
    enum { H = 2, W = 2 };
    uint8_t grey[H * W] = {0, 77, 200, 255}, rgb[H * W * 3];
    for (int p = 0; p < H * W; p++)
        rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = grey[p];
    snprintf(path, sizeof path, "%s/grey.png", dir);
    assert_int_equal(fesf_png_write(path, grey, H, W, 1), 0);
    snprintf(path, sizeof path, "%s/colour.png", dir);
    assert_int_equal(fesf_png_write(path, rgb, H, W, 3), 0);

    FX(grey_first, "grey_first.csv");
    FX(rgb_first, "rgb_first.csv");
    write_text(grey_first, "grey.png,0\ncolour.png,1\n");
    write_text(rgb_first, "colour.png,0\ngrey.png,1\n");
    uint8_t out[2 * 3 * H * W];
    fesf_source *s = NULL;
    assert_int_equal(fesf_pngdir_open(&s, dir, grey_first), 0);
    assert_int_equal(s->info.c, 1);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 2, out), 0);
    assert_memory_equal(out, grey, H * W);
    assert_memory_equal(out + H * W, grey, H * W);
    fesf_source_close(s);

    assert_int_equal(fesf_pngdir_open(&s, dir, rgb_first), 0);
    assert_int_equal(s->info.c, 3);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 2, out), 0);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            assert_memory_equal(out + (i * 3 + k) * H * W, grey, H * W);
    fesf_source_close(s);
}

/* A folder without a CSV (a public host set): every *.png (any case) that is
 * a file, in byte order of the name, as train images; the rest is skipped. */
static void test_folder(void **state)
{
    char dir[256], sub[300], empty[256];
    make_dir("folder", dir, sizeof dir);
    enum { H = 2, W = 3 };
    write_grey_png(dir, "b.png", 0, H, W);
    write_grey_png(dir, "a.png", 1, H, W);
    write_grey_png(dir, "C.PNG", 2, H, W);
    snprintf(sub, sizeof sub, "%s/sub.png", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof sub, "%s/notes.txt", dir);
    write_text(sub, "not an image\n");
    fesf_source *s = NULL;
    assert_int_equal(fesf_pngdir_open_folder(&s, dir), 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 3);
    assert_int_equal(s->info.n[FESF_SPLIT_VAL] + s->info.n[FESF_SPLIT_TEST], 0);
    assert_true(s->info.c == 1 && s->info.h == H && s->info.w == W);
    char desc[300];
    snprintf(desc, sizeof desc, "png:%s", dir);
    assert_string_equal(s->desc, desc);
    uint8_t out[3 * H * W];
    static const int ids[3] = {2, 1, 0}; /* C.PNG a.png b.png */
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 3, out), 0);
    for (int i = 0; i < 3; i++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                assert_int_equal(out[(i * H + y) * W + x], grey_pix(ids[i], y, x));
    fesf_source_close(s);

    make_dir("empty", empty, sizeof empty);
    s = (fesf_source *)&s;
    assert_int_equal(fesf_pngdir_open_folder(&s, empty), -1);
    assert_null(s);
    assert_non_null(strstr(fesf_errmsg(), "no .png files"));
    snprintf(sub, sizeof sub, "%s/none", tmpdir);
    assert_int_equal(fesf_pngdir_open_folder(&s, sub), -1);
    assert_non_null(strstr(fesf_errmsg(), "cannot open"));
}

/* 16-bit files are scaled to 8 bits (not gamma-encoded); alpha goes onto black. */
static void test_wide_and_alpha(void **state)
{
    char dir[256], path[512];
    make_dir("wide", dir, sizeof dir);
    enum { H = 1, W = 4 };
    png_image img;
    uint16_t grey16[H * W] = {0, 1000, 77 * 257, 65535};
    uint8_t rgba[H * W * 4] = {10, 20, 30, 255, 40, 50, 60, 0, 70, 80, 90, 255, 1, 2, 3, 255};
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = W, img.height = H, img.format = PNG_FORMAT_LINEAR_Y;
    snprintf(path, sizeof path, "%s/g16.png", dir);
    assert_true(png_image_write_to_file(&img, path, 0, grey16, 0, NULL));
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = W, img.height = H, img.format = PNG_FORMAT_RGBA;
    snprintf(path, sizeof path, "%s/rgba.png", dir);
    assert_true(png_image_write_to_file(&img, path, 0, rgba, 0, NULL));

    FX(csv, "wide.csv");
    write_text(csv, "g16.png,0\n");
    fesf_source *s = NULL;
    uint8_t out[3 * H * W];
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
    assert_int_equal(s->info.c, 1);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 1, out), 0);
    static const uint8_t want16[W] = {0, 4, 77, 255};
    assert_memory_equal(out, want16, W);
    fesf_source_close(s);

    write_text(csv, "rgba.png,0\n");
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
    assert_int_equal(s->info.c, 3);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 1, out), 0);
    static const uint8_t want_rgb[3 * W] = {10, 0, 70, 1, 20, 0, 80, 2, 30, 0, 90, 3};
    assert_memory_equal(out, want_rgb, sizeof want_rgb);
    fesf_source_close(s);
}

static void test_missing_file(void **state)
{
    char dir[256];
    make_dir("missing", dir, sizeof dir);
    write_grey_png(dir, "img1.png", 1, 2, 2);
    FX(csv, "missing.csv");
    write_text(csv, "file,label\nimg1.png,0\nimg7.png,1\n");
    char want[600];
    snprintf(want, sizeof want, "'%s' line 3: cannot open 'img7.png': No such file or directory", csv);
    fesf_source *s = NULL;
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), -1);
    assert_null(s);
    assert_string_equal(fesf_errmsg(), want);
}

static void test_size_mismatch(void **state)
{
    char dir[256];
    make_dir("sizes", dir, sizeof dir);
    write_grey_png(dir, "small.png", 0, 3, 4);
    write_grey_png(dir, "big.png", 1, 5, 4);
    FX(csv, "sizes.csv");
    write_text(csv, "small.png,0\nbig.png,1\n");
    fesf_source *s = NULL;
    uint8_t out[2 * 5 * 4];
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 1, out), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 2, out), -1);
    const char *msg = fesf_errmsg();
    if (!strstr(msg, "big.png") || !strstr(msg, "4x5 differs from 4x3") || !strstr(msg, "small.png"))
        fail_msg("unexpected message '%s'", msg);
    fesf_source_close(s);
}

/* A header naming a site column (after file,label, beside split in either
 * order) gives read_sites; without one read_sites is NULL (bad site ids,
 * unknown or repeated column names: test_csv_errors). */
static void test_site_column(void **state)
{
    char dir[256];
    make_dir("sites", dir, sizeof dir);
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.png", i);
        write_grey_png(dir, name, i, 2, 2);
    }
    FX(csv, "sites.csv");
    static const char *const ok_csvs[] = {
        "file,label,split,site\ns0.png,0,train,2\ns1.png,1,test,1\ns2.png,1,train,3\ns3.png,0,,1\n",
        "file,label,Site,split\ns0.png,0,2,train\ns1.png,1,1,test\ns2.png,1,3\ns3.png,0,1,train\n",
    };
    int32_t got[3];
    for (int k = 0; k < 2; k++) {
        write_text(csv, ok_csvs[k]);
        fesf_source *s = NULL;
        assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
        assert_non_null(s->read_sites);
        assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 3);
        static const int32_t train_sites[3] = {2, 3, 1};
        assert_int_equal(s->read_sites(s, FESF_SPLIT_TRAIN, got), 0);
        assert_memory_equal(got, train_sites, sizeof train_sites);
        assert_int_equal(s->read_sites(s, FESF_SPLIT_TEST, got), 0);
        assert_int_equal(got[0], 1);
        fesf_source_close(s);
    }
    write_text(csv, "file,label,site\ns0.png,0,4\ns1.png,1,2\n"); /* no split column: all train */
    fesf_source *s = NULL;
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 2);
    assert_int_equal(s->read_sites(s, FESF_SPLIT_TRAIN, got), 0);
    assert_true(got[0] == 4 && got[1] == 2);
    fesf_source_close(s);
    write_text(csv, "file,label,split\ns0.png,0,train\n");
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
    assert_null(s->read_sites);
    fesf_source_close(s);
}

/* Bad CSV contents (site columns too) and unreadable images. */
static void test_csv_errors(void **state)
{
    char dir[256];
    make_dir("errors", dir, sizeof dir);
    write_grey_png(dir, "a.png", 0, 2, 2);
    char bad[512];
    snprintf(bad, sizeof bad, "%s/notpng.png", dir);
    write_text(bad, "this is not a png\n");
    static const struct { const char *text, *w1, *w2; } cases[] = {
        {"a.png,0\na.png,abc\n", "line 2", "label 'abc' is not an integer"},
        {"a.png,-1\n", "line 1", "label '-1'"},
        {"a.png,2147483648\n", "line 1", "label '2147483648'"},
        {"file,label\na.png,1,holdout\n", "line 2", "split 'holdout' is not train, val or test"},
        {"a.png,1,train,extra\n", "line 1", "too many fields"},
        {"a.png\n", "line 1", "too few fields"},
        {",1\n", "line 1", "empty file name"},
        {"file,label,split\n\n", "errors.csv", "no images listed"},
        {"", "errors.csv", "no images listed"},
        {"a.png,0,val\n", "errors.csv", "no train images"},
        {"file,label,site\na.png,0,0\n", "line 2", "site '0' is not an integer in 1.."},
        {"file,label,site\na.png,0,1.5\n", "line 2", "site '1.5' is not an integer"},
        {"file,label,site\na.png,0,x\n", "line 2", "site 'x' is not an integer"},
        {"file,label,site\na.png,0\n", "line 2", "site '' is not an integer"},
        {"file,label,site\na.png,0,1,train\n", "line 2", "too many fields"},
        {"file,label,hospital\na.png,0,1\n", "line 1", "unknown column 'hospital'"},
        {"file,label,site,site\na.png,0,1,1\n", "line 1", "column 'site' named twice"},
        {"a.png,0,train,1\n", "line 1", "too many fields"},
        {"file,label\nfile,label\n", "line 2", "label 'label'"},
        {"sub,0\n", "line 1", "No such file"},
        {"notpng.png,0\n", "notpng.png", "cannot read png"},
    };
    FX(csv, "errors.csv");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_text(csv, cases[k].text);
        expect_open_fails(dir, csv, cases[k].w1, cases[k].w2);
    }

    /* a directory named in the CSV, a missing CSV, a missing folder */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_text(csv, "sub,0\n");
    expect_open_fails(dir, csv, "cannot open 'sub'", "Is a directory");
    FX(nocsv, "no-such.csv");
    expect_open_fails(dir, nocsv, "no-such.csv", "No such file");
    FX(nodir, "no-such-dir");
    expect_open_fails(nodir, csv, "no-such-dir", "No such file");
    expect_open_fails(csv, csv, "errors.csv", "Not a directory");

    /* an unreadable image after the first fails at read time */
    write_text(csv, "a.png,0\nnotpng.png,1\n");
    fesf_source *s = NULL;
    uint8_t out[8];
    assert_int_equal(fesf_pngdir_open(&s, dir, csv), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 1, 1, out), -1);
    if (!strstr(fesf_errmsg(), "notpng.png") || !strstr(fesf_errmsg(), "cannot read png"))
        fail_msg("unexpected message '%s'", fesf_errmsg());
    fesf_source_close(s);
}

/* ---- writers ----------------------------------------------------------- */

static void test_png_write(void **state)
{
    FX(path, "w.png");
    FX(tmp, "w.png.tmp");
    uint8_t rgb[2 * 3 * 3];
    for (int i = 0; i < (int)sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 13);
    assert_int_equal(fesf_png_write(path, rgb, 2, 3, 3), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    int h, w;
    uint8_t *back = read_png(path, 3, &h, &w);
    assert_int_equal(h, 2);
    assert_int_equal(w, 3);
    assert_memory_equal(back, rgb, sizeof rgb);
    free(back);

    FX(nodir, "no-such-dir/w.png");
    assert_int_equal(fesf_png_write(nodir, rgb, 2, 3, 3), -1);
    assert_non_null(strstr(fesf_errmsg(), "cannot write"));
    assert_non_null(strstr(fesf_errmsg(), "no-such-dir/w.png': No such file or directory"));
    assert_int_equal(access(nodir, F_OK), -1); /* and no .tmp anywhere */
    assert_int_equal(fesf_png_write(path, rgb, 2, 3, 2), -1);
    assert_non_null(strstr(fesf_errmsg(), "w.png"));
    assert_int_equal(fesf_png_write(path, rgb, 0, 3, 1), -1);
}

/* 5 grey 3x4 tiles in 3 columns: 2 rows, 2-pixel black borders. */
static void test_grid_u8(void **state)
{
    FX(path, "grid.png");
    enum { N = 5, H = 3, W = 4, COLS = 3, B = 2 };
    uint8_t img[N * H * W];
    for (int i = 0; i < N; i++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                img[(i * H + y) * W + x] = (uint8_t)(1 + grey_pix(i, y, x));
    assert_int_equal(fesf_png_write_grid_u8(path, img, N, 1, H, W, COLS), 0);
    int gh, gw;
    uint8_t *g = read_png(path, 1, &gh, &gw);
    assert_int_equal(gh, 2 * (H + B) + B);
    assert_int_equal(gw, COLS * (W + B) + B);
    int tiles = 0;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            int ty = (y - B) / (H + B), tx = (x - B) / (W + B);
            int iy = (y - B) % (H + B), ix = (x - B) % (W + B), i = ty * COLS + tx;
            int inside = y >= B && x >= B && iy < H && ix < W && i < N;
            uint8_t want = inside ? (uint8_t)(1 + grey_pix(i, iy, ix)) : 0;
            assert_int_equal(g[y * gw + x], want);
            tiles += inside;
        }
    assert_int_equal(tiles, N * H * W);
    free(g);

    assert_int_equal(fesf_png_write_grid_u8(path, img, 0, 1, H, W, COLS), -1);
    assert_int_equal(fesf_png_write_grid_u8(path, img, N, 1, H, W, 0), -1);
}

/* Float RGB tiles are clamped to [0,1] and scaled; cols > n shrinks to n. */
static void test_grid_f32(void **state)
{
    FX(path, "gridf.png");
    enum { N = 2, C = 3, H = 2, W = 2, B = 2 };
    float img[N * C * H * W];
    for (int i = 0; i < N * C * H * W; i++)
        img[i] = 0.25f;
    img[0] = -0.5f;     /* tile 0, red, (0,0) */
    img[1] = 1.5f;      /* tile 0, red, (0,1) */
    img[2] = 0.5f;      /* tile 0, red, (1,0) */
    img[3] = NAN;       /* tile 0, red, (1,1) */
    img[H * W] = 1.0f;  /* tile 0, green, (0,0) */
    img[C * H * W + 2 * H * W + 3] = 0.0f; /* tile 1, blue, (1,1) */
    assert_int_equal(fesf_png_write_grid_f32(path, img, N, C, H, W, 8), 0);
    int gh, gw;
    uint8_t *g = read_png(path, 3, &gh, &gw);
    assert_int_equal(gh, H + 2 * B);
    assert_int_equal(gw, N * (W + B) + B);
#define AT(y, x, k) g[((y) * gw + (x)) * 3 + (k)]
    assert_int_equal(AT(B, B, 0), 0);
    assert_int_equal(AT(B, B + 1, 0), 255);
    assert_int_equal(AT(B + 1, B, 0), 128);
    assert_int_equal(AT(B + 1, B + 1, 0), 0);
    assert_int_equal(AT(B, B, 1), 255);
    assert_int_equal(AT(B, B, 2), 64);
    int x1 = B + W + B; /* tile 1 */
    assert_int_equal(AT(B, x1, 0), 64);
    assert_int_equal(AT(B + 1, x1 + 1, 2), 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(AT(0, 0, k), 0);
        assert_int_equal(AT(B, B + W, k), 0);     /* border between tiles */
        assert_int_equal(AT(B, B + W + 1, k), 0);
        assert_int_equal(AT(gh - 1, gw - 1, k), 0);
    }
#undef AT
    free(g);
}

/* ---- setup -------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fesf-test-pngdir-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grey_csv),
        cmocka_unit_test(test_rgb_nchw),
        cmocka_unit_test(test_format_conversion),
        cmocka_unit_test(test_wide_and_alpha),
        cmocka_unit_test(test_folder),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_site_column),
        cmocka_unit_test(test_png_write),
        cmocka_unit_test(test_grid_u8),
        cmocka_unit_test(test_grid_f32),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
