/* fesf train: federated training on the sites' shards (see fed.h). */
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/fed.h"
#include "fesf/log.h"

#include <string.h>

int fesf_cmd_train(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c, "train");
    int resume = FESF_RESUME_NO, sites[FESF_CLI_MAX_EXCLUDE], n = 0;
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "train", argc, argv, &i);
        if (!r) r = fesf_cli_site_opt("train", argc, argv, &i, sites, &n);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r && !strcmp(argv[i], "--resume")) resume = FESF_RESUME_STRICT;
        else if (!r) return fesf_cli_usage("train", "unknown option '%s'", argv[i]);
    }
    if (fesf_cli_start(&c, &argc, &argv)) return fesf_cli_fail(&c);
    fesf_train_opts o = {resume, sites, n};
    if (fesf_fed_train_opts(&c.cfg, &c.world, c.cfg.run.out, &o)) return fesf_cli_fail(&c);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
