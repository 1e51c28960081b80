/* Dataset sources for `fesf prepare`: a plaintext dataset with up to three
 * splits, read as labels (whole split, small) and images (streamed in
 * strips, NCHW, in source order).
 *
 * Backends: the built-in phantom generator (src/io/phantom.c), MedMNIST-style
 * .npz (src/io/npz.c, its .npy headers in src/io/npy.c) and a PNG folder
 * with a CSV of labels (src/io/pngdir.c). The .npz's optional
 * {train,val,test}_sites.npy (a pool's sites.npy) and the CSV's site column
 * are read_sites; the phantom has none.
 * fesf_source_open() picks one from a spec string:
 *     "phantom" | "npz:PATH" | "png:DIR:CSV"
 * The public host set of data.hosts ("npz:PATH" | "png:DIR") is opened with
 * the images-only variants below (src/io/hosts_set.c).
 *
 * Ownership: the source owns its handles; the caller owns every buffer it
 * passes in. Reads of one split are cheapest in increasing `start` order
 * (the npz backend streams from the zip member and restarts it to go back). */
#ifndef FESF_DATASET_H
#define FESF_DATASET_H

#include <stddef.h>
#include <stdint.h>

enum { FESF_SPLIT_TRAIN = 0, FESF_SPLIT_VAL = 1, FESF_SPLIT_TEST = 2, FESF_NSPLITS = 3 };

extern const char *const fesf_split_names[FESF_NSPLITS]; /* "train" "val" "test" */

typedef enum { FESF_U8 = 0, FESF_F32 = 1 } fesf_dtype;

/* Size in bytes of one element of dtype. */
int fesf_dtype_size(fesf_dtype t);

typedef struct {
    int64_t n[FESF_NSPLITS]; /* images per split; 0 = split absent */
    int c, h, w;             /* channels (1 or 3), height, width */
    int d;                   /* depth: 1 for 2-D images; > 1 for volumes, each
                              * [C, D, H, W] (read_images gives count*c*d*h*w
                              * elements, NCDHW) */
    fesf_dtype dtype;        /* U8 in [0,255] or F32 in [0,1] (readers reject
                              * float images outside [0,1] or NaN) */
    int pool;                /* 1: the dataset came as one labelled pool,
                              * delivered as train (val, test absent) */
    int unlabelled;          /* 1: images only (read_labels fails or gives 0s) */
} fesf_source_info;

typedef struct fesf_source fesf_source;
struct fesf_source {
    fesf_source_info info;
    char desc[512]; /* human-readable origin, stored as the 'source' attribute */
    /* labels: n[split] int32 values written to `labels`; 0 or -1 */
    int (*read_labels)(fesf_source *s, int split, int32_t *labels);
    /* images [start, start+count) of `split` into buf (count*c*d*h*w
     * elements of info.dtype, NC(D)HW); 0 or -1 */
    int (*read_images)(fesf_source *s, int split, int64_t start, int64_t count, void *buf);
    void (*close)(fesf_source *s); /* frees everything, including s */
    /* optional (NULL: none): a name for image i of split, e.g. its file
     * ("DIR/a.png") or "PATH:test_images[7]"; 0 or -1 */
    int (*item_name)(fesf_source *s, int split, int64_t i, char *buf, size_t size);
    /* optional (NULL: the source says nothing of sites): the site id of
     * each image of split, n[split] int32 values >= 1 written to `sites`
     * (the hospital a dataset that comes split by hospital gives it; used by
     * data.partition = natural); 0, or -1 also when this split has none */
    int (*read_sites)(fesf_source *s, int split, int32_t *sites);
};

/* Parameters of the phantom generator (used for spec "phantom"). */
typedef struct {
    int size;       /* H = W, 28..256 */
    int64_t count;  /* train images; test gets count/4; no val split */
    uint64_t seed;
} fesf_phantom_params;

/* Elements of one image or volume: c*d*h*w. */
static inline int64_t fesf_source_item_elems(const fesf_source_info *i)
{
    return (int64_t)i->c * (i->d > 1 ? i->d : 1) * i->h * i->w;
}

/* An item's shape for messages: "CxHxW" (d = 1) or "CxDxHxW"; returns buf. */
#define FESF_SHAPE_STR 64
const char *fesf_shape_str(char buf[FESF_SHAPE_STR], int c, int d, int h, int w);

struct fesf_volume_opts;
/* vol: the volume options (volume.h; NULL = none) for nifti: and dicom:
 * sources and volume .npz files. */
int fesf_source_open(fesf_source **out, const char *spec, const fesf_phantom_params *phantom,
                     const struct fesf_volume_opts *vol);
void fesf_source_close(fesf_source *s); /* NULL-safe */

/* Backends (called by fesf_source_open; also usable directly). */
int fesf_phantom_open(fesf_source **out, const fesf_phantom_params *p);
int fesf_npz_open(fesf_source **out, const char *path);
int fesf_pngdir_open(fesf_source **out, const char *dir, const char *csv);
/* Images only, for a public host set (labels are not read: none is needed):
 * the .npz without its label members; every *.png of a folder, sorted by
 * file name, as the train split. */
int fesf_npz_open_images(fesf_source **out, const char *path);
int fesf_pngdir_open_folder(fesf_source **out, const char *dir);
/* PNG files given one by one (images only, in the order given) as train. */
int fesf_pngdir_open_files(fesf_source **out, const char *const *paths, int n);

#endif
