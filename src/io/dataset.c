/* Source selection from a spec string. */
#include "fesf/dataset.h"
#include "fesf/error.h"
#include "fesf/volume.h"

#include <stdio.h>
#include <string.h>

const char *const fesf_split_names[FESF_NSPLITS] = {"train", "val", "test"};

int fesf_dtype_size(fesf_dtype t) { return t == FESF_U8 ? 1 : 4; }

const char *fesf_shape_str(char buf[FESF_SHAPE_STR], int c, int d, int h, int w)
{
    if (d > 1) snprintf(buf, FESF_SHAPE_STR, "%dx%dx%dx%d", c, d, h, w);
    else snprintf(buf, FESF_SHAPE_STR, "%dx%dx%d", c, h, w);
    return buf;
}

int fesf_source_open(fesf_source **out, const char *spec, const fesf_phantom_params *phantom,
                     const fesf_volume_opts *vol)
{
    *out = NULL;
    if (strcmp(spec, "phantom") == 0) {
        if (!phantom) return fesf_error("phantom source needs its parameters");
        return fesf_phantom_open(out, phantom);
    }
    if (strncmp(spec, "npz:", 4) == 0) {
        if (fesf_npz_open(out, spec + 4)) return -1;
        if (!vol || !vol->d) return 0;
        if (fesf_source_resample(out, vol->d, vol->h, vol->w) == 0) return 0;
        fesf_source_close(*out);
        *out = NULL;
        return -1;
    }
    static const char *const folders[] = {"png:", "nifti:", "dicom:"};
    for (int k = 0; k < 3; k++) {
        size_t np = strlen(folders[k]);
        if (strncmp(spec, folders[k], np) != 0) continue;
        char dir[1024];
        const char *colon = strrchr(spec + np, ':');
        size_t n = colon ? (size_t)(colon - (spec + np)) : 0;
        if (!colon || n == 0 || n >= sizeof dir || !colon[1])
            return fesf_error("source '%s': expected %.*s:DIR:CSV", spec, (int)np - 1, folders[k]);
        memcpy(dir, spec + np, n);
        dir[n] = '\0';
        if (k == 0 && vol && (vol->window || vol->d))
            return fesf_error("source '%s': data.window and a data.size of D,H,W are for volumes (nifti:, dicom:)",
                              spec);
        return k == 0 ? fesf_pngdir_open(out, dir, colon + 1)
               : k == 1 ? fesf_nifti_open(out, dir, colon + 1, vol)
                        : fesf_dicom_open(out, dir, colon + 1, vol);
    }
    return fesf_error("unknown source '%s' (expected phantom | npz:PATH | png:DIR:CSV | nifti:DIR:CSV | "
                      "dicom:DIR:CSV)", spec);
}

void fesf_source_close(fesf_source *s)
{
    if (s) s->close(s);
}
