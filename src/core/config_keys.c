/* The table of every config key: one row per key gives its type, storage,
 * default (as text, parsed by the same code as user values), range and
 * meaning (config.c reads it; `fesf help config` and configs/README.md list it). */
#include "config_internal.h"
#include "fesf/config.h"

static const char *const partition_names[] = {"iid", "dirichlet", "quantity", "natural", NULL};
static const char *const mask_names[] = {"square", "circle", NULL};
static const char *const host_mode_names[] = {"fixed", "random", "keyed", NULL};
static const char *const key_names[] = {"auto", "seed", NULL};
static const char *const iqem_mode_names[] = {"federated", "local", NULL};
static const char *const arch_names[] = {"cnn-small", "resnet18", "cnn3d-small", NULL};
static const char *const norm_names[] = {"auto", "batch", "instance", NULL}; /* FESF_MNORM_* */
static const char *const input_names[] = {"surrogate", "synthetic", "plain", NULL};
static const char *const algo_names[] = {"fedsgd", "fedavg", NULL};
static const char *const opt_names[] = {"sgd", "adam", "adamw", NULL};
static const char *const log_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const cw_names[] = {"none", "balanced", NULL};
static const char *const normalise_names[] = {"pooled", "image", NULL};
static const char *const server_opt_names[] = {"none", "adam", "yogi", NULL}; /* FESF_SOPT_* */
static const char *const augment_names[] = {"none", "flip", "shift", "flip+shift", NULL}; /* FESF_AUG_* bits */

#define F(sec, field) offsetof(fesf_config, sec.field), sizeof(((fesf_config *)0)->sec.field)
#define BIG 1e18

