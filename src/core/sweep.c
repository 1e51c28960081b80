/* The points of a [sweep]: alpha-major over sweep.alpha x sweep.beta x
 * sweep.noise, each with its own config and folder
 * run.out/alpha<A>-beta<B>[-noise<S>] (the noise part only when sweep.noise
 * is set). */
#include "fesf/config.h"

#include <stdio.h>
#include <string.h>

static int count(const fesf_list *l) { return l->n ? l->n : 1; }

int fesf_sweep_points(const fesf_config *cfg)
{
    const fesf_list *a = &cfg->sweep.alpha, *b = &cfg->sweep.beta, *s = &cfg->sweep.noise;
    return a->n || b->n || s->n ? count(a) * count(b) * count(s) : 0;
}

int fesf_sweep_betas(const fesf_config *cfg) { return count(&cfg->sweep.beta); }
int fesf_sweep_noises(const fesf_config *cfg) { return count(&cfg->sweep.noise); }

void fesf_sweep_point(const fesf_config *cfg, int p, fesf_config *one)
{
    int nb = fesf_sweep_betas(cfg), ns = fesf_sweep_noises(cfg);
    int ia = p / (nb * ns), ib = p / ns % nb, is = p % ns;
    *one = *cfg;
    one->ihm.alpha = cfg->sweep.alpha.n ? cfg->sweep.alpha.v[ia] : cfg->ihm.alpha;
    one->ihm.beta = cfg->sweep.beta.n ? cfg->sweep.beta.v[ib] : cfg->ihm.beta;
    one->ihm.noise = cfg->sweep.noise.n ? cfg->sweep.noise.v[is] : cfg->ihm.noise;
    if (cfg->iqem.alpha2_auto) one->iqem.alpha2 = one->ihm.alpha;
    if (cfg->iqem.beta2_auto) one->iqem.beta2 = one->ihm.beta;
    fesf_config_resolve_beta(one);
    memset(&one->sweep, 0, sizeof one->sweep);
    int n = snprintf(one->run.out, sizeof one->run.out, "%.*s/alpha%g-beta%g", FESF_PATH_MAX - 60, cfg->run.out,
                     one->ihm.alpha, one->ihm.beta);
    if (cfg->sweep.noise.n) snprintf(one->run.out + n, sizeof one->run.out - (size_t)n, "-noise%g", one->ihm.noise);
}
