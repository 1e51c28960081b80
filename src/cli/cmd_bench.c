/* fesf bench KIND [options]: micro-benchmarks, one result line on stdout. */
#include "fesf/bench.h"
#include "fesf/blas.h"
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/model.h"

#include <stdlib.h>
#include <string.h>

/* Parse "--name VALUE" as an int in [lo, hi] or a double; 1 consumed, 0 not this option, -1 bad. */
static int int_opt(int argc, char **argv, int *i, const char *name, int lo, int hi, int *v)
{
    if (strcmp(argv[*i], name)) return 0;
    char *end;
    long x = *i + 1 < argc ? strtol(argv[*i + 1], &end, 10) : 0;
    if (*i + 1 >= argc || *end || x < lo || x > hi) {
        fesf_cli_usage("bench", "%s expects an integer in [%d, %d]", name, lo, hi);
        return -1;
    }
    *v = (int)x;
    ++*i;
    return 1;
}

static int bench_ihm_like(int argc, char **argv, int iqem);

static int bench_ihm(int argc, char **argv) { return bench_ihm_like(argc, argv, 0); }
static int bench_iqem(int argc, char **argv) { return bench_ihm_like(argc, argv, 1); }

/* ihm and iqem take the same options */
static int bench_ihm_like(int argc, char **argv, int iqem)
{
    fesf_bench_ihm_args a = {64, 1, 64, 1.0};
    int tenths = 10;
    for (int i = 2; i < argc; i++) {
        int r = int_opt(argc, argv, &i, "--size", 2, 4096, &a.size);
        if (!r) r = int_opt(argc, argv, &i, "--channels", 1, 3, &a.channels);
        if (!r) r = int_opt(argc, argv, &i, "--batch", 1, 65536, &a.batch);
        if (!r) r = int_opt(argc, argv, &i, "--tenths", 1, 600, &tenths);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r) return fesf_cli_usage("bench", "unknown option '%s' for bench %s", argv[i], argv[1]);
    }
    if (a.channels == 2) return fesf_cli_usage("bench", "--channels must be 1 or 3");
    a.seconds = tenths / 10.0;
    if ((iqem ? fesf_bench_iqem(&a, stdout) : fesf_bench_ihm(&a, stdout))) return fesf_cli_fail(NULL);
    return FESF_EXIT_OK;
}

/* Parse "--name VALUE" as a word; 1 consumed, 0 not this option, -1 missing. */
static int str_opt(int argc, char **argv, int *i, const char *name, const char **v)
{
    if (strcmp(argv[*i], name)) return 0;
    if (*i + 1 >= argc) {
        fesf_cli_usage("bench", "%s expects a value", name);
        return -1;
    }
    *v = argv[++*i];
    return 1;
}

static int bench_train(int argc, char **argv)
{
    fesf_bench_train_args a = {"cnn-small", 16, 28, 1, 64, 1, 2, 2.0};
    int tenths = 20, dp = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--dp")) {
            dp = 1;
            continue;
        }
        int r = str_opt(argc, argv, &i, "--model", &a.model);
        if (!r) r = int_opt(argc, argv, &i, "--width", 1, 1024, &a.width);
        if (!r) r = int_opt(argc, argv, &i, "--size", 8, 1024, &a.size);
        if (!r) r = int_opt(argc, argv, &i, "--channels", 1, 3, &a.channels);
        if (!r) r = int_opt(argc, argv, &i, "--batch", 1, 65536, &a.batch);
        if (!r) r = int_opt(argc, argv, &i, "--threads", 1, 256, &a.threads);
        if (!r) r = int_opt(argc, argv, &i, "--classes", 2, 1000, &a.classes);
        if (!r) r = int_opt(argc, argv, &i, "--tenths", 1, 600, &tenths);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r) return fesf_cli_usage("bench", "unknown option '%s' for bench train", argv[i]);
    }
    a.seconds = tenths / 10.0;
    if ((dp ? fesf_bench_dp : fesf_bench_train)(&a, stdout)) return fesf_cli_fail(NULL);
    return FESF_EXIT_OK;
}

