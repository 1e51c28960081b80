/* Naive references of the 2-D convolution (see layers.h and conv.c): direct
 * loops with double accumulation, for the tests. */
#include "fesf/layers.h"

#include <stddef.h>

/* ---- naive references: direct loops, double accumulation ---- */

void fesf_conv2d_forward_naive(const fesf_conv_shape *s, const float *x, const float *w, const float *b, float *y)
{
    const int k = s->k;
    for (int i = 0; i < s->n; i++)
        for (int co = 0; co < s->cout; co++)
            for (int oh = 0; oh < s->ho; oh++)
                for (int ow = 0; ow < s->wo; ow++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int kh = 0; kh < k; kh++)
                            for (int kw = 0; kw < k; kw++) {
                                int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
                                acc += (double)x[(((size_t)i * s->cin + ci) * s->h + ih) * s->w + iw] *
                                       w[(((size_t)co * s->cin + ci) * k + kh) * k + kw];
                            }
                    y[(((size_t)i * s->cout + co) * s->ho + oh) * s->wo + ow] = (float)acc;
                }
}

void fesf_conv2d_backward_naive(const fesf_conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                                float *dw, float *db)
{
    const int k = s->k;
#define DY(i, co, oh, ow) dy[(((size_t)(i) * s->cout + (co)) * s->ho + (oh)) * s->wo + (ow)]
    if (db)
        for (int co = 0; co < s->cout; co++) {
            double acc = 0.0;
            for (int i = 0; i < s->n; i++)
                for (int oh = 0; oh < s->ho; oh++)
                    for (int ow = 0; ow < s->wo; ow++) acc += DY(i, co, oh, ow);
            db[co] += (float)acc;
        }
    if (dw)
        for (int co = 0; co < s->cout; co++)
            for (int ci = 0; ci < s->cin; ci++)
                for (int kh = 0; kh < k; kh++)
                    for (int kw = 0; kw < k; kw++) {
                        double acc = 0.0;
                        for (int i = 0; i < s->n; i++)
                            for (int oh = 0; oh < s->ho; oh++)
                                for (int ow = 0; ow < s->wo; ow++) {
                                    int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                                    if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
                                    acc += (double)DY(i, co, oh, ow) *
                                           x[(((size_t)i * s->cin + ci) * s->h + ih) * s->w + iw];
                                }
                        dw[(((size_t)co * s->cin + ci) * k + kh) * k + kw] += (float)acc;
                    }
    if (dx)
        for (int i = 0; i < s->n; i++)
            for (int ci = 0; ci < s->cin; ci++)
                for (int ih = 0; ih < s->h; ih++)
                    for (int iw = 0; iw < s->w; iw++) {
                        double acc = 0.0;
                        for (int co = 0; co < s->cout; co++)
                            for (int kh = 0; kh < k; kh++)
                                for (int kw = 0; kw < k; kw++) {
                                    int th = ih + s->pad - kh, tw = iw + s->pad - kw;
                                    if (th < 0 || tw < 0 || th % s->stride || tw % s->stride) continue;
                                    int oh = th / s->stride, ow = tw / s->stride;
                                    if (oh >= s->ho || ow >= s->wo) continue;
                                    acc += (double)DY(i, co, oh, ow) * w[(((size_t)co * s->cin + ci) * k + kh) * k + kw];
                                }
                        dx[(((size_t)i * s->cin + ci) * s->h + ih) * s->w + iw] += (float)acc;
                    }
#undef DY
}
