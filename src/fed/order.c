/* Data order of a site (see fed.h): epoch e is a shuffle keyed by
 * (seed, site, e), so any position of the stream can be computed from the
 * round alone. Shared by training, the federated GAN and the audit. */
#include "fesf/fed.h"
#include "fesf/rng.h"

void fesf_fed_epoch_order(uint64_t seed, int site_id, int64_t epoch, int64_t n, int32_t *order)
{
    fesf_rng r;
    fesf_rng_init(&r, seed, (uint32_t)site_id, FESF_STREAM_DATA_ORDER + 256u * (uint32_t)epoch);
    for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i;
    fesf_rng_shuffle_i32(&r, order, n);
}

int fesf_fed_sgd_batch(uint64_t seed, int site_id, int64_t n, int64_t round, int batch, int32_t *order, int32_t *ids)
{
    int k = (int)(n < batch ? n : batch);
    int64_t pos = round * k, epoch = -1;
    for (int i = 0; i < k; i++, pos++) {
        if (pos / n != epoch) fesf_fed_epoch_order(seed, site_id, epoch = pos / n, n, order);
        ids[i] = order[pos % n];
    }
    return k;
}
