/* npz source: hand-built .npy members zipped with libzip in a temp dir;
 * grey/RGB/float images, NCHW reordering, streaming in strips and
 * backwards, label dtypes, and one clear error for every bad input. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "fesf/dataset.h"
#include "fesf/error.h"

static char tmpdir[64];

#define FX(var, name) \
    char var[256];    \
    snprintf(var, sizeof var, "%s/%s", tmpdir, name)

/* ---- fixture builders ------------------------------------------------ */

/* A .npy v1.0 file: magic, header dict padded to a multiple of 64, data. */
static uint8_t *npy_raw(const char *dict, const void *data, size_t dlen, size_t *len)
{
    size_t dl = strlen(dict), hlen = (10 + dl + 1 + 63) / 64 * 64 - 10;
    uint8_t *p = malloc(10 + hlen + dlen);
    assert_non_null(p);
    memcpy(p, "\x93NUMPY\x01\x00", 8);
    p[8] = (uint8_t)(hlen & 0xff);
    p[9] = (uint8_t)(hlen >> 8);
    memset(p + 10, ' ', hlen);
    memcpy(p + 10, dict, dl);
    p[10 + hlen - 1] = '\n';
    if (dlen)
        memcpy(p + 10 + hlen, data, dlen);
    *len = 10 + hlen + dlen;
    return p;
}

static uint8_t *npy(const char *descr, const char *shape, const void *data, size_t dlen, size_t *len)
{
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    return npy_raw(dict, data, dlen, len);
}

/* Members collected for one archive; buffers are freed after writing. */
typedef struct {
    int n;
    const char *name[8];
    uint8_t *data[8];
    size_t len[8];
} npz_spec;

static void add(npz_spec *z, const char *name, uint8_t *data, size_t len)
{
    assert_true(z->n < 8);
    z->name[z->n] = name;
    z->data[z->n] = data;
    z->len[z->n++] = len;
}

static void add_npy(npz_spec *z, const char *name, const char *descr, const char *shape,
                    const void *data, size_t dlen)
{
    size_t len;
    uint8_t *p = npy(descr, shape, data, dlen, &len);
    add(z, name, p, len);
}

/* Write the archive (method ZIP_CM_DEFLATE or ZIP_CM_STORE) and free z. */
static void write_npz(const char *path, npz_spec *z, int method)
{
    int err = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(za);
    for (int i = 0; i < z->n; i++) {
        zip_source_t *src = zip_source_buffer(za, z->data[i], z->len[i], 0);
        assert_non_null(src);
        zip_int64_t idx = zip_file_add(za, z->name[i], src, ZIP_FL_OVERWRITE);
        assert_true(idx >= 0);
        assert_int_equal(zip_set_file_compression(za, (zip_uint64_t)idx, method, 0), 0);
    }
    assert_int_equal(zip_close(za), 0);
    for (int i = 0; i < z->n; i++)
        free(z->data[i]);
    z->n = 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Deterministic noise (compresses badly, so archives have some size). */
static void fill_noise(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* A valid grey uint8 archive: train n images h x w with labels i % 3. */
static void write_grey(const char *path, int n, int h, int w, int method)
{
    npz_spec z = {0};
    char shape[64];
    size_t bytes = (size_t)n * h * w;
    uint8_t *img = malloc(bytes), *lab = malloc((size_t)n);
    assert_true(img && lab);
    fill_noise(img, bytes, 7);
    for (int i = 0; i < n; i++)
        lab[i] = (uint8_t)(i % 3);
    snprintf(shape, sizeof shape, "(%d, %d, %d)", n, h, w);
    add_npy(&z, "train_images.npy", "|u1", shape, img, bytes);
    snprintf(shape, sizeof shape, "(%d, 1)", n);
    add_npy(&z, "train_labels.npy", "|u1", shape, lab, (size_t)n);
    write_npz(path, &z, method);
    free(img);
    free(lab);
}

static void expect_open_fails(const char *path, const char *keyword)
{
    fesf_source *s = (fesf_source *)&s; /* must be reset to NULL */
    fesf_error_clear();
    assert_int_equal(fesf_npz_open(&s, path), -1);
    assert_null(s);
    const char *msg = fesf_errmsg();
    if (!strstr(msg, path) || !strstr(msg, keyword))
        fail_msg("message '%s' lacks '%s' or '%s'", msg, path, keyword);
    assert_null(strchr(msg, '\n'));
}

/* ---- happy paths ------------------------------------------------------- */

static void test_grey_u8(void **state)
{
    FX(path, "grey.npz");
    enum { N = 5, H = 3, W = 4, NV = 2 };
    uint8_t img[N * H * W], lab[N] = {0, 1, 2, 0, 1}, vimg[NV * H * W], vlab[NV] = {4, 3};
    for (int i = 0; i < N * H * W; i++)
        img[i] = (uint8_t)(i * 3 + 1);
    for (int i = 0; i < NV * H * W; i++)
        vimg[i] = (uint8_t)(200 + i);
    npz_spec z = {0};
    add_npy(&z, "train_images.npy", "|u1", "(5, 3, 4)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(5, 1)", lab, sizeof lab);
    add_npy(&z, "val_images.npy", "|u1", "(2, 3, 4)", vimg, sizeof vimg);
    add_npy(&z, "val_labels.npy", "|u1", "(2,)", vlab, sizeof vlab);
    write_npz(path, &z, ZIP_CM_DEFLATE);

    fesf_source *s = NULL;
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], N);
    assert_int_equal(s->info.n[FESF_SPLIT_VAL], NV);
    assert_int_equal(s->info.n[FESF_SPLIT_TEST], 0);
    assert_int_equal(s->info.c, 1);
    assert_int_equal(s->info.h, H);
    assert_int_equal(s->info.w, W);
    assert_int_equal(s->info.dtype, FESF_U8);
    char desc[300];
    snprintf(desc, sizeof desc, "npz:%s", path);
    assert_string_equal(s->desc, desc);

    int32_t labels[N];
    uint8_t out[N * H * W];
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, labels), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(labels[i], lab[i]);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, N, out), 0);
    assert_memory_equal(out, img, sizeof img);
    assert_int_equal(s->read_labels(s, FESF_SPLIT_VAL, labels), 0);
    assert_int_equal(labels[0], 4);
    assert_int_equal(labels[1], 3);
    assert_int_equal(s->read_images(s, FESF_SPLIT_VAL, 1, 1, out), 0);
    assert_memory_equal(out, vimg + H * W, H * W);

    /* absent split: empty reads succeed, anything else is out of range */
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TEST, labels), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TEST, 0, 0, out), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TEST, 0, 1, out), -1);
    assert_non_null(strstr(fesf_errmsg(), "out of range"));
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 4, 2, out), -1);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, -1, 1, out), -1);
    assert_int_equal(s->read_images(s, 3, 0, 1, out), -1);
    /* still usable after errors */
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 4, 1, out), 0);
    assert_memory_equal(out, img + 4 * H * W, H * W);
    fesf_source_close(s);
}

