/* `fesf run` (src/run): the stages of one run directory in order,
 *   prepare -> hide -> enhance -> train (plain*, synthetic, surrogate) -> audit -> report
 * (* plain only with the first point; see README), each skipped only when
 * every output it makes carries its current stage stamp (stage.h,
 * run_dir.h), and rerun, with everything downstream of it, otherwise. The
 * log says for each stage "run" or "skip" and why: the key that changed
 * since the run directory's stages.ini, the upstream stage that reran, or
 * the output that is stale. Sites check their own shards; the coordinator
 * checks the shared files. With a [sweep], every point in its own folder,
 * then the frontier report. */
#ifndef FESF_PIPELINE_H
#define FESF_PIPELINE_H

#include "fesf/config.h"
#include "fesf/world.h"

/* What `fesf run` passes to its stages: the sites a partial federation's
 * trainings leave out (fed.h, fesf_fed_train_opts). */
typedef struct {
    const int *exclude;
    int n_exclude;
} fesf_run_opts;

/* point >= 0: only that sweep point (an array task), no frontier report. 0 or -1. */
int fesf_pipeline_run(const fesf_config *cfg, const fesf_world *w, int point, const fesf_run_opts *o);

#endif
