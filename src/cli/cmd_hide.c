/* fesf hide: IHM on every site's shard (see hide.h). Rank 0 coordinates:
 * it holds no images, loads the host and broadcasts it; ranks 1..N each hide
 * their own shards (a world of one does everything itself). */
#include "fesf/cli.h"
#include "fesf/hide.h"

int fesf_cmd_hide(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c, "hide");
    for (int i = 1; i < argc; i++) {
        int r = fesf_cli_common_opt(&c, "hide", argc, argv, &i);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r) return fesf_cli_usage("hide", "unknown option '%s'", argv[i]);
    }
    if (fesf_cli_start(&c, &argc, &argv) || fesf_hide_run(&c.cfg, &c.world, 0)) return fesf_cli_fail(&c);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
