/* Test tool: secure aggregation's sums (fesf_secagg, secagg.h) under
 * mpirun, against the exact sum. S sites (ids 1..S, site s on the rank
 * fesf_world_owns_shard gives it) each contribute N floats drawn from their
 * own seed (normal times 10^u, u uniform in [-6, 2], so the sum mixes
 * magnitudes); rank 0 redraws every site's values, sums them in double
 * (exact enough: far below the bound) and compares the decoded masked sum:
 *   |decoded - exact| <= S * 2^-33 + half an ulp of the float result.
 * The same for N doubles of each site (bound S * 2^-17). With CLAMP, site 1's
 * first entries are 1e10 and NaN (clamped and counted: rank 0 warns).
 * Prints on rank 0:
 *   secagg sites S ranks R n N f32_err E f32_bound B f64_err E f64_bound B hash H
 * and exits 1 if a bound is broken; hash (FNV-1a of the decoded floats) is
 * the same for any number of ranks.
 * usage: mpirun -np K secagg_sum S N [clamp] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/error.h"
#include "fesf/rng.h"
#include "fesf/secagg.h"
#include "fesf/world.h"

static double value(fesf_rng *r) { return fesf_rng_normal(r) * pow(10, -6 + 8 * fesf_rng_uniform(r)); }

static void site_values(int s, size_t n, int clamp, float *f, double *d)
{
    fesf_rng r;
    fesf_rng_init(&r, 1234, (uint32_t)s, 0);
    for (size_t i = 0; i < n; i++) f[i] = (float)value(&r), d[i] = value(&r) * 1e4;
    if (clamp && s == 1 && n >= 2) f[0] = 1e10f, f[1] = NAN;
}

int main(int argc, char **argv)
{
    fesf_world w;
    if (argc < 3 || fesf_world_init(&w, &argc, &argv)) return fprintf(stderr, "usage: secagg_sum S N [clamp]\n"), 2;
    int S = atoi(argv[1]), clamp = argc > 3;
    size_t n = (size_t)atol(argv[2]);
    float *f = malloc(sizeof(float) * n), *out = calloc(n, sizeof(float));
    double *d = malloc(sizeof(double) * n), *dsum = calloc(n, sizeof(double)), *ex = calloc(n, sizeof(double)),
           *exd = calloc(n, sizeof(double));
    fesf_secagg *sa = NULL;
    if (!f || !out || !d || !dsum || !ex || !exd || fesf_secagg_create(&sa, &w, n)) {
        fprintf(stderr, "secagg_sum: rank %d: %s\n", w.rank, fesf_errmsg());
        fesf_world_abort(&w, 1);
    }
    fesf_secagg_begin(sa, n);
    for (int s = 1; s <= S; s++) {
        if (w.rank == 0 || !fesf_world_owns_shard(&w, s)) continue;
        site_values(s, n, clamp, f, d);
        fesf_secagg_add_f32(sa, f);
        for (size_t i = 0; i < n; i++) dsum[i] += d[i]; /* doubles: one contribution per rank */
    }
    if (fesf_secagg_finish_f32(sa, out) || fesf_secagg_sum_f64(sa, dsum, n)) {
        fprintf(stderr, "secagg_sum: rank %d: %s\n", w.rank, fesf_errmsg());
        fesf_world_abort(&w, 1);
    }
    int bad = 0;
    if (w.rank == 0) {
        for (int s = 1; s <= S; s++) {
            site_values(s, n, clamp, f, d);
            for (size_t i = 0; i < n; i++) {
                double x = f[i];
                if (clamp && s == 1 && i < 2) x = i == 0 ? ldexp(1.0, 31) - ldexp(1.0, -21) : 0; /* the clamped values */
                ex[i] += x, exd[i] += d[i];
            }
        }
        double ef = 0, bf = 0, ed = 0, bd = S * ldexp(1.0, -17) * (w.size - 1) / S; /* doubles: one rounding per rank */
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < n; i++) {
            double e = fabs(out[i] - ex[i]), b = S * ldexp(1.0, -33) + 0.5 * (nextafterf(fabsf(out[i]), INFINITY) - fabsf(out[i]));
            ef = fmax(ef, e), bf = fmax(bf, b);
            bad |= !(e <= b);
            ed = fmax(ed, fabs(dsum[i] - exd[i]));
            uint32_t u;
            memcpy(&u, &out[i], 4);
            h = (h ^ u) * 1099511628211ull;
        }
        bad |= !(ed <= bd + 1e-12 * 1e6);
        printf("secagg sites %d ranks %d n %zu f32_err %.3g f32_bound %.3g f64_err %.3g f64_bound %.3g hash %016llx\n", S,
               w.size, n, ef, bf, ed, bd, (unsigned long long)h);
    }
    fesf_secagg_free(sa);
    free(f), free(out), free(d), free(dsum), free(ex), free(exd);
    fesf_world_finalize(&w);
    return bad;
}
