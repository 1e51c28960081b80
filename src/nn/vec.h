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

/* v passes through a register the compiler cannot see into: a copy loop
 * stays a loop. Without it, GCC's -O2 (-ftree-loop-distribute-patterns)
 * turns the copies below into memmove calls, which cost more than the copy
 * on rows of 2..64 floats (measured: memmove was 4-10% of a ResNet-18 step). */
#if defined(__x86_64__) || defined(__i386__)
#define OPAQUE_V4F(v) __asm__("" : "+x"(v))
#else
#define OPAQUE_V4F(v) __asm__("" : "+w"(v))
#endif

/* d[0, n) = s[0, n) for n < 4, without a loop (which -O2 would make a memmove call) */
static inline void copy_tail3(float *restrict d, const float *restrict s, ptrdiff_t n)
{
    if (n > 0) d[0] = s[0];
    if (n > 1) d[1] = s[1];
    if (n > 2) d[2] = s[2];
}

/* Row copy / accumulate: rows are Wo floats (4..64), too short for memcpy
 * calls to pay off, and -O2 does not vectorise loops whose trip count is
 * unknown, so blocks use the vector types (unaligned SSE loads and stores). */
static inline void copy_row(float *restrict d, const float *restrict s, ptrdiff_t len)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= len; i += 8) {
        v4f a = *(const v4f *)(s + i), b = *(const v4f *)(s + i + 4);
        OPAQUE_V4F(a);
        *(v4f *)(d + i) = a;
        *(v4f *)(d + i + 4) = b;
    }
    if (i + 4 <= len) {
        v4f a = *(const v4f *)(s + i);
        OPAQUE_V4F(a);
        *(v4f *)(d + i) = a;
        i += 4;
    }
    copy_tail3(d + i, s + i, len - i);
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
