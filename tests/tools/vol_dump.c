/* Test tool: the voxels fesf reads, as raw float32 little-endian, for
 * tests/py/formats_check.py.
 *   vol_dump raw nifti|dicom PATH OUT     one file (or DICOM series folder) as the
 *                                         readers give it (after slope/intercept);
 *                                         prints "D H W"
 *   vol_dump source SPEC OUT [LO,HI|-] [D,H,W]   every item of a source (splits in
 *                                         order), as prepare gets them; prints one
 *                                         line "SPLIT INDEX LABEL D H W" per item
 * Errors: one line "vol_dump: MESSAGE" on stderr, exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/volume.h"

static int fail(void)
{
    fprintf(stderr, "vol_dump: %s\n", fesf_errmsg());
    return 1;
}

static int dump_raw(const char *kind, const char *path, FILE *f)
{
    float *vox = NULL;
    int dims[3];
    int rc = strcmp(kind, "nifti") == 0 ? fesf_nifti_read(path, &vox, dims) : fesf_dicom_read(path, &vox, dims);
    if (rc) return fail();
    size_t n = (size_t)dims[0] * dims[1] * dims[2];
    if (fwrite(vox, sizeof *vox, n, f) != n) rc = fesf_error("short write");
    free(vox);
    if (rc) return fail();
    printf("%d %d %d\n", dims[0], dims[1], dims[2]);
    return 0;
}

static int dump_source(int argc, char **argv, FILE *f)
{
    fesf_volume_opts o = {0};
    if (argc > 4 && strcmp(argv[4], "-") != 0 && sscanf(argv[4], "%lf,%lf", &o.lo, &o.hi) == 2) o.window = 1;
    if (argc > 5 && sscanf(argv[5], "%d,%d,%d", &o.d, &o.h, &o.w) != 3) return fesf_error("bad size '%s'", argv[5]), fail();
    fesf_source *s = NULL;
    if (fesf_source_open(&s, argv[2], NULL, &o)) return fail();
    const fesf_source_info *in = &s->info;
    size_t per = (size_t)fesf_source_item_elems(in);
    float *buf = malloc(per * sizeof *buf);
    int rc = buf ? 0 : fesf_error("out of memory");
    for (int sp = 0; sp < FESF_NSPLITS && !rc; sp++) {
        int32_t *labels = malloc(sizeof(int32_t) * (size_t)(in->n[sp] + 1));
        if (!labels || s->read_labels(s, sp, labels)) rc = -1;
        for (int64_t i = 0; i < in->n[sp] && !rc; i++) {
            if (s->read_images(s, sp, i, 1, buf)) rc = -1;
            else if (fwrite(buf, sizeof *buf, per, f) != per) rc = fesf_error("short write");
            else printf("%s %lld %d %d %d %d\n", fesf_split_names[sp], (long long)i, labels[i], in->d, in->h, in->w);
        }
        free(labels);
    }
    free(buf);
    fesf_source_close(s);
    return rc ? fail() : 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "raw") == 0 && argc != 5)) {
        fprintf(stderr, "usage: vol_dump raw nifti|dicom PATH OUT | vol_dump source SPEC OUT [LO,HI|-] [D,H,W]\n");
        return 2;
    }
    int raw = strcmp(argv[1], "raw") == 0;
    FILE *f = fopen(argv[raw ? 4 : 3], "wb");
    if (!f) {
        fprintf(stderr, "vol_dump: cannot open '%s'\n", argv[raw ? 4 : 3]);
        return 1;
    }
    int rc = raw ? dump_raw(argv[2], argv[3], f) : dump_source(argc, argv, f);
    if (fclose(f) != 0 && !rc) {
        fprintf(stderr, "vol_dump: cannot write '%s'\n", argv[raw ? 4 : 3]);
        rc = 1;
    }
    return rc;
}
