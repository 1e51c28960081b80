/* The built-in synthetic dataset: chest-radiograph-like phantoms, two
 * classes (0 = normal, 1 = "finding": a patchy opacity inside the lungs).
 *
 * Each image is a projection "density" map D drawn from a small anatomical
 * model (body outline, two lung fields with a diaphragm dome, heart and
 * mediastinum, spine, ribs, clavicles, faint lung texture, soft-tissue
 * overlay), then exposed with a random brightness, contrast, tone curve,
 * exposure gradient and noise. Class 1 replaces part of the lung air by a
 * smooth random texture inside 1-3 patches. The exposure and anatomy vary
 * more than the finding moves global statistics, so per-image mean, std and
 * percentiles tell the class poorly (measured AUCs in datasets/README.md);
 * a model must look at the lungs.
 *
 * Determinism: image i of split s depends only on its own stream
 * (seed, i, FESF_STREAM_PHANTOM + 16*(s+1)); the first draw is the label.
 * So any strip can be generated alone, in any order, with identical bytes.
 *
 * Coordinates: image (u, v) in (-1, 1), v down; patient (x, y) = the image
 * coordinates with the random pose (shift, rotation, scale) undone.
 * Not thread-safe per source: the per-image tables live in the source. */
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define PH_MIN_SIZE 28
#define PH_MAX_SIZE 256
#define PH_VWAVES 4   /* plane waves of the normal lung texture */
#define PH_FWAVES 6   /* plane waves of the finding texture */
#define PH_PATCHES 3  /* at most this many finding patches */
#define PH_TWO_PI 6.283185307179586

/* Sum of plane waves sum_k cos(a_k u + b_k v + phi_k), stored separably:
 * cos(A + B) = cos A cos B - sin A sin B, so a pixel costs 2 products per
 * wave and no trigonometry. */
typedef struct {
    int n;
    float cu[PH_FWAVES][PH_MAX_SIZE], su[PH_FWAVES][PH_MAX_SIZE];
    float cv[PH_FWAVES][PH_MAX_SIZE], sv[PH_FWAVES][PH_MAX_SIZE];
} ph_waves;

/* A sum of axis-aligned Gaussians in image coordinates, also separable. */
typedef struct {
    int n;
    float gu[PH_PATCHES][PH_MAX_SIZE], gv[PH_PATCHES][PH_MAX_SIZE];
} ph_blobs;

typedef struct {
    double x, y, ax, ay; /* centre and half axes (patient units) */
    double inv_ax, inv_ay;
    double taper;        /* width grows by this factor toward the base */
    double dome_y, dome_k; /* diaphragm: y = dome_y + dome_k * dx^2 */
    double medial;       /* lung stays this far from the midline */
} ph_lung;

/* Everything drawn for one image. */
typedef struct {
    int label;
    double cx, cy, ca, sa, inv_scale;        /* pose */
    double body_w, body_h, body_y, neck_w;   /* body outline */
    ph_lung lung[2];                         /* [0] image left, [1] image right */
    double heart_x, heart_y, heart_iax, heart_iay; /* centre, 1 / half axes */
    double rib_period, rib_phase, rib_slope, rib_curve, rib_amp;
    double clav_y, clav_amp, spine_amp;
    double tissue, lung_air;                 /* densities */
    double vessel_amp, overlay_amp, finding_amp;
    double offset, gain, tone, grad_u, grad_v, noise; /* exposure */
} ph_model;

typedef struct {
    fesf_source base; /* first member: the source handed out */
    int size;
    uint64_t seed;
    double grid[PH_MAX_SIZE]; /* pixel centres, coord(k, size) */
    ph_model m;
    ph_waves vessel, finding;
    ph_blobs overlay, patch;
} ph_source;

static double unif(fesf_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * fesf_rng_uniform(r);
}

/* Smooth step from 0 (t <= -1) to 1 (t >= 1), cubic in between. */
static inline double sstep(double t)
{
    if (t <= -1.0) return 0.0;
    if (t >= 1.0) return 1.0;
    return 0.5 + t * (0.75 - 0.25 * t * t);
}

static inline double clamp01(double t)
{
    return t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
}

/* Pixel centre of index k in (-1, 1). */
static inline double coord(int k, int size)
{
    return (2.0 * k + 1.0) / size - 1.0;
}