/* Stored NHWC, delivered NCHW: out[i][k][y][x] == pix(i, y, x, k). */
static uint8_t pix(int i, int y, int x, int k) { return (uint8_t)(i * 60 + k * 20 + y * 6 + x); }

static void test_rgb_nchw(void **state)
{
    FX(path, "rgb.npz");
    enum { N = 4, H = 2, W = 3, C = 3 };
    uint8_t img[N * H * W * C], out[N * C * H * W];
    int64_t lab[N] = {0, 7, 2, 1};
    for (int i = 0; i < N; i++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int k = 0; k < C; k++)
                    img[((i * H + y) * W + x) * C + k] = pix(i, y, x, k);
    npz_spec z = {0};
    add_npy(&z, "train_images.npy", "|u1", "(4, 2, 3, 3)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "<i8", "(4,)", lab, sizeof lab);
    add_npy(&z, "test_images.npy", "|u1", "(1, 2, 3, 3)", img, H * W * C);
    add_npy(&z, "test_labels.npy", "<i8", "(1,)", lab + 1, sizeof lab[0]);
    write_npz(path, &z, ZIP_CM_DEFLATE);

    fesf_source *s = NULL;
    int32_t labels[N];
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->info.c, 3);
    assert_int_equal(s->info.n[FESF_SPLIT_VAL], 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TEST], 1);
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, labels), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(labels[i], lab[i]);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, N, out), 0);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < C; k++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    assert_int_equal(out[((i * C + k) * H + y) * W + x], pix(i, y, x, k));
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TEST, labels), 0);
    assert_int_equal(labels[0], 7);
    fesf_source_close(s);
}

static void test_float32(void **state)
{
    FX(grey, "f32.npz");
    FX(rgb, "f32rgb.npz");
    enum { N = 3, H = 2, W = 2 };
    float img[N * H * W], out[N * 3 * H * W], rimg[2 * H * W * 3];
    int32_t lab[N] = {1, 0, 1}, labels[N];
    for (int i = 0; i < N * H * W; i++)
        img[i] = (float)i / 16.0f;
    npz_spec z = {0};
    add_npy(&z, "train_images.npy", "<f4", "(3, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "<i4", "(3, 1)", lab, sizeof lab);
    write_npz(grey, &z, ZIP_CM_DEFLATE);

    fesf_source *s = NULL;
    assert_int_equal(fesf_npz_open(&s, grey), 0);
    assert_int_equal(s->info.dtype, FESF_F32);
    assert_int_equal(s->info.c, 1);
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, labels), 0);
    assert_memory_equal(labels, lab, sizeof lab);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 1, 2, out), 0);
    assert_memory_equal(out, img + H * W, 2 * H * W * sizeof(float));
    fesf_source_close(s);

    /* RGB floats: the NHWC -> NCHW reorder moves 4-byte elements */
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < H * W; p++)
            for (int k = 0; k < 3; k++)
                rimg[(i * H * W + p) * 3 + k] = (float)(i * 12 + p * 3 + k) / 32.0f;
    add_npy(&z, "train_images.npy", "<f4", "(2, 2, 2, 3)", rimg, sizeof rimg);
    add_npy(&z, "train_labels.npy", "<i4", "(2,)", lab, 2 * sizeof lab[0]);
    write_npz(rgb, &z, ZIP_CM_DEFLATE);
    assert_int_equal(fesf_npz_open(&s, rgb), 0);
    assert_int_equal(s->info.c, 3);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 2, out), 0);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < H * W; p++)
                assert_true(out[(i * 3 + k) * H * W + p] == (float)(i * 12 + p * 3 + k) / 32.0f);
    fesf_source_close(s);
}

