/* The public host pool to every rank (see fed.h): the site ranks count the
 * shards, the coordinator reads hosts.h5 and broadcasts it. */
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/run_dir.h"

#include <stdlib.h>

int fesf_hosts_share(const char *run_out, const fesf_world *w, int host_mode, int host_index, int64_t meta[6],
                     float **hosts)
{
    *hosts = NULL;
    int shards = 0;
    if (fesf_fed_count_shards(w, run_out, &shards)) return -1; /* collective: every rank, before any host is read */
    if (w->rank == 0) {
        char path[FESF_RUN_PATH_MAX];
        fesf_run_hosts_path(path, run_out);
        int c = 0, h = 0, wd = 0, d = 0;
        if (fesf_hosts_load(path, host_mode, host_index, hosts, &meta[1], &c, &h, &wd, &d)) return -1;
        meta[2] = c, meta[3] = h, meta[4] = wd, meta[5] = d;
    }
    if (fesf_world_bcast(w, meta + 1, sizeof(int64_t) * 5, 0)) return -1;
    meta[0] = shards;
    size_t len = (size_t)meta[1] * (size_t)meta[2] * (size_t)meta[3] * (size_t)meta[4] * (size_t)meta[5];
    if (w->rank != 0 && !(*hosts = malloc(sizeof(float) * len))) return fesf_error("out of memory for the host images");
    return fesf_world_bcast(w, *hosts, sizeof(float) * len, 0);
}

