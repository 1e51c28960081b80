/* 3-D layers for volumes (issue 17), on caller-owned buffers like
 * layers.h's: a convolution x [N, Cin, D, H, W], w [Cout, Cin, K, K, K],
 * b [Cout] (or NULL), y [N, Cout, Do, Ho, Wo] with Do = (D + 2 pad - K) /
 * stride + 1 (likewise Ho, Wo), as PyTorch's Conv3d; and max pooling with
 * a cubic window. The convolution runs vol2col + one GEMM per sample (the
 * column matrix [Cin K^3, Do Ho Wo] in `col`, fesf_conv3d_col_floats); its
 * backward recomputes the columns, accumulates dw (and db) over the batch
 * in sample order and writes (set) or adds dx by col2vol, so the result is
 * the same for any thread count. A naive reference of each sits beside
 * (conv3d_naive: direct loops in double). Batch norm, ReLU and global
 * average pooling of volumes are layers.h's with spatial size D H W. */
#ifndef FESF_LAYERS3D_H
#define FESF_LAYERS3D_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n, cin, d, h, w;
    int cout, k, stride, pad;
    int do_, ho, wo; /* filled by fesf_conv3d_shape_init */
} fesf_conv3d_shape;

int fesf_conv3d_shape_init(fesf_conv3d_shape *s); /* 0, or -1 with a message */
size_t fesf_conv3d_col_floats(const fesf_conv3d_shape *s); /* one sample's columns */

void fesf_conv3d_forward(const fesf_conv3d_shape *s, const float *x, const float *w, const float *b, float *y,
                         float *col);
/* dw, db accumulated (db may be NULL); dx (may be NULL) written if set, else added to */
void fesf_conv3d_backward(const fesf_conv3d_shape *s, const float *x, const float *w, const float *dy, float *dx,
                          int set, float *dw, float *db, float *col);
void fesf_conv3d_forward_naive(const fesf_conv3d_shape *s, const float *x, const float *w, const float *b, float *y);
void fesf_conv3d_backward_naive(const fesf_conv3d_shape *s, const float *x, const float *w, const float *dy,
                                float *dx, float *dw, float *db);

/* Max pooling, window k stride k: x [N, C, D, H, W] -> y [N, C, D/k, H/k,
 * W/k] (floor); idx holds each output's argmax (index in its input volume,
 * the first of equals); backward scatters dy there (set: dx written, else added). */
typedef struct {
    int n, c, d, h, w, k;
    int do_, ho, wo;
} fesf_pool3d_shape;

int fesf_pool3d_shape_init(fesf_pool3d_shape *s);
void fesf_maxpool3d_forward(const fesf_pool3d_shape *s, const float *x, float *y, int32_t *idx);
void fesf_maxpool3d_backward(const fesf_pool3d_shape *s, const int32_t *idx, const float *dy, float *dx, int set);

/* Nearest-neighbour upsampling by 2 along D, H and W: x [N, C, D, H, W] ->
 * y [N, C, 2D, 2H, 2W] (PyTorch's Upsample(scale_factor=2)); backward adds
 * the sum of each voxel's 8 copies of dy to dx. */
void fesf_upsample3d_forward(int n, int c, int d, int h, int w, const float *x, float *y);
void fesf_upsample3d_backward(int n, int c, int d, int h, int w, const float *dy, float *dx);

#endif