/* Strips, restarts and repeats give the same bytes as one big read. */
static void check_strips(const char *path, int c)
{
    enum { N = 37, H = 5, W = 7 };
    size_t per = (size_t)c * H * W;
    uint8_t *all = malloc(N * per), *part = malloc(N * per);
    assert_true(all && part);
    fesf_source *s = NULL;
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->info.c, c);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, N, all), 0);

    memset(part, 0, N * per);
    for (int i = 0; i < N; i += 4)
        assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, i, i + 4 <= N ? 4 : N - i, part + i * per), 0);
    assert_memory_equal(all, part, N * per);

    /* backwards, with gaps and repeats */
    static const int order[][2] = {{30, 7}, {20, 5}, {0, 3}, {25, 5}, {3, 17}, {25, 5}, {20, 5}};
    memset(part, 0, N * per);
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, order[k][0], order[k][1],
                                        part + order[k][0] * per), 0);
    assert_memory_equal(all, part, N * per);
    fesf_source_close(s);
    free(all);
    free(part);
}

static void test_strips_and_restarts(void **state)
{
    FX(grey, "strips.npz");
    FX(rgb, "strips_rgb.npz");
    write_grey(grey, 37, 5, 7, ZIP_CM_DEFLATE);
    check_strips(grey, 1);

    enum { N = 37, H = 5, W = 7 };
    uint8_t img[N * H * W * 3], lab[N] = {0};
    fill_noise(img, sizeof img, 3);
    npz_spec z = {0};
    add_npy(&z, "train_images.npy", "|u1", "(37, 5, 7, 3)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(37,)", lab, sizeof lab);
    write_npz(rgb, &z, ZIP_CM_STORE);
    check_strips(rgb, 3);
}

static void test_label_dtypes(void **state)
{
    static const struct { const char *descr; int size; } types[] = {
        {"|u1", 1}, {"|i1", 1}, {"<u2", 2}, {"<i2", 2}, {"<u4", 4}, {"<i4", 4}, {"<u8", 8}, {"<i8", 8},
        {"<u1", 1}, {"=i1", 1}, /* byte order does not matter for one byte */
    };
    const int64_t want[3] = {0, 5, 127};
    uint8_t img[3 * 2 * 2] = {0};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        FX(path, "labels.npz");
        uint8_t raw[3 * 8];
        for (int i = 0; i < 3; i++)
            for (int b = 0; b < types[t].size; b++) /* little-endian */
                raw[i * types[t].size + b] = (uint8_t)(want[i] >> (8 * b));
        npz_spec z = {0};
        add_npy(&z, "train_images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
        add_npy(&z, "train_labels.npy", types[t].descr, "(3,)", raw, 3 * (size_t)types[t].size);
        write_npz(path, &z, ZIP_CM_DEFLATE);
        fesf_source *s = NULL;
        int32_t labels[3];
        assert_int_equal(fesf_npz_open(&s, path), 0);
        assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, labels), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(labels[i], want[i]);
        fesf_source_close(s);
    }
}

/* Labels that do not fit int32 >= 0 fail at read_labels. */
static void test_label_range(void **state)
{
    static const struct { const char *descr; int64_t v; const char *word; } cases[] = {
        {"<i8", -1, "label -1"},
        {"<i8", 2147483648LL, "label 2147483648"},
        {"<u8", 4294967296LL, "label 4294967296"},
        {"|i1", -128, "label -128"},
    };
    uint8_t img[2 * 2 * 2] = {0};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        FX(path, "range.npz");
        int64_t raw[2] = {1, cases[t].v};
        int8_t raw1[2] = {1, (int8_t)cases[t].v};
        int one = cases[t].descr[2] == '1';
        npz_spec z = {0};
        add_npy(&z, "train_images.npy", "|u1", "(2, 2, 2)", img, sizeof img);
        add_npy(&z, "train_labels.npy", cases[t].descr, "(2,)", one ? (void *)raw1 : (void *)raw,
                one ? sizeof raw1 : sizeof raw);
        write_npz(path, &z, ZIP_CM_DEFLATE);
        fesf_source *s = NULL;
        int32_t labels[2];
        assert_int_equal(fesf_npz_open(&s, path), 0);
        assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, labels), -1);
        const char *msg = fesf_errmsg();
        if (!strstr(msg, path) || !strstr(msg, cases[t].word))
            fail_msg("message '%s' lacks '%s'", msg, cases[t].word);
        fesf_source_close(s);
    }
}

