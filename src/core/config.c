/* Table-driven configuration: one row per key gives its type, storage,
 * default (as text, parsed by the same code as user values), range and
 * meaning. Parsing goes through libinih (fesf_ini_parse, ini.c: whole lines
 * only), so that every error names its line. */
#include "fesf/config.h"
#include "fesf/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_INT, T_AUTO_INT, T_I64, T_U64, T_DOUBLE, T_AUTO_DOUBLE, T_BOOL, T_ENUM, T_STRING, T_PUBLIC, T_LIST } key_type;

typedef struct {
    const char *section, *name;
    key_type type;
    size_t offset, size;          /* storage inside fesf_config */
    const char *def;              /* default, as text */
    double min, max;              /* numeric range (inclusive) */
    const char *const *choices;   /* T_ENUM: NULL-terminated */
    const char *doc;
} key_desc;

static const char *const partition_names[] = {"iid", "dirichlet", "quantity", "natural", NULL};
static const char *const mask_names[] = {"square", "circle", NULL};
static const char *const host_mode_names[] = {"fixed", "random", "keyed", NULL};
static const char *const key_names[] = {"auto", "seed", NULL};
static const char *const iqem_mode_names[] = {"federated", "local", NULL};
static const char *const arch_names[] = {"cnn-small", "resnet18", NULL};
static const char *const norm_names[] = {"auto", "batch", "instance", NULL}; /* FESF_MNORM_* */
static const char *const input_names[] = {"surrogate", "synthetic", "plain", NULL};
static const char *const algo_names[] = {"fedsgd", "fedavg", NULL};
static const char *const opt_names[] = {"sgd", "adam", "adamw", NULL};
static const char *const log_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const cw_names[] = {"none", "balanced", NULL};
static const char *const normalise_names[] = {"pooled", "image", NULL};
static const char *const augment_names[] = {"none", "flip", "shift", "flip+shift", NULL}; /* FESF_AUG_* bits */

#define F(sec, field) offsetof(fesf_config, sec.field), sizeof(((fesf_config *)0)->sec.field)
#define BIG 1e18

static const key_desc keys[] = {
    {"data", "source", T_STRING, F(data, source), "phantom", 0, 0, NULL,
     "input dataset: phantom | npz:PATH | png:DIR:CSV"},
    {"data", "size", T_INT, F(data, size), "64", 28, 256, NULL, "phantom image size (pixels, square)"},
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
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

static const key_desc *find_key(const char *section, const char *name)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) return &keys[i];
    return NULL;
}

static int known_section(const char *section)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0) return 1;
    return 0;
}

static void range_text(const key_desc *k, char *buf, size_t size)
{
    switch (k->type) {
    case T_INT:
    case T_I64:
        snprintf(buf, size, "an integer in [%.0f, %.0f]", k->min, k->max);
        break;
    case T_AUTO_INT:
        snprintf(buf, size, "'auto' or an integer in [%.0f, %.0f]", k->min, k->max);
        break;
    case T_U64:
        snprintf(buf, size, "an integer in [0, 2^64)");
        break;
    case T_DOUBLE:
        snprintf(buf, size, "a number in [%g, %g]", k->min, k->max);
        break;
    case T_AUTO_DOUBLE:
        snprintf(buf, size, "'auto' or a number in [%g, %g]", k->min, k->max);
        break;
    case T_BOOL:
        snprintf(buf, size, "true or false");
        break;
    case T_ENUM: {
        size_t n = 0;
        for (int i = 0; k->choices[i] && n < size; i++)
            n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? " | " : "one of ", k->choices[i]);
        break;
    }
    case T_STRING:
        snprintf(buf, size, "%s", k->def[0] ? "a non-empty string" : "a string (empty: unset)");
        break;
    case T_PUBLIC:
        snprintf(buf, size, "'val' or a fraction in [%g, %g]", k->min, k->max);
        break;
    case T_LIST:
        snprintf(buf, size, "up to %d comma-separated numbers in [%g, %g], or empty", FESF_LIST_MAX, k->min, k->max);
        break;
    }
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno) return -1;
    *out = v;
    return 0;
}

static int bad_value(const key_desc *k, const char *value, const char *allowed)
{
    return fesf_error("%s.%s = '%s': expected %s", k->section, k->name, value, allowed);
}

