/* IHM for volumes distributed over a communicator (see fesf/ihm3d.h). It
 * lives with the MPI code of src/fed because FFTW's MPI interface takes an
 * MPI_Comm and this file reduces over it; it is the only FFTW outside
 * src/ihm (tests/walls.sh allows it), and it shares the per-bin arithmetic
 * of the serial 3-D IHM (src/ihm/ihm3d_internal.h). Slabs of D in real
 * space; the spectrum transposed, [local H][D][W/2 + 1], in frequency space. */
#include "fesf/ihm3d.h"

#include <complex.h>
#include <fftw3-mpi.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/config.h"
#include "fesf/error.h"
#include "../ihm/ihm3d_internal.h"

struct fesf_ihm3d_dist {
    MPI_Comm comm;
    int d, h, w, c, wh;          /* wh = W/2 + 1 */
    ptrdiff_t nd, d0, nh, h0;    /* real slab of D, spectral slab of H */
    size_t bins;                 /* nh * D * wh */
    fesf_ihm_params prm;
    fesf_ihm3d_bufs b;           /* real [2 alloc]: nd x H x 2 wh, padded; spec [alloc] */
    size_t alloc;
    int has_host;
};

static int centred(int k, int n) { return k < (n + 1) / 2 ? k : k - n; }

static void mark_mask(fesf_ihm3d_dist *p)
{
    size_t k = 0;
    for (ptrdiff_t b = 0; b < p->nh; b++)
        for (int a = 0; a < p->d; a++)
            for (int l = 0; l < p->wh; l++, k++)
                p->b.inside[k] = (unsigned char)fesf_ihm3d_in_mask(centred(a, p->d), centred((int)(p->h0 + b), p->h), l,
                                                                 p->d, p->h, p->w, &p->prm);
}

static int make_plans(fesf_ihm3d_dist *p)
{
    p->b.fwd = fftwf_mpi_plan_dft_r2c_3d(p->d, p->h, p->w, p->b.real, p->b.spec, p->comm,
                                       FFTW_ESTIMATE | FFTW_MPI_TRANSPOSED_OUT);
    p->b.inv = fftwf_mpi_plan_dft_c2r_3d(p->d, p->h, p->w, p->b.spec, p->b.real, p->comm,
                                       FFTW_ESTIMATE | FFTW_MPI_TRANSPOSED_IN);
    return p->b.fwd && p->b.inv ? 0 : fesf_error("FFTW could not plan a distributed %dx%dx%d transform", p->d, p->h, p->w);
}

int fesf_ihm3d_dist_create(fesf_ihm3d_dist **out, int comm, int d, int h, int w, int c, const fesf_ihm_params *prm)
{
    static int mpi_ready;
    *out = NULL;
    if (fesf_ihm3d_check_shape(d, h, w, c, prm)) return -1;
    if (!mpi_ready) fftwf_mpi_init(), mpi_ready = 1;
    fesf_ihm3d_dist *p = calloc(1, sizeof *p);
    if (!p) return fesf_error("out of memory");
    p->comm = MPI_Comm_f2c(comm), p->d = d, p->h = h, p->w = w, p->c = c, p->wh = w / 2 + 1, p->prm = *prm;
    p->alloc = (size_t)fftwf_mpi_local_size_3d_transposed(d, h, p->wh, p->comm, &p->nd, &p->d0, &p->nh, &p->h0);
    p->bins = (size_t)p->nh * (size_t)d * (size_t)p->wh;
    p->b.inside = malloc(p->bins + 1);
    p->b.base = fftwf_alloc_complex(p->bins * (size_t)c + 1);
    p->b.gain = fftwf_alloc_complex(p->bins * (size_t)c + 1);
    p->b.real = fftwf_alloc_real(2 * p->alloc + 2);
    p->b.spec = fftwf_alloc_complex(p->alloc + 1);
    if (!p->b.inside || !p->b.base || !p->b.gain || !p->b.real || !p->b.spec) {
        fesf_ihm3d_dist_destroy(p);
        return fesf_error("out of memory for a distributed %dx%dx%d IHM plan", d, h, w);
    }
    if (make_plans(p)) {
        fesf_ihm3d_dist_destroy(p);
        return -1;
    }
    mark_mask(p);
    *out = p;
    return 0;
}

void fesf_ihm3d_dist_destroy(fesf_ihm3d_dist *p)
{
    if (!p) return;
    fesf_ihm3d_bufs_free(&p->b);
    free(p);
}

void fesf_ihm3d_dist_slab(const fesf_ihm3d_dist *p, int *d0, int *nd) { *d0 = (int)p->d0, *nd = (int)p->nd; }

size_t fesf_ihm3d_dist_bytes(const fesf_ihm3d_dist *p)
{
    return p->bins * (1 + 2 * (size_t)p->c * sizeof(fftwf_complex)) + p->alloc * (2 * sizeof(float) + sizeof(fftwf_complex));
}

