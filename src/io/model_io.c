/* model.h5 save / load (see model_io.h). */
#include "fesf/model_io.h"
#include "fesf/error.h"
#include "fesf/h5io.h"
#include "fesf/version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "PREFIX/params/layer1.0.conv1/weight" from "layer1.0.conv1.weight" */
static void tensor_path_in(const char *prefix, const fesf_tensor_info *t, char *buf, size_t size)
{
    const char *dot = strrchr(t->name, '.');
    snprintf(buf, size, "%s/%s/%.*s/%s", prefix, t->buffer ? "buffers" : "params", (int)(dot - t->name), t->name,
             dot + 1);
}

static void tensor_path(const fesf_tensor_info *t, char *buf, size_t size) { tensor_path_in("", t, buf, size); }

/* A float32 dataset `name` of the given shape under group `group` (chunked, with its checksums). */
static int write_f32(hid_t file, const char *group, const char *name, int rank, const hsize_t *dims,
                     const float *data)
{
    hid_t g = fesf_h5_group(file, group);
    if (g < 0) return -1;
    int rc = fesf_h5_write_array(g, name, H5T_IEEE_F32LE, rank, dims, H5T_NATIVE_FLOAT, data);
    return fesf_h5_close_after(rc, g);
}

static int write_tensor_in(hid_t file, const char *prefix, const fesf_tensor_info *t, const float *data)
{
    char path[200];
    tensor_path_in(prefix, t, path, sizeof path);
    char *slash = strrchr(path, '/');
    *slash = '\0'; /* path = group, slash + 1 = name */
    hsize_t dims[5];
    for (int i = 0; i < t->rank; i++) dims[i] = (hsize_t)t->dims[i];
    return write_f32(file, path, slash + 1, t->rank, dims, data);
}

static int write_tensor(hid_t file, const fesf_tensor_info *t, const float *data)
{
    return write_tensor_in(file, "", t, data);
}

/* Float dataset `path` of exactly rank/dims (1-D [n]: rank 1, dims NULL) into data. */
static int read_exact(hid_t f, const char *path, float *data, int rank, const int *dims, size_t n)
{
    fesf_h5_shape want = {rank, {(hsize_t)n}, FESF_H5_T_FLOAT};
    for (int i = 0; dims && i < rank && i < FESF_H5_MAX_RANK; i++) want.dims[i] = (hsize_t)dims[i];
    return fesf_h5_read(f, path, &want, H5T_NATIVE_FLOAT, data);
}

/* Write a model file into an open output; the caller commits. */
static int write_model(fesf_h5out *o, const fesf_tensor_list *m, const fesf_model_save_info *info)
{
    int rc = fesf_h5_attr_str(o->file, "arch", m->arch) ||
             fesf_h5_attr_i64(o->file, "round", info ? info->round : 0) ||
             fesf_h5_attr_str(o->file, "optimizer", info && info->optimizer ? info->optimizer : "none") ||
             fesf_h5_stamp(o->file, info ? info->stage : NULL);
    for (int i = 0; info && i < info->n_extra && !rc; i++)
        rc = fesf_h5_attr_f64(o->file, info->extra_names[i], info->extra_values[i]);
    for (int i = 0; i < m->n && !rc; i++) {
        const fesf_tensor_info *t = &m->t[i];
        rc = write_tensor(o->file, t, (t->buffer ? m->buffers : m->params) + t->off);
    }
    if (!rc && info && info->norm) {
        hsize_t c = (hsize_t)info->norm_channels;
        rc = write_f32(o->file, "/normalise", "mean", 1, &c, info->norm) ||
             write_f32(o->file, "/normalise", "std", 1, &c, info->norm + info->norm_channels);
    }
    if (!rc && info && info->optim_state) {
        hsize_t n = (hsize_t)info->optim_floats;
        rc = write_f32(o->file, "/optim", "state", 1, &n, info->optim_state);
    }
    return rc;
}

/* Commit o after its writes (rc 0), or give it up: PATH as it was, no .tmp.
 * The messages of the writes and the commit name the file. */
