/* Models on the layer kernels: a fixed sequence of ops over numbered
 * activations, built once by architecture name, with
 *   - parameters, gradients and non-trainable buffers (batch-norm running
 *     statistics) as one allocation each, in a fixed order;
 *   - activations and their gradients as one allocation each, sized for the
 *     batch given at creation, plus one workspace (im2col columns, saved
 *     statistics, argmax indices);
 * so forward and backward never allocate.
 *
 * Architectures (PyTorch module names, so state_dict keys match):
 *   cnn-small  conv1-bn1-relu-maxpool, conv2 (2w)-bn2-relu-maxpool,
 *              conv3 (4w)-bn3-relu, global average pool, fc. 3x3 convs,
 *              no bias. Fast at 28-64 px.
 *   resnet18   MedMNIST's 28-px ResNet-18: conv1 3x3 stride 1 (w), bn1, relu,
 *              no max-pool; layer1..layer4 of two BasicBlocks (w, 2w, 4w, 8w;
 *              stride 2 from layer2 on, 1x1 conv + BN shortcut where the shape
 *              changes: shortcut.0 / shortcut.1); global average pool; fc.
 *              Valid at 28 to 224 px.
 *   iqem-g     IQEM generator G(s) = s + g(s): 3x3 conv, stride-2 conv, two
 *              residual blocks, nearest upsampling + conv, tanh output;
 *              instance norm and ReLU; even H and W; output [C, H, W].
 *   iqem-d     IQEM PatchGAN discriminator: two stride-2 3x3 convs with leaky
 *              ReLU (0.2; instance norm on the second), a 3x3 conv to one
 *              logit per patch: output [1, H/4, W/4] (rounded up).
 *              For volumes [C, D, H, W] both are built in 3-D (3x3x3 Conv3d,
 *              upsampling along D, H and W; G needs even D, H, W):
 *              fesf_model_create_vol with d > 1.
 *   cnn3d-small cnn-small's 3-D twin for volumes [C, D, H, W] (Conv3d
 *              3x3x3, BatchNorm3d, MaxPool3d 2; fesf_model_create_vol).
 *   attack-cnn the privacy audit's inversion attacker: seven 3x3
 *              conv-BN-ReLU layers of `width` channels and a 3x3 conv with
 *              bias to the input's channels: output [C, H, W] ([C, D, H, W]
 *              in 3-D for volumes, fesf_model_create_vol).
 * For iqem-* and attack-cnn the `classes` argument is ignored and fesf_model_classes gives
 * the output size per sample. */
#ifndef FESF_MODEL_H
#define FESF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define FESF_MODEL_MAX_OPS 96
#define FESF_MODEL_MAX_TENSORS 160

#include "fesf/tensor.h"

typedef struct fesf_model fesf_model;

/* Build `arch` ("cnn-small" | "resnet18") of base width `width` for inputs
 * [batch, c, h, w] and `classes` outputs. Parameters are zero until
 * fesf_model_init. */
int fesf_model_create(fesf_model **out, const char *arch, int width, int c, int h, int w, int classes, int batch);
void fesf_model_destroy(fesf_model *m);

/* fesf_model_create with flags:
 * - FESF_MODEL_INSTANCE_NORM: every batch norm of cnn-small, resnet18 and
 *   attack-cnn becomes an affine instance norm (PyTorch's
 *   InstanceNorm2d(affine=True), which is GroupNorm with one channel per
 *   group) under the same tensor names, without running statistics; the
 *   architecture string gains " norm=instance";
 * - FESF_MODEL_DP: allocate the scratch of fesf_model_dp_backward (which
 *   refuses a model whose normalisation mixes the samples of a batch). */
enum { FESF_MODEL_INSTANCE_NORM = 1, FESF_MODEL_DP = 2 };
int fesf_model_create_flags(fesf_model **out, const char *arch, int width, int c, int h, int w, int classes,
                            int batch, int flags);
/* Volumes [batch, c, d, h, w]: the same for a 3-D architecture (cnn3d-small, iqem-g, iqem-d;
 * d = 1 builds any architecture as fesf_model_create_flags does, and a 2-D
 * one refuses d > 1). The architecture string of a volume model names its
 * input C x D x H x W ("cnn3d-small width=16 input=1x28x28x28 classes=2"). */
int fesf_model_create_vol(fesf_model **out, const char *arch, int width, int c, int d, int h, int w, int classes,
                          int batch, int flags);

