/* fesf enhance: IQEM on every site's shard (see iqem.h). */
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/iqem.h"
#include "fesf/log.h"

#include <string.h>

int fesf_cmd_enhance(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c, "enhance");
    const char *load = NULL;
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "enhance", argc, argv, &i);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r && !strcmp(argv[i], "--load") && i + 1 < argc) load = argv[++i];
        else if (!r) return fesf_cli_usage("enhance", "unknown option '%s'", argv[i]);
    }
    if (fesf_cli_start(&c, &argc, &argv)) return fesf_cli_fail(&c);
    if (fesf_iqem_enhance(&c.cfg, &c.world, load)) return fesf_cli_fail(&c);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