/* "0.1, 0.2,0.3" -> {3, {0.1, 0.2, 0.3}}; "" -> {0}. -1 if an item is bad. */
static int parse_list(const char *value, const key_desc *k, fesf_list *out)
{
    fesf_list l = {0};
    char item[64];
    for (const char *s = value; *s;) {
        while (*s == ' ' || *s == '\t') s++;
        size_t len = strcspn(s, ",");
        if (len >= sizeof item || l.n == FESF_LIST_MAX) return -1;
        memcpy(item, s, len);
        while (len && (item[len - 1] == ' ' || item[len - 1] == '\t')) len--;
        item[len] = '\0';
        if (parse_double(item, &l.v[l.n]) || l.v[l.n] < k->min || l.v[l.n] > k->max) return -1;
        l.n++;
        s += strcspn(s, ",");
        if (*s == ',' && !*++s) return -1; /* trailing comma */
    }
    *out = l;
    return 0;
}

/* Store `value` into cfg for key k; -1 with a message (no location) if bad. */
static int set_value(fesf_config *cfg, const key_desc *k, const char *value)
{
    char *p = (char *)cfg + k->offset;
    char allowed[256];
    range_text(k, allowed, sizeof allowed);
    long long ll;
    double d;
    switch (k->type) {
    case T_AUTO_INT:
        if (strcmp(value, "auto") == 0) {
            *(int *)p = -1;
            return 0;
        }
        /* fall through */
    case T_INT:
    case T_I64:
        if (parse_ll(value, &ll) || ll < k->min || ll > k->max) goto bad;
        if (k->type != T_I64) *(int *)p = (int)ll;
        else *(int64_t *)p = ll;
        return 0;
    case T_U64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(value, &end, 10);
        if (end == value || *end || errno || value[0] == '-') goto bad;
        *(uint64_t *)p = u;
        return 0;
    }
    case T_AUTO_DOUBLE:
        if (strcmp(value, "auto") == 0) {
            *(double *)p = -1.0;
            return 0;
        }
        /* fall through */
    case T_DOUBLE:
        if (parse_double(value, &d) || d < k->min || d > k->max) goto bad;
        *(double *)p = d;
        return 0;
    case T_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1")) *(int *)p = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0")) *(int *)p = 0;
        else goto bad;
        return 0;
    case T_ENUM:
        for (int i = 0; k->choices[i]; i++)
            if (strcmp(value, k->choices[i]) == 0) {
                *(int *)p = i;
                return 0;
            }
        goto bad;
    case T_STRING:
        if (strlen(value) >= k->size) goto bad;
        if (!value[0] && k->def[0]) goto bad; /* only keys whose default is empty may be empty */
        memcpy(p, value, strlen(value) + 1);
        return 0;
    case T_PUBLIC:
        if (strcmp(value, "val") == 0) {
            cfg->data.public_val = 1;
            cfg->data.public_fraction = 0;
            return 0;
        }
        if (parse_double(value, &d) || d < k->min || d > k->max) goto bad;
        cfg->data.public_val = 0;
        cfg->data.public_fraction = d;
        return 0;
    case T_LIST:
        return parse_list(value, k, (fesf_list *)p) ? bad_value(k, value, allowed) : 0;
    }
bad:
    return bad_value(k, value, allowed);
}

void fesf_config_defaults(fesf_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < NKEYS; i++)
        if (set_value(cfg, &keys[i], keys[i].def)) abort(); /* a bad default is a bug */
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    const key_desc *k = find_key(section, name);
    if (!known_section(section))
        return fesf_error("unknown section [%s] (sections: data ihm iqem model train audit sweep run)", section);
    if (!k) return fesf_error("unknown key '%s.%s' (see 'fesf help config')", section, name);
    return set_value(user, k, value);
}

int fesf_config_load(fesf_config *cfg, const char *path) { return fesf_ini_parse(path, "config", on_key, cfg); }

int fesf_config_load_text(fesf_config *cfg, const char *text, const char *name)
{
    return fesf_ini_parse_text(text, name, "config", on_key, cfg);
}

int fesf_config_set(fesf_config *cfg, const char *assignment)
{
    char sec[64], name[64];
    const char *dot = strchr(assignment, '.'), *eq = strchr(assignment, '=');
    if (!dot || !eq || dot > eq || (size_t)(dot - assignment) >= sizeof sec ||
        (size_t)(eq - dot - 1) >= sizeof name)
        return fesf_error("--set '%s': expected section.key=value", assignment);
    memcpy(sec, assignment, (size_t)(dot - assignment));
    sec[dot - assignment] = '\0';
    memcpy(name, dot + 1, (size_t)(eq - dot - 1));
    name[eq - dot - 1] = '\0';
    const key_desc *k = find_key(sec, name);
    if (!k) return fesf_error("--set '%s': unknown key '%s.%s' (see 'fesf help config')", assignment, sec, name);
    if (set_value(cfg, k, eq + 1)) return fesf_error("--set: %s", fesf_errmsg());
    return 0;
}

