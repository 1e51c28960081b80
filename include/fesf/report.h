/* Reports of `fesf run` (src/report): written by the coordinator from the
 * stages' outputs through their writers' typed readers; they hold no
 * plaintext-derived picture.
 *   run:   run.out/report.md (results of every training input, image quality,
 *          the audit, config, versions) and run.out/figures/curves.png;
 *   sweep: run.out/report.md (the frontier table over the points) and
 *          run.out/figures/frontier.png. */
#ifndef FESF_REPORT_H
#define FESF_REPORT_H

#include "fesf/config.h"

/* inputs: the n trained FESF_INPUT_* values, in table order. 0 or -1. */
int fesf_report_run(const fesf_config *cfg, const int *inputs, int n);
int fesf_report_sweep(const fesf_config *cfg);

#endif