/* ---- errors ---------------------------------------------------------------- */

static void test_missing_empty_notzip(void **state)
{
    FX(missing, "no-such.npz");
    expect_open_fails(missing, "No such file");

    FX(empty, "empty.npz");
    write_file(empty, "", 0);
    expect_open_fails(empty, "empty file");

    FX(text, "text.npz");
    const char *junk = "this is not a zip archive at all, just some text\n";
    write_file(text, junk, strlen(junk));
    expect_open_fails(text, "not a zip");

    expect_open_fails(tmpdir, "Is a directory");
}

static void test_truncated_zip(void **state)
{
    FX(path, "trunc.npz");
    struct stat st;
    write_grey(path, 50, 16, 16, ZIP_CM_DEFLATE);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    expect_open_fails(path, "truncated");
}

/* Flip one byte inside the image data of train_images; find it by the
 * header's shape text. Open may succeed; reading everything must fail. */
static void corrupt_and_read(const char *path, int method, const char *word)
{
    write_grey(path, 50, 16, 16, method);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    static uint8_t buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    uint8_t *hit = memmem(buf, len, "(50, 16, 16)", 12);
    if (method == ZIP_CM_DEFLATE)
        hit = memmem(buf, len, "train_images.npy", 16); /* local header name */
    assert_non_null(hit);
    long off = (long)(hit - buf) + 1000;
    assert_true((size_t)off < len);
    buf[off] ^= 0x5a;
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    assert_int_equal(fputc(buf[off], f), buf[off]);
    assert_int_equal(fclose(f), 0);

    fesf_source *s = NULL;
    uint8_t *img = malloc(50 * 16 * 16);
    assert_non_null(img);
    if (fesf_npz_open(&s, path) == 0) {
        assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 50, img), -1);
        fesf_source_close(s);
    }
    const char *msg = fesf_errmsg();
    if (!strstr(msg, path) || !strstr(msg, word))
        fail_msg("message '%s' lacks '%s'", msg, word);
    free(img);
}

static void test_corrupt_member(void **state)
{
    FX(stored, "crc.npz");
    FX(deflated, "zlib.npz");
    corrupt_and_read(stored, ZIP_CM_STORE, "CRC");
    corrupt_and_read(deflated, ZIP_CM_DEFLATE, "train_images");
}

static void test_missing_members(void **state)
{
    FX(path, "members.npz");
    uint8_t img[2 * 2 * 2] = {0}, lab[2] = {0};
    npz_spec z = {0};
    add_npy(&z, "train_labels.npy", "|u1", "(2,)", lab, sizeof lab);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "no 'train_images.npy' member");

    add_npy(&z, "train_images.npy", "|u1", "(2, 2, 2)", img, sizeof img);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "no 'train_labels.npy' member");

    add_npy(&z, "train_images.npy", "|u1", "(2, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(2,)", lab, sizeof lab);
    add_npy(&z, "val_images.npy", "|u1", "(2, 2, 2)", img, sizeof img);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "no 'val_labels.npy' member");

    add_npy(&z, "train_images.npy", "|u1", "(2, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(2,)", lab, sizeof lab);
    add_npy(&z, "test_labels.npy", "|u1", "(2,)", lab, sizeof lab);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "no 'test_images.npy' member");
}

/* One labelled pool (images.npy + labels.npy, or a single non-train split)
 * is delivered as the train split with info.pool set; a pool beside
 * MedMNIST splits, or several splits without train, is refused. */
static void expect_pool(const char *path, int64_t n, const uint8_t *img, const uint8_t *lab)
{
    fesf_source *s = NULL;
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->info.pool, 1);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], n);
    assert_int_equal(s->info.n[FESF_SPLIT_VAL], 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TEST], 0);
    uint8_t out[3 * 4];
    int32_t l[3];
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, n, out), 0);
    assert_memory_equal(out, img, (size_t)n * 4);
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, l), 0);
    for (int i = 0; i < n; i++) assert_int_equal(l[i], lab[i]);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TEST, 0, 1, out), -1);
    fesf_source_close(s);
}

