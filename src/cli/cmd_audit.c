/* fesf audit: the privacy audit, a learned inversion attack (see audit.h). */
#include "fesf/audit.h"
#include "fesf/cli.h"
#include "fesf/log.h"

int fesf_cmd_audit(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c, "audit");
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "audit", argc, argv, &i);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r) return fesf_cli_usage("audit", "unknown option '%s'", argv[i]);
    }
    if (fesf_cli_start(&c, &argc, &argv)) return fesf_cli_fail(&c);
    if (fesf_audit_run(&c.cfg, &c.world)) return fesf_cli_fail(&c);
    if (c.world.rank == 0) fesf_info("audit: %s/audit.md, %s/audit.tsv", c.cfg.run.out, c.cfg.run.out);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
