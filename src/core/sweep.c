/* The points of a [sweep]: alpha-major over sweep.alpha x sweep.beta, each
 * with its own config and folder run.out/alpha<A>-beta<B>. */
#include "fesf/config.h"

#include <stdio.h>
#include <string.h>

int fesf_sweep_points(const fesf_config *cfg)
{
    int na = cfg->sweep.alpha.n ? cfg->sweep.alpha.n : 1, nb = cfg->sweep.beta.n ? cfg->sweep.beta.n : 1;
    return cfg->sweep.alpha.n || cfg->sweep.beta.n ? na * nb : 0;
}

int fesf_sweep_betas(const fesf_config *cfg) { return cfg->sweep.beta.n ? cfg->sweep.beta.n : 1; }

void fesf_sweep_point(const fesf_config *cfg, int p, fesf_config *one)
{
    int nb = fesf_sweep_betas(cfg);
    *one = *cfg;
    one->ihm.alpha = cfg->sweep.alpha.n ? cfg->sweep.alpha.v[p / nb] : cfg->ihm.alpha;
    one->ihm.beta = cfg->sweep.beta.n ? cfg->sweep.beta.v[p % nb] : cfg->ihm.beta;
    if (cfg->iqem.alpha2_auto) one->iqem.alpha2 = one->ihm.alpha;
    if (cfg->iqem.beta2_auto) one->iqem.beta2 = one->ihm.beta;
    memset(&one->sweep, 0, sizeof one->sweep);
    snprintf(one->run.out, sizeof one->run.out, "%.*s/alpha%g-beta%g", FESF_PATH_MAX - 40, cfg->run.out,
             one->ihm.alpha, one->ihm.beta);
}
