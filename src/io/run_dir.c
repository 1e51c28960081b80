/* The run directory's layout, stage stamps and stages.ini (see run_dir.h). */
#include "fesf/run_dir.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"
#include "fesf/h5io.h"
#include "fesf/log.h"
#include "fesf/version.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *fesf_run_input_name(int input) { return fesf_config_enum_name("train.input", input); }

void fesf_run_file(char *buf, const char *dir, const char *name)
{
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/%s", FESF_PATH_MAX, dir, name);
}

void fesf_run_shard_path(char *buf, const char *out, int site)
{
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/site-%03d.h5", FESF_PATH_MAX, out, site);
}

void fesf_run_audit_model_path(char *buf, const char *out, const char *target)
{
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/audit-%s.h5", FESF_PATH_MAX, out, target);
}

int fesf_run_figure_path(char *buf, const char *out, const char *name)
{
    char dir[FESF_RUN_PATH_MAX];
    fesf_run_file(dir, out, FESF_RUN_FIGURES);
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/%s", FESF_PATH_MAX, dir, name);
    return fesf_mkdir_p(dir);
}

/* out/site-NNN: site NNN's private folder. */
static void site_dir(char buf[FESF_RUN_PATH_MAX], const char *out, int site)
{
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/site-%03d", FESF_PATH_MAX, out, site);
}

int fesf_run_site_state_path(char *buf, const char *out, int site, long index)
{
    char sdir[FESF_RUN_PATH_MAX];
    site_dir(sdir, out, site);
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/train-state-%04ld.h5", FESF_PATH_MAX, sdir, index);
    return fesf_mkdir_p(sdir);
}

int fesf_run_site_figure_path(char *buf, const char *out, int site, const char *name)
{
    char dir[FESF_RUN_PATH_MAX], sdir[FESF_RUN_PATH_MAX];
    site_dir(sdir, out, site);
    fesf_run_file(dir, sdir, FESF_RUN_FIGURES);
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/%s", FESF_PATH_MAX, dir, name);
    return fesf_mkdir_p(dir);
}

static int read_key(const char *path, uint64_t *key)
{
    FILE *f = fopen(path, "r");
    char line[64];
    int ok = f && fgets(line, sizeof line, f) && strlen(line) >= 16 && sscanf(line, "%16" SCNx64, key) == 1;
    if (f) fclose(f);
    return ok ? 0 : fesf_error("'%s' is not a site key (16 hex digits)", path);
}

static int make_key(const char *path, uint64_t *key)
{
    if (getrandom(key, sizeof *key, 0) != (ssize_t)sizeof *key) return fesf_error("getrandom: %s", strerror(errno));
    FILE *f = fesf_atomic_open(path);
    if (!f) return -1;
    fprintf(f, "%016" PRIx64 "\n", *key);
    if (fesf_atomic_commit(f, path)) return -1;
    fesf_info("site key made: %s (keep it: the keyed IHM options depend on it)", path);
    return 0;
}

int fesf_run_site_key(const char *out, int site, int mode, uint64_t seed, uint64_t *key)
{
    if (mode == FESF_KEY_SEED) { /* FNV-1a over (seed, site): public, like the seed */
        uint64_t h = 1469598103934665603ull, v[2] = {seed, (uint64_t)site};
        const unsigned char *b = (const unsigned char *)v;
        for (size_t i = 0; i < sizeof v; i++) h = (h ^ b[i]) * 1099511628211ull;
        *key = h;
        return 0;
    }
    char dir[FESF_RUN_PATH_MAX], path[FESF_RUN_PATH_MAX];
    site_dir(dir, out, site);
    fesf_run_file(path, dir, FESF_RUN_SITE_KEY);
    if (access(path, F_OK) == 0) return read_key(path, key);
    return fesf_mkdir_p(dir) || make_key(path, key);
}

void fesf_run_hosts_path(char *buf, const char *out) { fesf_run_file(buf, out, FESF_RUN_HOSTS); }

void fesf_run_model_path(char *buf, const char *dir, int repeat)
{
    if (repeat == 0) fesf_run_file(buf, dir, "model.h5");
    else snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/model-r%d.h5", FESF_PATH_MAX, dir, repeat);
}

void fesf_run_ckpt_path(char *buf, const char *dir, long index)
{
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/ckpt-%04ld.h5", FESF_PATH_MAX, dir, index);
}

static int desc_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* The numbers N of dir's files PREFIX-N.h5 (prefix "ckpt-"), highest first. */
static int numbered_list(const char *dir, const char *prefix, long **out)
{
    DIR *d = opendir(dir);
    long *v = NULL;
    int n = 0, cap = 0;
    size_t pl = strlen(prefix);
    *out = NULL;
    for (struct dirent *e; d && (e = readdir(d));) {
        long k = -1;
        int len = 0;
        if (strncmp(e->d_name, prefix, pl) || e->d_name[pl] < '0' || e->d_name[pl] > '9' ||
            sscanf(e->d_name + pl, "%ld.h5%n", &k, &len) != 1 || len != (int)strlen(e->d_name + pl) || k < 0)
            continue;
        if (n == cap) {
            long *g = realloc(v, sizeof *v * (size_t)(cap = cap ? 2 * cap : 16));
            if (!g) {
                free(v), closedir(d);
                return fesf_error("out of memory");
            }
            v = g;
        }
        v[n++] = k;
    }
    if (d) closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, desc_long);
    *out = v;
    return n;
}