static int check_source(const char *src)
{
    if (!strcmp(src, "phantom")) return 0;
    if (!strncmp(src, "npz:", 4) && src[4]) return 0;
    if (!strncmp(src, "png:", 4) && strchr(src + 4, ':') && strchr(src + 4, ':')[1]) return 0;
    return fesf_error("data.source = '%s': expected phantom | npz:PATH | png:DIR:CSV", src);
}

/* data.hosts: empty, npz:PATH or png:DIR. With it no image of data.source is
 * a host, so data.public does not apply: 'val' is a contradiction, a
 * fraction (the default 0.05 cannot be told from a chosen one) becomes 0. */
static int check_hosts(fesf_config *cfg)
{
    const char *h = cfg->data.hosts;
    if (!h[0]) return 0;
    if ((strncmp(h, "npz:", 4) && strncmp(h, "png:", 4)) || !h[4])
        return fesf_error("data.hosts = '%s': expected npz:PATH | png:DIR (or empty)", h);
    if (cfg->data.public_val)
        return fesf_error("data.public = val and data.hosts = '%s' exclude each other: with data.hosts no image "
                          "of data.source is a host", h);
    cfg->data.public_fraction = 0;
    return 0;
}

void fesf_config_resolve_beta(fesf_config *cfg)
{
    if (cfg->ihm.beta_min_auto) cfg->ihm.beta_min = cfg->ihm.beta;
    if (cfg->ihm.beta_max_auto) cfg->ihm.beta_max = cfg->ihm.beta;
}

/* DP-SGD: one way to set the noise, and a per-example normalisation */
static int check_dp(const fesf_config *cfg)
{
    if (cfg->train.dp_noise > 0 && cfg->train.dp_epsilon > 0)
        return fesf_error("train.dp_noise and train.dp_epsilon are both set: give the noise or the target, not both");
    if (fesf_config_dp(cfg) && cfg->model.norm == FESF_MNORM_BATCH)
        return fesf_error("model.norm = batch mixes the examples of a batch, which DP-SGD cannot clip one by one: "
                          "use model.norm = instance (or auto)");
    return 0;
}

int fesf_config_finish(fesf_config *cfg)
{
    cfg->iqem.alpha2_auto = cfg->iqem.alpha2 < 0, cfg->iqem.beta2_auto = cfg->iqem.beta2 < 0;
    if (cfg->iqem.alpha2_auto) cfg->iqem.alpha2 = cfg->ihm.alpha;
    if (cfg->iqem.beta2_auto) cfg->iqem.beta2 = cfg->ihm.beta;
    cfg->ihm.beta_min_auto = cfg->ihm.beta_min < 0, cfg->ihm.beta_max_auto = cfg->ihm.beta_max < 0;
    fesf_config_resolve_beta(cfg);
    if (cfg->ihm.beta_min > cfg->ihm.beta_max)
        return fesf_error("ihm.beta_min = %g is above ihm.beta_max = %g", cfg->ihm.beta_min, cfg->ihm.beta_max);
    if (check_source(cfg->data.source) || check_hosts(cfg) || check_dp(cfg)) return -1;
    if (cfg->data.public_fraction + cfg->data.val_fraction >= 1.0)
        return fesf_error("data.public (%g) + data.val_fraction (%g) must be below 1",
                          cfg->data.public_fraction, cfg->data.val_fraction);
    return 0;
}

/* Shortest of %.15g / %.17g that reads back as the same double. */
static int double_text(double v, char *buf, size_t size)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
    return snprintf(buf, size, "%s", tmp);
}

