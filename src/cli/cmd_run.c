/* fesf run CONFIG [--point P]: every stage in one MPI job (src/run/pipeline.c). */
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fesf_cmd_run(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c, "run");
    int point = -1, sites[FESF_CLI_MAX_EXCLUDE], n = 0;
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "run", argc, argv, &i);
        if (!r) r = fesf_cli_site_opt("run", argc, argv, &i, sites, &n);
        if (r < 0) return FESF_EXIT_USAGE;
        if (r) continue;
        if (!strcmp(argv[i], "--point") && i + 1 < argc) {
            char *end;
            point = (int)strtol(argv[++i], &end, 10);
            if (*end || point < 0) return fesf_cli_usage("run", "--point '%s': expected a point number from 0", argv[i]);
            continue;
        }
        if (argv[i][0] == '-') return fesf_cli_usage("run", "unknown option '%s'", argv[i]);
        if (fesf_config_load(&c.cfg, argv[i]) && fesf_cli_config_error(&c)) return FESF_EXIT_USAGE; /* fesf run CONFIG */
    }
    fesf_run_opts o = {sites, n};
    if (fesf_cli_start(&c, &argc, &argv) || fesf_pipeline_run(&c.cfg, &c.world, point, &o)) return fesf_cli_fail(&c);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
