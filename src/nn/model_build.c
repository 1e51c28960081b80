/* Building models (see model.h): the layer builders and the
 * architectures, as op sequences over numbered activations. A volume's
 * activation [C, D, H, W] is stored as C x (D H) x W, with its depth in
 * act_desc.d, so that batch norm, ReLU, global average pooling and linear
 * layers treat it as any activation of D H W values a channel; only the
 * 3-D convolution and pooling read D. */
#include "model_internal.h"

#include "fesf/error.h"
#include "fesf/layers.h"
#include "fesf/layers3d.h"

#include <stdio.h>
#include <string.h>

/* ---- building -------------------------------------------------------- */

static int add_tensor(fesf_model *m, const char *layer, const char *name, int buffer, int rank, const int *dims)
{
    if (m->n_tensors == FESF_MODEL_MAX_TENSORS) {
        m->failed = 1;
        fesf_error("model has more than %d tensors", FESF_MODEL_MAX_TENSORS);
        return -1;
    }
    fesf_tensor_info *t = &m->tensors[m->n_tensors];
    snprintf(t->name, sizeof t->name, "%s.%s", layer, name);
    t->buffer = buffer, t->rank = rank, t->len = 1;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i], t->len *= (size_t)dims[i];
    size_t *count = buffer ? &m->n_buffers : &m->n_params;
    t->off = *count;
    *count += t->len;
    return m->n_tensors++;
}

static int new_act(fesf_model *m, int c, int h, int w)
{
    if (m->n_acts == MAX_ACTS) {
        m->failed = 1;
        fesf_error("model has more than %d activations", MAX_ACTS);
        return 0;
    }
    act_desc *a = &m->acts[m->n_acts];
    a->c = c, a->h = h, a->w = w, a->d = 1, a->off = m->n_act, a->last_use = -1;
    m->n_act += (size_t)m->batch * (size_t)c * (size_t)h * (size_t)w;
    return m->n_acts++;
}

/* An activation of the shape of activation `in` (a volume's depth kept). */
static int like(fesf_model *m, int in)
{
    const act_desc *a = &m->acts[in];
    int out = new_act(m, a->c, a->h, a->w);
    if (!m->failed) m->acts[out].d = m->acts[in].d;
    return out;
}

static op_desc *new_op(fesf_model *m, op_kind kind, int in)
{
    if (m->n_ops == FESF_MODEL_MAX_OPS) {
        m->failed = 1;
        fesf_error("model has more than %d ops", FESF_MODEL_MAX_OPS);
        return NULL;
    }
    op_desc *o = &m->ops[m->n_ops];
    memset(o, 0, sizeof *o);
    o->kind = kind, o->in = in, o->in2 = -1, o->tw = o->tb = o->trm = o->trv = -1;
    m->acts[in].last_use = m->n_ops++;
    return o;
}

static int conv_b(fesf_model *m, const char *name, int in, int cout, int k, int stride, int pad, int bias);

static int conv(fesf_model *m, const char *name, int in, int cout, int k, int stride, int pad)
{
    return conv_b(m, name, in, cout, k, stride, pad, 0);
}

static int conv_b(fesf_model *m, const char *name, int in, int cout, int k, int stride, int pad, int bias)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_CONV, in);
    if (!o) return 0;
    o->conv = (fesf_conv_shape){m->batch, a->c, a->h, a->w, cout, k, stride, pad, 0, 0};
    if (fesf_conv_shape_init(&o->conv)) {
        m->failed = 1;
        return 0;
    }
    int dims[4] = {cout, a->c, k, k};
    o->tw = add_tensor(m, name, "weight", 0, 4, dims);
    if (bias) o->tb = add_tensor(m, name, "bias", 0, 1, dims);
    size_t col = fesf_conv_col_floats(&o->conv);
    if (col > m->n_col) m->n_col = col;
    return o->out = new_act(m, cout, o->conv.ho, o->conv.wo);
}

static int inorm(fesf_model *m, const char *name, int in);

/* Batch norm, or instance norm under FESF_MODEL_INSTANCE_NORM (same tensor
 * names, no running statistics): per-example normalisation for DP-SGD. */
static int bn(fesf_model *m, const char *name, int in)
{
    if (m->failed) return 0;
    if (m->flags & FESF_MODEL_INSTANCE_NORM) return inorm(m, name, in);
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_BN, in);
    if (!o) return 0;
    int dims[1] = {a->c};
    o->tw = add_tensor(m, name, "weight", 0, 1, dims);
    o->tb = add_tensor(m, name, "bias", 0, 1, dims);
    o->trm = add_tensor(m, name, "running_mean", 1, 1, dims);
    o->trv = add_tensor(m, name, "running_var", 1, 1, dims);
    o->save_off = m->n_save;
    m->n_save += 2 * (size_t)a->c;
    return o->out = like(m, o->in);
}

