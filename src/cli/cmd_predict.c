/* fesf predict: classify new images at a site through their surrogates. */
#include "fesf/blas.h"
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/log.h"
#include "fesf/predict.h"

#include <stdlib.h>
#include <string.h>

/* The value of option argv[*i] (--opt VALUE), or NULL after a usage message. */
static const char *value_of(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fesf_cli_usage("predict", "option '%s' needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int parse(fesf_cli *c, int argc, char **argv, fesf_predict_args *a, int *given)
{
    static const char *const names[] = {"--model", "--iqem", "--hosts", "-o", "--keep-surrogates", "--surrogates"};
    const char **slots[] = {&a->model, &a->iqem, &a->hosts, &a->out, &a->keep, &a->surrogates};
    const char **inputs = (const char **)a->inputs;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        int is_cfg = !strcmp(opt, "-c") || !strcmp(opt, "--config") || !strcmp(opt, "--set") ||
                     !strncmp(opt, "--set=", 6) || !strncmp(opt, "--config=", 9);
        int r = fesf_cli_common_opt(c, "predict", argc, argv, &i);
        if (r < 0) return -1;
        if (r > 0) {
            *given |= is_cfg;
            continue;
        }
        int k = 0;
        while (k < 6 && strcmp(opt, names[k])) k++;
        if (!strcmp(opt, "--logits")) {
            a->logits = 1;
        } else if (k < 6) {
            if (!(*slots[k] = value_of(argc, argv, &i))) return -1;
        } else if (opt[0] == '-' && opt[1]) {
            return fesf_cli_usage("predict", "unknown option '%s'", opt), -1;
        } else {
            inputs[a->n_inputs++] = opt;
        }
    }
    if (!a->model) return fesf_cli_usage("predict", "no --model MODEL.h5 given"), -1;
    if (!a->out) return fesf_cli_usage("predict", "no -o OUT.csv given"), -1;
    if (!a->n_inputs && !a->surrogates) return fesf_cli_usage("predict", "no input images given"), -1;
    if (a->n_inputs && a->surrogates)
        return fesf_cli_usage("predict", "give input images or --surrogates FILE, not both"), -1;
    return 0;
}

int fesf_cmd_predict(int argc, char **argv)
{
    fesf_cli c;
    fesf_cli_init(&c, "predict");
    fesf_predict_args a;
    memset(&a, 0, sizeof a);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) return fesf_cli_usage("predict", "out of memory");
    a.inputs = inputs;
    int given = 0;
    if (parse(&c, argc, argv, &a, &given)) {
        free(inputs);
        return FESF_EXIT_USAGE;
    }
    if (fesf_world_init(&c.world, &argc, &argv)) {
        free(inputs);
        return fesf_cli_fail(NULL);
    }
    c.mpi = 1;
    int failed = 0;
    if (c.config_error[0]) {
        fesf_error("%s", c.config_error);
        failed = 1;
    } else if (given && fesf_config_finish(&c.cfg)) {
        failed = 1;
    }
    if (fesf_world_agree(&c.world, failed, FESF_EXIT_USAGE)) {
        c.config_failed = 1;
        free(inputs);
        return fesf_cli_fail(&c);
    }
    if (given) fesf_cli_apply_log_level(&c);
    fesf_blas_set_threads(c.cfg.run.threads); /* run.threads of -c / --set, else 1 */
    a.cfg = given ? &c.cfg : NULL;
    if (c.world.rank == 0) {
        if (c.world.size > 1) fesf_info("predict runs on rank 0; ranks 1..%d wait", c.world.size - 1);
        failed = fesf_predict(&a) != 0;
    }
    free(inputs);
    if (fesf_world_agree(&c.world, failed, FESF_EXIT_FAIL)) return fesf_cli_fail(&c);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}