const key_desc fesf_config_keys[] = {
    {"data", "source", T_STRING, F(data, source), "phantom", 0, 0, NULL,
     "input dataset: phantom | npz:PATH | png:DIR:CSV | nifti:DIR:CSV | dicom:DIR:CSV (volumes: a NIfTI "
     "file or a DICOM series folder per CSV row)"},
    {"data", "window", T_LIST, F(data, window), "", -1e9, 1e9, NULL,
     "intensity window lo,hi of clinical volumes (after the files' rescale slope/intercept, e.g. -160,240 HU): "
     "mapped to [0, 1], clipped outside; empty = each volume's own min..max"},
    {"data", "ranks_per_site", T_INT, F(data, ranks_per_site), "1", 1, 256, NULL,
     "MPI ranks each site owns (a site's images, or its volumes' slabs, are split among them)"},
    {"data", "size", T_LIST, F(data, size), "", 1, 4096, NULL,
     "image size: the phantom's (one number in 28..256; empty = 64), or the size every volume is resampled "
     "to (D,H,W, or S for S,S,S; trilinear; empty = the files' own size)"},
    {"data", "count", T_I64, F(data, count), "2000", 1, 1e9, NULL,
     "phantom train images (test gets count/4)"},
    {"data", "sites", T_INT, F(data, sites), "4", 1, 4096, NULL, "number of sites (hospitals)"},
    {"data", "partition", T_ENUM, F(data, partition), "iid", 0, 0, partition_names,
     "how images are split among sites: iid | dirichlet (label skew) | quantity (size skew) | natural "
     "(the dataset's own sites: a CSV site column, *_sites.npy)"},
    {"data", "dirichlet", T_DOUBLE, F(data, dirichlet), "0.5", 1e-3, 1e6, NULL,
     "concentration of the dirichlet and quantity partitions (smaller = more skew)"},
    {"data", "public", T_PUBLIC, F(data, public_fraction), "0.05", 0, 0.9, NULL,
     "host pool: a fraction of train held by no site, or 'val' for the dataset's val split (not used when "
     "data.hosts is set)"},
    {"data", "hosts", T_STRING, F(data, hosts), "", 0, 0, NULL,
     "a separate public host set: npz:PATH (its train_images) | png:DIR (every .png, by name); empty: the "
     "host pool is carved from data.source (data.public), a simulation convenience"},
    {"data", "val_fraction", T_DOUBLE, F(data, val_fraction), "0.1", 0, 0.9, NULL,
     "each site's validation split, carved from its train split when the dataset's val split is "
     "public or absent"},
    {"data", "test_fraction", T_DOUBLE, F(data, test_fraction), "0.2", 0, 0.9, NULL,
     "test split carved from train when the dataset has none (PNG folders without a split column)"},
    {"data", "seed", T_U64, F(data, seed), "0", 0, 0, NULL, "seed of the partition"},
    {"data", "classes", T_STRING, F(data, classes), "", 0, 0, NULL,
     "comma-separated class names (empty: taken from the source, else 0,1,...)"},

    {"ihm", "alpha", T_DOUBLE, F(ihm, alpha), "0.3", 0, 1, NULL,
     "low-frequency mask size (0 = DC only, 1 = whole spectrum)"},
    {"ihm", "beta", T_DOUBLE, F(ihm, beta), "1.0", 0, 1, NULL, "amplitude mixing ratio"},
    {"ihm", "mask", T_ENUM, F(ihm, mask), "square", 0, 0, mask_names, "low-frequency mask shape"},
    {"ihm", "host_mode", T_ENUM, F(ihm, host_mode), "fixed", 0, 0, host_mode_names,
     "fixed: one host for the federation; random: a host per image drawn from data.seed; keyed: drawn "
     "with the site's key"},
    {"ihm", "host_index", T_INT, F(ihm, host_index), "0", 0, 1e9, NULL, "host image index in the pool"},
    {"ihm", "noise", T_DOUBLE, F(ihm, noise), "0", 0, 10, NULL,
     "sigma of a keyed log-normal noise on the plaintext's masked amplitude, in both IHM passes (0 = none)"},
    {"ihm", "beta_min", T_AUTO_DOUBLE, F(ihm, beta_min), "auto", 0, 1, NULL,
     "lowest per-image beta, drawn with the site's key (auto = ihm.beta)"},
    {"ihm", "beta_max", T_AUTO_DOUBLE, F(ihm, beta_max), "auto", 0, 1, NULL,
     "highest per-image beta (auto = ihm.beta; beta_min = beta_max: one beta for all images)"},
    {"ihm", "key", T_ENUM, F(ihm, key), "auto", 0, 0, key_names,
     "each site's secret key for the keyed options: auto = random, made on first use in "
     "run.out/site-NNN/ihm.key; seed = derived from data.seed (reproducible but not secret: research only)"},

    {"iqem", "enabled", T_BOOL, F(iqem, enabled), "true", 0, 0, NULL, "run the IQEM (GAN + second IHM pass)"},
    {"iqem", "mode", T_ENUM, F(iqem, mode), "federated", 0, 0, iqem_mode_names,
     "federated: one G for all sites; local: one G per site"},
    {"iqem", "epochs", T_INT, F(iqem, epochs), "5", 0, 100000, NULL, "GAN training epochs"},
    {"iqem", "lr", T_DOUBLE, F(iqem, lr), "0.0002", 0, 10, NULL, "GAN learning rate (Adam)"},
    {"iqem", "lambda_id", T_DOUBLE, F(iqem, lambda_id), "10", 0, 1e6, NULL, "weight of |G(s) - s|_1"},
    {"iqem", "alpha2", T_AUTO_DOUBLE, F(iqem, alpha2), "auto", 0, 1, NULL,
     "alpha of the second IHM pass (auto = ihm.alpha)"},
    {"iqem", "beta2", T_AUTO_DOUBLE, F(iqem, beta2), "auto", 0, 1, NULL,
     "beta of the second IHM pass (auto = ihm.beta)"},

    {"model", "arch", T_ENUM, F(model, arch), "cnn-small", 0, 0, arch_names, "diagnostic model"},
    {"model", "width", T_INT, F(model, width), "16", 1, 1024, NULL, "base channel width"},
    {"model", "norm", T_ENUM, F(model, norm), "auto", 0, 0, norm_names,
     "normalisation layers: batch (BatchNorm2d) | instance (affine InstanceNorm2d, per example) | auto = "
     "instance under DP-SGD, batch otherwise"},

    {"train", "input", T_ENUM, F(train, input), "surrogate", 0, 0, input_names,
     "images the model trains on (plain is the upper bound, for comparison only)"},
    {"train", "algo", T_ENUM, F(train, algo), "fedavg", 0, 0, algo_names, "aggregation algorithm"},
    {"train", "rounds", T_AUTO_INT, F(train, rounds), "auto", 1, 1e7, NULL,
     "communication rounds; auto: until the validation AUC has not improved for train.patience evaluations "
     "(after train.min_steps optimizer steps per site), at most train.max_rounds"},
    {"train", "patience", T_INT, F(train, patience), "5", 1, 1e6, NULL,
     "rounds = auto: evaluations without a better validation AUC before training stops"},
    {"train", "max_rounds", T_INT, F(train, max_rounds), "500", 1, 1e7, NULL, "rounds = auto: the most rounds"},
    {"train", "min_steps", T_INT, F(train, min_steps), "200", 0, 1e9, NULL,
     "rounds = auto: optimizer steps each site takes at least before training may stop"},
    {"train", "local_epochs", T_INT, F(train, local_epochs), "1", 1, 10000, NULL, "FedAvg local epochs"},
    {"train", "batch", T_INT, F(train, batch), "32", 1, 65536, NULL, "minibatch size per site"},
    {"train", "lr", T_DOUBLE, F(train, lr), "0.001", 0, 100, NULL, "learning rate"},
    {"train", "optimizer", T_ENUM, F(train, optimizer), "adam", 0, 0, opt_names, "optimizer"},
    {"train", "momentum", T_DOUBLE, F(train, momentum), "0.9", 0, 0.9999, NULL, "SGD momentum"},
    {"train", "weight_decay", T_DOUBLE, F(train, weight_decay), "0", 0, 10, NULL, "weight decay"},
    {"train", "eval_every", T_INT, F(train, eval_every), "5", 1, 1e7, NULL, "evaluate every K rounds"},
    {"train", "participation", T_DOUBLE, F(train, participation), "1.0", 1e-6, 1, NULL,
     "fraction of sites per round"},
    {"train", "class_weights", T_ENUM, F(train, class_weights), "balanced", 0, 0, cw_names,
     "loss weights per class: balanced = N / (K n_c) from the sites' summed training label counts; none"},
    {"train", "normalise", T_ENUM, F(train, normalise), "pooled", 0, 0, normalise_names,
     "input normalisation: pooled (per-channel mean and std of all sites' training images, from summed "
     "moments) | image (each image to zero mean and unit std per channel; nothing leaves the site)"},
    {"train", "augment", T_ENUM, F(train, augment), "none", 0, 0, augment_names,
     "site-side augmentation of the training images: flip (left-right, p = 1/2), shift (up to 7% of the "
     "size each way, edges repeated), flip+shift, none"},
    {"train", "scaffold", T_BOOL, F(train, scaffold), "false", 0, 0, NULL,
     "SCAFFOLD (Karimireddy et al. 2020, option II): FedAvg's local steps add the control variates' "
     "difference c - c_i to the gradient; each site keeps its c_i (checkpointed in its own folder), the "
     "coordinator c; meant for train.optimizer = sgd"},
    {"train", "fedbn", T_BOOL, F(train, fedbn), "false", 0, 0, NULL,
     "FedBN (Li et al. 2021): the batch-norm layers' weights, biases and running statistics stay at each site "
     "(in its own folder's checkpoints) and are never sent; model.h5 holds the shared layers with the initial "
     "batch norm"},
    {"train", "prox_mu", T_DOUBLE, F(train, prox_mu), "0", 0, 1e4, NULL,
     "FedProx: FedAvg's local steps add mu (w - w_global) to the gradient, pulling each site towards the "
     "round's global model (0 = plain FedAvg)"},
    {"train", "dp_clip", T_DOUBLE, F(train, dp_clip), "1", 1e-6, 1e6, NULL,
     "DP-SGD: each example's gradient is clipped to this L2 norm"},
    {"train", "dp_noise", T_DOUBLE, F(train, dp_noise), "0", 0, 1e4, NULL,
     "DP-SGD noise multiplier: Gaussian noise of std dp_noise * dp_clip on each site's sum of clipped "
     "gradients (0 = no DP unless dp_epsilon is set)"},
    {"train", "dp_epsilon", T_DOUBLE, F(train, dp_epsilon), "0", 0, 1e4, NULL,
     "DP-SGD target epsilon per site: the noise multiplier is solved so that the planned steps (train.rounds, "
     "or train.max_rounds with rounds = auto) stay within it (0 = none; exclusive with dp_noise)"},
    {"train", "dp_delta", T_AUTO_DOUBLE, F(train, dp_delta), "auto", 1e-12, 0.1, NULL,
     "DP-SGD delta per site; auto = min(1e-5, 0.1 / n) for a site of n training images"},
    {"train", "secure_agg", T_BOOL, F(train, secure_agg), "false", 0, 0, NULL,
     "secure aggregation: the coordinator sees only the sum of the site ranks' updates (pairwise X25519 "
     "masks on 64-bit fixed point, step 2^-32), also for the pooled normalisation and class counts and the "
     "IQEM GAN; needs at least 2 site ranks"},
    {"train", "server_momentum", T_DOUBLE, F(train, server_momentum), "0", 0, 0.9999, NULL,
     "FedAvg server momentum (FedAvgM; 0 = plain averaging)"},
    {"train", "server_optimizer", T_ENUM, F(train, server_optimizer), "none", 0, 0, server_opt_names,
     "FedAvg's server step on the round's delta (the global model minus the sites' weighted average): none "
     "(the average itself, or FedAvgM with server_momentum) | adam (FedAdam) | yogi (FedYogi), Reddi et al. 2021: "
     "beta1 0.9, beta2 0.99, no bias correction"},
    {"train", "server_lr", T_DOUBLE, F(train, server_lr), "0.01", 0, 100, NULL,
     "FedAdam / FedYogi server learning rate"},
    {"train", "server_tau", T_DOUBLE, F(train, server_tau), "0.001", 1e-12, 10, NULL,
     "FedAdam / FedYogi adaptivity tau (the second moment starts at tau^2)"},

    {"audit", "enabled", T_BOOL, F(audit, enabled), "true", 0, 0, NULL,
     "run the privacy audit (a learned inversion attack) in 'fesf run'"},
    {"audit", "synthetic", T_BOOL, F(audit, synthetic), "true", 0, 0, NULL,
     "also attack the synthetic (IHM only) images; the surrogates are attacked whenever IQEM runs"},
    {"audit", "epochs", T_INT, F(audit, epochs), "20", 1, 100000, NULL, "attacker training epochs over the public images"},
    {"audit", "width", T_INT, F(audit, width), "64", 1, 1024, NULL,
     "channels of the attacker's 8-layer CNN (64 is the reference strength)"},
    {"audit", "threads", T_INT, F(audit, threads), "1", 1, 1024, NULL,
     "engine threads of the coordinator while it trains the attacker (the sites wait)"},
    {"audit", "batch", T_INT, F(audit, batch), "32", 1, 65536, NULL, "attacker minibatch"},
    {"audit", "lr", T_DOUBLE, F(audit, lr), "0.001", 0, 10, NULL, "attacker learning rate (Adam)"},

    {"sweep", "alpha", T_LIST, F(sweep, alpha), "", 0, 1, NULL,
     "comma-separated ihm.alpha values of a privacy-utility sweep (empty: no sweep)"},
    {"sweep", "beta", T_LIST, F(sweep, beta), "", 0, 1, NULL,
     "comma-separated ihm.beta values of the sweep (empty: ihm.beta only)"},
    {"sweep", "noise", T_LIST, F(sweep, noise), "", 0, 10, NULL,
     "comma-separated ihm.noise values of the sweep (empty: ihm.noise only)"},

    {"run", "out", T_STRING, F(run, out), "runs/default", 0, 0, NULL, "run directory"},
    {"run", "checkpoint_every", T_INT, F(run, checkpoint_every), "10", 0, 1e7, NULL,
     "checkpoint every K rounds (0 = never)"},
    {"run", "keep_checkpoints", T_INT, F(run, keep_checkpoints), "3", 0, 1e7, NULL,
     "keep the newest K checkpoints of a training, remove older ones (0 = keep all)"},
    {"run", "timeout", T_DOUBLE, F(run, timeout), "1800", 0, 604800, NULL,
     "seconds a rank waits for the others at one step of a training round before the job ends naming the ranks "
     "that did not arrive (0 = wait forever)"},
    {"run", "threads", T_INT, F(run, threads), "1", 1, 1024, NULL, "compute threads per rank (the engine splits each batch over them)"},
    {"run", "seed", T_U64, F(run, seed), "0", 0, 0, NULL, "seed of training"},
    {"run", "repeats", T_INT, F(run, repeats), "1", 1, 1000, NULL, "training repeats with seeds seed..seed+R-1"},
    {"run", "log", T_ENUM, F(run, log), "info", 0, 0, log_names, "log level"},
    {"run", "baseline_plain", T_BOOL, F(run, baseline_plain), "false", 0, 0, NULL,
     "also train on the plaintext in 'fesf run' (research only: plaintext gradients reach the coordinator)"},
};
const int fesf_config_nkeys = (int)(sizeof fesf_config_keys / sizeof fesf_config_keys[0]);
