/* Run configuration: INI (parsed by libinih) with sections [data] [ihm]
 * [iqem] [model] [train] [audit] [sweep] [run]. Every key has a documented default and an
 * allowed range; unknown keys and bad values are errors that name the file,
 * the line, the key and what is allowed. `--set section.key=value` overrides
 * go through the same checks. The effective config (every key, resolved) is
 * printed at start and stored in every output file as text. */
#ifndef FESF_CONFIG_H
#define FESF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum { FESF_PART_IID, FESF_PART_DIRICHLET, FESF_PART_QUANTITY, FESF_PART_NATURAL };
enum { FESF_MASK_SQUARE, FESF_MASK_CIRCLE };
enum { FESF_HOST_FIXED, FESF_HOST_RANDOM, FESF_HOST_KEYED };
enum { FESF_KEY_AUTO, FESF_KEY_SEED };
enum { FESF_MNORM_AUTO, FESF_MNORM_BATCH, FESF_MNORM_INSTANCE }; /* model.norm */
enum { FESF_IQEM_FEDERATED, FESF_IQEM_LOCAL };
enum { FESF_ARCH_CNN_SMALL, FESF_ARCH_RESNET18, FESF_ARCH_CNN3D_SMALL };
enum { FESF_INPUT_SURROGATE, FESF_INPUT_SYNTHETIC, FESF_INPUT_PLAIN };
enum { FESF_ALGO_FEDSGD, FESF_ALGO_FEDAVG };
enum { FESF_OPT_SGD, FESF_OPT_ADAM, FESF_OPT_ADAMW };
enum { FESF_CW_NONE, FESF_CW_BALANCED };
/* train.augment: a bit set (none, flip, shift, flip+shift) */
enum { FESF_AUG_NONE = 0, FESF_AUG_FLIP = 1, FESF_AUG_SHIFT = 2 };
enum { FESF_NORM_POOLED, FESF_NORM_IMAGE }; /* train.normalise */
enum { FESF_SOPT_NONE, FESF_SOPT_ADAM, FESF_SOPT_YOGI }; /* train.server_optimizer */

#define FESF_PATH_MAX 1024
#define FESF_LIST_MAX 16

typedef struct {
    int n;
    double v[FESF_LIST_MAX];
} fesf_list; /* a list-valued key, e.g. sweep.alpha = 0.1,0.2 */

typedef struct {
    struct {
        char source[FESF_PATH_MAX]; /* phantom | npz:PATH | png:DIR:CSV | nifti:DIR:CSV | dicom:DIR:CSV */
        fesf_list size;             /* phantom: {S} or empty; volumes: {D,H,W}, {S} or empty (keep) */
        fesf_list window;           /* clinical volumes: {lo, hi} or empty (each volume's min..max) */
        int ranks_per_site;
        int64_t count;              /* phantom only */
        int sites;
        int partition;              /* FESF_PART_* */
        double dirichlet;           /* concentration, > 0 */
        int public_val;             /* 1: the dataset's val split is the host pool */
        double public_fraction;     /* else: this fraction of train is */
        char hosts[FESF_PATH_MAX];  /* "" (carve the pool from source) | npz:PATH | png:DIR */
        double val_fraction;
        double test_fraction;       /* used when the source has no test split */
        uint64_t seed;
        char classes[512];          /* comma-separated class names, "" = from source */
    } data;
    struct {
        double alpha, beta;
        int mask, host_mode, host_index;
        double noise;              /* sigma of the keyed log-normal amplitude noise (0 = none) */
        double beta_min, beta_max; /* per-image beta range (both = beta: none) */
        int beta_min_auto, beta_max_auto;
        int key;                   /* FESF_KEY_*: where a site's secret key comes from */
    } ihm;
    struct {
        int enabled, mode, epochs;
        double lr, lambda_id, alpha2, beta2;
        int alpha2_auto, beta2_auto; /* set by fesf_config_finish: the key was 'auto' */
    } iqem;
    struct {
        int arch, width, norm; /* norm: FESF_MNORM_* */
    } model;
    struct {
        int input, algo, rounds, local_epochs, batch, optimizer, eval_every, class_weights, augment, normalise;
        int patience, max_rounds, min_steps; /* rounds = auto (-1) */
        double lr, momentum, weight_decay, participation, server_momentum;
        int server_optimizer;                           /* FESF_SOPT_*: FedAdam / FedYogi (FedAvg) */
        double server_lr, server_tau;
        double dp_clip, dp_noise, dp_epsilon, dp_delta; /* dp_delta < 0: auto */
        double prox_mu;                                 /* FedProx (FedAvg's local steps) */
        int scaffold;                                   /* SCAFFOLD control variates (FedAvg) */
        int fedbn;                                      /* FedBN: batch norm kept at the sites (FedAvg) */
        int secure_agg;                                 /* masked sums of what sites send (secagg.h) */
    } train;
    struct {
        int enabled, synthetic, epochs, width, threads, batch;
        double lr;
    } audit;
    struct {
        fesf_list alpha, beta, noise; /* empty: no sweep */
    } sweep;
    struct {
        char out[FESF_PATH_MAX];
        int checkpoint_every, threads, repeats, log;
        int keep_checkpoints; /* newest checkpoints kept per training (0: all) */
        double timeout;       /* seconds per wait of a training round (0: none) */
        int baseline_plain; /* fesf run also trains on the plaintext (research upper bound); off by default */
        uint64_t seed;
    } run;
} fesf_config;

