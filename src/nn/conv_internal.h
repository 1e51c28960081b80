/* Internals of the convolution shared by conv.c (plan, im2col path) and
 * conv_same.c (the row-shift path of stride-1 "same" convolutions); not
 * installed. */
#ifndef FESF_CONV_INTERNAL_H
#define FESF_CONV_INTERNAL_H

#include "fesf/layers.h"

#include <stddef.h>

/* fixed work groups of a batch (see fesf_conv_plan_of): the most threads a convolution uses */
#ifndef FESF_CONV_GROUPS
#define FESF_CONV_GROUPS 4
#endif

/* The batch's work plan: chunks of nb samples (the last may be shorter),
 * dealt to `groups` fixed groups of consecutive chunks (conv.c). */
typedef struct {
    int nb, nc, groups;
} fesf_conv_plan;

fesf_conv_plan fesf_conv_plan_of(const fesf_conv_shape *s);

/* The plan of chunks of about `cols` GEMM columns, `per` columns a sample,
 * and at least FESF_CONV_GROUPS chunks when n allows (conv.c; the im2col and
 * Winograd paths) */
fesf_conv_plan fesf_conv_plan_cols(int n, int per, int cols);

/* chunk c of the plan over n samples: its first sample *n0, its length */
static inline int fesf_conv_chunk(const fesf_conv_plan *pl, int n, int c, int *n0)
{
    *n0 = c * pl->nb;
    return n - *n0 < pl->nb ? n - *n0 : pl->nb;
}

/* chunks [*c0, *c1) of group g */
static inline void fesf_conv_group_chunks(const fesf_conv_plan *pl, int g, int *c0, int *c1)
{
    *c0 = (int)((long)g * pl->nc / pl->groups);
    *c1 = (int)((long)(g + 1) * pl->nc / pl->groups);
}

/* conv_same.c: stride-1 "same" convolutions with an odd K > 1 on planes of
 * at least FESF_CONV_ROWSHIFT_MIN rows */
int fesf_conv_rowshift(const fesf_conv_shape *s);
/* planes of this many positions or more go one sample per chunk (measured
 * 1.01-1.05x at 28x28 over chunks of 3; 14x14 the same within noise) */
#ifndef FESF_CONV_ROWSHIFT_ONE
#define FESF_CONV_ROWSHIFT_ONE 784
#endif
size_t fesf_conv_rowshift_floats(const fesf_conv_shape *s);
void fesf_conv_rowshift_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                                float *col);
/* dx (set: overwritten, else +=) and dw (+=), either may be NULL */
void fesf_conv_rowshift_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                                 int set, float *dw, float *col);

/* conv_wino.c: Winograd F(2x2, 3x3) for 3x3, stride-1, pad-1 convolutions
 * with at least FESF_CONV_WINO_MIN_C input and output channels, and on
 * planes of FESF_CONV_WINO_BIG_H rows or more at least FESF_CONV_WINO_BIG_CIN
 * input channels (the other paths are as fast with fewer; see conv_wino.c) */
#ifndef FESF_CONV_WINO_MIN_C
#define FESF_CONV_WINO_MIN_C 16
#endif
#ifndef FESF_CONV_WINO_BIG_H
#define FESF_CONV_WINO_BIG_H 28
#endif
#ifndef FESF_CONV_WINO_BIG_CIN
#define FESF_CONV_WINO_BIG_CIN 32
#endif
int fesf_conv_wino(const fesf_conv_shape *s);
size_t fesf_conv_wino_floats(const fesf_conv_shape *s);
void fesf_conv_wino_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                            float *col);
/* dx (set: overwritten, else +=) and dw (+=), either may be NULL */
void fesf_conv_wino_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                             int set, float *dw, float *col);

/* conv_direct.c: direct AVX-512 or AVX2 kernels for the 3x3, stride-1,
 * pad-1 convolutions Winograd does not take, on planes of
 * FESF_CONV_DIRECT_MIN_H rows or more, with at most FESF_CONV_DIRECT_MAX_C
 * channels in and out (0 on CPUs without AVX2 + FMA) */
#ifndef FESF_CONV_DIRECT_MIN_H
#define FESF_CONV_DIRECT_MIN_H 14
#endif
#ifndef FESF_CONV_DIRECT_MAX_C
#define FESF_CONV_DIRECT_MAX_C 64
#endif
int fesf_conv_direct(const fesf_conv_shape *s);
/* the direct kernels' vector width: bits 512 or 256 forces AVX-512 or
 * AVX2 + FMA (tests, benchmarks), 0 returns to the CPU's best; returns the
 * width in use, or -1 if the CPU lacks the one asked for */
int fesf_conv_direct_isa(int bits);
/* whether the backward runs direct too: with AVX-512 GEMM, not for fewer
 * than 16 output or 4 input channels (idle lanes in dw: the row-shift path
 * is faster there) */
int fesf_conv_direct_grad(const fesf_conv_shape *s);
size_t fesf_conv_direct_floats(const fesf_conv_shape *s);
void fesf_conv_direct_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                              float *col);
/* dx (set: overwritten, else +=) and dw (+=), either may be NULL */
void fesf_conv_direct_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                               int set, float *dw, float *col);

#endif
