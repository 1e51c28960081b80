/* Test tool: print the FedSGD batches fesf train uses, one line per round:
 * "ROUND i0 i1 ..." (indices into the site's /<input>/train split).
 * usage: fed_batches SEED SITE_ID N_TRAIN BATCH ROUNDS */
#include <stdio.h>
#include <stdlib.h>

#include "fesf/fed.h"

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: fed_batches SEED SITE_ID N_TRAIN BATCH ROUNDS\n");
        return 2;
    }
    uint64_t seed = strtoull(argv[1], NULL, 10);
    int site = atoi(argv[2]), batch = atoi(argv[4]), rounds = atoi(argv[5]);
    int64_t n = atoll(argv[3]);
    int32_t *order = malloc(sizeof(int32_t) * (size_t)n), *ids = malloc(sizeof(int32_t) * (size_t)batch);
    if (!order || !ids) return 1;
    for (int r = 0; r < rounds; r++) {
        int k = fesf_fed_sgd_batch(seed, site, n, r, batch, order, ids);
        printf("%d", r);
        for (int i = 0; i < k; i++) printf(" %d", ids[i]);
        putchar('\n');
    }
    free(order), free(ids);
    return 0;
}