/* PyTorch's default initialisation (kaiming-uniform with a = sqrt(5) for
 * conv and linear weights, U(+-1/sqrt(fan_in)) for biases, BN weight 1,
 * bias 0, running mean 0, var 1), drawn from the counter RNG of `seed`. */
void fesf_model_init(fesf_model *m, uint64_t seed);

/* Architecture string stored in model.h5, e.g.
 * "cnn-small width=16 input=1x28x28 classes=2"; two models are compatible
 * iff their strings are equal. */
const char *fesf_model_arch(const fesf_model *m);

/* Forward n <= batch images x [n, c, h, w]; training selects batch
 * statistics (and updates the running ones). Returns the logits
 * [n, classes], owned by the model. */
const float *fesf_model_forward(fesf_model *m, const float *x, int n, int training);

/* Backward from dlogits [n, classes] of the last forward (training mode):
 * parameter gradients are accumulated into grads (zero them first). */
void fesf_model_backward(fesf_model *m, const float *dlogits, int n);

void fesf_model_zero_grad(fesf_model *m);

/* DP-SGD's backward (model created with FESF_MODEL_DP): from dlogits
 * [n, classes], the gradient of each example's own loss (a sum over the
 * batch, not a mean: fesf_softmax_xent_sum), adds to grads
 *     sum_i g_i * min(1, clip / |g_i|),
 * g_i the gradient of example i over all parameters, |.| the L2 norm. Two
 * passes, no per-example gradient kept: input gradients only (leaving each
 * layer's output gradient in place), per-example norms layer by layer
 * (each example's weight gradient in a per-thread scratch), then each
 * layer's output gradient scaled per example and its weight gradient
 * computed once for the batch. norms (may be NULL) receives |g_i| [n].
 * The same result for any thread count. Allocates nothing. */
void fesf_model_dp_backward(fesf_model *m, const float *dlogits, int n, float clip, const float *weights, float *norms);

/* With on = 1, backward also writes the gradient with respect to the input
 * (to chain two models: the generator's output gradient is the
 * discriminator's input gradient), readable until the next backward. */
void fesf_model_set_input_grad(fesf_model *m, int on);
const float *fesf_model_input_grad(const fesf_model *m); /* [n, c, h, w] or NULL */

/* The flat buffers and their sizes (floats). */
float *fesf_model_params(fesf_model *m);
float *fesf_model_grads(fesf_model *m);
float *fesf_model_buffers(fesf_model *m);
size_t fesf_model_n_params(const fesf_model *m);
size_t fesf_model_n_buffers(const fesf_model *m);
int fesf_model_classes(const fesf_model *m);
int fesf_model_batch(const fesf_model *m);

/* The model's tensors as a list for the model files (model_io.h); points
 * into the model, valid while it lives. */
const fesf_tensor_list *fesf_model_tensors(const fesf_model *m);

/* Named tensors (parameters then buffers, in creation order). */
int fesf_model_n_tensors(const fesf_model *m);
const fesf_tensor_info *fesf_model_tensor(const fesf_model *m, int i);

/* The model's own buffer for dlogits [batch, classes]: a loss may write its
 * gradient there and pass it to fesf_model_backward without a copy. */
float *fesf_model_dlogits(fesf_model *m);

/* One training step on n images: zero the gradients, forward (training),
 * softmax cross-entropy (class weights or NULL), backward, then one update
 * of optimizer `oc` (optim.h) at step t with `state`. Returns the loss.
 * Allocates nothing. Implemented in src/nn/train.c. */
struct fesf_optim_config;
double fesf_model_train_step(fesf_model *m, const float *x, const int32_t *labels, int n, const float *class_weights,
                             const struct fesf_optim_config *oc, int64_t t, float *state);
/* The same with FedProx's term mu (w - anchor) added to the gradient before
 * the update (fesf_optim_prox; anchor [n_params] or NULL), then SCAFFOLD's
 * correction corr [n_params] (or NULL). */
double fesf_model_train_step_prox(fesf_model *m, const float *x, const int32_t *labels, int n,
                                  const float *class_weights, const struct fesf_optim_config *oc, int64_t t,
                                  float *state, const float *anchor, float mu, const float *corr);

/* Bytes of memory the model holds (parameters, activations, workspace). */
size_t fesf_model_bytes(const fesf_model *m);
/* Multiply-adds x 2 of one training step (forward, weight gradients, input
 * gradients where backward computes them) per sample, convolutions and
 * linear layers only: the figure GFLOP/s are counted in. */
double fesf_model_train_flops(const fesf_model *m);

#endif
