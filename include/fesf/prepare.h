/* `fesf prepare`: ingest a dataset and write the run directory's site
 * shards (site-NNN.h5, format fesf-shard) and host pool (hosts.h5, format
 * fesf-hosts), as DESIGN section 3 describes.
 *
 * Simulation mode (site = 0): the whole dataset is partitioned among
 * cfg->data.sites sites and the public part becomes the host pool.
 * Deployment mode (site = K >= 1): the source is this one site's own data;
 * only site-KKK.h5 is written, holding all of it.
 *
 * Images are streamed from the source in bounded strips. Every file is
 * written as NAME.tmp and renamed only when all files are complete, so a
 * failure leaves no partial output. */
#ifndef FESF_PREPARE_H
#define FESF_PREPARE_H

#include "fesf/config.h"

int fesf_prepare(const fesf_config *cfg, int site);

#endif
