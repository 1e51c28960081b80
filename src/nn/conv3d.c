/* 3-D convolution and max pooling (see layers3d.h): vol2col + cblas_sgemm
 * per sample, the naive references in double beside them. */
#include "fesf/layers3d.h"

#include "fesf/error.h"

#include <cblas.h>
#include <float.h>
#include <string.h>

int fesf_conv3d_shape_init(fesf_conv3d_shape *s)
{
    if (s->k < 1 || s->stride < 1 || s->pad < 0 || s->cin < 1 || s->cout < 1)
        return fesf_error("conv3d: bad kernel %d, stride %d, pad %d", s->k, s->stride, s->pad);
    s->do_ = (s->d + 2 * s->pad - s->k) / s->stride + 1;
    s->ho = (s->h + 2 * s->pad - s->k) / s->stride + 1;
    s->wo = (s->w + 2 * s->pad - s->k) / s->stride + 1;
    if (s->d + 2 * s->pad < s->k || s->h + 2 * s->pad < s->k || s->w + 2 * s->pad < s->k)
        return fesf_error("conv3d: a %dx%dx%d volume is smaller than its %d kernel", s->d, s->h, s->w, s->k);
    return 0;
}

static size_t out_voxels(const fesf_conv3d_shape *s) { return (size_t)s->do_ * (size_t)s->ho * (size_t)s->wo; }
static size_t in_voxels(const fesf_conv3d_shape *s) { return (size_t)s->d * (size_t)s->h * (size_t)s->w; }

size_t fesf_conv3d_col_floats(const fesf_conv3d_shape *s)
{
    return (size_t)s->cin * (size_t)s->k * s->k * s->k * out_voxels(s);
}

/* Input coordinate of output o along an axis for kernel offset q, or -1 outside. */
static inline int src_at(int o, int q, int stride, int pad, int n)
{
    int i = o * stride - pad + q;
    return i >= 0 && i < n ? i : -1;
}

/* The columns of one sample, both ways, in one fixed order of rows and
 * positions: with dx NULL, col [Cin K^3, P] = vol2col(x) (zeros for the
 * padding); else dx [Cin, D, H, W] += col2vol(col), the columns' gradient. */
static void vol_cols(const fesf_conv3d_shape *s, const float *x, float *col, float *dx)
{
    const int k = s->k;
    size_t P = out_voxels(s), r = 0;
    for (int c = 0; c < s->cin; c++)
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                for (int e = 0; e < k; e++, r++) {
                    float *row = col + r * P;
                    size_t p = 0;
                    for (int od = 0; od < s->do_; od++) {
                        int id = src_at(od, a, s->stride, s->pad, s->d);
                        for (int oh = 0; oh < s->ho; oh++) {
                            int ih = src_at(oh, b, s->stride, s->pad, s->h);
                            size_t at = (((size_t)c * s->d + id) * s->h + ih) * s->w;
                            int in = id >= 0 && ih >= 0;
                            for (int ow = 0; ow < s->wo; ow++, p++) {
                                int iw = src_at(ow, e, s->stride, s->pad, s->w);
                                if (!dx) row[p] = in && iw >= 0 ? x[at + iw] : 0.0f;
                                else if (in && iw >= 0) dx[at + iw] += row[p];
                            }
                        }
                    }
                }
}

void fesf_conv3d_forward(const fesf_conv3d_shape *s, const float *x, const float *w, const float *b, float *y,
                         float *col)
{
    const int rows = s->cin * s->k * s->k * s->k, P = (int)out_voxels(s);
    for (int i = 0; i < s->n; i++) {
        float *yi = y + (size_t)i * s->cout * P;
        vol_cols(s, x + (size_t)i * s->cin * in_voxels(s), col, NULL);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, P, rows, 1.0f, w, rows, col, P, 0.0f, yi, P);
        if (b)
            for (int o = 0; o < s->cout; o++)
                for (int p = 0; p < P; p++) yi[(size_t)o * P + p] += b[o];
    }
}

