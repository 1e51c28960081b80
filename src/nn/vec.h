/* GCC vector extensions shared by the engine's kernels (private to src/nn).
 * -O2 leaves loops of unknown trip count scalar; these keep the streaming
 * loops vectorised at the default -march (plain 16-byte SSE). */
#ifndef FESF_NN_VEC_H
#define FESF_NN_VEC_H

#include <stddef.h>
#include <string.h>

/* 4 floats / 4 ints in memory: unaligned, may_alias (load and store through any float or int32 buffer) */
typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef int v4i __attribute__((vector_size(16), aligned(4), may_alias));
/* 4 ints in registers: comparison masks, shuffle indices */
typedef int v4s __attribute__((vector_size(16)));

#ifdef __clang__
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#else
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shuffle(a, b, (v4s){i0, i1, i2, i3})
#endif

/* Row copy / accumulate: rows are Wo floats (4..64), too short for memcpy
 * calls to pay off, and -O2 does not vectorise loops whose trip count is
 * unknown, so blocks use the vector types (unaligned SSE loads and stores). */
static inline void copy_row(float *restrict d, const float *restrict s, ptrdiff_t len)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= len; i += 8) {
        *(v4f *)(d + i) = *(const v4f *)(s + i);
        *(v4f *)(d + i + 4) = *(const v4f *)(s + i + 4);
    }
    for (; i < len; i++) d[i] = s[i];
}

static inline void add_row(float *restrict d, const float *restrict s, ptrdiff_t len)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= len; i += 8) {
        *(v4f *)(d + i) += *(const v4f *)(s + i);
        *(v4f *)(d + i + 4) += *(const v4f *)(s + i + 4);
    }
    for (; i < len; i++) d[i] += s[i];
}

/* short spans (small planes: 16..196 floats) inline, long ones by the
 * library's wider copies */
static inline void zero_row(float *d, ptrdiff_t len)
{
    if (len <= 0) return;
    if (len >= 256) {
        memset(d, 0, sizeof(float) * (size_t)len);
        return;
    }
    const v4f z = {0.0f, 0.0f, 0.0f, 0.0f};
    ptrdiff_t i = 0;
    for (; i + 4 <= len; i += 4) *(v4f *)(d + i) = z;
    for (; i < len; i++) d[i] = 0.0f;
}

static inline void copy_span(float *restrict d, const float *restrict s, ptrdiff_t len)
{
    if (len >= 256) memcpy(d, s, sizeof(float) * (size_t)len);
    else copy_row(d, s, len);
}

#endif
