/* Options and failure handling shared by the subcommands. */
#include "fesf/cli.h"
#include "fesf/blas.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"
#include "fesf/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cli_level_given = 0; /* -v or -q seen: they win over run.log */

int fesf_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fesf %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const fesf_command *c = fesf_command_find(cmd);
    fprintf(stderr, "\nusage: %s\n", c ? c->usage : "fesf help");
    return FESF_EXIT_USAGE;
}

void fesf_cli_init(fesf_cli *c, const char *cmd)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    fesf_config_defaults(&c->cfg);
    c->world.mpi = NULL;
    c->world.size = 1;
}

int fesf_cli_common_opt(fesf_cli *c, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
        fesf_log_set_level(FESF_LOG_DEBUG);
        cli_level_given = 1;
        return 1;
    }
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
        fesf_log_set_level(FESF_LOG_WARN);
        cli_level_given = 1;
        return 1;
    }
    const char *val = NULL;
    int is_c = !strcmp(a, "-c") || !strcmp(a, "--config");
    int is_set = !strcmp(a, "--set");
    if (is_c || is_set) {
        if (*i + 1 >= argc) return fesf_cli_usage(cmd, "option '%s' needs a value", a), -1;
        val = argv[++*i];
    } else if (!strncmp(a, "--set=", 6)) {
        is_set = 1;
        val = a + 6;
    } else if (!strncmp(a, "--config=", 9)) {
        is_c = 1;
        val = a + 9;
    } else {
        return 0;
    }
    int rc = is_c ? fesf_config_load(&c->cfg, val) : fesf_config_set(&c->cfg, val);
    return rc && fesf_cli_config_error(c) ? -1 : 1;
}

int fesf_cli_site_opt(const char *cmd, int argc, char **argv, int *i, int *sites, int *n)
{
    if (strcmp(argv[*i], "--exclude-site")) return 0;
    char *end;
    long v = *i + 1 < argc ? strtol(argv[*i + 1], &end, 10) : 0;
    if (*i + 1 >= argc || *end || v < 1 || v > 4096)
        return fesf_cli_usage(cmd, "--exclude-site '%s': expected a site number in [1, 4096]",
                              *i + 1 < argc ? argv[*i + 1] : ""), -1;
    if (*n >= FESF_CLI_MAX_EXCLUDE) return fesf_cli_usage(cmd, "more than %d --exclude-site", FESF_CLI_MAX_EXCLUDE), -1;
    sites[(*n)++] = (int)v;
    ++*i;
    return 1;
}

int fesf_cli_config_error(fesf_cli *c)
{
    if (!fesf_world_launched()) {
        fprintf(stderr, "fesf %s: %s\n", c->cmd, fesf_errmsg());
        return -1;
    }
    if (!c->config_error[0]) snprintf(c->config_error, sizeof c->config_error, "%s", fesf_errmsg()); /* the first */
    return 0;
}

void fesf_cli_apply_log_level(const fesf_cli *c)
{
    if (!cli_level_given) fesf_log_set_level((fesf_log_level)c->cfg.run.log);
}

int fesf_cli_config_ready(fesf_cli *c)
{
    if (fesf_config_finish(&c->cfg)) return -1;
    fesf_cli_apply_log_level(c);
    fesf_blas_log_choice(c->world.rank == 0); /* the kernels' line, once per job */
    if (c->world.rank == 0 && fesf_log_get_level() >= FESF_LOG_INFO) {
        char *text = fesf_config_text_alloc(&c->cfg);
        if (!text) return fesf_error("out of memory");
        fesf_info("effective config:");
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) fesf_info("  %s", line);
        free(text);
    }
    return 0;
}

int fesf_cli_start_world(fesf_cli *c, int *argc, char ***argv, int every)
{
    if (fesf_world_init(&c->world, argc, argv)) return -1;
    c->mpi = 1;
    int failed = c->config_error[0] != 0;
    if (failed) fesf_error("%s", c->config_error);
    else if (every || c->world.rank == 0) failed = fesf_cli_config_ready(c) != 0;
    int rc = fesf_world_agree(&c->world, failed, FESF_EXIT_USAGE);
    c->config_failed = rc != 0;
    return rc;
}

int fesf_cli_start(fesf_cli *c, int *argc, char ***argv)
{
    if (fesf_cli_start_world(c, argc, argv, 0)) return -1;
    if (fesf_world_bcast(&c->world, &c->cfg, sizeof c->cfg, 0)) return -1;
    if (fesf_world_set_ranks_per_site(&c->world, c->cfg.data.ranks_per_site)) return -1;
    if (c->world.rank) {
        fesf_cli_apply_log_level(c);
        fesf_blas_log_choice(0); /* only a warning of this rank's own */
    }
    fesf_blas_set_threads(c->cfg.run.threads); /* one rank per core unless run.threads says otherwise */
    return 0;
}

int fesf_cli_fail(fesf_cli *c)
{
    const char *msg = fesf_errmsg()[0] ? fesf_errmsg() : "unknown failure";
    fesf_tmp_remove_all(); /* this rank's unfinished NAME.tmp files */
    int code = FESF_EXIT_FAIL, reporter = c && c->mpi ? fesf_world_failed_together(&code) : -1;
    if (reporter >= 0) { /* every rank fails here: one line, then a clean end on every rank */
        if (c->world.rank == reporter && (c->config_failed || code == FESF_EXIT_STOPPED))
            fprintf(stderr, "fesf %s: %s\n", c->cmd, msg); /* a config error, a signal's stop: no log prefix */
        else if (c->world.rank == reporter) fesf_log(FESF_LOG_ERROR, "%s", msg);
        fflush(stderr);
        fesf_world_finalize(&c->world);
        return code;
    }
    if (c && c->mpi && c->world.size > 1) {
        fesf_log(FESF_LOG_ERROR, "%s (rank %d failed; ending the job)", msg, c->world.rank);
        fesf_world_abort(&c->world, FESF_EXIT_FAIL);
    }
    fesf_log(FESF_LOG_ERROR, "%s", msg);
    if (c && c->mpi) fesf_world_finalize(&c->world);
    return FESF_EXIT_FAIL;
}
