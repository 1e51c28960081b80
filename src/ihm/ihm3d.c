/* IHM for volumes, serial (see fesf/ihm3d.h). */
#include "fesf/ihm3d.h"

#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/config.h"
#include "fesf/error.h"
#include "ihm3d_internal.h"

#define ZERO_TOL 1e-6 /* host bins at or below this fraction of the channel's largest count as zero */

struct fesf_ihm3d {
    int d, h, w, c;
    size_t vox, bins;           /* D H W; D H (W/2 + 1) */
    fesf_ihm_params prm;
    int64_t n_inside;
    fesf_ihm3d_bufs b;          /* real [vox], spec [bins] */
    int has_host;
};

/* Centred frequency of FFT index k of an n-point transform: [-floor(n/2), ceil(n/2)). */
static int centred(int k, int n) { return k < (n + 1) / 2 ? k : k - n; }

int fesf_ihm3d_in_mask(int u, int v, int w, int d, int h, int wd, const fesf_ihm_params *prm)
{
    const double tol = 1.0 + 1e-12;
    if (prm->mask == FESF_MASK_CIRCLE) { /* (u/D)^2 + (v/H)^2 + (w/W)^2 <= (alpha/2)^2, cleared of divisions */
        double a = 2.0 * u * h * wd, b = 2.0 * v * d * wd, c = 2.0 * w * d * h, r = prm->alpha * d * h * wd;
        return a * a + b * b + c * c <= r * r * tol;
    }
    return 2.0 * abs(u) <= prm->alpha * d * tol && 2.0 * abs(v) <= prm->alpha * h * tol &&
           2.0 * abs(w) <= prm->alpha * wd * tol;
}

static void mark_mask(fesf_ihm3d *p)
{
    const int hw = p->w / 2 + 1;
    size_t k = 0;
    p->n_inside = 0;
    for (int a = 0; a < p->d; a++)
        for (int b = 0; b < p->h; b++)
            for (int l = 0; l < hw; l++, k++) {
                p->b.inside[k] = (unsigned char)fesf_ihm3d_in_mask(centred(a, p->d), centred(b, p->h), l, p->d, p->h,
                                                                 p->w, &p->prm);
                p->n_inside += p->b.inside[k];
            }
}

int fesf_ihm3d_check_shape(int d, int h, int w, int c, const fesf_ihm_params *prm)
{
    if (fesf_ihm_check(prm)) return -1;
    if (prm->noise > 0) return fesf_error("ihm.noise is not implemented for volumes yet");
    if (d < 1 || h < 1 || w < 1 || (c != 1 && c != 3))
        return fesf_error("bad volume shape %dx%dx%dx%d for IHM (C must be 1 or 3)", c, d, h, w);
    return 0;
}

double fesf_ihm3d_spec_max(const fftwf_complex *spec, size_t bins)
{
    double top = 0;
    for (size_t k = 0; k < bins; k++) top = fmax(top, cabsf(spec[k]));
    return top;
}

void fesf_ihm3d_host_terms(const fftwf_complex *spec, const unsigned char *inside, size_t bins, double top,
                           double norm, double beta, fftwf_complex *base, fftwf_complex *gain)
{
    for (size_t k = 0; k < bins; k++) {
        double complex hk = (double)crealf(spec[k]) + I * (double)cimagf(spec[k]);
        double mag = cabs(hk);
        double complex u = mag > ZERO_TOL * top ? hk / mag : 1.0; /* arg 0 = 0, at the rounding floor too */
        base[k] = (fftwf_complex)((inside[k] ? 1.0 - beta : 1.0) * norm * hk);
        gain[k] = (fftwf_complex)(inside[k] ? beta * norm * u : 0.0);
    }
}

void fesf_ihm3d_mix(fftwf_complex *spec, const unsigned char *inside, const fftwf_complex *base,
                    const fftwf_complex *gain, size_t bins)
{
    for (size_t k = 0; k < bins; k++) spec[k] = inside[k] ? base[k] + cabsf(spec[k]) * gain[k] : base[k];
}