static int value_text(const fesf_config *cfg, const key_desc *k, char *buf, size_t size)
{
    const char *p = (const char *)cfg + k->offset;
    switch (k->type) {
    case T_AUTO_INT:
        if (*(const int *)p < 0) return snprintf(buf, size, "auto");
        /* fall through */
    case T_INT: return snprintf(buf, size, "%d", *(const int *)p);
    case T_I64: return snprintf(buf, size, "%lld", (long long)*(const int64_t *)p);
    case T_U64: return snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)p);
    case T_AUTO_DOUBLE:
        if (*(const double *)p < 0) return snprintf(buf, size, "auto");
        /* fall through */
    case T_DOUBLE: return double_text(*(const double *)p, buf, size);
    case T_BOOL: return snprintf(buf, size, "%s", *(const int *)p ? "true" : "false");
    case T_ENUM: return snprintf(buf, size, "%s", k->choices[*(const int *)p]);
    case T_STRING: return snprintf(buf, size, "%s", p);
    case T_PUBLIC:
        if (cfg->data.public_val) return snprintf(buf, size, "val");
        return double_text(cfg->data.public_fraction, buf, size);
    case T_LIST: {
        const fesf_list *l = (const fesf_list *)p;
        size_t n = 0; /* buf is a caller's array (value_text is file-local) */
        if (size) buf[0] = '\0';
        for (int i = 0; i < l->n && n < size; i++) {
            char t[40];
            double_text(l->v[i], t, sizeof t);
            n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "", t);
        }
        return (int)n;
    }
    }
    return 0;
}

/* Append to buf at *n like snprintf, tracking the would-be length. */
#define APPEND(...)                                                                    \
    do {                                                                               \
        int w_ = snprintf(buf ? buf + (n < size ? n : size) : NULL,                    \
                          n < size ? size - n : 0, __VA_ARGS__);                       \
        n += (size_t)w_;                                                               \
    } while (0)

int fesf_config_text(const fesf_config *cfg, char *buf, size_t size)
{
    size_t n = 0;
    const char *sec = "";
    for (int i = 0; i < NKEYS; i++) {
        char v[FESF_PATH_MAX + 32];
        if (strcmp(sec, keys[i].section)) {
            sec = keys[i].section;
            APPEND("%s[%s]\n", i ? "\n" : "", sec);
        }
        value_text(cfg, &keys[i], v, sizeof v);
        APPEND("%s = %s\n", keys[i].name, v);
    }
    return (int)n;
}

/* Does key k match pattern "section.*" or "section.name"? */
static int key_matches(const key_desc *k, const char *pat)
{
    size_t ls = strlen(k->section);
    if (strncmp(pat, k->section, ls) || pat[ls] != '.') return 0;
    return !strcmp(pat + ls + 1, "*") || !strcmp(pat + ls + 1, k->name);
}

int fesf_config_keys_text(const fesf_config *cfg, const char *const *patterns, char *buf, size_t size)
{
    size_t n = 0;
    for (int i = 0; i < NKEYS; i++) {
        int take = 0;
        for (int p = 0; patterns[p]; p++)
            if (key_matches(&keys[i], patterns[p])) take = 1;
        if (!take) continue;
        char v[FESF_PATH_MAX + 32];
        value_text(cfg, &keys[i], v, sizeof v);
        APPEND("%s.%s = %s\n", keys[i].section, keys[i].name, v);
    }
    return (int)n;
}

char *fesf_config_text_alloc(const fesf_config *cfg)
{
    int len = fesf_config_text(cfg, NULL, 0);
    char *s = malloc((size_t)len + 1);
    if (s) fesf_config_text(cfg, s, (size_t)len + 1);
    return s;
}

int fesf_config_reference(char *buf, size_t size)
{
    size_t n = 0;
    for (int i = 0; i < NKEYS; i++) {
        char allowed[256];
        range_text(&keys[i], allowed, sizeof allowed);
        APPEND("%s.%s = %s\n    %s; %s\n", keys[i].section, keys[i].name,
               keys[i].def[0] ? keys[i].def : "(empty)", keys[i].doc, allowed);
    }
    return (int)n;
}

uint64_t fesf_config_hash(const fesf_config *cfg)
{
    char *s = fesf_config_text_alloc(cfg);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = s; p && *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    free(s);
    return h;
}

const char *fesf_config_enum_name(const char *key, int value)
{
    char sec[64];
    const char *dot = strchr(key, '.');
    if (!dot || (size_t)(dot - key) >= sizeof sec) return "?";
    memcpy(sec, key, (size_t)(dot - key));
    sec[dot - key] = '\0';
    const key_desc *k = find_key(sec, dot + 1);
    if (!k || k->type != T_ENUM || value < 0) return "?";
    for (int i = 0; k->choices[i]; i++)
        if (i == value) return k->choices[i];
    return "?";
}
