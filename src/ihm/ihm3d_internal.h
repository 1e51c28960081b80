/* The per-bin arithmetic the serial (ihm3d.c) and distributed
 * (ihm3d_dist.c) 3-D IHM share; not installed. Include after <complex.h>
 * and <fftw3.h> (fftwf_complex is then float complex). */
#ifndef FESF_IHM3D_INTERNAL_H
#define FESF_IHM3D_INTERNAL_H

#include <stddef.h>

#include "fesf/ihm3d.h"

/* The buffers and plans both plans own, freed by fesf_ihm3d_bufs_free. */
typedef struct {
    unsigned char *inside;       /* [bins] 1 inside the mask */
    fftwf_complex *base, *gain;  /* [C][bins] the host's terms */
    float *real;                 /* one channel in real space */
    fftwf_complex *spec;         /* its spectrum */
    fftwf_plan fwd, inv;
} fesf_ihm3d_bufs;
void fesf_ihm3d_bufs_free(fesf_ihm3d_bufs *b);

/* Check the parameters and the volume shape (0 or -1 with the message). */
int fesf_ihm3d_check_shape(int d, int h, int w, int c, const fesf_ihm_params *prm);
/* The largest |spec[k]| over `bins` bins. */
double fesf_ihm3d_spec_max(const fftwf_complex *spec, size_t bins);
/* One channel's host terms from its spectrum: inside M base = (1 - beta) H
 * norm, gain = beta U norm (U = H / |H|, 1 at or below ZERO_TOL * top);
 * outside base = H norm, gain = 0. */
void fesf_ihm3d_host_terms(const fftwf_complex *spec, const unsigned char *inside, size_t bins, double top,
                           double norm, double beta, fftwf_complex *base, fftwf_complex *gain);
/* spec = base + |spec| gain inside M, base outside: the output's spectrum. */
void fesf_ihm3d_mix(fftwf_complex *spec, const unsigned char *inside, const fftwf_complex *base,
                    const fftwf_complex *gain, size_t bins);

#endif
