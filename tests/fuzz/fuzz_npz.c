/* Fuzz harness: the .npz reader (libzip, src/io/npz.c and npy.c): open,
 * then every split's labels, sites (if any) and its first images, as
 * prepare reads them.
 * Reads are bounded so that a header that claims a huge array is the
 * reader's to refuse, not the harness's to allocate. */
#include "fuzz_common.h"

#include "fesf/dataset.h"

#define MAX_ELEMS ((int64_t)1 << 22)

static void read_split(fesf_source *s, int sp)
{
    const fesf_source_info *in = &s->info;
    int64_t n = in->n[sp], img = (int64_t)in->c * in->h * in->w, k = n < 4 ? n : 4;
    if (n <= 0 || n > MAX_ELEMS || img <= 0 || img * k > MAX_ELEMS) return;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    void *buf = malloc((size_t)(img * k) * (size_t)fesf_dtype_size(in->dtype));
    if (labels && buf) {
        s->read_labels(s, sp, labels);
        if (s->read_sites) s->read_sites(s, sp, labels);
        s->read_images(s, sp, 0, k, buf);
        if (n > k) s->read_images(s, sp, n - 1, 1, buf);
    }
    free(labels), free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fesf_source *s = NULL;
    if (fesf_npz_open(&s, fuzz_file(data, size, ".npz")) == 0) {
        for (int sp = 0; sp < FESF_NSPLITS; sp++) read_split(s, sp);
        fesf_source_close(s);
    }
    return 0;
}