/* Fill with documented defaults. */
void fesf_config_defaults(fesf_config *cfg);

/* Apply the keys of an INI file on top of cfg. 0 or -1 (message names
 * file and line). */
int fesf_config_load(fesf_config *cfg, const char *path);

/* An INI file through libinih (src/core/ini.c), whole lines only: a line
 * that libinih would cut (longer than its buffer, INI_MAX_LINE of the
 * libinih loaded: 198 characters and the newline by default) or that holds
 * a NUL byte ends the parse, refused as "'PATH' line N: line longer than M
 * characters". fn gets each key (0, or -1 with a message recorded, which is
 * reported with the file and line; later keys are not passed). `what`
 * names the kind of file ("config"). 0 or -1. */
typedef int (*fesf_ini_fn)(void *user, const char *section, const char *name, const char *value);
int fesf_ini_parse(const char *path, const char *what, fesf_ini_fn fn, void *user);
/* The same over INI text in memory; `name` stands for the file in messages. */
int fesf_ini_parse_text(const char *text, const char *name, const char *what, fesf_ini_fn fn, void *user);

/* Apply the keys of INI text (e.g. the config a model.h5 records) on top
 * of cfg; `name` names its origin in messages. 0 or -1. */
int fesf_config_load_text(fesf_config *cfg, const char *text, const char *name);

/* Apply one override "section.key=value" (as given to --set). 0 or -1. */
int fesf_config_set(fesf_config *cfg, const char *assignment);

/* Resolve derived defaults (iqem.alpha2/beta2 = ihm.alpha/beta when unset)
 * and check cross-key constraints. Call once after all loads and sets. */
int fesf_config_finish(fesf_config *cfg);

/* ihm.beta_min / beta_max = ihm.beta where they were 'auto' (after a change of ihm.beta). */
void fesf_config_resolve_beta(fesf_config *cfg);
/* The phantom's image size (data.size, 64 when empty). */
int fesf_config_phantom_size(const fesf_config *cfg);
/* 1 if data.source names clinical volumes (nifti:DIR:CSV | dicom:DIR:CSV). */
int fesf_config_clinical_source(const fesf_config *cfg);

/* 1 if the keyed per-image options are on: noise, a beta range or the keyed host. */
/* DP-SGD is on: a noise multiplier or a target epsilon is set. */
static inline int fesf_config_dp(const fesf_config *cfg) { return cfg->train.dp_noise > 0 || cfg->train.dp_epsilon > 0; }

/* The classifier's normalisation is instance norm (model.norm, auto under DP). */
static inline int fesf_config_instance_norm(const fesf_config *cfg)
{
    return cfg->model.norm == FESF_MNORM_INSTANCE || (cfg->model.norm == FESF_MNORM_AUTO && fesf_config_dp(cfg));
}

static inline int fesf_config_keyed(const fesf_config *cfg)
{
    return cfg->ihm.noise > 0 || cfg->ihm.beta_min < cfg->ihm.beta_max || cfg->ihm.host_mode == FESF_HOST_KEYED;
}

/* The effective config as INI text (every key, in table order). Returns the
 * length written (like snprintf); a NULL buffer with size 0 measures. */
int fesf_config_text(const fesf_config *cfg, char *buf, size_t size);

/* The keys matching any of `patterns` (NULL-terminated; "section.*" or
 * "section.key"), one "section.key = value" line each, in table order.
 * Returns the length written (like snprintf). Stages hash this text. */
int fesf_config_keys_text(const fesf_config *cfg, const char *const *patterns, char *buf, size_t size);

/* Same, as a newly allocated string (caller frees); NULL on OOM. */
char *fesf_config_text_alloc(const fesf_config *cfg);

/* Reference of every key: section, name, default, allowed values, meaning.
 * Returns the length written (like snprintf). */
int fesf_config_reference(char *buf, size_t size);

/* 64-bit FNV-1a hash of the effective config text (for checkpoints). */
uint64_t fesf_config_hash(const fesf_config *cfg);

/* Name of an enum value of a key ("data.partition", FESF_PART_IID -> "iid"). */
const char *fesf_config_enum_name(const char *key, int value);

/* A [sweep]'s points (0: no sweep), alpha-major over alpha x beta x noise;
 * point p's config (ihm.alpha, ihm.beta, ihm.noise, the auto alpha2/beta2
 * and beta_min/beta_max resolved, no [sweep], run.out =
 * run.out/alpha<A>-beta<B>, with -noise<S> when sweep.noise is set); the
 * number of beta and of noise values. (sweep.c) */
int fesf_sweep_points(const fesf_config *cfg);
void fesf_sweep_point(const fesf_config *cfg, int p, fesf_config *one);
int fesf_sweep_betas(const fesf_config *cfg);
int fesf_sweep_noises(const fesf_config *cfg);

#endif
