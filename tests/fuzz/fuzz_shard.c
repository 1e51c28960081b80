/* Fuzz harness: opening an HDF5 shard (fesf_h5_open through
 * fesf_shard_open) and reading it as the stages do: the root metadata, then
 * every /plain and /synthetic split's shape, labels, hosts and first images.
 * Crashes inside libhdf5 itself (not instrumented) are reported as the
 * library's; the harness is for fesf's checks around it. */
#include "fuzz_common.h"

#include "fesf/shard.h"

#define MAX_ELEMS ((int64_t)1 << 22)

static void read_split(fesf_shard *sh, const char *group, int sp)
{
    fesf_shard_split in;
    if (fesf_shard_info(sh, group, sp, &in)) return;
    int64_t img = (int64_t)in.c * in.h * in.w, k = in.n < 4 ? in.n : 4;
    if (in.n <= 0 || in.n > MAX_ELEMS || img <= 0 || img * k > MAX_ELEMS) return;
    int32_t *ints = malloc(sizeof(int32_t) * (size_t)in.n);
    float *buf = malloc(sizeof(float) * (size_t)(img * k));
    if (ints && buf) {
        fesf_shard_read_labels(sh, group, sp, 0, in.n, ints);
        fesf_shard_read_hosts(sh, group, sp, 0, in.n, ints);
        fesf_shard_read_images(sh, group, sp, 0, k, &in, FESF_F32, buf);
    }
    free(ints), free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fesf_shard *sh = NULL;
    fesf_shard_meta m;
    if (fesf_shard_open(&sh, fuzz_file(data, size, ".h5")) == 0) {
        fesf_shard_meta_read(sh, &m);
        for (int sp = 0; sp < FESF_NSPLITS; sp++) read_split(sh, "plain", sp), read_split(sh, "synthetic", sp);
    }
    fesf_shard_close(sh);
    return 0;
}
