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
    (void)vol;
    *out = NULL;
    if (strcmp(spec, "phantom") == 0) {
        if (!phantom) return fesf_error("phantom source needs its parameters");
        return fesf_phantom_open(out, phantom);
    }
    if (strncmp(spec, "npz:", 4) == 0) return fesf_npz_open(out, spec + 4);
    if (strncmp(spec, "png:", 4) == 0) {
        char dir[1024];
        const char *colon = strrchr(spec + 4, ':');
        size_t n = colon ? (size_t)(colon - (spec + 4)) : 0;
        if (!colon || n == 0 || n >= sizeof dir || !colon[1])
            return fesf_error("source '%s': expected png:DIR:CSV", spec);
        memcpy(dir, spec + 4, n);
        dir[n] = '\0';
        return fesf_pngdir_open(out, dir, colon + 1);
    }
    return fesf_error("unknown source '%s' (expected phantom | npz:PATH | png:DIR:CSV)", spec);
}

void fesf_source_close(fesf_source *s)
{
    if (s) s->close(s);
}