void fesf_conv3d_backward(const fesf_conv3d_shape *s, const float *x, const float *w, const float *dy, float *dx,
                          int set, float *dw, float *db, float *col)
{
    const int rows = s->cin * s->k * s->k * s->k, P = (int)out_voxels(s);
    const size_t xs = (size_t)s->cin * in_voxels(s);
    if (dx && set) memset(dx, 0, sizeof(float) * xs * (size_t)s->n);
    for (int i = 0; i < s->n; i++) {
        const float *dyi = dy + (size_t)i * s->cout * P;
        if (dw) { /* dw [Cout, rows] += dy_i [Cout, P] col^T */
            vol_cols(s, x + (size_t)i * xs, col, NULL);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, rows, P, 1.0f, dyi, P, col, P, 1.0f, dw, rows);
        }
        if (db)
            for (int o = 0; o < s->cout; o++) {
                float acc = 0.0f;
                for (int p = 0; p < P; p++) acc += dyi[(size_t)o * P + p];
                db[o] += acc;
            }
        if (dx) { /* dcol [rows, P] = w^T dy_i, then scattered */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, P, s->cout, 1.0f, w, rows, dyi, P, 0.0f, col, P);
            vol_cols(s, NULL, col, dx + (size_t)i * xs);
        }
    }
}

/* ---- naive references ------------------------------------------------------ */

void fesf_conv3d_forward_naive(const fesf_conv3d_shape *s, const float *x, const float *w, const float *b, float *y)
{
    const int k = s->k;
    for (int i = 0; i < s->n; i++)
        for (int o = 0; o < s->cout; o++)
            for (int od = 0; od < s->do_; od++)
                for (int oh = 0; oh < s->ho; oh++)
                    for (int ow = 0; ow < s->wo; ow++) {
                        double acc = b ? b[o] : 0.0;
                        for (int c = 0; c < s->cin; c++)
                            for (int a = 0; a < k; a++)
                                for (int q = 0; q < k; q++)
                                    for (int e = 0; e < k; e++) {
                                        int id = src_at(od, a, s->stride, s->pad, s->d);
                                        int ih = src_at(oh, q, s->stride, s->pad, s->h);
                                        int iw = src_at(ow, e, s->stride, s->pad, s->w);
                                        if (id < 0 || ih < 0 || iw < 0) continue;
                                        acc += (double)x[((((size_t)i * s->cin + c) * s->d + id) * s->h + ih) * s->w + iw] *
                                               w[((((size_t)o * s->cin + c) * k + a) * k + q) * k + e];
                                    }
                        y[((((size_t)i * s->cout + o) * s->do_ + od) * s->ho + oh) * s->wo + ow] = (float)acc;
                    }
}

/* dx (set), dw, db (set) by the chain rule of the forward's sums, term by term */
void fesf_conv3d_backward_naive(const fesf_conv3d_shape *s, const float *x, const float *w, const float *dy,
                                float *dx, float *dw, float *db)
{
    const int k = s->k;
    if (dx) memset(dx, 0, sizeof(float) * (size_t)s->n * s->cin * in_voxels(s));
    if (dw) memset(dw, 0, sizeof(float) * (size_t)s->cout * s->cin * k * k * k);
    if (db) memset(db, 0, sizeof(float) * (size_t)s->cout);
    for (int i = 0; i < s->n; i++)
        for (int o = 0; o < s->cout; o++)
            for (int od = 0; od < s->do_; od++)
                for (int oh = 0; oh < s->ho; oh++)
                    for (int ow = 0; ow < s->wo; ow++) {
                        float g = dy[((((size_t)i * s->cout + o) * s->do_ + od) * s->ho + oh) * s->wo + ow];
                        if (db) db[o] += g;
                        for (int c = 0; c < s->cin; c++)
                            for (int a = 0; a < k; a++)
                                for (int q = 0; q < k; q++)
                                    for (int e = 0; e < k; e++) {
                                        int id = src_at(od, a, s->stride, s->pad, s->d);
                                        int ih = src_at(oh, q, s->stride, s->pad, s->h);
                                        int iw = src_at(ow, e, s->stride, s->pad, s->w);
                                        if (id < 0 || ih < 0 || iw < 0) continue;
                                        size_t xi = ((((size_t)i * s->cin + c) * s->d + id) * s->h + ih) * s->w + iw;
                                        size_t wi = ((((size_t)o * s->cin + c) * k + a) * k + q) * k + e;
                                        if (dx) dx[xi] += g * w[wi];
                                        if (dw) dw[wi] += g * x[xi];
                                    }
                    }
}

