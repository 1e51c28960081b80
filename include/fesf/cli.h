/* Command-line layer: the subcommand table, shared option parsing and the
 * one place where a failing process reports and ends the job. */
#ifndef FESF_CLI_H
#define FESF_CLI_H

#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/world.h"

/* Exit codes */
enum { FESF_EXIT_OK = 0, FESF_EXIT_FAIL = 1, FESF_EXIT_USAGE = 2 };

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
    const char *usage; /* options, one per line */
} fesf_command;

extern const fesf_command fesf_commands[];
const fesf_command *fesf_command_find(const char *name);

/* State shared by the computing subcommands. */
typedef struct {
    fesf_config cfg;
    fesf_world world;
    int mpi;                       /* MPI is up */
    const char *cmd;               /* "train", for "fesf train: ..." */
    char config_error[FESF_ERRMSG_MAX]; /* under an MPI launcher: kept for fesf_cli_start to report once */
    int config_failed;             /* the job fails on a config error (exit 2 on every rank) */
} fesf_cli;

/* Print "fesf CMD: message" and the command's usage on stderr; returns 2. */
int fesf_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Consume a common option at argv[*i]: -c FILE, --set K=V, -v, -q.
 * Returns 1 if consumed (advancing *i past its argument), 0 if not a common
 * option, -1 on a usage error (already reported, exit 2). A config error
 * goes through fesf_cli_config_error. */
int fesf_cli_common_opt(fesf_cli *c, const char *cmd, int argc, char **argv, int *i);

/* --exclude-site K at argv[*i] (fesf train, fesf run): K appended to
 * sites [FESF_CLI_MAX_EXCLUDE] (*n of them). 1 if consumed, 0 if another
 * option, -1 on a usage error (reported, exit 2). */
#define FESF_CLI_MAX_EXCLUDE 256
int fesf_cli_site_opt(const char *cmd, int argc, char **argv, int *i, int *sites, int *n);

/* The config error just recorded (a bad file, line or value): in a process
 * of its own it is printed now ("fesf CMD: message") and -1 returned (exit
 * 2); under an MPI launcher (mpirun, srun) it is kept and 0 returned, so
 * that fesf_cli_start reports it once for the whole job: every rank starts
 * MPI, the lowest rank that has a config error prints its line, and every
 * rank ends with MPI_Finalize and exit 2 (no MPI_Abort, no rank left
 * waiting). */
int fesf_cli_config_error(fesf_cli *c);

/* Defaults, before options are parsed; cmd names the subcommand. */
void fesf_cli_init(fesf_cli *c, const char *cmd);

/* After the options: resolve the config, set the log level, and print the
 * effective config (rank 0 only, at info level). 0 or -1. */
int fesf_cli_config_ready(fesf_cli *c);

/* Set the log level from run.log unless -v or -q was given (ranks other
 * than 0 call it once the config has been broadcast). */
void fesf_cli_apply_log_level(const fesf_cli *c);

/* Start a computing job: MPI up, the config resolved on rank 0 (and printed)
 * and broadcast, log level and OpenBLAS threads set on every rank. A config
 * error of any rank fails every rank (fesf_cli_config_error). 0 or -1. */
int fesf_cli_start(fesf_cli *c, int *argc, char ***argv);

/* MPI up and every rank's config checked, as fesf_cli_start does before the
 * broadcast: fesf_cli_config_ready runs on rank 0, or on every rank with
 * `every`. 0 or -1. */
int fesf_cli_start_world(fesf_cli *c, int *argc, char ***argv, int every);

/* Report the recorded error and end the job; returns the exit code for
 * main. A failure every rank met together (world.h; a config error) is
 * printed once, by the rank that reports it, and every rank ends with
 * MPI_Finalize; any other failure prints "[role] error: message" and ends
 * the job with MPI_Abort if other ranks exist. */
int fesf_cli_fail(fesf_cli *c);


/* Subcommands */
int fesf_cmd_help(int argc, char **argv);
int fesf_cmd_version(int argc, char **argv);
int fesf_cmd_prepare(int argc, char **argv);
int fesf_cmd_inspect(int argc, char **argv);
int fesf_cmd_bench(int argc, char **argv);
int fesf_cmd_hide(int argc, char **argv);
int fesf_cmd_train(int argc, char **argv);
int fesf_cmd_enhance(int argc, char **argv);
int fesf_cmd_run(int argc, char **argv);
int fesf_cmd_audit(int argc, char **argv);
int fesf_cmd_predict(int argc, char **argv);

#endif