static int commit(fesf_h5out *o, const char *path, int rc)
{
    if (!rc) rc = fesf_h5out_commit(o);
    fesf_h5out_abort(o);
    if (rc && !strstr(fesf_errmsg(), path)) fesf_error("'%s': %s", path, fesf_errmsg()[0] ? fesf_errmsg() : "cannot write");
    return rc ? -1 : 0;
}

int fesf_model_save(const char *path, const fesf_tensor_list *m, const fesf_model_save_info *info)
{
    fesf_h5out o = FESF_H5OUT_INIT;
    if (fesf_h5out_create(&o, path, "fesf-model", FESF_MODEL_VERSION, info ? info->config_text : NULL)) return -1;
    return commit(&o, path, write_model(&o, m, info));
}

int fesf_ckpt_save(const char *path, const fesf_tensor_list *m, const float *optim_state, size_t optim_floats,
                   const fesf_ckpt *c, const char *config_text)
{
    fesf_h5out o = FESF_H5OUT_INIT;
    fesf_model_save_info info = {optim_state, optim_floats, NULL, c->round, config_text, NULL, 0, NULL, NULL,
                                 c->norm, c->norm_channels};
    if (fesf_h5out_create(&o, path, "fesf-model", FESF_MODEL_VERSION, config_text)) return -1;
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)c->config_hash);
    hsize_t nb = (hsize_t)c->best_floats, nr = (hsize_t)c->results_len;
    int rc = write_model(&o, m, &info) || fesf_h5_attr_i64(o.file, "repeat", c->repeat) ||
             fesf_h5_attr_f64(o.file, "best_score", c->best_score) ||
             fesf_h5_attr_i64(o.file, "best_round", c->best_round) || fesf_h5_attr_str(o.file, "config_hash", hash) ||
             write_f32(o.file, "/resume", "best", 1, &nb, c->best);
    if (!rc) rc = fesf_h5_write_array(o.file, "/resume/results", H5T_IEEE_F64LE, 1, &nr, H5T_NATIVE_DOUBLE, c->results);
    hsize_t ns = (hsize_t)c->n_sites;
    if (!rc && c->excluded)
        rc = fesf_h5_write_array(o.file, "/resume/excluded", H5T_STD_I64LE, 1, &ns, H5T_NATIVE_INT64, c->excluded);
    return commit(&o, path, rc);
}

/* /resume/excluded into excluded [n], or all -1 when the file has none. */
static int read_excluded(hid_t f, int64_t *excluded, size_t n)
{
    for (size_t i = 0; i < n; i++) excluded[i] = -1;
    if (H5Lexists(f, "/resume/excluded", H5P_DEFAULT) <= 0) return 0;
    fesf_h5_shape want = {1, {(hsize_t)n}, FESF_H5_T_INT};
    return fesf_h5_read(f, "/resume/excluded", &want, H5T_NATIVE_INT64, excluded);
}

int fesf_ckpt_read_excluded(const char *path, int64_t *excluded, size_t cap)
{
    hid_t f = fesf_h5_open(path, "fesf-model", FESF_MODEL_VERSION, 0), d = H5I_INVALID_HID;
    if (f < 0) return -1;
    int rc = 0;
    hsize_t dims[32]; /* H5S_MAX_RANK */
    if (H5Lexists(f, "/resume", H5P_DEFAULT) <= 0) {
        rc = fesf_error("'%s' is not a training checkpoint", path);
    } else if (H5Lexists(f, "/resume/excluded", H5P_DEFAULT) > 0) {
        d = H5Dopen2(f, "/resume/excluded", H5P_DEFAULT);
        if (d < 0 || fesf_h5_dims(d, dims) != 1 || dims[0] < 1 || dims[0] > cap)
            rc = fesf_error("'%s': /resume/excluded is not a list of at most %zu sites", path, cap);
        else if (!(rc = read_excluded(f, excluded, (size_t)dims[0])))
            rc = (int)dims[0];
    }
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return rc;
}

