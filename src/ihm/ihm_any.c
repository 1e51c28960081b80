/* One IHM plan for images or volumes (see fesf/ihm3d.h): the 2-D plan of
 * ihm.c for d = 1, the serial 3-D one of ihm3d.c otherwise. */
#include "fesf/ihm3d.h"

#include "fesf/error.h"

int fesf_ihm_any_create(fesf_ihm_any *p, int d, int h, int w, int c, int batch, const fesf_ihm_params *prm)
{
    *p = (fesf_ihm_any){NULL, NULL};
    if (d > 1) return fesf_ihm3d_create(&p->p3, d, h, w, c, prm);
    return fesf_ihm_create(&p->p2, h, w, c, batch, prm);
}

void fesf_ihm_any_destroy(fesf_ihm_any *p)
{
    fesf_ihm_destroy(p->p2);
    fesf_ihm3d_destroy(p->p3);
    *p = (fesf_ihm_any){NULL, NULL};
}

int fesf_ihm_any_set_host(fesf_ihm_any *p, const float *host)
{
    return p->p3 ? fesf_ihm3d_set_host(p->p3, host) : fesf_ihm_set_host(p->p2, host);
}

int fesf_ihm_any_set_tags(fesf_ihm_any *p, const fesf_ihm_tag *tags, int n)
{
    if (p->p3) return fesf_error("volumes: the keyed options (ihm.noise, a beta range, a keyed host) are 2-D only");
    return fesf_ihm_set_tags(p->p2, tags, n);
}

int fesf_ihm_any_apply(fesf_ihm_any *p, const float *x, float *out, int n)
{
    return p->p3 ? fesf_ihm3d_apply(p->p3, x, out, n) : fesf_ihm_apply(p->p2, x, out, n);
}

int64_t fesf_ihm_any_mask_bins(const fesf_ihm_any *p)
{
    return p->p3 ? fesf_ihm3d_mask_bins(p->p3) : fesf_ihm_mask_bins(p->p2);
}

int fesf_ihm_any_mask_amplitude(fesf_ihm_any *p, const float *x, int n, float *amp)
{
    return p->p3 ? fesf_ihm3d_mask_amplitude(p->p3, x, n, amp) : fesf_ihm_mask_amplitude(p->p2, x, n, amp);
}