static void test_pool(void **state)
{
    FX(path, "pool.npz");
    uint8_t img[3 * 2 * 2], lab[3] = {1, 0, 1};
    for (int i = 0; i < (int)sizeof img; i++) img[i] = (uint8_t)(i * 11);
    npz_spec z = {0};
    add_npy(&z, "images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
    add_npy(&z, "labels.npy", "|u1", "(3,)", lab, sizeof lab);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_pool(path, 3, img, lab);

    add_npy(&z, "test_images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
    add_npy(&z, "test_labels.npy", "|u1", "(3,)", lab, sizeof lab);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_pool(path, 3, img, lab);

    add_npy(&z, "val_images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
    add_npy(&z, "val_labels.npy", "|u1", "(3,)", lab, sizeof lab);
    add_npy(&z, "test_images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
    add_npy(&z, "test_labels.npy", "|u1", "(3,)", lab, sizeof lab);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "no 'train_images.npy' member");

    add_npy(&z, "images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
    add_npy(&z, "labels.npy", "|u1", "(3,)", lab, sizeof lab);
    add_npy(&z, "test_images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
    add_npy(&z, "test_labels.npy", "|u1", "(3,)", lab, sizeof lab);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "not both");

    add_npy(&z, "images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "no 'labels.npy' member");

    add_npy(&z, "train_images.npy", "|u1", "(3, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(3,)", lab, sizeof lab);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    fesf_source *s = NULL;
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->info.pool, 0);
    fesf_source_close(s);
}

/* Site ids: {train,test}_sites.npy (a pool's sites.npy) through read_sites,
 * any integer dtype; no site member: read_sites is NULL; wrong length, a
 * float dtype, an id below 1, sites without images and a split without
 * its sites member are refused. */
static void test_sites(void **state)
{
    FX(path, "sites.npz");
    uint8_t img[4 * 2 * 2] = {0}, lab[4] = {0, 1, 0, 1};
    int64_t site8[4] = {2, 1, 3, 2};
    uint8_t tsite[2] = {3, 1};
    int32_t got[4];
    npz_spec z = {0};
    add_npy(&z, "train_images.npy", "|u1", "(4, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(4,)", lab, sizeof lab);
    add_npy(&z, "train_sites.npy", "<i8", "(4,)", site8, sizeof site8);
    add_npy(&z, "test_images.npy", "|u1", "(2, 2, 2)", img, 8);
    add_npy(&z, "test_labels.npy", "|u1", "(2,)", lab, 2);
    add_npy(&z, "test_sites.npy", "|u1", "(2, 1)", tsite, sizeof tsite);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    fesf_source *s = NULL;
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_non_null(s->read_sites);
    assert_int_equal(s->read_sites(s, FESF_SPLIT_TRAIN, got), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(got[i], site8[i]);
    assert_int_equal(s->read_sites(s, FESF_SPLIT_TEST, got), 0);
    assert_int_equal(got[0], 3);
    assert_int_equal(got[1], 1);
    assert_int_equal(s->read_sites(s, FESF_SPLIT_VAL, got), 0); /* absent split: nothing to read */
    fesf_source_close(s);

    /* the pool's sites.npy is train's */
    add_npy(&z, "images.npy", "|u1", "(4, 2, 2)", img, sizeof img);
    add_npy(&z, "labels.npy", "|u1", "(4,)", lab, sizeof lab);
    add_npy(&z, "sites.npy", "<i8", "(4,)", site8, sizeof site8);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->info.pool, 1);
    assert_int_equal(s->read_sites(s, FESF_SPLIT_TRAIN, got), 0);
    assert_int_equal(got[2], 3);
    fesf_source_close(s);

    /* no site member: no read_sites */
    write_grey(path, 4, 2, 2, ZIP_CM_DEFLATE);
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_null(s->read_sites);
    fesf_source_close(s);

    /* train has sites, test not: reading test's fails, naming the member */
    add_npy(&z, "train_images.npy", "|u1", "(4, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(4,)", lab, sizeof lab);
    add_npy(&z, "train_sites.npy", "<i8", "(4,)", site8, sizeof site8);
    add_npy(&z, "test_images.npy", "|u1", "(2, 2, 2)", img, 8);
    add_npy(&z, "test_labels.npy", "|u1", "(2,)", lab, 2);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->read_sites(s, FESF_SPLIT_TEST, got), -1);
    assert_non_null(strstr(fesf_errmsg(), "no 'test_sites.npy' member"));
    fesf_source_close(s);

    /* site id 0 */
    int64_t zero[4] = {1, 0, 2, 1};
    add_npy(&z, "train_images.npy", "|u1", "(4, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(4,)", lab, sizeof lab);
    add_npy(&z, "train_sites.npy", "<i8", "(4,)", zero, sizeof zero);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->read_sites(s, FESF_SPLIT_TRAIN, got), -1);
    assert_non_null(strstr(fesf_errmsg(), "has site id 0 at index 1 (expected 1.."));
    fesf_source_close(s);

    static const struct { const char *descr, *shape; size_t len; const char *want; } bad[] = {
        {"<i8", "(3,)", 24, "has 3 site ids but the images member has 4"},
        {"<f8", "(4,)", 32, "'train_sites' has unsupported dtype '<f8' (expected an integer type"},
        {"<i8", "(4, 2)", 64, "has shape (4, 2)"},
    };
    int64_t buf[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        add_npy(&z, "train_images.npy", "|u1", "(4, 2, 2)", img, sizeof img);
        add_npy(&z, "train_labels.npy", "|u1", "(4,)", lab, sizeof lab);
        add_npy(&z, "train_sites.npy", bad[k].descr, bad[k].shape, buf, bad[k].len);
        write_npz(path, &z, ZIP_CM_DEFLATE);
        expect_open_fails(path, bad[k].want);
    }
    add_npy(&z, "train_images.npy", "|u1", "(4, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(4,)", lab, sizeof lab);
    add_npy(&z, "val_sites.npy", "<i8", "(4,)", site8, sizeof site8);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "has 'val_sites.npy' but no 'val_images.npy' member");
}

/* Images only (a public host set): no label member is needed, and one that
 * is there is not looked at; read_labels then fails. */
static void test_images_only(void **state)
{
    FX(path, "images_only.npz");
    uint8_t img[2 * 2 * 3], lab[5] = {0};
    for (int i = 0; i < (int)sizeof img; i++)
        img[i] = (uint8_t)(i * 7);
    npz_spec z = {0};
    add_npy(&z, "train_images.npy", "|u1", "(2, 2, 3)", img, sizeof img);
    add_npy(&z, "test_images.npy", "|u1", "(1, 2, 3)", img, 6);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "no 'train_labels.npy' member");
    fesf_source *s = NULL;
    assert_int_equal(fesf_npz_open_images(&s, path), 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 2);
    assert_int_equal(s->info.n[FESF_SPLIT_TEST], 1);
    assert_true(s->info.c == 1 && s->info.h == 2 && s->info.w == 3);
    uint8_t out[sizeof img];
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 2, out), 0);
    assert_memory_equal(out, img, sizeof img);
    int32_t l[2];
    assert_int_equal(s->read_labels(s, FESF_SPLIT_TRAIN, l), -1);
    assert_non_null(strstr(fesf_errmsg(), "no labels"));
    fesf_source_close(s);

    add_npy(&z, "train_images.npy", "|u1", "(2, 2, 3)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(5,)", lab, sizeof lab); /* 5 labels for 2 images */
    write_npz(path, &z, ZIP_CM_DEFLATE);
    expect_open_fails(path, "train_labels");
    assert_int_equal(fesf_npz_open_images(&s, path), 0);
    assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 2);
    fesf_source_close(s);
}

