/* Stage identities: which config keys and upstream stages each stage's
 * outputs depend on (see stage.h). This table is the one place that says so. */
#include "fesf/stage.h"
#include "fesf/error.h"

#include <stdio.h>
#include <string.h>

/* Keys per stage. run.threads, run.log and run.out never change an output
 * (results are bit-identical whatever the threads); [sweep] only chooses
 * points, each with its own folder. */
static const char *const prepare_keys[] = {"data.*", NULL};
static const char *const hide_keys[] = {"ihm.*", NULL};
static const char *const enhance_keys[] = {"iqem.*", "run.seed", NULL};
static const char *const train_keys[] = {"model.*", "train.*", "run.seed", "run.repeats", "run.checkpoint_every", NULL};
static const char *const audit_keys[] = {"audit.*", "iqem.enabled", "run.seed", NULL};

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Append "upstream.<name> = <hex>" of stage `id` to out->keys at *n. */
static int add_upstream(const fesf_config *cfg, fesf_stage_id id, fesf_stage *out, size_t *n)
{
    fesf_stage up;
    if (fesf_stage_make(cfg, id, &up)) return -1;
    int w = snprintf(out->keys + *n, sizeof out->keys - *n, "upstream.%s = %s\n", up.name, up.hex);
    if (w < 0 || (size_t)w >= sizeof out->keys - *n) return fesf_error("stage %s: too many keys", out->name);
    *n += (size_t)w;
    return 0;
}

int fesf_stage_make(const fesf_config *cfg, fesf_stage_id id, fesf_stage *out)
{
    static const char *const kinds[] = {"prepare", "hide", "enhance", "train", "audit"};
    const char *const *keys = NULL;
    size_t n = 0;
    int rc = 0;
    memset(out, 0, sizeof *out);
    out->id = id;
    snprintf(out->kind, sizeof out->kind, "%s", kinds[id]);
    snprintf(out->name, sizeof out->name, "%s", kinds[id]);
    switch (id) {
    case FESF_STAGE_PREPARE: keys = prepare_keys; break;
    case FESF_STAGE_HIDE: keys = hide_keys, rc = add_upstream(cfg, FESF_STAGE_PREPARE, out, &n); break;
    case FESF_STAGE_ENHANCE: keys = enhance_keys, rc = add_upstream(cfg, FESF_STAGE_HIDE, out, &n); break;
    case FESF_STAGE_TRAIN: {
        int in = cfg->train.input;
        snprintf(out->name, sizeof out->name, "train-%s", fesf_config_enum_name("train.input", in));
        keys = train_keys;
        rc = add_upstream(cfg, in == FESF_INPUT_PLAIN ? FESF_STAGE_PREPARE
                               : in == FESF_INPUT_SYNTHETIC ? FESF_STAGE_HIDE : FESF_STAGE_ENHANCE, out, &n);
        break;
    }
    case FESF_STAGE_AUDIT:
        keys = audit_keys, rc = add_upstream(cfg, FESF_STAGE_HIDE, out, &n);
        if (!rc && cfg->iqem.enabled) rc = add_upstream(cfg, FESF_STAGE_ENHANCE, out, &n);
        break;
    }
    if (rc) return -1;
    int w = fesf_config_keys_text(cfg, keys, out->keys + n, sizeof out->keys - n);
    if (w < 0 || (size_t)w >= sizeof out->keys - n) return fesf_error("stage %s: too many keys", out->name);
    out->hash = fnv(fnv(1469598103934665603ull, out->name), out->keys);
    snprintf(out->hex, sizeof out->hex, "%016llx", (unsigned long long)out->hash);
    return 0;
}

/* The value of `key` (the text before " = ") in a keys text, into v; 0 if absent. */
static int lookup(const char *keys, const char *key, size_t klen, char *v, size_t size)
{
    for (const char *l = keys; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, key, klen) || strncmp(l + klen, " = ", 3)) continue;
        const char *s = l + klen + 3, *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        snprintf(v, size, "%.*s", (int)len, s);
        return 1;
    }
    return 0;
}

void fesf_stage_diff(const char *old_keys, const fesf_stage *now, char *why, size_t size)
{
    size_t n = 0;
    why[0] = '\0';
    for (const char *l = now->keys; *l && n < size;) {
        const char *eq = strstr(l, " = "), *e = strchr(l, '\n');
        if (!eq || !e) break;
        size_t klen = (size_t)(eq - l);
        char was[FESF_PATH_MAX + 32], is[FESF_PATH_MAX + 32];
        snprintf(is, sizeof is, "%.*s", (int)(e - eq - 3), eq + 3);
        int had = lookup(old_keys, l, klen, was, sizeof was), w = 0;
        const char *sep = n ? ", " : "";
        if (!had) w = snprintf(why + n, size - n, "%s%.*s: new key", sep, (int)klen, l);
        else if (strcmp(was, is) && !strncmp(l, "upstream.", 9))
            w = snprintf(why + n, size - n, "%supstream %.*s changed", sep, (int)(klen - 9), l + 9);
        else if (strcmp(was, is)) w = snprintf(why + n, size - n, "%s%.*s: %s -> %s", sep, (int)klen, l, was, is);
        n += w > 0 ? (size_t)w : 0;
        l = e + 1;
    }
}
