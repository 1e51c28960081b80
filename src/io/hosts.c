/* hosts.h5, the public host pool written by prepare: loading it (run_dir.h;
 * fed.h's fesf_hosts_share gives it to every rank). */
#include "fesf/run_dir.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"
#include "fesf/h5io.h"
#include "fesf/version.h"

#include <stdlib.h>

int fesf_hosts_load(const char *path, int host_mode, int host_index, float **out, int64_t *k, int *c, int *h,
                    int *w, int *dp)
{
    *out = NULL;
    hid_t f = fesf_h5_open(path, "fesf-hosts", FESF_HOSTS_VERSION, 0), d = H5I_INVALID_HID;
    hsize_t dims[FESF_H5_MAX_RANK], any[H5S_MAX_RANK];
    fesf_h5_shape want = {4, {FESF_H5_ANY, FESF_H5_ANY, FESF_H5_ANY, FESF_H5_ANY, FESF_H5_ANY}, FESF_H5_T_F32};
    int rc = -1;
    if (f < 0) return -1;
    d = H5Lexists(f, "images", H5P_DEFAULT) > 0 ? H5Dopen2(f, "images", H5P_DEFAULT) : H5I_INVALID_HID;
    if (d < 0) {
        fesf_error("'%s': no host images", path);
        goto done;
    }
    int vol = fesf_h5_dims(d, any) == 5;
    want.rank += vol;
    if (fesf_h5_check(d, &want, dims)) goto done; /* float32 [K, C, H, W] or [K, C, D, H, W] */
    if (dims[0] == 0 || !(vol ? fesf_h5_volume_dims_ok(dims + 1) : fesf_h5_image_dims_ok(dims + 1))) {
        fesf_error("'%s': /images of %llu x %llu x %llu x %llu are not host images", path, (unsigned long long)dims[0],
                   (unsigned long long)dims[1], (unsigned long long)dims[2], (unsigned long long)dims[3]);
        goto done;
    }
    for (int i = 1; i < want.rank; i++) want.dims[i] = dims[i]; /* the buffer's shape, for the read */
    if (host_mode == FESF_HOST_FIXED && (hsize_t)host_index >= dims[0]) {
        fesf_error("ihm.host_index = %d but '%s' holds %llu host images", host_index, path,
                   (unsigned long long)dims[0]);
        goto done;
    }
    *k = host_mode == FESF_HOST_FIXED ? 1 : (int64_t)dims[0];
    *c = (int)dims[1], *dp = vol ? (int)dims[2] : 1, *h = (int)dims[2 + vol], *w = (int)dims[3 + vol];
    *out = malloc(sizeof(float) * (size_t)*k * dims[1] * dims[2] * dims[3] * (vol ? dims[4] : 1));
    if (!*out) {
        fesf_error("out of memory for %lld host images", (long long)*k);
        goto done;
    }
    if (fesf_h5_read_rows(d, &want, host_mode == FESF_HOST_FIXED ? host_index : 0, *k, H5T_NATIVE_FLOAT, *out)) goto done;
    rc = 0;
done:
    if (rc) {
        free(*out);
        *out = NULL;
    }
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return rc;
}
