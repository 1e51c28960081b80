/* fesf prepare: ingest a dataset into site shards and a host pool. */
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/log.h"
#include "fesf/prepare.h"

#include <stdlib.h>
#include <string.h>

int fesf_cmd_prepare(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c, "prepare");
    long site = 0;
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "prepare", argc, argv, &i);
        if (r < 0) return FESF_EXIT_USAGE;
        if (r > 0) continue;
        if (!strcmp(argv[i], "--site") && i + 1 < argc) {
            char *end;
            site = strtol(argv[++i], &end, 10);
            if (*end || site < 1 || site > 4096)
                return fesf_cli_usage("prepare", "--site '%s': expected a site number in [1, 4096]", argv[i]);
            continue;
        }
        return fesf_cli_usage("prepare", "unknown option '%s'", argv[i]);
    }
    if (fesf_cli_start_world(&c, &argc, &argv, 1)) return fesf_cli_fail(&c);
    int failed = 0;
    if (c.world.rank == 0) {
        if (c.world.size > 1) fesf_info("prepare runs on rank 0; ranks 1..%d wait", c.world.size - 1);
        failed = fesf_prepare(&c.cfg, (int)site) != 0;
    }
    if (fesf_world_agree(&c.world, failed, FESF_EXIT_FAIL)) return fesf_cli_fail(&c); /* rank 0 reports, all end */
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
