/* Naive IHM reference (see ihm.h): full complex DFTs in double, computed
 * by their definition, with atan2-based amplitude and phase. Slow on
 * purpose; it shares nothing with the FFTW path but fesf_ihm_in_mask. */
#include "fesf/error.h"
#include "fesf/ihm.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>

static void dft2(const double complex *in, double complex *out, int h, int w, int sign)
{
    for (int k = 0; k < h; k++)
        for (int l = 0; l < w; l++) {
            double complex acc = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    double ang = sign * 2 * M_PI * ((double)k * y / h + (double)l * x / w);
                    acc += in[y * w + x] * (cos(ang) + I * sin(ang));
                }
            out[k * w + l] = acc;
        }
}

static int centred(int k, int n) { return k < (n + 1) / 2 ? k : k - n; }

static void one_channel(const float *x, const float *host, float *out, int h, int w,
                        const fesf_ihm_params *prm, double complex *buf)
{
    int hw = h * w;
    double complex *a = buf, *fx = buf + hw, *fh = buf + 2 * hw, *sy = buf + 3 * hw;
    for (int i = 0; i < hw; i++) a[i] = x[i];
    dft2(a, fx, h, w, -1);
    for (int i = 0; i < hw; i++) a[i] = host[i];
    dft2(a, fh, h, w, -1);
    for (int k = 0; k < h; k++)
        for (int l = 0; l < w; l++) {
            int i = k * w + l;
            double ah = cabs(fh[i]), ax = cabs(fx[i]);
            double ph = atan2(cimag(fh[i]), creal(fh[i])); /* atan2(0, 0) = 0 */
            int m = fesf_ihm_in_mask(centred(k, h), centred(l, w), h, w, prm);
            double asy = m ? (1 - prm->beta) * ah + prm->beta * ax : ah;
            sy[i] = asy * (cos(ph) + I * sin(ph));
        }
    dft2(sy, a, h, w, +1);
    for (int i = 0; i < hw; i++) out[i] = (float)(creal(a[i]) / hw);
}

int fesf_ihm_naive(const float *x, const float *host, float *out, int n, int c, int h, int w,
                   const fesf_ihm_params *prm)
{
    if (fesf_ihm_check(prm)) return -1;
    size_t hw = (size_t)h * (size_t)w;
    double complex *buf = malloc(sizeof(double complex) * 4 * hw);
    if (!buf) return fesf_error("out of memory");
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            size_t off = ((size_t)i * (size_t)c + (size_t)ch) * hw;
            one_channel(x + off, host + (size_t)ch * hw, out + off, h, w, prm, buf);
        }
    free(buf);
    return 0;
}