static uint32_t stream_of(int split)
{
    return (uint32_t)(FESF_STREAM_PHANTOM + 16 * (split + 1));
}

/* Patient point -> image point under the pose of m. */
static void to_image(const ph_model *m, double x, double y, double *u, double *v)
{
    double s = 1.0 / m->inv_scale;
    *u = m->cx + s * (m->ca * x - m->sa * y);
    *v = m->cy + s * (m->sa * x + m->ca * y);
}

/* ---- drawing the model ------------------------------------------------ */

static void draw_pose_body(ph_model *m, fesf_rng *r)
{
    double th = 0.05 * fesf_rng_normal(r);
    m->cx = 0.04 * fesf_rng_normal(r);
    m->cy = 0.04 * fesf_rng_normal(r);
    m->ca = cos(th);
    m->sa = sin(th);
    m->inv_scale = 1.0 / unif(r, 0.88, 1.12);
    m->body_w = unif(r, 0.68, 0.92);
    m->body_h = unif(r, 0.95, 1.10);
    m->body_y = unif(r, 0.22, 0.32);
    m->neck_w = unif(r, 0.15, 0.21);
}

static void draw_lungs(ph_model *m, fesf_rng *r)
{
    double lx = unif(r, 0.34, 0.40), ly = unif(r, -0.10, 0.00);
    for (int k = 0; k < 2; k++) {
        ph_lung *l = &m->lung[k];
        double side = k ? 1.0 : -1.0;
        l->ax = unif(r, 0.20, 0.32) * (k ? 0.92 : 1.0); /* heart side smaller */
        l->ay = unif(r, 0.44, 0.64);
        l->x = side * (lx + 0.02 * fesf_rng_normal(r));
        l->y = ly + 0.02 * fesf_rng_normal(r);
        l->taper = unif(r, 0.25, 0.45);
        l->dome_y = l->y + l->ay * unif(r, 0.55, 0.75);
        l->dome_k = l->ay * unif(r, 0.15, 0.30);
        l->medial = unif(r, 0.05, 0.09);
        l->inv_ax = 1.0 / l->ax;
        l->inv_ay = 1.0 / l->ay;
    }
}

static void draw_mediastinum_bones(ph_model *m, fesf_rng *r)
{
    m->heart_x = unif(r, 0.12, 0.18);
    m->heart_y = unif(r, 0.16, 0.24);
    m->heart_iax = 1.0 / unif(r, 0.28, 0.36);
    m->heart_iay = 1.0 / unif(r, 0.24, 0.30);
    m->rib_period = unif(r, 0.14, 0.18);
    m->rib_phase = fesf_rng_uniform(r);
    m->rib_slope = unif(r, 0.20, 0.40);
    m->rib_curve = unif(r, 0.40, 0.70);
    m->rib_amp = unif(r, 0.03, 0.07);
    m->clav_y = unif(r, -0.64, -0.54);
    m->clav_amp = unif(r, 0.08, 0.16);
    m->spine_amp = unif(r, 0.02, 0.06);
}

/* Densities and exposure: the spread of lung air, overlay, offset, gain and
 * tone is what hides the finding from global statistics. */
static void draw_exposure(ph_model *m, fesf_rng *r)
{
    m->tissue = unif(r, 0.70, 0.86);
    m->lung_air = unif(r, 0.28, 0.60);
    m->vessel_amp = unif(r, 0.015, 0.04);
    m->overlay_amp = unif(r, 0.0, 0.40);
    m->offset = unif(r, 0.0, 0.25);
    m->gain = unif(r, 0.50, 0.85);
    m->tone = exp(0.45 * fesf_rng_normal(r));
    m->grad_u = 0.05 * fesf_rng_normal(r);
    m->grad_v = 0.05 * fesf_rng_normal(r);
    m->noise = unif(r, 0.008, 0.040);
}

/* n random plane waves, frequencies in [f0, f1] cycles per unit, total
 * variance ~ amp^2, tabulated on the pixel grid. */
static void draw_waves(ph_waves *w, int n, double f0, double f1, double amp,
                       int size, fesf_rng *r)
{
    double a = amp * sqrt(2.0 / n);
    w->n = n;
    for (int k = 0; k < n; k++) {
        double f = PH_TWO_PI * unif(r, f0, f1), dir = PH_TWO_PI * fesf_rng_uniform(r);
        double fu = f * cos(dir), fv = f * sin(dir), ph = PH_TWO_PI * fesf_rng_uniform(r);
        for (int j = 0; j < size; j++) {
            double t = coord(j, size);
            w->cu[k][j] = (float)cos(fu * t);
            w->su[k][j] = (float)sin(fu * t);
            w->cv[k][j] = (float)(a * cos(fv * t + ph));
            w->sv[k][j] = (float)(a * sin(fv * t + ph));
        }
    }
}

