/* Neural-network kernels on caller-owned buffers (llm.c style): plain
 * functions, NCHW float32, shapes in the names and comments, no allocation.
 *
 * Conventions
 * - Forward writes its outputs (overwrites y).
 * - Backward ACCUMULATES into every gradient it produces (dx, dw, db, ...:
 *   `+=`), as PyTorch's autograd does, so a tensor read by two layers (a
 *   residual connection) gets the sum. The caller zeroes gradients before a
 *   backward pass. Any gradient pointer may be NULL: it is then not computed.
 * - Scratch memory (im2col columns, saved statistics, argmax indices) is
 *   passed in; the *_floats / *_ints helpers give its size.
 * - Matrix products go through OpenBLAS cblas_sgemm; each optimised kernel
 *   has a naive reference (*_naive) beside it, used by the tests.
 * - Semantics follow PyTorch (torch.nn) so that whole models can be checked
 *   against it: BatchNorm2d (biased variance to normalise, unbiased for the
 *   running variance, running = (1 - momentum) running + momentum batch),
 *   InstanceNorm2d, MaxPool2d (first maximum wins), AvgPool2d
 *   (count_include_pad = True), nearest Upsample, Linear (y = x W^T + b),
 *   ReLU'(0) = 0. Batch-norm gamma/beta may be NULL (1 / 0); NULL running
 *   statistics are not updated in training and are replaced by the batch
 *   statistics in evaluation. */
#ifndef FESF_LAYERS_H
#define FESF_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- 2-D convolution: x [N, Cin, H, W], w [Cout, Cin, K, K], b [Cout] (or
 * NULL), y [N, Cout, Ho, Wo], Ho = (H + 2 pad - K) / stride + 1. */
typedef struct {
    int n, cin, h, w;
    int cout, k, stride, pad;
    int ho, wo; /* filled by fesf_conv_shape_init */
} fesf_conv_shape;

/* Fill ho, wo; -1 (fesf_error) if the shape is impossible. */
int fesf_conv_shape_init(fesf_conv_shape *s);
/* Floats of im2col scratch the forward and backward need for s->n samples
 * (0 for 1x1, stride 1, pad 0 convolutions, which run without im2col). It
 * never shrinks as n grows: scratch sized for the batch serves any n below.
 * The scratch carries nothing from forward to backward. */
size_t fesf_conv_col_floats(const fesf_conv_shape *s);

/* Which convolution kernels this process runs, one line for `fesf version`
 * and report.md: the direct path's vector width (the CPU's widest, capped
 * by the environment's FESF_MAX_ISA = avx512 | avx2 | none) and the GEMM
 * paths. */
const char *fesf_conv_kernels(void);

void fesf_conv2d_forward(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                         float *col);
void fesf_conv2d_backward(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                          float *dw, float *db, float *col);
void fesf_conv2d_forward_naive(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y);
void fesf_conv2d_backward_naive(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                                float *dw, float *db);

/* ---- batch norm over (N, H, W) per channel: x, y [N, C, HW]; gamma, beta,
 * running_mean, running_var [C]; saved mean and inverse std [C] each
 * (written in training, read by backward). training = 0 uses the running
 * statistics and leaves them alone. */
void fesf_batchnorm_forward(int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
                            float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                            float momentum, float eps, int training);
/* backward of the training-mode forward */
void fesf_batchnorm_backward(int n, int c, int hw, const float *x, const float *gamma, const float *save_mean,
                             const float *save_invstd, const float *dy, float *dx, float *dgamma, float *dbeta);
/* batch norm then ReLU in one pass: y = relu(batchnorm(x)); its backward
 * takes that y (r) and the ReLU's output gradient dy, and gives the bits
 * of fesf_relu_backward_set then fesf_batchnorm_backward(_set) (set: dx
 * overwritten, else +=) */
void fesf_batchnorm_relu_forward(int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
                                 float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                                 float momentum, float eps, int training);
void fesf_batchnorm_relu_backward(int n, int c, int hw, const float *x, const float *r, const float *gamma,
                                  const float *save_mean, const float *save_invstd, const float *dy, float *dx, int set,
                                  float *dgamma, float *dbeta);

/* ---- instance norm: statistics per (n, c) over HW; gamma/beta [C] or NULL
 * (no affine); saved mean / invstd [N*C]. */
