/* `fesf prepare`: ingest a dataset and write the run directory's site
 * shards (site-NNN.h5, format fesf-shard) and host pool (hosts.h5, format
 * fesf-hosts), as DESIGN section 3 describes.
 *
 * Simulation mode (site = 0): the whole dataset is partitioned among
 * cfg->data.sites sites; the host pool is cfg->data.hosts, a separate public
 * set (then every source image goes to a site), or else the public part of
 * the source (data.public, a simulation convenience).
 * Deployment mode (site = K >= 1): the source is this one site's own data
 * and data.hosts is required (-1 without it); site-KKK.h5, holding all of
 * the source, and hosts.h5 are written. Every site given the same
 * data.hosts writes the same /images in hosts.h5.
 *
 * Images are streamed from the source in bounded strips. Every file is
 * written as NAME.tmp and renamed only when all files are complete, so a
 * failure leaves no partial output. */
#ifndef FESF_PREPARE_H
#define FESF_PREPARE_H

#include "fesf/config.h"

int fesf_prepare(const fesf_config *cfg, int site);

#endif
