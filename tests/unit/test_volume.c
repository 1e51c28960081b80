/* Volumes (volume.h): the window and min..max maps, the trilinear resample
 * (identity, constant, known values of PyTorch's half-pixel convention;
 * tests/e2e/formats.sh checks it against torch itself), and the nifti:
 * source on small NIfTI-1 files written here: labels, splits, [0, 1]
 * voxels, slope/intercept, 4-D #T, the CSV's errors and the size check. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <nifti1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/volume.h"

static char tmpdir[64];

static void write_text(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* A NIfTI-1 .nii of int16 voxels v[t][k][j][i] (nt volumes of nz x ny x nx). */
static void write_nii(const char *name, int nx, int ny, int nz, int nt, float slope, float inter, const int16_t *v)
{
    struct nifti_1_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 348;
    h.dim[0] = nt > 1 ? 4 : 3, h.dim[1] = (short)nx, h.dim[2] = (short)ny, h.dim[3] = (short)nz, h.dim[4] = (short)nt;
    for (int k = 5; k < 8; k++) h.dim[k] = 1;
    h.datatype = DT_INT16, h.bitpix = 16;
    for (int k = 0; k < 8; k++) h.pixdim[k] = 1;
    h.vox_offset = 352, h.scl_slope = slope, h.scl_inter = inter;
    memcpy(h.magic, "n+1", 4);
    char path[256], ext[4] = {0};
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t n = (size_t)nx * ny * nz * nt;
    assert_int_equal(fwrite(&h, sizeof h, 1, f), 1);
    assert_int_equal(fwrite(ext, 1, 4, f), 4);
    assert_int_equal(fwrite(v, sizeof *v, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fesf-volume-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_window(void **state)
{
    (void)state;
    float x[6] = {-200, -100, 0, 50, 200, NAN};
    fesf_volume_window(x, 6, -100, 100);
    const float want[6] = {0, 0, 0.5f, 0.75f, 1, 0};
    for (int i = 0; i < 6; i++) assert_float_equal(x[i], want[i], 1e-7);
}

static void test_minmax(void **state)
{
    (void)state;
    float x[4] = {2, 4, 6, 10}, c[3] = {7, 7, 7};
    fesf_volume_minmax(x, 4);
    assert_float_equal(x[0], 0, 0);
    assert_float_equal(x[1], 0.25, 1e-7);
    assert_float_equal(x[3], 1, 0);
    fesf_volume_minmax(c, 3); /* a constant volume gives 0 */
    for (int i = 0; i < 3; i++) assert_float_equal(c[i], 0, 0);
}

static void test_resample_identity_constant(void **state)
{
    (void)state;
    float src[2 * 3 * 4], dst[5 * 6 * 7];
    for (int i = 0; i < 24; i++) src[i] = (float)(i * i % 7);
    float same[24];
    assert_int_equal(fesf_volume_resample(src, 2, 3, 4, same, 2, 3, 4), 0);
    for (int i = 0; i < 24; i++) assert_float_equal(same[i], src[i], 0);
    for (int i = 0; i < 24; i++) src[i] = 0.375f;
    assert_int_equal(fesf_volume_resample(src, 2, 3, 4, dst, 5, 6, 7), 0);
    for (int i = 0; i < 5 * 6 * 7; i++) assert_float_equal(dst[i], 0.375f, 1e-7);
    assert_int_equal(fesf_volume_resample(src, 0, 3, 4, dst, 5, 6, 7), -1);
    assert_non_null(strstr(fesf_errmsg(), "sizes must be positive"));
}

/* align_corners=False: 2 -> 4 is [x0, 3/4 x0 + 1/4 x1, 1/4 x0 + 3/4 x1, x1]; 4 -> 2 averages pairs. */
static void test_resample_known(void **state)
{
    (void)state;
    float up[2] = {0, 4}, out4[4], down[4] = {1, 3, 10, 20}, out2[2];
    assert_int_equal(fesf_volume_resample(up, 1, 1, 2, out4, 1, 1, 4), 0);
    const float want[4] = {0, 1, 3, 4};
    for (int i = 0; i < 4; i++) assert_float_equal(out4[i], want[i], 1e-6);
    assert_int_equal(fesf_volume_resample(down, 4, 1, 1, out2, 2, 1, 1), 0);
    assert_float_equal(out2[0], 2, 1e-6);
    assert_float_equal(out2[1], 15, 1e-6);
    /* along H of a 1 x 2 x 1 volume to 1 x 3 x 1: src positions 1/6 - 1/2 < 0 -> 0, 1/2, 7/6 -> clamp */
    float col[2] = {0, 6}, out3[3];
    assert_int_equal(fesf_volume_resample(col, 1, 2, 1, out3, 1, 3, 1), 0);
    assert_float_equal(out3[0], 0, 1e-6);
    assert_float_equal(out3[1], 3, 1e-6);
    assert_float_equal(out3[2], 6, 1e-6);
}

/* Two 2 x 2 x 3 volumes and one 4-D file of two; their items through a nifti: source. */
static void test_nifti_source(void **state)
{
    (void)state;
    int16_t a[12], b[12], c[24];
    for (int i = 0; i < 12; i++) a[i] = (int16_t)i, b[i] = (int16_t)(100 - 3 * i);
    for (int i = 0; i < 24; i++) c[i] = (int16_t)(i % 12 == 5 ? 50 : -50);
    write_nii("a.nii", 3, 2, 2, 1, 2.0f, -7.0f, a);
    write_nii("b.nii", 3, 2, 2, 1, 0.0f, 5.0f, b); /* slope 0: no scaling */
    write_nii("c.nii", 3, 2, 2, 2, 1.0f, 0.0f, c);
    write_text("l.csv", "file,label,split\na.nii,1,train\nb.nii,0,test\nc.nii#1,3,train\n");
    char csv[256];
    snprintf(csv, sizeof csv, "%s/l.csv", tmpdir);
    fesf_source *s = NULL;
    assert_int_equal(fesf_nifti_open(&s, tmpdir, csv, NULL), 0);
    assert_int_equal(s->info.n[0], 2);
    assert_int_equal(s->info.n[2], 1);
    assert_int_equal(s->info.d, 2);
    assert_int_equal(s->info.h, 2);
    assert_int_equal(s->info.w, 3);
    assert_int_equal(s->info.dtype, FESF_F32);
    int32_t lab[2];
    assert_int_equal(s->read_labels(s, 0, lab), 0);
    assert_int_equal(lab[0], 1);
    assert_int_equal(lab[1], 3);
    float v[2 * 12];
    assert_int_equal(s->read_images(s, 0, 0, 2, v), 0);
    for (int i = 0; i < 12; i++) assert_float_equal(v[i], i / 11.0f, 1e-6); /* min..max */
    for (int i = 0; i < 12; i++) assert_float_equal(v[12 + i], i == 5 ? 1.0f : 0.0f, 0);
    fesf_source_close(s);
    float *raw = NULL;
    int dims[3];
    char path[256];
    snprintf(path, sizeof path, "%s/a.nii", tmpdir);
    assert_int_equal(fesf_nifti_read(path, &raw, dims), 0);
    for (int i = 0; i < 12; i++) assert_float_equal(raw[i], 2.0f * i - 7.0f, 0);
    free(raw);
    snprintf(path, sizeof path, "%s/b.nii", tmpdir);
    assert_int_equal(fesf_nifti_read(path, &raw, dims), 0);
    assert_float_equal(raw[1], 97.0f, 0);
    free(raw);
    /* a window and a resample */
    fesf_volume_opts o = {1, -7.0, 15.0, 4, 4, 6};
    assert_int_equal(fesf_nifti_open(&s, tmpdir, csv, &o), 0);
    assert_int_equal(s->info.d, 4);
    assert_int_equal(s->info.w, 6);
    float big[4 * 4 * 6];
    assert_int_equal(s->read_images(s, 0, 0, 1, big), 0);
    assert_float_equal(big[0], 0.0f, 1e-6);
    assert_float_equal(big[4 * 4 * 6 - 1], 1.0f, 1e-6);
    fesf_source_close(s);
}

/* One CSV line and the error it must give. */
static void csv_error(const char *text, const char *want)
{
    write_text("e.csv", text);
    char csv[256];
    snprintf(csv, sizeof csv, "%s/e.csv", tmpdir);
    fesf_source *s = (fesf_source *)1;
    assert_int_equal(fesf_nifti_open(&s, tmpdir, csv, NULL), -1);
    assert_null(s);
    if (!strstr(fesf_errmsg(), want)) fail_msg("'%s' gave '%s', want '%s'", text, fesf_errmsg(), want);
}

static void test_csv_errors(void **state)
{
    (void)state;
    int16_t a[12] = {0}, big[24] = {0};
    write_nii("z.nii", 3, 2, 2, 1, 1, 0, a);
    write_nii("y.nii", 3, 4, 2, 1, 1, 0, big);
    csv_error("", "no volumes listed");
    csv_error("z.nii,0,test\n", "no train volumes listed");
    csv_error("z.nii,x\nz.nii,zero\n", "line 2: label 'zero' is not an integer");
    csv_error("z.nii,-1\n", "line 1: label '-1' is not an integer in 0..");
    csv_error("z.nii,0,holdout\n", "split 'holdout' is not train, val or test");
    csv_error("z.nii\n", "expected file,label[,split] (too few fields)");
    csv_error("z.nii,0,train,1\n", "(too many fields)");
    csv_error("gone.nii,0\n", "line 1: cannot open 'gone.nii'");
    csv_error("file,label,colour\nz.nii,0,red\n", "unknown column 'colour'");
    csv_error("file,label,site\nz.nii,0,0\n", "site '0' is not an integer in 1..");
    csv_error("z.nii,0\ny.nii,1\n", "y.nii': volume of 2 x 4 x 3 differs from 2 x 2 x 3 of");
    csv_error("z.nii#1,0\n", "z.nii#1': volume 1 out of range (the file has 1)");
    write_text("bad.nii", "not a nifti file at all, but long enough to look like one maybe............................");
    csv_error("bad.nii,0\n", "bad.nii': not a nifti-1 or nifti-2 file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_minmax),
        cmocka_unit_test(test_resample_identity_constant),
        cmocka_unit_test(test_resample_known),
        cmocka_unit_test_setup_teardown(test_nifti_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
