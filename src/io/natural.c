/* data.partition = natural: read and check the sites the source gives its
 * images (see natural.h). */
#include "natural.h"

#include "fesf/error.h"

#include <stdlib.h>
#include <string.h>

static int by_id(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Number of distinct ids among the needed splits; -1 out of memory. */
static int distinct_sites(const fesf_source *src, const int *need, int32_t *const *site)
{
    int64_t n = 0, k = 0;
    for (int sp = 0; sp < FESF_NSPLITS; sp++) n += need[sp] ? src->info.n[sp] : 0;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!all) return fesf_error("out of memory reading the sites of '%s'", src->desc);
    for (int sp = 0; sp < FESF_NSPLITS; sp++) {
        if (!need[sp] || !src->info.n[sp]) continue;
        memcpy(all + k, site[sp], sizeof(int32_t) * (size_t)src->info.n[sp]);
        k += src->info.n[sp];
    }
    qsort(all, (size_t)n, sizeof *all, by_id);
    int d = 0;
    for (int64_t i = 0; i < n; i++) d += i == 0 || all[i] != all[i - 1];
    free(all);
    return d;
}

/* Every id in 1..n_sites, then 0-based. */
static int check_range(const fesf_source *src, const int *need, int n_sites, int32_t *const *site)
{
    for (int sp = 0; sp < FESF_NSPLITS; sp++)
        for (int64_t i = 0; need[sp] && i < src->info.n[sp]; i++) {
            if (site[sp][i] < 1 || site[sp][i] > n_sites)
                return fesf_error("data.partition = natural: %s image %lld of '%s' has site %d, outside 1..%d "
                                  "(data.sites; site ids are 1..N)", fesf_split_names[sp], (long long)i, src->desc,
                                  site[sp][i], n_sites);
            site[sp][i]--;
        }
    return 0;
}

int fesf_natural_sites(fesf_source *src, const int need[FESF_NSPLITS], int n_sites, int32_t *site[FESF_NSPLITS])
{
    for (int sp = 0; sp < FESF_NSPLITS; sp++) site[sp] = NULL;
    if (!src->read_sites)
        return fesf_error("data.partition = natural needs a site column / train_sites.npy in '%s'", src->desc);
    for (int sp = 0; sp < FESF_NSPLITS; sp++) {
        int64_t n = src->info.n[sp];
        if (!need[sp]) continue;
        if (!(site[sp] = malloc(sizeof(int32_t) * (size_t)(n ? n : 1))))
            return fesf_error("out of memory reading the sites of '%s'", src->desc);
        if (n && src->read_sites(src, sp, site[sp])) return fesf_error("data.partition = natural: %s", fesf_errmsg());
    }
    int d = distinct_sites(src, need, site);
    if (d < 0) return -1;
    if (d != n_sites)
        return fesf_error("data.partition = natural: '%s' names %d distinct site%s but data.sites = %d; set data.sites "
                          "= %d", src->desc, d, d == 1 ? "" : "s", n_sites, d);
    return check_range(src, need, n_sites, site);
}
