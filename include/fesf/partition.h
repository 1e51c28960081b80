/* Partitioning a labelled dataset among sites, deterministically in a seed.
 *
 * A site x class proportion matrix P (P[s*n_classes + c], each class's
 * column sums to 1) is drawn once per federation:
 *   iid        P[s][c] = 1/S
 *   dirichlet  P[:,c] ~ Dirichlet(conc * 1_S) per class (label skew)
 *   quantity   P[s][c] = q_s, q ~ Dirichlet(conc * 1_S) (size skew, same mix)
 * and applied to every split, so a site's train, val and test splits have the
 * same class mix. Within a class, items are shuffled by a seeded stream and
 * cut into runs whose ends are round(cumsum(P[:,c]) * n_c), the sites taken in
 * an order rotated per class so rounding remainders spread over sites. */
#ifndef FESF_PARTITION_H
#define FESF_PARTITION_H

#include <stdint.h>

/* Draw P (n_sites * n_classes doubles). `attempt` selects a fresh draw for
 * retries. 0 or -1 (bad arguments). */
int fesf_partition_proportions(int scheme, double conc, int n_sites, int n_classes, uint64_t seed,
                               int attempt, double *P);

/* Assign the items of one split: site_of[i] = s in [0, n_sites) for items
 * with site_of[i] >= 0 on entry; items with site_of[i] < 0 (e.g. public) are
 * left alone. `stream` separates splits. 0 or -1 (a label out of range). */
int fesf_partition_assign(const int32_t *labels, int64_t n, int n_classes, int n_sites, const double *P,
                          uint64_t seed, uint32_t stream, int32_t *site_of);

/* Choose round(frac * n_c) items of each class c among those with
 * sel[i] == from, and set sel[i] = to for them (a stratified random subset).
 * If frac > 0 and the result would be empty, one item is taken. Returns the
 * number of items moved, or -1. */
int64_t fesf_partition_carve(const int32_t *labels, int64_t n, int n_classes, double frac, uint64_t seed,
                             uint32_t stream, int32_t *sel, int32_t from, int32_t to);

#endif