/* A two-member archive whose images or labels header is given. */
static void write_pair(const char *path, const char *idescr, const char *ishape, size_t ibytes,
                       const char *ldescr, const char *lshape, size_t lbytes)
{
    uint8_t *img = calloc(1, ibytes + 1), *lab = calloc(1, lbytes + 1);
    assert_true(img && lab);
    npz_spec z = {0};
    add_npy(&z, "train_images.npy", idescr, ishape, img, ibytes);
    add_npy(&z, "train_labels.npy", ldescr, lshape, lab, lbytes);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    free(img);
    free(lab);
}

static void test_bad_headers(void **state)
{
    FX(path, "bad.npz");
    static const struct {
        const char *idescr, *ishape;
        size_t ibytes;
        const char *ldescr, *lshape;
        size_t lbytes;
        const char *word;
    } cases[] = {
        {"|u1", "(5, 2, 2)", 20, "|u1", "(4, 1)", 4, "has 4 labels but the images member has 5"},
        {"<f8", "(2, 2, 2)", 64, "|u1", "(2,)", 2, "unsupported dtype '<f8' (expected |u1 or <f4)"},
        {"|b1", "(2, 2, 2)", 8, "|u1", "(2,)", 2, "unsupported dtype '|b1'"},
        {"|u1", "(2, 2, 2)", 8, ">i4", "(2,)", 8, "unsupported dtype '>i4'"},
        {"|u1", "(2, 2, 2)", 8, "|b1", "(2,)", 2, "unsupported dtype '|b1'"},
        {"|u1", "(2, 2, 2)", 8, "<f4", "(2,)", 8, "unsupported dtype '<f4'"},
        {"|O", "(2, 2, 2)", 8, "|u1", "(2,)", 2, "unsupported dtype '|O'"},
        {"|u1", "(2, 4)", 8, "|u1", "(2,)", 2, "has shape (2, 4)"},
        {"|u1", "(2, 2, 2, 2, 4)", 64, "|u1", "(2,)", 2, "has shape (2, 2, 2, 2, 4)"}, /* (N,D,H,W): volumes */
        {"|u1", "(2, 0, 2)", 0, "|u1", "(2,)", 2, "image size"},
        {"|u1", "(2, 2, 2)", 8, "|u1", "(2, 2)", 4, "has shape (2, 2)"},
        {"|u1", "(0, 2, 2)", 0, "|u1", "(0,)", 0, "no images"},
        {"|u1", "(10, 4, 4)", 100, "|u1", "(10,)", 10, "truncated"},
        {"|u1", "(2, 2, 2)", 8, "<i8", "(2,)", 9, "truncated"},
        {"|u1", "(4611686018427387904, 2, 2)", 8, "|u1", "(2,)", 2, "large"},
        {"|u1", "(99999999999999999999, 2, 2)", 8, "|u1", "(2,)", 2, "malformed .npy header"},
        {"|u1", "[2, 2, 2]", 8, "|u1", "(2,)", 2, "malformed .npy header"},
        {"|u1", "(2 2, 2)", 8, "|u1", "(2,)", 2, "malformed .npy header"},
        {"|u1", "(2, 2, 2", 8, "|u1", "(2,)", 2, "malformed .npy header"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_pair(path, cases[k].idescr, cases[k].ishape, cases[k].ibytes, cases[k].ldescr,
                   cases[k].lshape, cases[k].lbytes);
        expect_open_fails(path, cases[k].word);
    }
}

/* Header dicts and preambles built by hand. */
static void test_malformed_npy(void **state)
{
    FX(path, "npy.npz");
    static const char *const dicts[][2] = {
        {"{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2, 2), }", "fortran order"},
        {"{'descr': '|u1', 'fortran_order': False}", "missing"},
        {"{'descr': '|u1', 'fortran_order': Nope, 'shape': (2, 2, 2), }", "fortran_order"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), 'x': 1}", "unexpected key"},
        {"{'descr': '|u1' 'fortran_order': False, 'shape': (2, 2, 2)}", "expected ','"},
        {"{'descr': '|u1\\'', 'fortran_order': False, 'shape': (2, 2, 2)}", "escaped"},
        {"{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,)}", "quoted string"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2)} junk", "trailing"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), ", "malformed"},
        {"('descr', '|u1')", "not a dict"},
        {"{'descr': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'fortran_order': False, 'shape': (2,)}", "too long"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (1,2,3,4,5,6,7,8,9)}", "too many"},
        {"", "not a dict"},
    };
    uint8_t data[8] = {0}, lab[2] = {0};
    for (size_t k = 0; k < sizeof dicts / sizeof dicts[0]; k++) {
        size_t len;
        npz_spec z = {0};
        uint8_t *p = npy_raw(dicts[k][0], data, sizeof data, &len);
        add(&z, "train_images.npy", p, len);
        add_npy(&z, "train_labels.npy", "|u1", "(2,)", lab, sizeof lab);
        write_npz(path, &z, ZIP_CM_DEFLATE);
        expect_open_fails(path, dicts[k][1]);
    }

    /* bad magic, unknown version, header longer than the member, tiny member */
    static const struct { const char *bytes; size_t len; const char *word; } pre[] = {
        {"\x93NUMPX\x01\x00\x10\x00{}", 12, "bad magic"},
        {"\x93NUMPY\x09\x00\x10\x00{}", 12, "version 9.0"},
        {"\x93NUMPY\x01\x00\xff\x00{}", 12, "truncated"},
        {"\x93NUMPY\x02\x00\xff\xff\xff\x00{}", 14, "too long"},
        {"\x93NU", 4, "truncated"},
    };
    for (size_t k = 0; k < sizeof pre / sizeof pre[0]; k++) {
        npz_spec z = {0};
        uint8_t *p = malloc(pre[k].len);
        assert_non_null(p);
        memcpy(p, pre[k].bytes, pre[k].len);
        add(&z, "train_images.npy", p, pre[k].len);
        add_npy(&z, "train_labels.npy", "|u1", "(2,)", lab, sizeof lab);
        write_npz(path, &z, ZIP_CM_DEFLATE);
        expect_open_fails(path, pre[k].word);
    }

    /* version 2.0 and 3.0 headers are fine */
    for (int v = 2; v <= 3; v++) {
        const char *dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }";
        size_t dl = strlen(dict), len = 12 + dl + sizeof data;
        uint8_t *p = malloc(len);
        assert_non_null(p);
        memcpy(p, "\x93NUMPY", 6);
        p[6] = (uint8_t)v, p[7] = 0;
        p[8] = (uint8_t)dl, p[9] = p[10] = p[11] = 0;
        memcpy(p + 12, dict, dl);
        memcpy(p + 12 + dl, data, sizeof data);
        npz_spec z = {0};
        add(&z, "train_images.npy", p, len);
        add_npy(&z, "train_labels.npy", "|u1", "(2,)", lab, sizeof lab);
        write_npz(path, &z, ZIP_CM_DEFLATE);
        fesf_source *s = NULL;
        assert_int_equal(fesf_npz_open(&s, path), 0);
        assert_int_equal(s->info.n[FESF_SPLIT_TRAIN], 2);
        fesf_source_close(s);
    }
}