static int relu(fesf_model *m, int in)
{
    if (m->failed) return 0;
    op_desc *o = new_op(m, OP_RELU, in);
    return o ? (o->out = like(m, o->in)) : 0;
}

/* Instance norm with affine weight and bias; saved statistics per (n, c). */
static int inorm(fesf_model *m, const char *name, int in)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_IN, in);
    if (!o) return 0;
    int dims[1] = {a->c};
    o->tw = add_tensor(m, name, "weight", 0, 1, dims);
    o->tb = add_tensor(m, name, "bias", 0, 1, dims);
    o->save_off = m->n_save;
    m->n_save += 2 * (size_t)m->batch * (size_t)a->c;
    return o->out = like(m, o->in);
}

/* Element-wise op of the same shape (leaky ReLU, tanh). */
static int pointwise(fesf_model *m, op_kind kind, int in)
{
    if (m->failed) return 0;
    op_desc *o = new_op(m, kind, in);
    return o ? (o->out = like(m, o->in)) : 0;
}

static int upsample2(fesf_model *m, int in)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_UP, in);
    return o ? (o->out = new_act(m, a->c, 2 * a->h, 2 * a->w)) : 0;
}

static int maxpool(fesf_model *m, int in, int k, int stride)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_MAXPOOL, in);
    if (!o) return 0;
    o->pool = (fesf_pool_shape){m->batch, a->c, a->h, a->w, k, stride, 0, 0, 0};
    if (fesf_pool_shape_init(&o->pool)) {
        m->failed = 1;
        return 0;
    }
    o->save_off = m->n_idx;
    m->n_idx += (size_t)m->batch * (size_t)a->c * (size_t)o->pool.ho * (size_t)o->pool.wo;
    return o->out = new_act(m, a->c, o->pool.ho, o->pool.wo);
}

static int gap(fesf_model *m, int in)
{
    if (m->failed) return 0;
    op_desc *o = new_op(m, OP_GAP, in);
    return o ? (o->out = new_act(m, m->acts[in].c, 1, 1)) : 0;
}

static int linear(fesf_model *m, const char *name, int in, int out)
{
    if (m->failed) return 0;
    int fan_in = m->acts[in].c * m->acts[in].h * m->acts[in].w;
    op_desc *o = new_op(m, OP_LINEAR, in);
    if (!o) return 0;
    int wd[2] = {out, fan_in}, bd[1] = {out};
    o->tw = add_tensor(m, name, "weight", 0, 2, wd);
    o->tb = add_tensor(m, name, "bias", 0, 1, bd);
    return o->out = new_act(m, out, 1, 1);
}

static int add(fesf_model *m, int a, int b)
{
    if (m->failed) return 0;
    op_desc *o = new_op(m, OP_ADD, a);
    if (!o) return 0;
    o->in2 = b;
    m->acts[b].last_use = m->n_ops - 1;
    return o->out = like(m, a);
}

static void build_cnn_small(fesf_model *m, int w)
{
    int x = 0;
    x = maxpool(m, relu(m, bn(m, "bn1", conv(m, "conv1", x, w, 3, 1, 1))), 2, 2);
    x = maxpool(m, relu(m, bn(m, "bn2", conv(m, "conv2", x, 2 * w, 3, 1, 1))), 2, 2);
    x = relu(m, bn(m, "bn3", conv(m, "conv3", x, 4 * w, 3, 1, 1)));
    linear(m, "fc", gap(m, x), m->classes);
}

/* BasicBlock: conv-bn-relu-conv-bn + shortcut, relu. */
static int basic_block(fesf_model *m, const char *name, int in, int cout, int stride)
{
    char n1[64], n2[64], n3[64], n4[64], s0[64], s1[64];
    snprintf(n1, sizeof n1, "%s.conv1", name), snprintf(n2, sizeof n2, "%s.bn1", name);
    snprintf(n3, sizeof n3, "%s.conv2", name), snprintf(n4, sizeof n4, "%s.bn2", name);
    snprintf(s0, sizeof s0, "%s.shortcut.0", name), snprintf(s1, sizeof s1, "%s.shortcut.1", name);
    int y = relu(m, bn(m, n2, conv(m, n1, in, cout, 3, stride, 1)));
    y = bn(m, n4, conv(m, n3, y, cout, 3, 1, 1));
    int sc = in;
    if (stride != 1 || m->acts[in].c != cout) sc = bn(m, s1, conv(m, s0, in, cout, 1, stride, 0));
    return relu(m, add(m, y, sc));
}

