/* `fesf predict`: diagnose new images at a site without the plaintext
 * reaching the model. Each image becomes its surrogate exactly as in
 * training (IHM with the federation's host and alpha/beta, then G and the
 * second IHM pass, or the first pass only for a model trained on synthetic
 * images), is normalised as the model's training was (the pooled
 * mean/std model.h5 records, or per image) and classified. One CSV row per
 * image: file, label (empty if none), predicted class, the per-class
 * probabilities; with labels, the figures of metrics.h are logged.
 *
 * The model's own recorded config fixes every method key; a config given
 * with -c must agree with it on them, and G (iqem.h5) and the host pool
 * (hosts.h5) must match the model's image size, channels and method keys.
 * With `keep`, the surrogates go to a surrogates.h5 (surrogates.h) that a
 * model elsewhere classifies with `surrogates` set, without G, the hosts
 * or any plaintext: the paper's plaintext-free inference. One process; no
 * MPI. */
#ifndef FESF_PREDICT_H
#define FESF_PREDICT_H

#include "fesf/config.h"

typedef struct {
    const char *model;           /* model.h5 (required) */
    const char *iqem;            /* G; NULL: run.out/iqem.h5 */
    const char *hosts;           /* NULL: run.out/hosts.h5 */
    const char *out;             /* the CSV */
    const char *keep;            /* NULL, or surrogates.h5 to write */
    const char *surrogates;      /* classify this surrogates.h5 instead of inputs */
    const char *const *inputs;   /* .npz, npz:PATH, png:DIR:CSV, a folder of PNGs, PNG files */
    int n_inputs;
    int logits;                  /* also write the logits (columns logit_<class>) */
    const fesf_config *cfg;      /* -c / --set given: checked against the model's; NULL: none */
} fesf_predict_args;

int fesf_predict(const fesf_predict_args *a);

#endif
