/* Test tool: write N phantom labels (uint8) then their N*S*S pixels (uint8)
 * to a raw file, for tests/py/phantom_stats.py.
 * usage: phantom_dump N SIZE SEED OUT */
#include <stdio.h>
#include <stdlib.h>

#include "fesf/dataset.h"
#include "fesf/error.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: phantom_dump N SIZE SEED OUT\n");
        return 2;
    }
    fesf_phantom_params p = {atoi(argv[2]), atoll(argv[1]), strtoull(argv[3], NULL, 10)};
    fesf_source *s;
    if (fesf_phantom_open(&s, &p)) {
        fprintf(stderr, "phantom_dump: %s\n", fesf_errmsg());
        return 1;
    }
    size_t n = (size_t)p.count, px = (size_t)p.size * (size_t)p.size;
    int32_t *labels = malloc(sizeof(int32_t) * n);
    unsigned char *lab8 = malloc(n), *img = malloc(n * px);
    FILE *f = fopen(argv[4], "wb");
    if (!labels || !lab8 || !img || !f || s->read_labels(s, 0, labels) || s->read_images(s, 0, 0, (int64_t)n, img)) {
        fprintf(stderr, "phantom_dump: %s\n", fesf_errmsg());
        return 1;
    }
    for (size_t i = 0; i < n; i++) lab8[i] = (unsigned char)labels[i];
    fwrite(lab8, 1, n, f);
    fwrite(img, 1, n * px, f);
    fclose(f);
    fesf_source_close(s);
    free(labels), free(lab8), free(img);
    return 0;
}
