/* fesf inspect FILE [--png OUT.png] [--dataset PATH] [--count N] [--config] */
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/inspect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fesf_cmd_inspect(int argc, char **argv)
{
    const char *file = NULL, *png = NULL, *dataset = NULL;
    int count = 16, show_config = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--png") && has_val) png = argv[++i];
        else if (!strcmp(a, "--dataset") && has_val) dataset = argv[++i];
        else if (!strcmp(a, "--count") && has_val) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 4096)
                return fesf_cli_usage("inspect", "--count '%s': expected an integer in [1, 4096]", argv[i]);
            count = (int)v;
        } else if (!strcmp(a, "--config")) show_config = 1;
        else if (a[0] == '-') return fesf_cli_usage("inspect", "unknown option '%s'", a);
        else if (!file) file = a;
        else return fesf_cli_usage("inspect", "more than one file given ('%s')", a);
    }
    if (!file) return fesf_cli_usage("inspect", "no file given");
    if (fesf_inspect(file, stdout, show_config)) return fesf_cli_fail(NULL);
    if (png) {
        if (fesf_inspect_png(file, dataset, count, png)) return fesf_cli_fail(NULL);
        printf("wrote %s\n", png);
    }
    return FESF_EXIT_OK;
}
