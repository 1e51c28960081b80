/* Site-side augmentation of training images (augment.h). */
#include "fesf/augment.h"

#include "fesf/config.h"
#include "fesf/rng.h"

#include <math.h>
#include <string.h>

int fesf_augment_shift_bound(int side)
{
    int s = (int)lround(0.07 * side);
    return s > 0 ? s : 1;
}

static int clampi(int v, int n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

/* One image moved by (dy, dx), mirrored first if flip; src and dst distinct. */
static void move_image(const float *src, float *dst, int C, int H, int W, int flip, int dy, int dx)
{
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++) {
            const float *row = src + ((size_t)c * H + (size_t)clampi(y - dy, H)) * W;
            float *out = dst + ((size_t)c * H + (size_t)y) * W;
            for (int q = 0; q < W; q++) {
                int xs = clampi(q - dx, W);
                out[q] = row[flip ? W - 1 - xs : xs];
            }
        }
}

void fesf_augment_batch(int mode, int c, int h, int w, uint64_t seed, int site, uint64_t pos, float *x, int n,
                        float *scratch)
{
    if (mode == FESF_AUG_NONE) return;
    int sy = fesf_augment_shift_bound(h), sx = fesf_augment_shift_bound(w);
    size_t img = (size_t)c * h * w;
    fesf_rng r;
    fesf_rng_init(&r, seed, (uint32_t)site, FESF_STREAM_TRAIN_AUGMENT);
    for (int i = 0; i < n; i++) {
        fesf_rng_at(&r, (pos + (uint64_t)i) * 8); /* 8 words per image: a rejection never reaches the next one */
        int flip = (mode & FESF_AUG_FLIP) && (fesf_rng_u32(&r) & 1u), dy = 0, dx = 0;
        if (mode & FESF_AUG_SHIFT) {
            dy = (int)fesf_rng_below(&r, (uint64_t)(2 * sy + 1)) - sy;
            dx = (int)fesf_rng_below(&r, (uint64_t)(2 * sx + 1)) - sx;
        }
        if (!flip && !dy && !dx) continue;
        float *p = x + img * (size_t)i;
        memcpy(scratch, p, sizeof(float) * img);
        move_image(scratch, p, c, h, w, flip, dy, dx);
    }
}
