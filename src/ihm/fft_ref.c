/* Bare FFTW reference for `fesf bench ihm` (see ihm.h): a batched real-to-
 * complex forward and complex-to-real inverse over contiguous images, with
 * nothing of IHM around it. Kept here so that only src/ihm includes fftw3.h. */
#include "fesf/error.h"
#include "fesf/ihm.h"

#include <fftw3.h>
#include <stdlib.h>
#include <string.h>

struct fesf_fft_ref {
    fftwf_plan fwd, inv;
    float *real;          /* [batch*c][h*w] input, then the c2r output */
    fftwf_complex *spec;  /* [batch*c][h*(w/2+1)] half spectra */
    size_t len;           /* batch*c*h*w floats copied in per execution */
};

int fesf_fft_ref_create(fesf_fft_ref **out, int batch, int c, int h, int w, int measure)
{
    fesf_fft_ref *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r) return fesf_error("out of memory for the FFTW reference");
    int n[2] = {h, w}, howmany = batch * c;
    size_t hw = (size_t)h * (size_t)w, hwc = (size_t)h * (size_t)(w / 2 + 1);
    unsigned flags = measure ? FFTW_MEASURE : FFTW_ESTIMATE;
    r->len = (size_t)howmany * hw;
    r->real = fftwf_alloc_real(r->len);
    r->spec = fftwf_alloc_complex((size_t)howmany * hwc);
    if (!r->real || !r->spec) {
        fesf_fft_ref_destroy(r);
        return fesf_error("out of memory for the FFTW reference");
    }
    r->fwd = fftwf_plan_many_dft_r2c(2, n, howmany, r->real, NULL, 1, (int)hw, r->spec, NULL, 1, (int)hwc, flags);
    r->inv = fftwf_plan_many_dft_c2r(2, n, howmany, r->spec, NULL, 1, (int)hwc, r->real, NULL, 1, (int)hw, flags);
    if (!r->fwd || !r->inv) {
        fesf_fft_ref_destroy(r);
        return fesf_error("cannot plan the FFTW reference");
    }
    *out = r;
    return 0;
}

void fesf_fft_ref_execute(fesf_fft_ref *r, const float *x)
{
    memcpy(r->real, x, sizeof(float) * r->len); /* the c2r leaves its output there */
    fftwf_execute(r->fwd);
    fftwf_execute(r->inv);
}

void fesf_fft_ref_destroy(fesf_fft_ref *r)
{
    if (!r) return;
    if (r->fwd) fftwf_destroy_plan(r->fwd);
    if (r->inv) fftwf_destroy_plan(r->inv);
    fftwf_free(r->real);
    fftwf_free(r->spec);
    free(r);
}

const char *fesf_ihm_fftw_version(void) { return fftwf_version; }