static void test_split_mismatch(void **state)
{
    FX(path, "mismatch.npz");
    uint8_t img[2 * 3 * 3 * 3] = {0}, lab[2] = {0};
    float fimg[2 * 3 * 3] = {0};
    static const struct { const char *descr, *shape; const char *word; } val[] = {
        {"|u1", "(2, 3, 2)", "is 3x2x1 |u1 but 'train_images' is 3x3x1 |u1"},
        {"|u1", "(2, 3, 3, 3)", "is 3x3x3 |u1"},
        {"<f4", "(2, 3, 3)", "all splits must match"},
    };
    for (size_t k = 0; k < sizeof val / sizeof val[0]; k++) {
        npz_spec z = {0};
        add_npy(&z, "train_images.npy", "|u1", "(2, 3, 3)", img, 18);
        add_npy(&z, "train_labels.npy", "|u1", "(2,)", lab, sizeof lab);
        add_npy(&z, "val_images.npy", val[k].descr, val[k].shape,
                val[k].descr[1] == 'f' ? (void *)fimg : (void *)img,
                val[k].descr[1] == 'f' ? sizeof fimg : sizeof img);
        add_npy(&z, "val_labels.npy", "|u1", "(2,)", lab, sizeof lab);
        write_npz(path, &z, ZIP_CM_DEFLATE);
        expect_open_fails(path, val[k].word);
    }
}

