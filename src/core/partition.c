/* Seeded partitioning of labelled items among sites (see partition.h). */
#include "fesf/partition.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/rng.h"

#include <math.h>
#include <stdlib.h>

static void dirichlet(fesf_rng *r, double conc, int n, double *out, int stride)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        out[i * stride] = fesf_rng_gamma(r, conc);
        sum += out[i * stride];
    }
    for (int i = 0; i < n; i++) out[i * stride] = sum > 0 ? out[i * stride] / sum : 1.0 / n;
}

int fesf_partition_proportions(int scheme, double conc, int n_sites, int n_classes, uint64_t seed,
                               int attempt, double *P)
{
    if (n_sites < 1 || n_classes < 1) return fesf_error("partition needs at least one site and one class");
    if (scheme != FESF_PART_IID && !(conc > 0))
        return fesf_error("data.dirichlet = %g: the concentration must be > 0", conc);
    fesf_rng r;
    fesf_rng_init(&r, seed, (uint32_t)attempt, FESF_STREAM_PARTITION);
    if (scheme == FESF_PART_IID) {
        for (int i = 0; i < n_sites * n_classes; i++) P[i] = 1.0 / n_sites;
    } else if (scheme == FESF_PART_DIRICHLET) {
        for (int c = 0; c < n_classes; c++) dirichlet(&r, conc, n_sites, P + c, n_classes);
    } else if (scheme == FESF_PART_QUANTITY) {
        dirichlet(&r, conc, n_sites, P, n_classes); /* column 0, then copied */
        for (int s = 0; s < n_sites; s++)
            for (int c = 1; c < n_classes; c++) P[s * n_classes + c] = P[s * n_classes];
    } else {
        return fesf_error("unknown partition scheme %d", scheme);
    }
    return 0;
}

/* Indices of class c among items with sel[i] == from, in index order. */
static int64_t class_members(const int32_t *labels, int64_t n, int c, const int32_t *sel, int32_t from,
                             int32_t *idx)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] == c && sel[i] == from) idx[m++] = (int32_t)i;
    return m;
}

static int check_labels(const int32_t *labels, int64_t n, int n_classes)
{
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return fesf_error("label %d of item %lld outside [0, %d)", labels[i], (long long)i, n_classes);
    return 0;
}

int fesf_partition_assign(const int32_t *labels, int64_t n, int n_classes, int n_sites, const double *P,
                          uint64_t seed, uint32_t stream, int32_t *site_of)
{
    if (check_labels(labels, n, n_classes)) return -1;
    int32_t *idx = malloc(sizeof *idx * (size_t)(n ? n : 1));
    if (!idx) return fesf_error("out of memory partitioning %lld items", (long long)n);
    /* mark the items to assign with 0, keep the others (< 0) */
    for (int64_t i = 0; i < n; i++)
        if (site_of[i] >= 0) site_of[i] = 0;
    /* rotate the site order by one per class (from a seeded start) so that
     * rounding remainders of small classes do not all fall on one site */
    fesf_rng r0;
    fesf_rng_init(&r0, seed, stream, FESF_STREAM_PARTITION);
    int first = (int)fesf_rng_below(&r0, (uint64_t)n_sites);
    for (int c = 0; c < n_classes; c++) {
        int64_t m = class_members(labels, n, c, site_of, 0, idx);
        fesf_rng r;
        fesf_rng_init(&r, seed, stream, FESF_STREAM_PARTITION + 256u * (uint32_t)(c + 1));
        fesf_rng_shuffle_i32(&r, idx, m);
        double cum = 0;
        int64_t begin = 0;
        for (int j = 0; j < n_sites; j++) {
            int s = (first + c + j) % n_sites;
            cum += P[s * n_classes + c];
            int64_t end = j == n_sites - 1 ? m : (int64_t)llround(cum * (double)m);
            if (end > m) end = m;
            for (int64_t k = begin; k < end; k++) site_of[idx[k]] = s;
            begin = end > begin ? end : begin;
        }
    }
    free(idx);
    return 0;
}

int64_t fesf_partition_carve(const int32_t *labels, int64_t n, int n_classes, double frac, uint64_t seed,
                             uint32_t stream, int32_t *sel, int32_t from, int32_t to)
{
    if (check_labels(labels, n, n_classes)) return -1;
    int32_t *idx = malloc(sizeof *idx * (size_t)(n ? n : 1));
    if (!idx) return fesf_error("out of memory partitioning %lld items", (long long)n);
    int64_t moved = 0, avail = 0;
    for (int c = 0; c < n_classes; c++) {
        int64_t m = class_members(labels, n, c, sel, from, idx);
        fesf_rng r;
        fesf_rng_init(&r, seed, stream, FESF_STREAM_PARTITION + 256u * (uint32_t)(c + 1) + 128u);
        fesf_rng_shuffle_i32(&r, idx, m);
        int64_t take = (int64_t)llround(frac * (double)m);
        for (int64_t k = 0; k < take; k++) sel[idx[k]] = to;
        moved += take;
        avail += m;
    }
    if (frac > 0 && moved == 0 && avail > 0) { /* take one item of any class */
        for (int64_t i = 0; i < n; i++)
            if (sel[i] == from) {
                sel[i] = to;
                moved = 1;
                break;
            }
    }
    free(idx);
    return moved;
}
