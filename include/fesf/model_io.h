/* model.h5 / ckpt-RRRR.h5 (format "fesf-model", DESIGN section 3): one
 * dataset per tensor under /params/<layer>/<name> (trainable parameters) and
 * /buffers/<layer>/<name> (batch-norm running statistics), the optimizer
 * state as /optim/state, and root attributes `arch`, `round`, `optimizer`
 * besides the common ones. Written atomically. A file made for another
 * architecture is refused with a message naming both. The model is a
 * tensor list (tensor.h; fesf_model_tensors(m) gives an engine model's),
 * so the format does not depend on the engine. */
#ifndef FESF_MODEL_IO_H
#define FESF_MODEL_IO_H

#include <stddef.h>
#include <stdint.h>

#include "fesf/tensor.h"
#include "fesf/stage.h"

typedef struct {
    const float *optim_state; /* NULL: none saved */
    size_t optim_floats;
    const char *optimizer;    /* e.g. "sgd" */
    int64_t round;
    const char *config_text;
    const fesf_stage *stage;  /* stamped on the root; NULL: none */
    int n_extra;              /* further root attributes (float64): names and values */
    const char *const *extra_names;
    const double *extra_values;
    const float *norm;        /* the classifier's input normalisation: mean [c] then std [c], as
                               * /normalise/mean and /normalise/std; NULL: none (per-image or a GAN) */
    int norm_channels;
} fesf_model_save_info;

int fesf_model_save(const char *path, const fesf_tensor_list *m, const fesf_model_save_info *info);

/* iqem.h5: the generator as a model file (/params, /buffers, `arch`;
 * fesf_model_load reads it) plus the discriminator under /D/params and
 * /D/buffers with its architecture in `arch_d`. */
int fesf_model_save_gan(const char *path, const fesf_tensor_list *g, const fesf_tensor_list *d,
                        const fesf_model_save_info *info);

/* Training checkpoint ckpt-RRRR.h5: a model file (parameters and buffers =
 * the global state, /optim/state) plus what a resumed run needs to end
 * bit-identical to an uninterrupted one: /resume/best (the best-validation
 * state so far), /resume/results (figures of finished repeats), and root
 * attributes repeat, round, best_score, best_round, config_hash. */
typedef struct {
    int64_t repeat, round;      /* `round` rounds of repeat `repeat` are done */
    uint64_t config_hash;
    double best_score;
    int64_t best_round;
    float *best;                /* [best_floats] */
    size_t best_floats;
    double *results;            /* [results_len] */
    size_t results_len;
    int64_t *excluded;          /* [n_sites] sites left out of the federation (fed.h), or NULL: none */
    size_t n_sites;
    const float *norm;          /* the input normalisation, mean [c] then std [c], as model.h5; NULL: none */
    int norm_channels;
} fesf_ckpt;

int fesf_ckpt_save(const char *path, const fesf_tensor_list *m, const float *optim_state, size_t optim_floats,
                   const fesf_ckpt *c, const char *config_text);
/* Load into m, optim_state and c (whose best / results buffers the caller
 * provides, sized as when saved; excluded, when not NULL, gets
 * /resume/excluded or all -1 if the file has none); refuses another config
 * hash. */
int fesf_ckpt_load(const char *path, const fesf_tensor_list *m, float *optim_state, size_t optim_floats, fesf_ckpt *c);

/* Load parameters and buffers into m (same architecture string required);
 * optim_state (optim_floats) and *round are filled when non-NULL and present. */
int fesf_model_load(const char *path, const fesf_tensor_list *m, float *optim_state, size_t optim_floats, int64_t *round);

/* What a model file says about itself, without building the model: its
 * architecture string, round, the config text it was trained with
 * (malloc'ed, caller frees) and the input normalisation if saved
 * (norm_channels 0: none). fesf_model_meta_free frees config_text. */
#define FESF_MODEL_MAX_CHANNELS 4
typedef struct {
    char arch[256];
    int64_t round;
    char *config_text;
    int norm_channels;
    float mean[FESF_MODEL_MAX_CHANNELS], std[FESF_MODEL_MAX_CHANNELS];
} fesf_model_meta;
int fesf_model_read_meta(const char *path, fesf_model_meta *out);

/* A site's own training state (format "fesf-site-state", run_dir.h's
 * train-state-IIII.h5): /state float32 [n] (SCAFFOLD's c_i, then FedBN's
 * batch-norm entries) and root attributes repeat, round
 * (the rounds done) and config_hash, written with the coordinator's
 * checkpoint of the same round; load refuses another round or hash. */
int fesf_site_state_save(const char *path, const float *v, size_t n, int64_t repeat, int64_t round, uint64_t hash);
int fesf_site_state_load(const char *path, float *v, size_t n, int64_t repeat, int64_t round, uint64_t hash);

/* A checkpoint's /resume/excluded into excluded [cap], read before the
 * training is set up: its length (0 when absent), or -1. */
int fesf_ckpt_read_excluded(const char *path, int64_t *excluded, size_t cap);
void fesf_model_meta_free(fesf_model_meta *m);

#endif