int fesf_ihm3d_create(fesf_ihm3d **out, int d, int h, int w, int c, const fesf_ihm_params *prm)
{
    *out = NULL;
    if (fesf_ihm3d_check_shape(d, h, w, c, prm)) return -1;
    fesf_ihm3d *p = calloc(1, sizeof *p);
    if (!p) return fesf_error("out of memory");
    p->d = d, p->h = h, p->w = w, p->c = c, p->prm = *prm;
    p->vox = (size_t)d * h * w, p->bins = (size_t)d * h * (size_t)(w / 2 + 1);
    p->b.inside = malloc(p->bins);
    p->b.base = fftwf_alloc_complex(p->bins * (size_t)c);
    p->b.gain = fftwf_alloc_complex(p->bins * (size_t)c);
    p->b.real = fftwf_alloc_real(p->vox);
    p->b.spec = fftwf_alloc_complex(p->bins);
    if (!p->b.inside || !p->b.base || !p->b.gain || !p->b.real || !p->b.spec) {
        fesf_ihm3d_destroy(p);
        return fesf_error("out of memory for a %dx%dx%d IHM plan", d, h, w);
    }
    p->b.fwd = fftwf_plan_dft_r2c_3d(d, h, w, p->b.real, p->b.spec, FFTW_ESTIMATE);
    p->b.inv = fftwf_plan_dft_c2r_3d(d, h, w, p->b.spec, p->b.real, FFTW_ESTIMATE);
    if (!p->b.fwd || !p->b.inv) {
        fesf_ihm3d_destroy(p);
        return fesf_error("FFTW could not plan a %dx%dx%d transform", d, h, w);
    }
    mark_mask(p);
    *out = p;
    return 0;
}

void fesf_ihm3d_bufs_free(fesf_ihm3d_bufs *b)
{
    if (b->fwd) fftwf_destroy_plan(b->fwd);
    if (b->inv) fftwf_destroy_plan(b->inv);
    free(b->inside);
    fftwf_free(b->base), fftwf_free(b->gain), fftwf_free(b->real), fftwf_free(b->spec);
}

void fesf_ihm3d_destroy(fesf_ihm3d *p)
{
    if (!p) return;
    fesf_ihm3d_bufs_free(&p->b);
    free(p);
}

int fesf_ihm3d_set_host(fesf_ihm3d *p, const float *host)
{
    for (int ch = 0; ch < p->c; ch++) {
        memcpy(p->b.real, host + (size_t)ch * p->vox, sizeof(float) * p->vox);
        fftwf_execute(p->b.fwd);
        fesf_ihm3d_host_terms(p->b.spec, p->b.inside, p->bins, fesf_ihm3d_spec_max(p->b.spec, p->bins), 1.0 / (double)p->vox,
                              p->prm.beta, p->b.base + (size_t)ch * p->bins, p->b.gain + (size_t)ch * p->bins);
    }
    p->has_host = 1;
    return 0;
}

int fesf_ihm3d_apply(fesf_ihm3d *p, const float *x, float *out, int n)
{
    if (!p->has_host) return fesf_error("IHM: no host volume set");
    for (size_t v = 0; v < (size_t)n * p->c; v++) {
        const fftwf_complex *base = p->b.base + (v % p->c) * p->bins, *gain = p->b.gain + (v % p->c) * p->bins;
        memcpy(p->b.real, x + v * p->vox, sizeof(float) * p->vox);
        fftwf_execute(p->b.fwd);
        fesf_ihm3d_mix(p->b.spec, p->b.inside, base, gain, p->bins);
        fftwf_execute(p->b.inv);
        memcpy(out + v * p->vox, p->b.real, sizeof(float) * p->vox);
    }
    return 0;
}

int64_t fesf_ihm3d_mask_bins(const fesf_ihm3d *p) { return p->n_inside; }

int fesf_ihm3d_mask_amplitude(fesf_ihm3d *p, const float *x, int n, float *amp)
{
    for (size_t v = 0; v < (size_t)n * p->c; v++) {
        memcpy(p->b.real, x + v * p->vox, sizeof(float) * p->vox);
        fftwf_execute(p->b.fwd);
        float *a = amp + v * (size_t)p->n_inside;
        for (size_t k = 0; k < p->bins; k++)
            if (p->b.inside[k]) *a++ = cabsf(p->b.spec[k]);
    }
    return 0;
}