int fesf_ckpt_load(const char *path, const fesf_tensor_list *m, float *optim_state, size_t optim_floats, fesf_ckpt *c)
{
    char hash[32], want[32];
    if (fesf_model_load(path, m, optim_state, optim_floats, &c->round)) return -1;
    hid_t f = fesf_h5_open(path, "fesf-model", FESF_MODEL_VERSION, 0);
    if (f < 0) return -1;
    snprintf(want, sizeof want, "%016llx", (unsigned long long)c->config_hash);
    int rc = -1;
    if (H5Aexists(f, "config_hash") <= 0) {
        fesf_error("'%s' is not a training checkpoint", path);
        goto done;
    }
    if (fesf_h5_attr_get_str(f, "config_hash", hash, sizeof hash) || fesf_h5_attr_get_i64(f, "repeat", &c->repeat) ||
        fesf_h5_attr_get_i64(f, "best_round", &c->best_round))
        goto done;
    if (c->repeat < 0 || c->round < 0 || c->best_round < 0) {
        fesf_error("'%s': repeat %lld, round %lld, best_round %lld are not a checkpoint's", path, (long long)c->repeat,
                   (long long)c->round, (long long)c->best_round);
        goto done;
    }
    if (strcmp(hash, want)) {
        fesf_error("'%s' was made with another configuration (hash %s, this one %s); only train.rounds, "
                   "run.checkpoint_every, run.threads and run.log may change on --resume", path, hash, want);
        goto done;
    }
    if (fesf_h5_attr_get_f64(f, "best_score", &c->best_score) ||
        read_exact(f, "/resume/best", c->best, 1, NULL, c->best_floats))
        goto done;
    fesf_h5_shape results = {1, {(hsize_t)c->results_len}, FESF_H5_T_FLOAT}; /* the caller's buffer, not the file's size */
    rc = fesf_h5_read(f, "/resume/results", &results, H5T_NATIVE_DOUBLE, c->results);
    if (!rc && c->excluded) rc = read_excluded(f, c->excluded, c->n_sites);
done:
    H5Fclose(f);
    return rc;
}

int fesf_model_load(const char *path, const fesf_tensor_list *m, float *optim_state, size_t optim_floats, int64_t *round)
{
    char arch[256];
    hid_t f = fesf_h5_open(path, "fesf-model", FESF_MODEL_VERSION, 0);
    if (f < 0) return -1;
    int rc = -1;
    if (fesf_h5_attr_get_str(f, "arch", arch, sizeof arch)) goto done;
    if (strcmp(arch, m->arch)) {
        fesf_error("'%s' holds a model '%s', not '%s'", path, arch, m->arch);
        goto done;
    }
    for (int i = 0; i < m->n; i++) {
        const fesf_tensor_info *t = &m->t[i];
        char p[160];
        tensor_path(t, p, sizeof p);
        float *base = t->buffer ? m->buffers : m->params;
        if (read_exact(f, p, base + t->off, t->rank, t->dims, t->len)) goto done;
    }
    if (optim_state && H5Lexists(f, "/optim", H5P_DEFAULT) > 0 &&
        read_exact(f, "/optim/state", optim_state, 1, NULL, optim_floats))
        goto done;
    if (round && fesf_h5_attr_get_i64(f, "round", round)) goto done;
    rc = 0;
done:
    H5Fclose(f);
    return rc;
}

/* /normalise/{mean,std}, [c] each, when present. */
static int read_norm(hid_t f, const char *path, fesf_model_meta *out)
{
    if (H5Lexists(f, "/normalise", H5P_DEFAULT) <= 0) return 0;
    hid_t d = H5Dopen2(f, "/normalise/mean", H5P_DEFAULT);
    hsize_t dims[32]; /* H5S_MAX_RANK */
    int rank = d < 0 ? -1 : fesf_h5_dims(d, dims);
    if (d >= 0) H5Dclose(d);
    if (rank != 1 || dims[0] < 1 || dims[0] > FESF_MODEL_MAX_CHANNELS)
        return fesf_error("'%s': /normalise/mean is not a vector of 1..%d channels", path, FESF_MODEL_MAX_CHANNELS);
    int c = (int)dims[0];
    if (read_exact(f, "/normalise/mean", out->mean, 1, NULL, (size_t)c) ||
        read_exact(f, "/normalise/std", out->std, 1, NULL, (size_t)c))
        return -1;
    for (int i = 0; i < c; i++)
        if (!(out->std[i] > 0) || !isfinite(out->mean[i]))
            return fesf_error("'%s': /normalise holds mean %g, std %g for channel %d", path, out->mean[i],
                              out->std[i], i);
    out->norm_channels = c;
    return 0;
}

