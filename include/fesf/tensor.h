/* A model's tensors as the file formats see them: named parameter and
 * buffer tensors laid out in two flat float arrays. The engine (src/nn)
 * describes its models this way; model files (src/io/model_io.c) read and
 * write such lists without knowing the engine. */
#ifndef FESF_TENSOR_H
#define FESF_TENSOR_H

#include <stddef.h>

typedef struct {
    char name[64];  /* e.g. "layer1.0.conv1.weight" */
    int buffer;     /* 0: trainable parameter (in params), 1: buffer (in buffers) */
    size_t off;     /* offset in params or buffers */
    int rank;
    int dims[5];    /* up to 5: a 3-D convolution's [Cout, Cin, K, K, K] */
    size_t len;
} fesf_tensor_info;

typedef struct {
    const char *arch;          /* architecture string, e.g. "cnn-small" */
    int n;                     /* tensors: parameters then buffers, in creation order */
    const fesf_tensor_info *t; /* [n] */
    float *params, *buffers;   /* the values (written by loads) */
} fesf_tensor_list;

#endif