/* The floats a training round sums for `arch` at 28 x 28 grey, 2 classes:
 * parameters, buffers, loss and images (train.c's accumulator). */
static int model_floats(const char *arch, int width, int *n)
{
    fesf_model *m = NULL;
    if (fesf_model_create(&m, arch, width, 1, 28, 28, 2, 1)) return -1;
    *n = (int)(fesf_model_n_params(m) + fesf_model_n_buffers(m) + 2);
    fesf_model_destroy(m);
    return 0;
}

/* Under mpirun: fesf's aggregation round against bare MPI_Bcast + MPI_Reduce
 * (and with --secure, the round under secure aggregation). */
static int bench_agg(int argc, char **argv)
{
    int params = 11200000, rounds = 10, secure = 0, width = 16;
    const char *model = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--secure")) {
            secure = 1;
            continue;
        }
        int r = int_opt(argc, argv, &i, "--params", 1, 1 << 30, &params);
        if (!r) r = int_opt(argc, argv, &i, "--rounds", 1, 100000, &rounds);
        if (!r) r = str_opt(argc, argv, &i, "--model", &model);
        if (!r) r = int_opt(argc, argv, &i, "--width", 1, 1024, &width);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r) return fesf_cli_usage("bench", "unknown option '%s' for bench agg", argv[i]);
    }
    if (model && model_floats(model, width, &params)) return fesf_cli_fail(NULL);
    fesf_blas_set_threads(1); /* as a training rank by default (run.threads = 1): masks on one thread */
    fesf_cli c;
    fesf_cli_init(&c, "bench");
    if (fesf_world_init(&c.world, &argc, &argv)) return fesf_cli_fail(&c);
    c.mpi = 1;
    if (fesf_bench_agg(&c.world, (size_t)params, rounds, secure, stdout)) return fesf_cli_fail(&c);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}

/* Under mpirun -np k: one site of k ranks hides a size^3 volume together. */
static int bench_ihm3d(int argc, char **argv)
{
    int size = 128, rounds = 5, k = 0;
    for (int i = 2; i < argc; i++) {
        int r = int_opt(argc, argv, &i, "--size", 4, 2048, &size);
        if (!r) r = int_opt(argc, argv, &i, "--rounds", 1, 1000, &rounds);
        if (!r) r = int_opt(argc, argv, &i, "--ranks-per-site", 1, 4096, &k);
        if (r < 0) return FESF_EXIT_USAGE;
        if (!r) return fesf_cli_usage("bench", "unknown option '%s' for bench ihm3d", argv[i]);
    }
    fesf_cli c;
    fesf_cli_init(&c, "bench");
    if (fesf_world_init(&c.world, &argc, &argv)) return fesf_cli_fail(&c);
    c.mpi = 1;
    if (k && k != c.world.size) {
        fesf_error("--ranks-per-site %d: run it as mpirun -np %d (this job has %d ranks)", k, k, c.world.size);
        fesf_world_fail_together(&c.world, 0, FESF_EXIT_USAGE);
        return fesf_cli_fail(&c);
    }
    if (fesf_bench_ihm3d(&c.world, size, rounds, stdout)) return fesf_cli_fail(&c);
    fesf_world_finalize(&c.world);
    return FESF_EXIT_OK;
}

static const struct {
    const char *kind;
    int (*run)(int argc, char **argv);
} kinds[] = {
    {"ihm", bench_ihm},
    {"train", bench_train},
    {"agg", bench_agg},
    {"iqem", bench_iqem},
    {"ihm3d", bench_ihm3d},
};

int fesf_cmd_bench(int argc, char **argv)
{
    if (argc < 2) return fesf_cli_usage("bench", "which benchmark? (ihm | ihm3d | train | agg | iqem)");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (!strcmp(argv[1], kinds[k].kind)) {
            if (kinds[k].run != bench_agg) fesf_blas_log_choice(1); /* one process: the kernels' line */
            return kinds[k].run(argc, argv);
        }
    return fesf_cli_usage("bench", "unknown benchmark '%s' (ihm | train | agg | iqem)", argv[1]);
}
