/* model.h5 / ckpt-RRRR.h5 (format "fesf-model", DESIGN section 3): one
 * dataset per tensor under /params/<layer>/<name> (trainable parameters) and
 * /buffers/<layer>/<name> (batch-norm running statistics), the optimizer
 * state as /optim/state, and root attributes `arch`, `round`, `optimizer`
 * besides the common ones. Written atomically. A file made for another
 * architecture is refused with a message naming both. */
#ifndef FESF_MODEL_IO_H
#define FESF_MODEL_IO_H

#include <stddef.h>
#include <stdint.h>

#include "fesf/model.h"

typedef struct {
    const float *optim_state; /* NULL: none saved */
    size_t optim_floats;
    const char *optimizer;    /* e.g. "sgd" */
    int64_t round;
    const char *config_text;
} fesf_model_save_info;

int fesf_model_save(const char *path, const fesf_model *m, const fesf_model_save_info *info);

/* Load parameters and buffers into m (same architecture string required);
 * optim_state (optim_floats) and *round are filled when non-NULL and present. */
int fesf_model_load(const char *path, fesf_model *m, float *optim_state, size_t optim_floats, int64_t *round);

#endif
