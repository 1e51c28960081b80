/* Table-driven configuration: the table (config_keys.c) gives each key's
 * type, storage, default (as text, parsed by the same code as user values),
 * range and meaning. Parsing goes through libinih (fesf_ini_parse, ini.c: whole lines
 * only), so that every error names its line. */
#include "config_internal.h"
#include "fesf/config.h"
#include "fesf/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS fesf_config_nkeys /* the table: config_keys.c */

static const key_desc *find_key(const char *section, const char *name)
{
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(fesf_config_keys[i].section, section) && !strcmp(fesf_config_keys[i].name, name))
            return &fesf_config_keys[i];
    return NULL;
}

static int known_section(const char *section)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(fesf_config_keys[i].section, section) == 0) return 1;
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
        if (set_value(cfg, &fesf_config_keys[i], fesf_config_keys[i].def)) abort(); /* a bad default is a bug */
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
    for (int i = 0; i < 3; i++) {
        static const char *const pre[] = {"png:", "nifti:", "dicom:"};
        size_t n = strlen(pre[i]);
        if (!strncmp(src, pre[i], n) && strchr(src + n, ':') && strchr(src + n, ':')[1]) return 0;
    }
    return fesf_error("data.source = '%s': expected phantom | npz:PATH | png:DIR:CSV | nifti:DIR:CSV | dicom:DIR:CSV",
                      src);
}

int fesf_config_clinical_source(const fesf_config *cfg)
{
    return !strncmp(cfg->data.source, "nifti:", 6) || !strncmp(cfg->data.source, "dicom:", 6);
}

/* data.size: one phantom size, or a volume size (S or D,H,W); data.window: lo < hi. */
static int check_size(const fesf_config *cfg)
{
    const fesf_list *z = &cfg->data.size, *win = &cfg->data.window;
    int phantom = !strcmp(cfg->data.source, "phantom");
    if (phantom && (z->n > 1 || (z->n == 1 && (z->v[0] < 28 || z->v[0] > 256))))
        return fesf_error("data.size: the phantom's size is one number in [28, 256]");
    if (z->n == 2 || z->n > 3) return fesf_error("data.size: expected S or D,H,W (volumes), got %d numbers", z->n);
    for (int i = 0; i < z->n; i++)
        if (z->v[i] != (int)z->v[i]) return fesf_error("data.size: %g is not an integer", z->v[i]);
    if (win->n && (win->n != 2 || !(win->v[0] < win->v[1])))
        return fesf_error("data.window: expected lo,hi with lo < hi");
    int volumes = fesf_config_clinical_source(cfg);
    if (win->n && !volumes)
        return fesf_error("data.window: an intensity window is for clinical volumes (data.source = nifti:DIR:CSV | "
                          "dicom:DIR:CSV), not '%s'", cfg->data.source);
    if (z->n == 3 && !volumes && strncmp(cfg->data.source, "npz:", 4))
        return fesf_error("data.size = D,H,W resamples volumes (data.source = npz:PATH | nifti:DIR:CSV | dicom:DIR:CSV), "
                          "not '%s'", cfg->data.source);
    return 0;
}

int fesf_config_phantom_size(const fesf_config *cfg)
{
    return cfg->data.size.n ? (int)cfg->data.size.v[0] : 64;
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
    if (check_source(cfg->data.source) || check_size(cfg) || check_hosts(cfg) || check_dp(cfg)) return -1;
    if (cfg->train.scaffold && (cfg->train.algo != FESF_ALGO_FEDAVG || fesf_config_dp(cfg)))
        return fesf_error("train.scaffold corrects FedAvg's local steps: it needs train.algo = fedavg and no DP-SGD");
    if (cfg->train.fedbn && (cfg->train.algo != FESF_ALGO_FEDAVG || fesf_config_instance_norm(cfg)))
        return fesf_error("train.fedbn keeps FedAvg's batch norm at the sites: it needs train.algo = fedavg and batch "
                          "norm (no DP-SGD, model.norm = batch or auto)");
    if (cfg->train.server_optimizer != FESF_SOPT_NONE && (cfg->train.algo != FESF_ALGO_FEDAVG || cfg->train.server_momentum > 0))
        return fesf_error("train.server_optimizer = %s steps FedAvg's deltas: it needs train.algo = fedavg and "
                          "train.server_momentum = 0", fesf_config_enum_name("train.server_optimizer",
                                                                          cfg->train.server_optimizer));
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
        if (strcmp(sec, fesf_config_keys[i].section)) {
            sec = fesf_config_keys[i].section;
            APPEND("%s[%s]\n", i ? "\n" : "", sec);
        }
        value_text(cfg, &fesf_config_keys[i], v, sizeof v);
        APPEND("%s = %s\n", fesf_config_keys[i].name, v);
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
            if (key_matches(&fesf_config_keys[i], patterns[p])) take = 1;
        if (!take) continue;
        char v[FESF_PATH_MAX + 32];
        value_text(cfg, &fesf_config_keys[i], v, sizeof v);
        APPEND("%s.%s = %s\n", fesf_config_keys[i].section, fesf_config_keys[i].name, v);
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
        range_text(&fesf_config_keys[i], allowed, sizeof allowed);
        APPEND("%s.%s = %s\n    %s; %s\n", fesf_config_keys[i].section, fesf_config_keys[i].name,
               fesf_config_keys[i].def[0] ? fesf_config_keys[i].def : "(empty)", fesf_config_keys[i].doc, allowed);
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