int fesf_run_ckpt_list(const char *dir, long **out) { return numbered_list(dir, "ckpt-", out); }

int fesf_run_site_state_list(const char *out, int site, long **idx)
{
    char sdir[FESF_RUN_PATH_MAX];
    site_dir(sdir, out, site);
    return numbered_list(sdir, "train-state-", idx);
}

int fesf_run_highest_shard(const char *dir)
{
    DIR *d = opendir(dir);
    int most = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        int k = 0, len = 0;
        if (sscanf(e->d_name, "site-%d.h5%n", &k, &len) == 1 && len == (int)strlen(e->d_name) && k > most) most = k;
    }
    if (d) closedir(d);
    return most;
}

void fesf_run_iqem_path(char *buf, const char *out, int site)
{
    if (site) snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/iqem-site-%03d.h5", FESF_PATH_MAX, out, site);
    else fesf_run_file(buf, out, FESF_RUN_IQEM);
}

void fesf_run_train_dir(char *buf, const char *out, int input)
{
    snprintf(buf, FESF_RUN_PATH_MAX, "%.*s/train-%s", FESF_PATH_MAX, out, fesf_run_input_name(input));
}

int fesf_stamp_text(FILE *f, const fesf_stage *s, int html)
{
    int w = html ? fprintf(f, "<!-- fesf %s config_hash=%s -->\n", s->kind, s->hex)
                 : fprintf(f, "# fesf %s config_hash=%s\n", s->kind, s->hex);
    return w < 0 ? fesf_error("cannot write the stamp of stage %s", s->name) : 0;
}

/* ---- checking one output --------------------------------------------------------- */

