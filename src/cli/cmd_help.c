/* fesf help [COMMAND | config] and fesf version */
#include "fesf/cli.h"
#include "fesf/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void list_commands(FILE *out)
{
    fprintf(out, "usage: fesf COMMAND [options]\n\n"
                 "fesf: privacy-preserving federated training for medical imaging (FESF surrogates on MPI).\n\n"
                 "commands:\n");
    for (const fesf_command *c = fesf_commands; c->name; c++) fprintf(out, "  %-9s %s\n", c->name, c->summary);
    fprintf(out, "\n'fesf help COMMAND' explains one; 'fesf help config' lists every configuration key.\n");
}

int fesf_cmd_help(int argc, char **argv)
{
    if (argc < 2) { /* argc 0: called by main after a usage error */
        list_commands(argc == 0 ? stderr : stdout);
        return FESF_EXIT_OK;
    }
    if (argc > 2) return fesf_cli_usage("help", "too many arguments");
    if (!strcmp(argv[1], "config")) {
        int n = fesf_config_reference(NULL, 0);
        char *buf = malloc((size_t)n + 1);
        if (!buf) return FESF_EXIT_FAIL;
        fesf_config_reference(buf, (size_t)n + 1);
        fputs("configuration keys (section.key = default; meaning; allowed values):\n\n", stdout);
        fputs(buf, stdout);
        free(buf);
        return FESF_EXIT_OK;
    }
    const fesf_command *c = fesf_command_find(argv[1]);
    if (!c) {
        fprintf(stderr, "fesf help: unknown command '%s'\n", argv[1]);
        list_commands(stderr);
        return FESF_EXIT_USAGE;
    }
    printf("fesf %s: %s\n\nusage: %s\n", c->name, c->summary, c->usage);
    return FESF_EXIT_OK;
}

int fesf_cmd_version(int argc, char **argv)
{
    if (argc > 1) return fesf_cli_usage("version", "unexpected argument '%s'", argv[1]);
    fesf_print_versions(stdout);
    return FESF_EXIT_OK;
}