int fesf_model_read_meta(const char *path, fesf_model_meta *out)
{
    enum { CONFIG_MAX = 1 << 16 };
    memset(out, 0, sizeof *out);
    hid_t f = fesf_h5_open(path, "fesf-model", FESF_MODEL_VERSION, 0);
    if (f < 0) return -1;
    int rc = -1;
    if (!(out->config_text = malloc(CONFIG_MAX))) {
        fesf_error("out of memory");
        goto done;
    }
    if (fesf_h5_attr_get_str(f, "arch", out->arch, sizeof out->arch) ||
        fesf_h5_attr_get_i64(f, "round", &out->round) ||
        fesf_h5_attr_get_str(f, "config", out->config_text, CONFIG_MAX) || read_norm(f, path, out))
        goto done;
    rc = 0;
done:
    H5Fclose(f);
    if (rc) fesf_model_meta_free(out);
    return rc;
}

void fesf_model_meta_free(fesf_model_meta *m)
{
    free(m->config_text);
    m->config_text = NULL;
}

int fesf_model_save_gan(const char *path, const fesf_tensor_list *g, const fesf_tensor_list *d,
                        const fesf_model_save_info *info)
{
    fesf_h5out o = FESF_H5OUT_INIT;
    if (fesf_h5out_create(&o, path, "fesf-model", FESF_MODEL_VERSION, info ? info->config_text : NULL)) return -1;
    int rc = write_model(&o, g, info) || fesf_h5_attr_str(o.file, "arch_d", d->arch);
    for (int i = 0; i < d->n && !rc; i++) {
        const fesf_tensor_info *t = &d->t[i];
        rc = write_tensor_in(o.file, "/D", t, (t->buffer ? d->buffers : d->params) + t->off);
    }
    return commit(&o, path, rc);
}

/* ---- a site's own training state ---------------------------------------------- */

int fesf_site_state_save(const char *path, const float *v, size_t n, int64_t repeat, int64_t round, uint64_t hash)
{
    fesf_h5out o = FESF_H5OUT_INIT;
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
    hsize_t dims = (hsize_t)n;
    if (fesf_h5out_create(&o, path, "fesf-site-state", FESF_MODEL_VERSION, NULL)) return -1;
    int rc = fesf_h5_attr_i64(o.file, "repeat", repeat) || fesf_h5_attr_i64(o.file, "round", round) ||
             fesf_h5_attr_str(o.file, "config_hash", hex) || write_f32(o.file, "/", "state", 1, &dims, v);
    return commit(&o, path, rc);
}

int fesf_site_state_load(const char *path, float *v, size_t n, int64_t repeat, int64_t round, uint64_t hash)
{
    char hex[32], want[32];
    int64_t rep = -1, r = -1;
    snprintf(want, sizeof want, "%016llx", (unsigned long long)hash);
    hid_t f = fesf_h5_open(path, "fesf-site-state", FESF_MODEL_VERSION, 0);
    if (f < 0) return -1;
    int rc = fesf_h5_attr_get_i64(f, "repeat", &rep) || fesf_h5_attr_get_i64(f, "round", &r) ||
             fesf_h5_attr_get_str(f, "config_hash", hex, sizeof hex) ? -1 : 0;
    if (!rc && (rep != repeat || r != round || strcmp(hex, want)))
        rc = fesf_error("'%s' holds the state of repeat %lld round %lld (config %s), not of repeat %lld round %lld "
                        "(config %s) that the training resumes from", path, (long long)rep + 1, (long long)r, hex,
                        (long long)repeat + 1, (long long)round, want);
    if (!rc) rc = read_exact(f, "/state", v, 1, NULL, n);
    H5Fclose(f);
    return rc;
}