static const char *base(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* A text output: its first line is the stamp. 1 current, 0 stale. */
static int text_current(const char *path, const fesf_stage *s, char *why, size_t size)
{
    char line[256], want[128];
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(why, size, "%s: missing", base(path)), 0;
    snprintf(want, sizeof want, "fesf %s config_hash=%s", s->kind, s->hex);
    int ok = fgets(line, sizeof line, f) && (!strncmp(line, "# ", 2) || !strncmp(line, "<!-- ", 5)) &&
             !strncmp(line + (line[0] == '#' ? 2 : 5), want, strlen(want));
    fclose(f);
    if (!ok) snprintf(why, size, "%s: made by another config", base(path));
    return ok;
}

/* An HDF5 output: object `obj` ("/" or a group) carries the stamp. */
static int h5_current(const char *path, const char *format, int version, const char *obj, const fesf_stage *s,
                      char *why, size_t size)
{
    if (access(path, F_OK)) return snprintf(why, size, "%s: missing", base(path)), 0;
    char hash[32] = "";
    hid_t f = fesf_h5_open(path, format, version, 0), g = H5I_INVALID_HID;
    int ok = 0;
    if (f < 0) {
        snprintf(why, size, "%s: %s", base(path), fesf_errmsg());
        fesf_error_clear();
        return 0;
    }
    if (strcmp(obj, "/") && H5Lexists(f, obj, H5P_DEFAULT) <= 0) {
        snprintf(why, size, "%s: no %s", base(path), obj);
    } else if ((g = H5Oopen(f, obj, H5P_DEFAULT)) < 0 || fesf_h5_attr_get_str(g, "stage_hash", hash, sizeof hash)) {
        snprintf(why, size, "%s %s: not stamped", base(path), obj);
    } else if (strcmp(hash, s->hex)) {
        snprintf(why, size, "%s %s: made by another config", base(path), obj);
    } else {
        ok = 1;
    }
    if (g >= 0) H5Oclose(g);
    H5Fclose(f);
    fesf_error_clear();
    return ok;
}

/* ---- the outputs of each stage ------------------------------------------------------ */

static int shared_current(const fesf_config *cfg, const fesf_stage *s, char *why, size_t size)
{
    char p[FESF_RUN_PATH_MAX], dir[FESF_RUN_PATH_MAX];
    const char *out = cfg->run.out;
    switch (s->id) {
    case FESF_STAGE_PREPARE:
        fesf_run_hosts_path(p, out);
        return h5_current(p, "fesf-hosts", FESF_HOSTS_VERSION, "/", s, why, size);
    case FESF_STAGE_ENHANCE:
        fesf_run_file(p, out, FESF_RUN_QUALITY);
        if (!text_current(p, s, why, size)) return 0;
        if (cfg->iqem.mode != FESF_IQEM_FEDERATED) return 1;
        fesf_run_iqem_path(p, out, 0);
        return h5_current(p, "fesf-model", FESF_MODEL_VERSION, "/", s, why, size);
    case FESF_STAGE_TRAIN:
        fesf_run_train_dir(dir, out, cfg->train.input);
        fesf_run_file(p, dir, FESF_RUN_SUMMARY);
        if (!text_current(p, s, why, size)) return 0;
        fesf_run_model_path(p, dir, 0);
        return h5_current(p, "fesf-model", FESF_MODEL_VERSION, "/", s, why, size);
    case FESF_STAGE_AUDIT: {
        int sur = cfg->iqem.enabled, syn = !sur || cfg->audit.synthetic;
        fesf_run_file(p, out, FESF_RUN_AUDIT_TSV);
        if (!text_current(p, s, why, size)) return 0;
        fesf_run_file(p, out, FESF_RUN_AUDIT_MD);
        if (!text_current(p, s, why, size)) return 0;
        for (int t = 0; t < 2; t++) {
            if (!(t ? sur : syn)) continue;
            fesf_run_audit_model_path(p, out, t ? "surrogate" : "synthetic");
            if (!h5_current(p, "fesf-model", FESF_MODEL_VERSION, "/", s, why, size)) return 0;
        }
        return 1;
    }
    default:
        return 1; /* hide writes only into the shards */
    }
}

static int site_current(const fesf_config *cfg, const fesf_stage *s, int site, char *why, size_t size)
{
    static const char *const group[] = {"/plain", "/synthetic", "/surrogate"};
    char p[FESF_RUN_PATH_MAX];
    if (s->id > FESF_STAGE_ENHANCE) return 1; /* training and audit leave nothing in the site's files */
    fesf_run_shard_path(p, cfg->run.out, site);
    if (!h5_current(p, "fesf-shard", FESF_SHARD_VERSION, group[s->id], s, why, size)) return 0;
    if (s->id != FESF_STAGE_ENHANCE || cfg->iqem.mode != FESF_IQEM_LOCAL) return 1;
    fesf_run_iqem_path(p, cfg->run.out, site);
    return h5_current(p, "fesf-model", FESF_MODEL_VERSION, "/", s, why, size);
}

int fesf_run_stage_current(const fesf_config *cfg, const fesf_stage *s, int site, char *why, size_t size)
{
    why[0] = '\0';
    return site ? site_current(cfg, s, site, why, size) : shared_current(cfg, s, why, size);
}

/* ---- stages.ini ---------------------------------------------------------------------- */

#define MAX_RECORDS 16

typedef struct {
    int n;
    char name[MAX_RECORDS][32];
    char keys[MAX_RECORDS][FESF_STAGE_KEYS_MAX];
} records;

static int record_line(void *user, const char *section, const char *key, const char *value)
{
    records *r = user;
    int i = 0;
    while (i < r->n && strcmp(r->name[i], section)) i++;
    if (i == r->n) {
        if (r->n == MAX_RECORDS) return 0;
        snprintf(r->name[r->n++], sizeof r->name[0], "%s", section);
    }
    size_t len = strlen(r->keys[i]);
    snprintf(r->keys[i] + len, sizeof r->keys[i] - len, "%s = %s\n", key, value);
    return 0;
}

static records *records_read(const char *out)
{
    char path[FESF_RUN_PATH_MAX];
    records *r = calloc(1, sizeof *r);
    fesf_run_file(path, out, FESF_RUN_STAGES);
    if (r && access(path, F_OK) == 0 && fesf_ini_parse(path, "stage record", record_line, r) != 0) {
        r->n = 0; /* unreadable (or a line libinih would cut): forget it */
        fesf_error_clear();
    }
    return r;
}

int fesf_run_record_stage(const char *out, const fesf_stage *s)
{
    char path[FESF_RUN_PATH_MAX];
    records *r = records_read(out);
    if (!r) return fesf_error("out of memory");
    int i = 0;
    while (i < r->n && strcmp(r->name[i], s->name)) i++;
    if (i == r->n && r->n < MAX_RECORDS) r->n++;
    if (i < MAX_RECORDS) {
        snprintf(r->name[i], sizeof r->name[i], "%s", s->name);
        snprintf(r->keys[i], sizeof r->keys[i], "%s", s->keys);
    }
    fesf_run_file(path, out, FESF_RUN_STAGES);
    FILE *f = fesf_atomic_open(path);
    if (f) {
        fprintf(f, "# fesf stages: the keys each finished stage of this run directory was made with\n"
                   "# (fesf run names the key that changed from these; validity is the outputs' stamps)\n");
        for (int k = 0; k < r->n; k++) fprintf(f, "\n[%s]\n%s", r->name[k], r->keys[k]);
    }
    free(r);
    return f ? fesf_atomic_commit(f, path) : -1;
}

int fesf_run_recorded_keys(const char *out, const char *name, char *old, size_t size)
{
    records *r = records_read(out);
    int rc = -1;
    old[0] = '\0';
    for (int i = 0; r && i < r->n; i++)
        if (!strcmp(r->name[i], name)) snprintf(old, size, "%s", r->keys[i]), rc = 0;
    free(r);
    return rc;
}

int fesf_run_remove_shards_from(const char *out, int first)
{
    char p[FESF_RUN_PATH_MAX];
    for (int s = first;; s++) {
        fesf_run_shard_path(p, out, s);
        if (access(p, F_OK)) return 0;
        if (remove(p)) return fesf_error("cannot remove '%s'", p);
    }
}