static void build_resnet18(fesf_model *m, int w)
{
    int x = relu(m, bn(m, "bn1", conv(m, "conv1", 0, w, 3, 1, 1)));
    for (int l = 0; l < 4; l++)
        for (int b = 0; b < 2; b++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.%d", l + 1, b);
            x = basic_block(m, name, x, w << l, l > 0 && b == 0 ? 2 : 1);
        }
    linear(m, "fc", gap(m, x), m->classes);
}

/* IQEM generator: G(s) = s + g(s), g an encoder (3x3 conv, stride-2 conv),
 * two residual blocks and a decoder (nearest upsampling, 3x3 conv), instance
 * norm and ReLU, tanh output. Needs even H and W. */
/* A volume's activation [c, d, h, w] (stored as c x dh x w). */
static int new_vol(fesf_model *m, int c, int d, int h, int w)
{
    int a = new_act(m, c, d * h, w);
    if (!m->failed) m->acts[a].d = d;
    return a;
}

/* The true (d, h) of activation a. */
static void vol_dh(const fesf_model *m, int a, int *d, int *h)
{
    *d = m->acts[a].d, *h = m->acts[a].h / m->acts[a].d;
}

static int conv3d_b(fesf_model *m, const char *name, int in, int cout, int k, int stride, int pad, int bias)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    int d, h;
    vol_dh(m, in, &d, &h);
    op_desc *o = new_op(m, OP_CONV3D, in);
    if (!o) return 0;
    o->conv3 = (fesf_conv3d_shape){m->batch, a->c, d, h, a->w, cout, k, stride, pad, 0, 0, 0};
    if (fesf_conv3d_shape_init(&o->conv3)) {
        m->failed = 1;
        return 0;
    }
    int dims[5] = {cout, a->c, k, k, k}; /* PyTorch's Conv3d weight */
    o->tw = add_tensor(m, name, "weight", 0, 5, dims);
    if (bias) o->tb = add_tensor(m, name, "bias", 0, 1, dims);
    size_t col = fesf_conv3d_col_floats(&o->conv3);
    if (col > m->n_col) m->n_col = col;
    return o->out = new_vol(m, cout, o->conv3.do_, o->conv3.ho, o->conv3.wo);
}

static int conv3d(fesf_model *m, const char *name, int in, int cout, int k, int stride, int pad)
{
    return conv3d_b(m, name, in, cout, k, stride, pad, 0);
}

static int upsample3d(fesf_model *m, int in)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    int d, h;
    vol_dh(m, in, &d, &h);
    op_desc *o = new_op(m, OP_UP3D, in);
    return o ? (o->out = new_vol(m, a->c, 2 * d, 2 * h, 2 * a->w)) : 0;
}

static int maxpool3d(fesf_model *m, int in, int k)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    int d, h;
    vol_dh(m, in, &d, &h);
    op_desc *o = new_op(m, OP_MAXPOOL3D, in);
    if (!o) return 0;
    o->pool3 = (fesf_pool3d_shape){m->batch, a->c, d, h, a->w, k, 0, 0, 0};
    if (fesf_pool3d_shape_init(&o->pool3)) {
        m->failed = 1;
        return 0;
    }
    o->save_off = m->n_idx;
    m->n_idx += (size_t)m->batch * (size_t)a->c * (size_t)o->pool3.do_ * (size_t)o->pool3.ho * (size_t)o->pool3.wo;
    return o->out = new_vol(m, a->c, o->pool3.do_, o->pool3.ho, o->pool3.wo);
}

/* IQEM's generator (gan.h): for volumes the same layers in 3-D (Conv3d,
 * nearest upsampling along D, H and W). */
typedef int (*conv_fn)(fesf_model *, const char *, int, int, int, int, int, int);
static void build_iqem_g(fesf_model *m, int w)
{
    int c = m->acts[0].c, vol = m->d > 1;
    conv_fn cv = vol ? conv3d_b : conv_b;
    int (*up)(fesf_model *, int) = vol ? upsample3d : upsample2;
    int x = relu(m, inorm(m, "enc1.norm", cv(m, "enc1.conv", 0, w, 3, 1, 1, 1)));
    x = relu(m, inorm(m, "enc2.norm", cv(m, "enc2.conv", x, 2 * w, 3, 2, 1, 1)));
    for (int b = 0; b < 2; b++) {
        char n1[32], n2[32], n3[32], n4[32];
        snprintf(n1, sizeof n1, "res%d.conv1", b), snprintf(n2, sizeof n2, "res%d.norm1", b);
        snprintf(n3, sizeof n3, "res%d.conv2", b), snprintf(n4, sizeof n4, "res%d.norm2", b);
        int y = relu(m, inorm(m, n2, cv(m, n1, x, 2 * w, 3, 1, 1, 1)));
        x = add(m, x, inorm(m, n4, cv(m, n3, y, 2 * w, 3, 1, 1, 1)));
    }
    x = relu(m, inorm(m, "dec.norm", cv(m, "dec.conv", up(m, x), w, 3, 1, 1, 1)));
    x = pointwise(m, OP_TANH, cv(m, "out.conv", x, c, 3, 1, 1, 1));
    add(m, 0, x);
}

