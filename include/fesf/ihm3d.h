/* IHM for volumes (issue 17): the equations of DESIGN section 1 with the 3-D
 * DFT and a centred cuboid mask over the frequencies (u, v, w) of a
 * D x H x W volume,
 *     square: |u| <= alpha D / 2, |v| <= alpha H / 2, |w| <= alpha W / 2,
 *     circle: (u / D)^2 + (v / H)^2 + (w / W)^2 <= (alpha / 2)^2,
 * boundaries inclusive with fesf_ihm_in_mask's 1e-12 relative tolerance;
 *     A_sy = A_h (1 - M) + ((1 - beta) A_h + beta A_x) M,
 *     x_sy = Re F^-1(A_sy exp(j P_h)).
 * Serial, on one rank: a real-to-complex 3-D transform of each channel of
 * the volume, per half-spectrum bin k (D x H x (W/2+1)) inside M
 *     (1 - beta) H(k) + beta |X(k)| U(k),   U = H / |H| (1 where H = 0),
 * the host's H(k) outside, and the inverse. A host bin at or below 1e-6 of
 * the channel's largest |H| counts as zero (U = 1, arg 0 = 0): shape
 * volumes (masks, segmentations) have bins that are zero in exact arithmetic
 * by symmetry, whose computed phase is rounding noise that would carry
 * beta |X(k)| in a direction no two FFTs agree on (measured: 2.6e-3 max abs
 * between float32 FFTW and float64 NumPy at alpha = beta = 1 on an
 * AdrenalMNIST3D host; 3e-7 with the threshold, which the NumPy reference
 * applies too). The 2-D path keeps DESIGN's exact-zero rule. The host's terms precomputed
 * with the 1 / (D H W) normalisation folded in. Plans are made once per
 * (D, H, W) with FFTW_ESTIMATE and executed per channel: a volume's output
 * depends on its values only. No keyed options (ihm.noise) yet: refused. */
#ifndef FESF_IHM3D_H
#define FESF_IHM3D_H

#include <stddef.h>

#include "fesf/ihm.h"

typedef struct fesf_ihm3d fesf_ihm3d;

/* Plan for volumes [C, D, H, W] (C = 1 or 3; D, H, W >= 1). */
int fesf_ihm3d_create(fesf_ihm3d **out, int d, int h, int w, int c, const fesf_ihm_params *prm);
void fesf_ihm3d_destroy(fesf_ihm3d *p);

/* The host volume [C, D, H, W] of later applies (one forward transform a channel). */
int fesf_ihm3d_set_host(fesf_ihm3d *p, const float *host);

/* x_sy of n volumes: x and out [n, C, D, H, W] (may be the same array). */
int fesf_ihm3d_apply(fesf_ihm3d *p, const float *x, float *out, int n);

/* 1 if centred frequency (u, v, w) of a d x h x w volume is inside the mask. */
int fesf_ihm3d_in_mask(int u, int v, int w, int d, int h, int wd, const fesf_ihm_params *prm);

/* Half-spectrum bins inside the mask (tests, logs). */
int64_t fesf_ihm3d_mask_bins(const fesf_ihm3d *p);
/* |F(x)| at the mask's bins for n volumes: amp [n, C, fesf_ihm3d_mask_bins(p)],
 * half-spectrum bins (w = 0..W/2) in row-major (u, v, w) order. Needs no host.
 * The linkage attack's feature, as fesf_ihm_mask_amplitude in 2-D. */
int fesf_ihm3d_mask_amplitude(fesf_ihm3d *p, const float *x, int n, float *amp);

/* One plan for items of either kind: the 2-D IHM of images (d = 1) or the
 * 3-D one of volumes (src/ihm/ihm_any.c), for the stages that take both.
 * Tags (the keyed options) are 2-D only: given for volumes they are refused. */
typedef struct {
    fesf_ihm *p2;
    fesf_ihm3d *p3;
} fesf_ihm_any;
int fesf_ihm_any_create(fesf_ihm_any *p, int d, int h, int w, int c, int batch, const fesf_ihm_params *prm);
void fesf_ihm_any_destroy(fesf_ihm_any *p);
int fesf_ihm_any_set_host(fesf_ihm_any *p, const float *host);
int fesf_ihm_any_set_tags(fesf_ihm_any *p, const fesf_ihm_tag *tags, int n);
int fesf_ihm_any_apply(fesf_ihm_any *p, const float *x, float *out, int n);
int64_t fesf_ihm_any_mask_bins(const fesf_ihm_any *p);
int fesf_ihm_any_mask_amplitude(fesf_ihm_any *p, const float *x, int n, float *amp);

/* The same IHM distributed over the ranks of a communicator (a site's ranks,
 * data.ranks_per_site) through FFTW's MPI interface: each rank holds a slab
 * of planes [d0, d0 + nd) of every volume (FFTW's block distribution of D,
 * so slabs may be uneven and some empty), the forward transform leaves the
 * spectrum transposed (distributed over H: FFTW_MPI_TRANSPOSED_OUT) and the
 * inverse takes it so (FFTW_MPI_TRANSPOSED_IN), which saves both global
 * transposes. No rank ever holds a whole volume. `comm` is the
 * communicator's Fortran handle (MPI_Comm_c2f), so that no header exposes
 * MPI; create, set_host and apply are collective over it. Agrees with the
 * serial plan to rounding (tests/e2e/ihm3d.sh: 1, 2, 3 and 4 ranks). */
typedef struct fesf_ihm3d_dist fesf_ihm3d_dist;

int fesf_ihm3d_dist_create(fesf_ihm3d_dist **out, int comm, int d, int h, int w, int c, const fesf_ihm_params *prm);
void fesf_ihm3d_dist_destroy(fesf_ihm3d_dist *p);
/* This rank's planes: [*d0, *d0 + *nd). */
void fesf_ihm3d_dist_slab(const fesf_ihm3d_dist *p, int *d0, int *nd);
/* host: this rank's slab of the host [C, nd, H, W]. */
int fesf_ihm3d_dist_set_host(fesf_ihm3d_dist *p, const float *host);
/* x, out: this rank's slabs of n volumes [n, C, nd, H, W]. */
int fesf_ihm3d_dist_apply(fesf_ihm3d_dist *p, const float *x, float *out, int n);
/* Bytes this rank's plan holds (buffers and host terms). */
size_t fesf_ihm3d_dist_bytes(const fesf_ihm3d_dist *p);

/* `fesf bench ihm3d`'s reference: a bare distributed r2c forward and c2r
 * inverse of D x H x W with the IHM's flags and slabs, the copies in and
 * out included; run on n volumes' slabs [n, nd, H, W] (collective). */
typedef struct fesf_fft3d_dist_ref fesf_fft3d_dist_ref;
int fesf_fft3d_dist_ref_create(fesf_fft3d_dist_ref **out, int comm, int d, int h, int w);
void fesf_fft3d_dist_ref_destroy(fesf_fft3d_dist_ref *r);
void fesf_fft3d_dist_ref_run(fesf_fft3d_dist_ref *r, const float *x, int n);

#endif
