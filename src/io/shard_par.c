/* A site's ranks on one shard together (data.ranks_per_site; shard.h): the
 * leader's rewrite suspended while the group opens the shard and its
 * PATH.tmp through an MPI-IO file access list, and each rank's slab of the
 * volumes read and written by hyperslab (collectively, with the caller's
 * transfer list made here on the group's communicator: parallel HDF5's
 * hdf5.h brings MPI's declarations, which only its MPI-IO calls use). */
#include "shard_internal.h"

#include "fesf/error.h"
#include "fesf/version.h"

#include <stdio.h>
#include <stdlib.h>

int fesf_shard_mpio_lists(int comm, int64_t *fapl, int64_t *dxpl)
{
    hid_t a = H5Pcreate(H5P_FILE_ACCESS), x = H5Pcreate(H5P_DATASET_XFER);
    *fapl = a, *dxpl = x;
    if (a < 0 || x < 0 || H5Pset_fapl_mpio(a, MPI_Comm_f2c((MPI_Fint)comm), MPI_INFO_NULL) < 0 ||
        H5Pset_dxpl_mpio(x, H5FD_MPIO_COLLECTIVE) < 0) {
        fesf_shard_mpio_release(fapl, dxpl);
        return fesf_error("cannot make the MPI-IO property lists");
    }
    return 0;
}

void fesf_shard_mpio_release(int64_t *fapl, int64_t *dxpl)
{
    if (*fapl >= 0) H5Pclose((hid_t)*fapl);
    if (*dxpl >= 0) H5Pclose((hid_t)*dxpl);
    *fapl = *dxpl = H5I_INVALID_HID;
}

int fesf_shard_suspend(fesf_shard *sh)
{
    if (!sh->rewriting) return fesf_error("'%s': not being rewritten", sh->name);
    int rc = fesf_shard_close_datasets(sh);
    if (rc) return fesf_h5out_abort(&sh->out), sh->rewriting = 0, -1;
    rc = fesf_h5out_suspend(&sh->out);
    sh->file = H5I_INVALID_HID;
    if (rc) sh->rewriting = 0; /* aborted */
    return rc;
}

int fesf_shard_resume(fesf_shard *sh)
{
    if (!sh->rewriting || fesf_h5out_resume(&sh->out)) return sh->rewriting = 0, -1;
    sh->file = sh->out.file;
    return 0;
}

int fesf_shard_open_par(fesf_shard **out, const char *path, int64_t fapl, int rewritten)
{
    char tmp[FESF_PATH_MAX + 8];
    fesf_shard *sh = *out = fesf_shard_new(path);
    if (!sh) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path); /* fesf_h5out's name of a rewrite in progress */
    sh->file = fesf_h5_open_fapl(rewritten ? tmp : path, "fesf-shard", FESF_SHARD_VERSION, rewritten, (hid_t)fapl);
    if (sh->file >= 0) return 0;
    free(sh);
    *out = NULL;
    return -1;
}

int fesf_shard_close_par(fesf_shard *sh)
{
    if (!sh) return 0;
    int rc = fesf_shard_close_datasets(sh);
    if (H5Fclose(sh->file) < 0 && !rc) rc = fesf_error("cannot write '%s': %s", sh->name, fesf_h5_reason());
    free(sh->scratch);
    free(sh);
    return rc;
}

/* Planes [d0, d0 + nd) of volumes [start, start + count) of group/split,
 * between the dataset and buf [count, C, nd, H, W] of memtype. */
static int slab_io(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int d0, int nd,
                   int64_t dxpl, hid_t memtype, void *buf, int write)
{
    fesf_shard_split in;
    if (fesf_shard_info(sh, group, split, &in)) return -1;
    int vol = in.d > 1; /* 2-D images: one plane, [N, C, H, W] */
    if (start < 0 || count < 0 || count > in.n - start || d0 < 0 || nd < 0 || nd > in.d - d0)
        return fesf_error("'%s': volumes [%lld, %lld) planes [%d, %d) outside /%s/%s (%lld x %d planes)", sh->name,
                          (long long)start, (long long)(start + count), d0, d0 + nd, group, fesf_split_names[split],
                          (long long)in.n, in.d);
    hid_t d = fesf_shard_dataset(sh, group, split, "images");
    hsize_t off[5] = {(hsize_t)start, 0, (hsize_t)d0, 0, 0};
    hsize_t cnt[5] = {(hsize_t)count, (hsize_t)in.c, (hsize_t)nd, (hsize_t)in.h, (hsize_t)in.w};
    if (!vol) cnt[2] = cnt[3], cnt[3] = cnt[4], nd = nd ? 1 : 0; /* d0 = 0 */
    hid_t fs = d < 0 ? H5I_INVALID_HID : H5Dget_space(d), ms = H5Screate_simple(4 + vol, cnt, NULL);
    int rc = -1;
    if (fs < 0 || ms < 0) goto done;
    /* every rank of the group calls (collective transfers): an empty slab selects nothing */
    herr_t st = count && nd ? H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) : H5Sselect_none(fs);
    if (st >= 0 && !(count && nd)) st = H5Sselect_none(ms);
    if (st >= 0) st = write ? H5Dwrite(d, memtype, ms, fs, (hid_t)dxpl, buf) : H5Dread(d, memtype, ms, fs, (hid_t)dxpl, buf);
    rc = st < 0 ? fesf_error("cannot %s '%s' /%s/%s: %s", write ? "write" : "read", sh->name, group,
                             fesf_split_names[split], fesf_h5_reason())
                : 0;
done:
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    return rc;
}

int fesf_shard_read_slab(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int d0, int nd,
                         int64_t dxpl, float *buf)
{
    fesf_shard_split in;
    if (fesf_shard_info(sh, group, split, &in)) return -1;
    if (in.dtype == FESF_F32) return slab_io(sh, group, split, start, count, d0, nd, dxpl, H5T_NATIVE_FLOAT, buf, 0);
    size_t len = (size_t)count * (size_t)in.c * (size_t)nd * (size_t)in.h * (size_t)in.w;
    if (sh->scratch_len < len) { /* grows to the largest slab, then stays */
        free(sh->scratch);
        sh->scratch_len = 0;
        if (!(sh->scratch = malloc(len))) return fesf_error("out of memory");
        sh->scratch_len = len;
    }
    if (slab_io(sh, group, split, start, count, d0, nd, dxpl, H5T_NATIVE_UINT8, sh->scratch, 0)) return -1;
    fesf_u8_to_f32(sh->scratch, buf, len);
    return 0;
}

int fesf_shard_write_slab(fesf_shard *sh, const char *group, int split, int64_t start, int64_t count, int d0, int nd,
                          int64_t dxpl, const float *buf)
{
    return slab_io(sh, group, split, start, count, d0, nd, dxpl, H5T_NATIVE_FLOAT, (void *)buf, 1);
}