/* Adds a Gaussian blob of height amp centred at image point (u0, v0). */
static void add_blob(ph_blobs *b, double u0, double v0, double su, double sv, double amp,
                     int size)
{
    int k = b->n++;
    for (int j = 0; j < size; j++) {
        double t = coord(j, size), du = (t - u0) / su, dv = (t - v0) / sv;
        b->gu[k][j] = (float)exp(-0.5 * du * du);
        b->gv[k][j] = (float)(amp * exp(-0.5 * dv * dv));
    }
}

/* Soft-tissue overlay (breast shadows) over both lower lungs: present in
 * both classes so that "some extra density in the lungs" is not the label. */
static void draw_overlay(ph_source *ps, fesf_rng *r)
{
    const ph_model *m = &ps->m;
    double s = 1.0 / m->inv_scale;
    ps->overlay.n = 0;
    for (int k = 0; k < 2; k++) {
        const ph_lung *l = &m->lung[k];
        double u, v;
        to_image(m, l->x * unif(r, 1.05, 1.25), l->y + l->ay * unif(r, 0.35, 0.6), &u, &v);
        add_blob(&ps->overlay, u, v, s * unif(r, 0.22, 0.34), s * unif(r, 0.18, 0.28),
                 unif(r, 0.5, 1.0), ps->size);
    }
}

/* Class 1: 1..3 patches in one or both lungs, mid and lower zones mostly. */
static void draw_finding(ph_source *ps, fesf_rng *r)
{
    ph_model *m = &ps->m;
    double s = 1.0 / m->inv_scale;
    int n = 1 + (int)fesf_rng_below(r, PH_PATCHES);
    ps->patch.n = 0;
    m->finding_amp = unif(r, 0.85, 1.0);
    for (int k = 0; k < n; k++) {
        int side = (int)fesf_rng_below(r, 2);
        const ph_lung *l = &m->lung[side];
        /* keep clear of the heart (side 1) and the diaphragm */
        double lat = side ? unif(r, 0.0, 0.45) : unif(r, -0.30, 0.45);
        double px = l->x + (side ? 1.0 : -1.0) * l->ax * lat;
        double py = l->y + l->ay * unif(r, -0.35, 0.40), u, v;
        to_image(m, px, py, &u, &v);
        add_blob(&ps->patch, u, v, s * unif(r, 0.12, 0.20), s * unif(r, 0.13, 0.22), 1.0, ps->size);
    }
    draw_waves(&ps->finding, PH_FWAVES, 1.0, 2.5, 1.0, ps->size, r);
}

/* Draws the whole model of one image; r then continues with the noise. */
static void draw_model(ph_source *ps, fesf_rng *r)
{
    ph_model *m = &ps->m;
    m->label = (int)(fesf_rng_u32(r) >> 31); /* first draw: the label */
    draw_pose_body(m, r);
    draw_lungs(m, r);
    draw_mediastinum_bones(m, r);
    draw_exposure(m, r);
    draw_waves(&ps->vessel, PH_VWAVES, 1.5, 2.5, 1.0, ps->size, r);
    draw_overlay(ps, r);
    m->finding_amp = 0.0;
    ps->patch.n = 0;
    if (m->label) draw_finding(ps, r);
}

/* ---- rendering -------------------------------------------------------- */

/* Trunk (a super-ellipse with sloping shoulders) and neck, soft edged. */
static double body_mask(const ph_model *m, double x, double y)
{
    double w = m->body_w * (1.0 - 0.22 * sstep((-0.40 - y) * (1.0 / 0.35)));
    double bx = x / w, by = (y - m->body_y) / m->body_h;
    double q = bx * bx * bx * bx + by * by * by * by;
    double b = sstep((1.0 - q) * (1.0 / 0.15));
    double neck = sstep((m->neck_w - fabs(x)) * (1.0 / 0.03)) * sstep((-0.45 - y) * (1.0 / 0.08));
    return neck > b ? neck : b;
}