/* One channel's slab [nd, H, W] into the padded real buffer, forward */
static void forward(fesf_ihm3d_dist *p, const float *slab)
{
    const size_t row = (size_t)p->w, prow = 2 * (size_t)p->wh;
    for (ptrdiff_t r = 0; r < p->nd * p->h; r++) memcpy(p->b.real + r * prow, slab + r * row, sizeof(float) * row);
    fftwf_execute(p->b.fwd);
}

int fesf_ihm3d_dist_set_host(fesf_ihm3d_dist *p, const float *host)
{
    const size_t slab = (size_t)p->nd * p->h * p->w;
    for (int ch = 0; ch < p->c; ch++) {
        forward(p, host + (size_t)ch * slab);
        double top = fesf_ihm3d_spec_max(p->b.spec, p->bins);
        if (MPI_Allreduce(MPI_IN_PLACE, &top, 1, MPI_DOUBLE, MPI_MAX, p->comm) != MPI_SUCCESS)
            return fesf_error("MPI_Allreduce failed");
        fesf_ihm3d_host_terms(p->b.spec, p->b.inside, p->bins, top, 1.0 / ((double)p->d * p->h * p->w), p->prm.beta,
                              p->b.base + (size_t)ch * p->bins, p->b.gain + (size_t)ch * p->bins);
    }
    p->has_host = 1;
    return 0;
}

int fesf_ihm3d_dist_apply(fesf_ihm3d_dist *p, const float *x, float *out, int n)
{
    if (!p->has_host) return fesf_error("IHM: no host volume set");
    const size_t slab = (size_t)p->nd * p->h * p->w, row = (size_t)p->w, prow = 2 * (size_t)p->wh;
    for (size_t v = 0; v < (size_t)n * p->c; v++) {
        const fftwf_complex *base = p->b.base + (v % p->c) * p->bins, *gain = p->b.gain + (v % p->c) * p->bins;
        forward(p, x + v * slab);
        fesf_ihm3d_mix(p->b.spec, p->b.inside, base, gain, p->bins);
        fftwf_execute(p->b.inv);
        for (ptrdiff_t r = 0; r < p->nd * p->h; r++) memcpy(out + v * slab + r * row, p->b.real + r * prow, sizeof(float) * row);
    }
    return 0;
}

/* ---- the benchmark's reference: a bare distributed forward + inverse ---- */

struct fesf_fft3d_dist_ref {
    fftwf_plan fwd, inv;
    float *real;
    fftwf_complex *spec;
    ptrdiff_t nd, d0, h, w, wh;
};

int fesf_fft3d_dist_ref_create(fesf_fft3d_dist_ref **out, int comm, int d, int h, int w)
{
    static int mpi_ready;
    if (!mpi_ready) fftwf_mpi_init(), mpi_ready = 1;
    MPI_Comm c = MPI_Comm_f2c(comm);
    fesf_fft3d_dist_ref *r = *out = calloc(1, sizeof *r);
    if (!r) return fesf_error("out of memory");
    ptrdiff_t nh, h0;
    r->h = h, r->w = w, r->wh = w / 2 + 1;
    ptrdiff_t alloc = fftwf_mpi_local_size_3d_transposed(d, h, r->wh, c, &r->nd, &r->d0, &nh, &h0);
    r->real = fftwf_alloc_real(2 * (size_t)alloc + 2);
    r->spec = fftwf_alloc_complex((size_t)alloc + 1);
    if (r->real && r->spec) { /* the same flags as the IHM's plans */
        r->fwd = fftwf_mpi_plan_dft_r2c_3d(d, h, w, r->real, r->spec, c, FFTW_ESTIMATE | FFTW_MPI_TRANSPOSED_OUT);
        r->inv = fftwf_mpi_plan_dft_c2r_3d(d, h, w, r->spec, r->real, c, FFTW_ESTIMATE | FFTW_MPI_TRANSPOSED_IN);
    }
    if (r->fwd && r->inv) return 0;
    fesf_fft3d_dist_ref_destroy(r);
    *out = NULL;
    return fesf_error("FFTW could not plan a distributed %dx%dx%d transform", d, h, w);
}

void fesf_fft3d_dist_ref_destroy(fesf_fft3d_dist_ref *r)
{
    if (!r) return;
    if (r->fwd) fftwf_destroy_plan(r->fwd);
    if (r->inv) fftwf_destroy_plan(r->inv);
    fftwf_free(r->real);
    fftwf_free(r->spec);
    free(r);
}

void fesf_fft3d_dist_ref_run(fesf_fft3d_dist_ref *r, const float *x, int n)
{
    const size_t row = (size_t)r->w, prow = 2 * (size_t)r->wh, slab = (size_t)r->nd * (size_t)r->h * row;
    for (int v = 0; v < n; v++) { /* the IHM's copies in and out, its transforms; no mask, no mixing */
        for (ptrdiff_t q = 0; q < r->nd * r->h; q++) memcpy(r->real + q * prow, x + v * slab + q * row, sizeof(float) * row);
        fftwf_execute(r->fwd);
        fftwf_execute(r->inv);
    }
}