/* IQEM discriminator (PatchGAN; 3-D for volumes): two stride-2 3x3 convs with leaky ReLU
 * (instance norm on the second), a 3x3 conv to one logit per patch. */
static void build_iqem_d(fesf_model *m, int w)
{
    conv_fn cv = m->d > 1 ? conv3d_b : conv_b;
    int x = pointwise(m, OP_LRELU, cv(m, "c1", 0, w, 3, 2, 1, 1));
    x = pointwise(m, OP_LRELU, inorm(m, "n2", cv(m, "c2", x, 2 * w, 3, 2, 1, 1)));
    cv(m, "out", x, 1, 3, 1, 1, 1);
}

/* Inversion attacker of the privacy audit: seven 3x3 conv-BN-ReLU layers of
 * w channels, then a 3x3 conv with bias back to the input's channels (3x3x3
 * for volumes). */
static void build_attack_cnn(fesf_model *m, int w)
{
    conv_fn cv = m->d > 1 ? conv3d_b : conv_b;
    int x = 0;
    for (int l = 1; l <= 7; l++) {
        char cn[16], bn_name[16];
        snprintf(cn, sizeof cn, "conv%d", l), snprintf(bn_name, sizeof bn_name, "bn%d", l);
        x = relu(m, bn(m, bn_name, cv(m, cn, x, w, 3, 1, 1, 0)));
    }
    cv(m, "out", x, m->acts[0].c, 3, 1, 1, 1);
}

/* cnn-small's 3-D twin: Conv3d 3x3x3 - BatchNorm3d - ReLU - MaxPool3d(2), twice, then a third conv block, global
 * average pooling and fc (PyTorch's names, so state_dict keys match). */
static void build_cnn3d_small(fesf_model *m, int w)
{
    int x = 0;
    x = maxpool3d(m, relu(m, bn(m, "bn1", conv3d(m, "conv1", x, w, 3, 1, 1))), 2);
    x = maxpool3d(m, relu(m, bn(m, "bn2", conv3d(m, "conv2", x, 2 * w, 3, 1, 1))), 2);
    x = relu(m, bn(m, "bn3", conv3d(m, "conv3", x, 4 * w, 3, 1, 1)));
    linear(m, "fc", gap(m, x), m->classes);
}

int fesf_model_image_output(const char *arch) { return !strncmp(arch, "iqem-", 5) || !strcmp(arch, "attack-cnn"); }

int fesf_model_build(fesf_model *m, const char *arch, int width)
{
    int h = m->h, w = m->w, vol = !strcmp(arch, "cnn3d-small"), image_out = fesf_model_image_output(arch);
    if (m->d > 1 && !vol && !image_out)
        return fesf_error("model %s takes 2-D images, not %dx%dx%d volumes (cnn3d-small takes volumes)", arch, m->d, h, w);
    new_vol(m, m->c, m->d, h, w); /* activation 0: the input */
    if (vol) build_cnn3d_small(m, width);
    else if (!strcmp(arch, "cnn-small")) build_cnn_small(m, width);
    else if (!strcmp(arch, "resnet18")) build_resnet18(m, width);
    else if (!strcmp(arch, "iqem-g") && h % 2 == 0 && w % 2 == 0 && (m->d == 1 || m->d % 2 == 0)) build_iqem_g(m, width);
    else if (!strcmp(arch, "iqem-d")) build_iqem_d(m, width);
    else if (!strcmp(arch, "attack-cnn")) build_attack_cnn(m, width);
    else if (!strcmp(arch, "iqem-g") && m->d > 1)
        return fesf_error("model iqem-g needs even volume sizes, not %dx%dx%d", m->d, h, w);
    else if (!strcmp(arch, "iqem-g")) return fesf_error("model iqem-g needs even image sizes, not %dx%d", h, w);
    else return fesf_error("unknown model.arch '%s' (cnn-small | resnet18 | cnn3d-small)", arch);
    return 0;
}
