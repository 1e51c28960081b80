/* surrogates.h5 writer and reader (see surrogates.h). */
#include "fesf/surrogates.h"
#include "fesf/error.h"
#include "fesf/h5io.h"

#include <stdlib.h>
#include <string.h>

#define SURR_FORMAT "fesf-surrogates"
#define SURR_VERSION 1

struct fesf_surr_out {
    fesf_h5out o;
    hid_t images, labels;
    int64_t n;
    char *names; /* [n][FESF_SURR_NAME], written at commit */
};

struct fesf_surr_in {
    hid_t file, images, labels, names;
    fesf_surr_info info;
    hid_t str; /* the names' memory type */
};

static hid_t name_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && H5Tset_size(t, FESF_SURR_NAME) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

int fesf_surr_create(fesf_surr_out **out, const char *path, int64_t n, int c, int h, int w, const char *arch,
                     const char *config_text)
{
    fesf_surr_out *o = calloc(1, sizeof *o);
    *out = NULL;
    if (!o || !(o->names = calloc((size_t)(n ? n : 1), FESF_SURR_NAME))) {
        free(o);
        return fesf_error("out of memory");
    }
    o->o = (fesf_h5out)FESF_H5OUT_INIT;
    o->images = o->labels = H5I_INVALID_HID;
    o->n = n;
    if (fesf_h5out_create(&o->o, path, SURR_FORMAT, SURR_VERSION, config_text) ||
        fesf_h5_attr_str(o->o.file, "arch", arch) ||
        (o->images = fesf_h5_create_images(o->o.file, "images", FESF_F32, n, c, 1, h, w)) < 0 ||
        (o->labels = fesf_h5_create_labels(o->o.file, "labels", n)) < 0) {
        fesf_surr_abort(o);
        return -1;
    }
    *out = o;
    return 0;
}

int fesf_surr_write(fesf_surr_out *o, int64_t start, int count, const float *img, const int32_t *labels,
                    const char *names)
{
    if (start < 0 || count < 0 || start + count > o->n) return fesf_error("surrogates: rows out of range");
    memcpy(o->names + (size_t)start * FESF_SURR_NAME, names, (size_t)count * FESF_SURR_NAME);
    if (fesf_h5_write_rows(o->images, start, count, H5T_NATIVE_FLOAT, img) ||
        fesf_h5_write_rows(o->labels, start, count, H5T_NATIVE_INT32, labels))
        return -1;
    return 0;
}

int fesf_surr_commit(fesf_surr_out *o)
{
    hsize_t n = (hsize_t)o->n;
    hid_t t = name_type();
    int rc = t < 0 || fesf_h5_close(o->images) || fesf_h5_close(o->labels) ? -1 : 0;
    o->images = o->labels = H5I_INVALID_HID;
    if (!rc) rc = fesf_h5_write_array(o->o.file, "names", t, 1, &n, t, o->names);
    if (t >= 0) H5Tclose(t);
    if (!rc) rc = fesf_h5out_commit(&o->o);
    fesf_surr_abort(o);
    return rc ? -1 : 0;
}

void fesf_surr_abort(fesf_surr_out *o)
{
    if (!o) return;
    if (o->images >= 0) H5Dclose(o->images);
    if (o->labels >= 0) H5Dclose(o->labels);
    fesf_h5out_abort(&o->o);
    free(o->names);
    free(o);
}

/* ---- reading ------------------------------------------------------------- */

static int open_datasets(fesf_surr_in *in, const char *path)
{
    static const char *const names[3] = {"images", "labels", "names"};
    hid_t *ids[3] = {&in->images, &in->labels, &in->names};
    for (int k = 0; k < 3; k++)
        if ((*ids[k] = H5Dopen2(in->file, names[k], H5P_DEFAULT)) < 0)
            return fesf_error("'%s': no dataset '/%s'", path, names[k]);
    hsize_t d[FESF_H5_MAX_RANK];
    fesf_h5_shape img = {4, {FESF_H5_ANY, FESF_H5_ANY, FESF_H5_ANY, FESF_H5_ANY}, FESF_H5_T_F32};
    if (fesf_h5_check(in->images, &img, d)) return -1;
    if (!fesf_h5_image_dims_ok(d + 1)) return fesf_error("'%s': /images has an implausible image shape", path);
    fesf_h5_shape lab = {1, {d[0]}, FESF_H5_T_INT}, nam = {1, {d[0]}, FESF_H5_T_STR};
    if (fesf_h5_check(in->labels, &lab, NULL) || fesf_h5_check(in->names, &nam, NULL)) return -1;
    in->info.n = (int64_t)d[0], in->info.c = (int)d[1], in->info.h = (int)d[2], in->info.w = (int)d[3];
    return 0;
}

int fesf_surr_open(fesf_surr_in **out, const char *path, fesf_surr_info *info)
{
    enum { CONFIG_MAX = 1 << 16 };
    fesf_surr_in *in = calloc(1, sizeof *in);
    *out = NULL;
    if (!in || !(in->info.config_text = malloc(CONFIG_MAX))) {
        free(in);
        return fesf_error("out of memory");
    }
    in->images = in->labels = in->names = in->str = H5I_INVALID_HID;
    in->file = fesf_h5_open(path, SURR_FORMAT, SURR_VERSION, 0);
    if (in->file < 0 || fesf_h5_attr_get_str(in->file, "arch", in->info.arch, sizeof in->info.arch) ||
        fesf_h5_attr_get_str(in->file, "config", in->info.config_text, CONFIG_MAX) || open_datasets(in, path) ||
        (in->str = name_type()) < 0) {
        fesf_surr_close(in);
        return -1;
    }
    *info = in->info;
    *out = in;
    return 0;
}

int fesf_surr_read(fesf_surr_in *in, int64_t start, int count, float *img, int32_t *labels, char *names)
{
    const fesf_surr_info *i = &in->info;
    fesf_h5_shape im = {4, {(hsize_t)i->n, (hsize_t)i->c, (hsize_t)i->h, (hsize_t)i->w}, FESF_H5_T_F32};
    fesf_h5_shape lab = {1, {(hsize_t)i->n}, FESF_H5_T_INT}, nam = {1, {(hsize_t)i->n}, FESF_H5_T_STR};
    if (fesf_h5_read_rows(in->images, &im, start, count, H5T_NATIVE_FLOAT, img) ||
        fesf_h5_read_rows(in->labels, &lab, start, count, H5T_NATIVE_INT32, labels) ||
        fesf_h5_read_rows(in->names, &nam, start, count, in->str, names))
        return -1;
    for (int k = 0; k < count; k++) names[(size_t)k * FESF_SURR_NAME + FESF_SURR_NAME - 1] = '\0';
    return 0;
}

void fesf_surr_close(fesf_surr_in *in)
{
    if (!in) return;
    hid_t sets[3] = {in->images, in->labels, in->names};
    for (int k = 0; k < 3; k++)
        if (sets[k] >= 0) H5Dclose(sets[k]);
    if (in->str >= 0) H5Tclose(in->str);
    if (in->file >= 0) H5Fclose(in->file);
    free(in->info.config_text);
    free(in);
}
