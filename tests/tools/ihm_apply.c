/* Test tool: run the FFTW IHM kernel on raw float32 files, for the NumPy
 * cross-check (tests/py/ihm_crosscheck.py).
 * usage: ihm_apply N C H W ALPHA BETA square|circle X.f32 HOST.f32 OUT.f32 [BATCH]
 * X and OUT hold [N, C, H, W], HOST [C, H, W], native float32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/ihm.h"

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
        fprintf(stderr, "usage: ihm_apply N C H W ALPHA BETA square|circle X.f32 HOST.f32 OUT.f32 [BATCH]\n");
        return 2;
    }
    int n = atoi(argv[1]), c = atoi(argv[2]), h = atoi(argv[3]), w = atoi(argv[4]);
    int batch = argc > 11 ? atoi(argv[11]) : 16;
    fesf_ihm_params prm = {atof(argv[5]), atof(argv[6]), strcmp(argv[7], "circle") ? FESF_MASK_SQUARE : FESF_MASK_CIRCLE, 0};
    size_t img = (size_t)c * (size_t)h * (size_t)w;
    float *x = read_f32(argv[8], img * (size_t)n), *host = read_f32(argv[9], img);
    float *out = malloc(sizeof(float) * img * (size_t)n);
    fesf_ihm *p;
    if (!out || fesf_ihm_create(&p, h, w, c, batch, &prm) || fesf_ihm_set_host(p, host)) {
        fprintf(stderr, "ihm_apply: %s\n", fesf_errmsg());
        return 1;
    }
    for (int i = 0; i < n; i += batch) {
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