static void test_float_out_of_range(void **state)
{
    FX(path, "frange.npz");
    float img[2 * 2 * 2] = {0, 0.5f, 1, 0, 0, 0, 1.5f, 0};
    uint8_t lab[2] = {0};
    npz_spec z = {0};
    add_npy(&z, "train_images.npy", "<f4", "(2, 2, 2)", img, sizeof img);
    add_npy(&z, "train_labels.npy", "|u1", "(2,)", lab, sizeof lab);
    write_npz(path, &z, ZIP_CM_DEFLATE);
    fesf_source *s = NULL;
    float out[8];
    assert_int_equal(fesf_npz_open(&s, path), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 1, out), 0);
    assert_int_equal(s->read_images(s, FESF_SPLIT_TRAIN, 0, 2, out), -1);
    assert_non_null(strstr(fesf_errmsg(), "value 1.5 in image 1"));
    fesf_source_close(s);
}

/* The real PneumoniaMNIST file, when present (see /work/shared/datasets). */
static void test_pneumoniamnist(void **state)
{
    const char *dir = getenv("FESF_DATASETS"); /* as in tests/e2e/lib.sh */
    char path[512];
    snprintf(path, sizeof path, "%s/pneumoniamnist_28.npz", dir ? dir : "../shared/datasets");
    if (access(path, R_OK) != 0) {
        print_message("skipping: %s not present\n", path);
        skip();
    }
    fesf_source *s = NULL;
    assert_int_equal(fesf_npz_open(&s, path), 0);
    const int64_t n[3] = {4708, 524, 624}, ones[3] = {3494, 389, 390};
    assert_int_equal(s->info.c, 1);
    assert_int_equal(s->info.h, 28);
    assert_int_equal(s->info.w, 28);
    int32_t *lab = malloc(4708 * sizeof *lab);
    uint8_t *img = malloc(4708 * 28 * 28);
    assert_true(lab && img);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(s->info.n[k], n[k]);
        assert_int_equal(s->read_labels(s, k, lab), 0);
        int64_t c1 = 0;
        for (int64_t i = 0; i < n[k]; i++)
            c1 += lab[i];
        assert_int_equal(c1, ones[k]);
        for (int64_t i = 0; i < n[k]; i += 1000)
            assert_int_equal(s->read_images(s, k, i, n[k] - i < 1000 ? n[k] - i : 1000,
                                            img + i * 784), 0);
    }
    fesf_source_close(s);
    free(lab);
    free(img);
}

/* ---- setup -------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fesf-test-npz-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grey_u8),
        cmocka_unit_test(test_rgb_nchw),
        cmocka_unit_test(test_float32),
        cmocka_unit_test(test_strips_and_restarts),
        cmocka_unit_test(test_label_dtypes),
        cmocka_unit_test(test_label_range),
        cmocka_unit_test(test_missing_empty_notzip),
        cmocka_unit_test(test_truncated_zip),
        cmocka_unit_test(test_corrupt_member),
        cmocka_unit_test(test_missing_members),
        cmocka_unit_test(test_images_only),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_malformed_npy),
        cmocka_unit_test(test_split_mismatch),
        cmocka_unit_test(test_float_out_of_range),
        cmocka_unit_test(test_pneumoniamnist),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_sites),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
