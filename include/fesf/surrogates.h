/* surrogates.h5 (format "fesf-surrogates"), written by `fesf predict
 * --keep-surrogates`: the surrogate images a site made for prediction,
 * which a model elsewhere can classify (`fesf predict --surrogates`)
 * without any plaintext. Contents: /images float32 [N, C, H, W], /labels
 * int32 [N] (-1: no label), /names fixed-length strings [N] (the input
 * each image came from), and root attributes `arch` (the model that will
 * classify them) and `config` (the config whose method keys made them).
 * Owner of the format: src/io/surrogates.c; written as PATH.tmp and
 * renamed on commit. */
#ifndef FESF_SURROGATES_H
#define FESF_SURROGATES_H

#include <stdint.h>

#define FESF_SURR_NAME 256 /* bytes per name, NUL-padded */

typedef struct fesf_surr_out fesf_surr_out;
typedef struct fesf_surr_in fesf_surr_in;

typedef struct {
    int64_t n;
    int c, h, w;
    char arch[256];
    char *config_text; /* owned by the reader */
} fesf_surr_info;

/* Create PATH.tmp for n images of [c, h, w]. 0 or -1. */
int fesf_surr_create(fesf_surr_out **out, const char *path, int64_t n, int c, int h, int w, const char *arch,
                     const char *config_text);
/* Images [start, start + count): img [count, C, H, W], labels [count],
 * names [count][FESF_SURR_NAME]. 0 or -1. */
int fesf_surr_write(fesf_surr_out *o, int64_t start, int count, const float *img, const int32_t *labels,
                    const char *names);
/* Write the names, close and rename to PATH (0 or -1); abort drops PATH.tmp.
 * Both free o. */
int fesf_surr_commit(fesf_surr_out *o);
void fesf_surr_abort(fesf_surr_out *o);

int fesf_surr_open(fesf_surr_in **in, const char *path, fesf_surr_info *info);
int fesf_surr_read(fesf_surr_in *in, int64_t start, int count, float *img, int32_t *labels, char *names);
void fesf_surr_close(fesf_surr_in *in); /* NULL-safe */

#endif
