/* Test tool: run the FFTW IHM kernel on raw float32 files, for the NumPy
 * cross-check (tests/py/ihm_crosscheck.py).
 * usage: ihm_apply N C [Dx]H W ALPHA BETA square|circle X.f32 HOST.f32 OUT.f32 [BATCH]
 * X and OUT hold [N, C, H, W], HOST [C, H, W], native float32; with DxH for
 * the third argument they are volumes [N, C, D, H, W] through the 3-D IHM
 * (fesf/ihm3d.h; BATCH is then ignored). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/ihm.h"
#include "fesf/ihm3d.h"

static float *read_f32(const char *path, size_t n)
{
    float *v = malloc(sizeof(float) * n);
    FILE *f = fopen(path, "rb");
    if (!v || !f || fread(v, sizeof(float), n, f) != n) {
        fprintf(stderr, "ihm_apply: cannot read %zu floats from '%s'\n", n, path);
        exit(1);
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 11) {
        fprintf(stderr, "usage: ihm_apply N C [Dx]H W ALPHA BETA square|circle X.f32 HOST.f32 OUT.f32 [BATCH]\n");
        return 2;
    }
    int n = atoi(argv[1]), c = atoi(argv[2]), h = atoi(argv[3]), w = atoi(argv[4]), d = 0;
    if (strchr(argv[3], 'x')) sscanf(argv[3], "%dx%d", &d, &h);
    int batch = argc > 11 ? atoi(argv[11]) : 16;
    fesf_ihm_params prm = {atof(argv[5]), atof(argv[6]), strcmp(argv[7], "circle") ? FESF_MASK_SQUARE : FESF_MASK_CIRCLE, 0};
    size_t img = (size_t)c * (size_t)(d ? d : 1) * (size_t)h * (size_t)w;
    float *x = read_f32(argv[8], img * (size_t)n), *host = read_f32(argv[9], img);
    float *out = malloc(sizeof(float) * img * (size_t)n);
    if (d) {
        fesf_ihm3d *p3;
        if (!out || fesf_ihm3d_create(&p3, d, h, w, c, &prm) || fesf_ihm3d_set_host(p3, host) ||
            fesf_ihm3d_apply(p3, x, out, n)) {
            fprintf(stderr, "ihm_apply: %s\n", fesf_errmsg());
            return 1;
        }
        fesf_ihm3d_destroy(p3);
        batch = n;
    }
    fesf_ihm *p = NULL;
    if (!d && (!out || fesf_ihm_create(&p, h, w, c, batch, &prm) || fesf_ihm_set_host(p, host))) {
        fprintf(stderr, "ihm_apply: %s\n", fesf_errmsg());
        return 1;
    }
    for (int i = 0; i < n && !d; i += batch) {
        int k = n - i < batch ? n - i : batch;
        if (fesf_ihm_apply(p, x + img * (size_t)i, out + img * (size_t)i, k)) {
            fprintf(stderr, "ihm_apply: %s\n", fesf_errmsg());
            return 1;
        }
    }
    FILE *f = fopen(argv[10], "wb");
    if (!f || fwrite(out, sizeof(float), img * (size_t)n, f) != img * (size_t)n || fclose(f)) {
        fprintf(stderr, "ihm_apply: cannot write '%s'\n", argv[10]);
        return 1;
    }
    fesf_ihm_destroy(p);
    free(x), free(host), free(out);
    return 0;
}