static double lung_mask(const ph_lung *l, double x, double y)
{
    double side = l->x > 0 ? 1.0 : -1.0;
    double dy = (y - l->y) * l->inv_ay, w = 1.0 + l->taper * dy;
    double ddx = (x - l->x) * l->inv_ax, dx = ddx / (w > 0.4 ? w : 0.4);
    double e = sstep((1.0 - dx * dx - dy * dy) * (1.0 / 0.12));
    if (e == 0.0) return 0.0;
    double dome = sstep((l->dome_y + l->dome_k * ddx * ddx - y) * (1.0 / 0.04));
    return e * dome * sstep((side * x - l->medial) * (1.0 / 0.04));
}

static double heart_mask(const ph_model *m, double x, double y)
{
    double dx = (x - m->heart_x) * m->heart_iax, dy = (y - m->heart_y) * m->heart_iay;
    return sstep((1.0 - dx * dx - dy * dy) * (1.0 / 0.15));
}

/* Arched bands (up from the spine, down laterally), relative width 0.5. */
static double rib_profile(const ph_model *m, double x, double y)
{
    double ax = fabs(x);
    double t = (y + m->rib_slope * ax - m->rib_curve * ax * ax) / m->rib_period + m->rib_phase;
    double f = (t - floor(t)) * 2.0;
    return f >= 1.0 ? 0.0 : 4.0 * f * (1.0 - f);
}

static double clavicle(const ph_model *m, double x, double y)
{
    double ax = fabs(x);
    if (ax < 0.06 || ax > 0.60) return 0.0;
    double d = (y - (m->clav_y - 0.18 * ax)) * (1.0 / 0.045);
    return d * d < 1.0 ? (1.0 - d * d) * (1.0 - d * d) : 0.0;
}

static double wave_sum(const ph_waves *w, int i, int j)
{
    double s = 0.0;
    for (int k = 0; k < w->n; k++)
        s += w->cu[k][j] * w->cv[k][i] - w->su[k][j] * w->sv[k][i];
    return s;
}

static double blob_sum(const ph_blobs *b, int i, int j)
{
    double s = 0.0;
    for (int k = 0; k < b->n; k++) s += b->gu[k][j] * b->gv[k][i];
    return s;
}

/* Fraction of lung air replaced by denser material at pixel (i, j). */
static double lung_fill(const ph_source *ps, int i, int j)
{
    const ph_model *m = &ps->m;
    double fill = m->overlay_amp * blob_sum(&ps->overlay, i, j);
    if (m->finding_amp > 0.0) {
        double e = blob_sum(&ps->patch, i, j);
        if (e > 1e-3) {
            double tex = clamp01(0.85 + 0.5 * wave_sum(&ps->finding, i, j));
            fill += m->finding_amp * (e > 1.0 ? 1.0 : e) * tex;
        }
    }
    return fill > 0.95 ? 0.95 : fill;
}

/* Projection density at pixel (i, j): 0 = air, ~1 = bone over tissue. */
static double density(const ph_source *ps, int i, int j)
{
    const ph_model *m = &ps->m;
    double du = ps->grid[j] - m->cx, dv = ps->grid[i] - m->cy;
    double x = (m->ca * du + m->sa * dv) * m->inv_scale;
    double y = (-m->sa * du + m->ca * dv) * m->inv_scale;
    double body = body_mask(m, x, y);
    if (body <= 0.0) return 0.0;
    double h = heart_mask(m, x, y);
    /* the heart hides most of the lung behind it */
    double lung = (lung_mask(&m->lung[0], x, y) + lung_mask(&m->lung[1], x, y)) * (1.0 - 0.9 * h);
    double d = m->tissue;
    d += m->spine_amp * sstep((0.07 - fabs(x)) * (1.0 / 0.02));
    d += m->rib_amp * rib_profile(m, x, y) * (lung + 0.25 * sstep((0.30 - y) * (1.0 / 0.15)));
    d += m->clav_amp * clavicle(m, x, y);
    if (lung > 0.0) {
        d += lung * m->vessel_amp * wave_sum(&ps->vessel, i, j);
        d -= m->lung_air * lung * (1.0 - lung_fill(ps, i, j));
    }
    return body * d;
}