void fesf_instancenorm_forward(int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
                               float *save_mean, float *save_invstd, float eps);
void fesf_instancenorm_backward(int n, int c, int hw, const float *x, const float *gamma, const float *save_mean,
                                const float *save_invstd, const float *dy, float *dx, float *dgamma, float *dbeta);

/* ---- element-wise activations on len values; backward takes the forward's
 * input x (relu, leaky relu) or output y (tanh, sigmoid). */
/* ---- the classifier's input normalisation (train.normalise), in place on
 * x [n, c, hw]: pooled, (x - ms[ch]) / ms[c + ch] (ms = mean [c], std [c]);
 * image, each (n, c) plane to zero mean and unit std (sums in double, std
 * at least 1e-6). Training and `fesf predict` both call these. */
void fesf_input_normalise_pooled(int64_t n, int c, size_t hw, const float *ms, float *x);
void fesf_input_normalise_image(int64_t n, int c, size_t hw, float *x);

void fesf_relu_forward(size_t len, const float *x, float *y);
void fesf_relu_backward(size_t len, const float *x, const float *dy, float *dx);
void fesf_leaky_relu_forward(size_t len, float slope, const float *x, float *y);
void fesf_leaky_relu_backward(size_t len, float slope, const float *x, const float *dy, float *dx);
void fesf_tanh_forward(size_t len, const float *x, float *y);
void fesf_tanh_backward(size_t len, const float *y, const float *dy, float *dx);
void fesf_sigmoid_forward(size_t len, const float *x, float *y);
void fesf_sigmoid_backward(size_t len, const float *y, const float *dy, float *dx);

/* ---- pooling: x [N, C, H, W] -> y [N, C, Ho, Wo], Ho = (H + 2 pad - k) / stride + 1.
 * maxpool saves the argmax (index into the input plane) of every output in
 * idx [N*C*Ho*Wo]; padding never wins. */
typedef struct {
    int n, c, h, w, k, stride, pad;
    int ho, wo; /* filled by fesf_pool_shape_init */
} fesf_pool_shape;
int fesf_pool_shape_init(fesf_pool_shape *s);
void fesf_maxpool_forward(const fesf_pool_shape *s, const float *x, float *y, int32_t *idx);
void fesf_maxpool_backward(const fesf_pool_shape *s, const int32_t *idx, const float *dy, float *dx);
void fesf_avgpool_forward(const fesf_pool_shape *s, const float *x, float *y);
void fesf_avgpool_backward(const fesf_pool_shape *s, const float *dy, float *dx);

/* ---- global average pool: x [N, C, HW] -> y [N, C] */
void fesf_gap_forward(int n, int c, int hw, const float *x, float *y);
void fesf_gap_backward(int n, int c, int hw, const float *dy, float *dx);

/* ---- linear: x [N, In], w [Out, In], b [Out] or NULL, y [N, Out] */
void fesf_linear_forward(int n, int in, int out, const float *x, const float *w, const float *b, float *y);
void fesf_linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                          float *dw, float *db);

/* ---- residual add: y = a + b; backward: da += dy, db += dy */
void fesf_add_forward(size_t len, const float *a, const float *b, float *y);
void fesf_add_backward(size_t len, const float *dy, float *da, float *db);

/* ---- nearest upsampling by an integer factor: x [N, C, H, W] -> y [N, C, fH, fW] */
void fesf_upsample_forward(int n, int c, int h, int w, int f, const float *x, float *y);
void fesf_upsample_backward(int n, int c, int h, int w, int f, const float *dy, float *dx);

/* ---- write-first backward: the first gradient written into an activation
 * (in reverse order: its last reader's) needs no zeroed buffer. Each is its
 * accumulating function above with dx overwritten (dx = ..., not +=) and is
 * checked against it; weight gradients still accumulate. */
void fesf_conv2d_backward_set(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                              float *dw, float *db, float *col);
void fesf_batchnorm_backward_set(int n, int c, int hw, const float *x, const float *gamma, const float *save_mean,
                                 const float *save_invstd, const float *dy, float *dx, float *dgamma, float *dbeta);
void fesf_relu_backward_set(size_t len, const float *x, const float *dy, float *dx);
void fesf_maxpool_backward_set(const fesf_pool_shape *s, const int32_t *idx, const float *dy, float *dx);

#endif
