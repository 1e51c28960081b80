/* Micro-benchmarks behind `fesf bench KIND`: each prints exactly one line to
 * stdout, "bench KIND key=value ...", with images_per_s and, for comparisons,
 * the reference measured in the same run and the ratio. */
#ifndef FESF_BENCH_H
#define FESF_BENCH_H

#include <stdio.h>

typedef struct {
    int size, channels, batch;
    double seconds; /* minimum time per measurement */
} fesf_bench_ihm_args;

/* IHM images/s against a bare FFTW forward + inverse of the same batch. */
int fesf_bench_ihm(const fesf_bench_ihm_args *a, FILE *out);

typedef struct {
    const char *model;
    int width, size, channels, batch, threads, classes;
    double seconds; /* time per measurement, after warm-up */
} fesf_bench_train_args;

/* Training images/s (forward + backward + SGD-momentum step) of a model on
 * random data; also the peak RSS. */
int fesf_bench_train(const fesf_bench_train_args *a, FILE *out);

/* IQEM's inference: images/s of G on a batch plus the second IHM pass
 * (one host per image, the enhanced image), as `fesf enhance` writes
 * surrogates. */
int fesf_bench_iqem(const fesf_bench_ihm_args *a, FILE *out);

#endif