/* ---- max pooling ------------------------------------------------------------ */

int fesf_pool3d_shape_init(fesf_pool3d_shape *s)
{
    if (s->k < 1 || s->d < s->k || s->h < s->k || s->w < s->k)
        return fesf_error("maxpool3d: window %d on a %dx%dx%d volume", s->k, s->d, s->h, s->w);
    s->do_ = s->d / s->k, s->ho = s->h / s->k, s->wo = s->w / s->k;
    return 0;
}

void fesf_maxpool3d_forward(const fesf_pool3d_shape *s, const float *x, float *y, int32_t *idx)
{
    const int k = s->k;
    size_t vin = (size_t)s->d * s->h * s->w, vout = (size_t)s->do_ * s->ho * s->wo;
#pragma omp parallel for schedule(static) if ((size_t)s->n * s->c * vout > 65536)
    for (int nc = 0; nc < s->n * s->c; nc++) {
        const float *xi = x + (size_t)nc * vin;
        size_t p = (size_t)nc * vout;
        for (int od = 0; od < s->do_; od++)
            for (int oh = 0; oh < s->ho; oh++)
                for (int ow = 0; ow < s->wo; ow++, p++) {
                    float best = -FLT_MAX;
                    int32_t at = 0;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                            for (int e = 0; e < k; e++) {
                                int32_t q = (int32_t)((((size_t)od * k + a) * s->h + (size_t)oh * k + b) * s->w +
                                                      (size_t)ow * k + e);
                                if (xi[q] > best || (a == 0 && b == 0 && e == 0)) best = xi[q], at = q;
                            }
                    y[p] = best, idx[p] = at;
                }
    }
}

void fesf_maxpool3d_backward(const fesf_pool3d_shape *s, const int32_t *idx, const float *dy, float *dx, int set)
{
    size_t vin = (size_t)s->d * s->h * s->w, vout = (size_t)s->do_ * s->ho * s->wo;
    if (set) memset(dx, 0, sizeof(float) * vin * (size_t)s->n * s->c);
#pragma omp parallel for schedule(static) if ((size_t)s->n * s->c * vout > 65536)
    for (int nc = 0; nc < s->n * s->c; nc++)
        for (size_t p = 0; p < vout; p++) dx[(size_t)nc * vin + idx[(size_t)nc * vout + p]] += dy[(size_t)nc * vout + p];
}

/* ---- nearest upsampling by 2 ------------------------------------------------ */

void fesf_upsample3d_forward(int n, int c, int d, int h, int w, const float *x, float *y)
{
    const size_t W2 = 2 * (size_t)w, plane2 = 4 * (size_t)h * w;
#pragma omp parallel for schedule(static) if ((size_t)n * c * d * h * w > 65536)
    for (size_t pl = 0; pl < (size_t)n * c * d; pl++) { /* input plane pl -> output planes 2 pl, 2 pl + 1 */
        const float *xp = x + pl * h * w;
        float *yp = y + 2 * pl * plane2;
        for (int ih = 0; ih < h; ih++) {
            float *row = yp + 2 * (size_t)ih * W2;
            for (int iw = 0; iw < w; iw++) row[2 * iw] = row[2 * iw + 1] = xp[(size_t)ih * w + iw];
            memcpy(row + W2, row, sizeof(float) * W2);
        }
        memcpy(yp + plane2, yp, sizeof(float) * plane2);
    }
}

void fesf_upsample3d_backward(int n, int c, int d, int h, int w, const float *dy, float *dx)
{
    const size_t W2 = 2 * (size_t)w, plane2 = 4 * (size_t)h * w;
#pragma omp parallel for schedule(static) if ((size_t)n * c * d * h * w > 65536)
    for (size_t pl = 0; pl < (size_t)n * c * d; pl++) {
        float *dxp = dx + pl * h * w;
        const float *g = dy + 2 * pl * plane2;
        for (int ih = 0; ih < h; ih++)
            for (int iw = 0; iw < w; iw++) {
                float acc = 0.0f;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        const float *q = g + a * plane2 + (2 * (size_t)ih + b) * W2 + 2 * (size_t)iw;
                        acc += q[0] + q[1];
                    }
                dxp[(size_t)ih * w + iw] += acc;
            }
    }
}
