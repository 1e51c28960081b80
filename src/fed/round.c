/* One federated round (see fed.h): broadcast, weighted site sums, reduce.
 * The weights and the order of the additions live here once, so that
 * FedSGD, FedAvg and the federated GAN weight and sum their sites alike:
 * site by site in id order, each weighted by its share of the round's images. */
#include "fesf/fed.h"
#include "fesf/secagg.h"

#include <string.h>

/* The training images of the round's sites, summed in site order. */
static double round_total(const fesf_fed_round_args *a)
{
    double total = 0;
    for (int id = 1; id <= a->n_sites; id++)
        if (!a->part || a->part[id - 1]) total += a->site_n[id - 1];
    return total;
}

/* Each site of this rank that takes part adds weight * its contribution:
 * into acc directly, or under secure aggregation into a zeroed buffer of
 * its own that is quantised alone (secagg.h). */
int fesf_fed_round(const fesf_world *w, const fesf_fed_round_args *a)
{
    if (fesf_fed_bcast_f32(w, a->state, a->n_state)) return -1;
    double total = round_total(a); /* known to every rank */
    float *dst = a->secagg ? fesf_secagg_scratch(a->secagg) : a->acc;
    if (a->secagg) fesf_secagg_begin(a->secagg, a->n_acc);
    else memset(a->acc, 0, sizeof(float) * a->n_acc);
    for (int id = 1, i = 0; id <= a->n_sites; id++) {
        if (!fesf_world_owns_shard(w, id)) continue;
        if (!a->part || a->part[id - 1]) {
            if (a->secagg) memset(dst, 0, sizeof(float) * a->n_acc);
            a->add(a->ctx, i, (float)(a->site_n[id - 1] / total), dst);
            if (a->secagg) fesf_secagg_add_f32(a->secagg, dst);
        }
        i++;
    }
    return a->secagg ? fesf_secagg_finish_f32(a->secagg, a->acc) : fesf_fed_sum_to_coord(w, a->acc, a->n_acc);
}