/* Approximately standard normal from one 32-bit draw (sum of 4 bytes). */
static inline double cheap_normal(fesf_rng *r)
{
    uint32_t w = fesf_rng_u32(r);
    int s = (int)(w & 255) + (int)((w >> 8) & 255) + (int)((w >> 16) & 255) + (int)(w >> 24);
    return (s - 510.0) * (1.0 / 147.8);
}

/* Renders the image whose model was just drawn; r continues the stream. */
static void render(const ph_source *ps, fesf_rng *r, uint8_t *out)
{
    const ph_model *m = &ps->m;
    int n = ps->size;
    for (int i = 0; i < n; i++) {
        double v = ps->grid[i];
        for (int j = 0; j < n; j++) {
            double d = clamp01(density(ps, i, j));
            double t = d / (d + m->tone * (1.0 - d)); /* tone curve, t(0)=0, t(1)=1 */
            double px = m->offset + m->gain * t + m->grad_u * ps->grid[j] + m->grad_v * v
                        + m->noise * cheap_normal(r);
            out[(size_t)i * n + j] = (uint8_t)(clamp01(px) * 255.0 + 0.5);
        }
    }
}

/* ---- the source ------------------------------------------------------- */

static int check_range(const ph_source *ps, int split, int64_t start, int64_t count)
{
    if (split < 0 || split >= FESF_NSPLITS)
        return fesf_error("phantom: split %d out of range [0, %d]", split, FESF_NSPLITS - 1);
    int64_t n = ps->base.info.n[split];
    if (start < 0 || count < 0 || start > n || count > n - start)
        return fesf_error("phantom: images [%lld, %lld) out of range for split %d of %lld images",
                          (long long)start, (long long)(start + count), split, (long long)n);
    return 0;
}

static int ph_read_labels(fesf_source *s, int split, int32_t *labels)
{
    ph_source *ps = (ph_source *)s;
    if (check_range(ps, split, 0, 0) < 0) return -1;
    for (int64_t i = 0; i < s->info.n[split]; i++) {
        fesf_rng r;
        fesf_rng_init(&r, ps->seed, (uint32_t)i, stream_of(split));
        labels[i] = (int32_t)(fesf_rng_u32(&r) >> 31);
    }
    return 0;
}

static int ph_read_images(fesf_source *s, int split, int64_t start, int64_t count, void *buf)
{
    ph_source *ps = (ph_source *)s;
    size_t npix = (size_t)ps->size * ps->size;
    if (check_range(ps, split, start, count) < 0) return -1;
    for (int64_t k = 0; k < count; k++) {
        fesf_rng r;
        fesf_rng_init(&r, ps->seed, (uint32_t)(start + k), stream_of(split));
        draw_model(ps, &r);
        render(ps, &r, (uint8_t *)buf + (size_t)k * npix);
    }
    return 0;
}

static void ph_close(fesf_source *s)
{
    free(s);
}

int fesf_phantom_open(fesf_source **out, const fesf_phantom_params *p)
{
    if (!out || !p) return fesf_error("phantom: no parameters");
    *out = NULL;
    if (p->size < PH_MIN_SIZE || p->size > PH_MAX_SIZE)
        return fesf_error("phantom size %d out of range [%d, %d]", p->size, PH_MIN_SIZE, PH_MAX_SIZE);
    /* stream_a is the 32-bit image index */
    if (p->count < 1 || p->count > (int64_t)UINT32_MAX)
        return fesf_error("phantom count %lld out of range [1, %lld]", (long long)p->count,
                          (long long)UINT32_MAX);
    ph_source *ps = calloc(1, sizeof *ps);
    if (!ps) return fesf_error("phantom: out of memory");
    ps->size = p->size;
    ps->seed = p->seed;
    for (int k = 0; k < p->size; k++) ps->grid[k] = coord(k, p->size);
    fesf_source *s = &ps->base;
    s->info.n[FESF_SPLIT_TRAIN] = p->count;
    s->info.n[FESF_SPLIT_VAL] = 0;
    s->info.n[FESF_SPLIT_TEST] = p->count / 4;
    s->info.c = 1, s->info.d = 1;
    s->info.h = s->info.w = p->size;
    s->info.dtype = FESF_U8;
    snprintf(s->desc, sizeof s->desc, "phantom:size=%d,count=%lld,seed=%llu", p->size,
             (long long)p->count, (unsigned long long)p->seed);
    s->read_labels = ph_read_labels;
    s->read_images = ph_read_images;
    s->close = ph_close;
    *out = s;
    return 0;
}
