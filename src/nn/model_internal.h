/* Internals of the model engine shared by model.c (building, forward,
 * backward) and model_dp.c (per-example clipped gradients); not installed. */
#ifndef FESF_MODEL_INTERNAL_H
#define FESF_MODEL_INTERNAL_H

#include "fesf/layers.h"
#include "fesf/layers3d.h"
#include "fesf/model.h"

#include <stddef.h>
#include <stdint.h>

#define MAX_ACTS (FESF_MODEL_MAX_OPS + 1)
#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

typedef enum {
    OP_CONV, OP_BN, OP_RELU, OP_MAXPOOL, OP_GAP, OP_LINEAR, OP_ADD, OP_IN, OP_LRELU, OP_TANH, OP_UP,
    OP_CONV3D, OP_MAXPOOL3D, OP_UP3D
} op_kind;
#define LRELU_SLOPE 0.2f
#define IN_EPS 1e-5f

typedef struct {
    int c, h, w;   /* per-sample shape; a volume's h is D x H (model_build.c) */
    int d;         /* a volume's depth D (1: an image) */
    size_t off;    /* offset in act / dact (floats), sized for the batch */
    int last_use;  /* index of the last op reading it (its gradient is zeroed there) */
} act_desc;

typedef struct {
    op_kind kind;
    int in, in2, out;
    int tw, tb;             /* tensor indices of weight / bias (or gamma / beta); -1 none */
    int trm, trv;           /* bn running mean / var tensors */
    fesf_conv_shape conv;   /* per-sample shape (n set at run time) */
    fesf_pool_shape pool;
    fesf_conv3d_shape conv3; /* OP_CONV3D */
    fesf_pool3d_shape pool3; /* OP_MAXPOOL3D */
    size_t save_off;        /* bn saved mean / invstd, or maxpool indices */
    int fused;              /* a bn and the relu after it, run as one (model.c fuse_bn_relu) */
} op_desc;

struct fesf_model {
    char arch[128];
    int batch, c, h, w, classes;
    int d;                  /* input depth (1: images) */
    int n_ops, n_acts, n_tensors;
    op_desc ops[FESF_MODEL_MAX_OPS];
    act_desc acts[MAX_ACTS];
    fesf_tensor_info tensors[FESF_MODEL_MAX_TENSORS];
    fesf_tensor_list list;  /* the tensors for the model files, refreshed by fesf_model_tensors */
    size_t n_params, n_buffers, n_act, n_col, n_save, n_idx;
    float *params, *grads, *buffers;
    float *act, *dact;      /* [n_act] each */
    float *col;             /* [n_col] im2col workspace */
    float *save;            /* [n_save] bn statistics */
    int32_t *idx;           /* [n_idx] maxpool argmax */
    int failed;             /* a builder step failed (message recorded) */
    int input_grad;         /* backward also computes the input's gradient */
    int flags;              /* FESF_MODEL_* of creation */
    int no_wgrad;           /* backward computes input gradients only (model_dp.c's first pass) */
    int dp_slots;           /* DP: per-thread scratch slots */
    size_t dp_col, dp_par;  /* DP: floats per slot of im2col (one sample) and of one op's gradients */
    float *dp_scratch;      /* DP: [dp_slots][dp_col + dp_par] */
    double *dp_norm2;       /* DP: [batch] squared per-example gradient norms */
};

static inline float *fesf_m_act(fesf_model *m, int i) { return m->act + m->acts[i].off; }
static inline float *fesf_m_dact(fesf_model *m, int i) { return m->dact + m->acts[i].off; }
static inline size_t fesf_m_per_sample(const fesf_model *m, int i)
{
    return (size_t)m->acts[i].c * (size_t)m->acts[i].h * (size_t)m->acts[i].w;
}
static inline float *fesf_m_param(fesf_model *m, int t) { return t < 0 ? NULL : m->params + m->tensors[t].off; }
static inline float *fesf_m_grad(fesf_model *m, int t)
{
    return t < 0 || m->no_wgrad ? NULL : m->grads + m->tensors[t].off;
}
static inline size_t fesf_m_len(const fesf_model *m, int t) { return t < 0 ? 0 : m->tensors[t].len; }

/* model_build.c: the ops of `arch` on the input activation [c, d, h, w]
 * of m (its fields set); 0, or -1 with a message */
int fesf_model_build(fesf_model *m, const char *arch, int width);
/* Architectures whose output is an image or a map, not class logits. */
int fesf_model_image_output(const char *arch);

/* model_dp.c: the DP scratch for a built model (flags & FESF_MODEL_DP) */
int fesf_model_dp_alloc(fesf_model *m);

#endif


