/* Test tool for the PyTorch cross-check (tests/py/nn_crosscheck.py): builds
 * a model, initialises it, and on one random batch writes
 *   DIR/init.h5    the initial parameters and buffers (fesf-model)
 *   DIR/grads.h5   the gradients of the first step, in the same layout
 *   DIR/final.h5   parameters and buffers after STEPS optimizer steps
 *   DIR/io.h5      x [N,C,H,W], labels [N], logits [N,K] and loss of step 1
 * With `dp` for the optimizer (tests/py/dp_crosscheck.py): the model has
 * instance norm and room for N + 3 images (a last, partial batch), and
 * grads.h5 holds DP-SGD's sum of per-example gradients of the summed loss,
 * each clipped to the median of their norms (fesf_model_dp_backward); io.h5
 * adds that clip and the norms [N]; no optimizer step is taken.
 * H may be DxH: volumes [N, C, D, H, W] (fesf_model_create_vol).
 * usage: nn_step ARCH WIDTH C H W CLASSES N sgd|adam|dp STEPS DIR */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/blas.h"
#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/h5io.h"
#include "fesf/loss.h"
#include "fesf/model.h"
#include "fesf/model_io.h"
#include "fesf/optim.h"
#include "fesf/rng.h"

static void die(void)
{
    fprintf(stderr, "nn_step: %s\n", fesf_errmsg());
    exit(1);
}

static void write_array(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type == H5T_NATIVE_INT32 ? H5T_STD_I32LE : H5T_IEEE_F32LE, sp, H5P_DEFAULT,
                         H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        fprintf(stderr, "nn_step: cannot write %s\n", name);
        exit(1);
    }
    H5Dclose(d);
    H5Sclose(sp);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* DP-SGD's clipped sum at the median norm into the model's grads */
static void dp_gradients(fesf_model *m, const float *x, const int32_t *labels, int n, float *logits, float *norms,
                         float *clip, double *loss)
{
    int k = fesf_model_classes(m);
    for (int pass = 0; pass < 2; pass++) {
        fesf_model_zero_grad(m);
        const float *y = fesf_model_forward(m, x, n, 1);
        float *dl = fesf_model_dlogits(m);
        *loss = fesf_softmax_xent_sum(n, k, y, labels, NULL, dl);
        memcpy(logits, y, sizeof(float) * n * k);
        if (pass == 0) { /* the norms, unclipped, then the clip at their median */
            fesf_model_dp_backward(m, dl, n, 1e30f, NULL, norms);
            float *sorted = malloc(sizeof(float) * n);
            memcpy(sorted, norms, sizeof(float) * n);
            qsort(sorted, (size_t)n, sizeof(float), cmp_float);
            *clip = sorted[n / 2];
            free(sorted);
        } else {
            fesf_model_dp_backward(m, dl, n, *clip, NULL, norms);
        }
    }
}

int main(int argc, char **argv)
{
    /* the kernels fesf itself would run on this CPU (blas.h), so the PyTorch
     * cross-checks validate an automatic choice too */
    if (fesf_blas_autoselect(argv)) die();
    if (argc != 11) {
        fprintf(stderr, "usage: nn_step ARCH WIDTH C H W CLASSES N sgd|adam STEPS DIR\n");
        return 2;
    }
    int width = atoi(argv[2]), c = atoi(argv[3]), d = 1, h = atoi(argv[4]), w = atoi(argv[5]);
    if (strchr(argv[4], 'x')) d = atoi(argv[4]), h = atoi(strchr(argv[4], 'x') + 1);
    int k = atoi(argv[6]), n = atoi(argv[7]), steps = atoi(argv[9]);
    const char *dir = argv[10];
    char path[4096];
    fesf_model *m;
    int dp = !strcmp(argv[8], "dp");
    if (fesf_model_create_vol(&m, argv[1], width, c, d, h, w, k, dp ? n + 3 : n,
                              dp ? FESF_MODEL_INSTANCE_NORM | FESF_MODEL_DP : 0))
        die();
    fesf_model_init(m, 42);
    fesf_optim_config oc;
    if (!strcmp(argv[8], "adam")) {
        fesf_optim_defaults(&oc, FESF_OPT_ADAM, 1e-3f);
    } else {
        fesf_optim_defaults(&oc, FESF_OPT_SGD, 0.05f);
        oc.momentum = 0.9f;
    }
    size_t np = fesf_model_n_params(m), img = (size_t)c * d * h * w;
    float *state = calloc(np * (size_t)fesf_optim_state_per_param(&oc) + 1, sizeof(float));
    float *x = malloc(sizeof(float) * img * n), *grads = malloc(sizeof(float) * np), *logits = malloc(sizeof(float) * n * k);
    int32_t *labels = malloc(sizeof(int32_t) * n);
    fesf_rng r;
    fesf_rng_init(&r, 7, 0, 0);
    for (size_t i = 0; i < img * n; i++) x[i] = (float)fesf_rng_normal(&r);
    for (int i = 0; i < n; i++) labels[i] = (int32_t)fesf_rng_below(&r, (uint64_t)k);
    snprintf(path, sizeof path, "%s/init.h5", dir);
    if (fesf_model_save(path, fesf_model_tensors(m), NULL)) die();
    double loss0 = 0;
    float clip = 0, *norms = calloc((size_t)n, sizeof(float));
    if (dp) dp_gradients(m, x, labels, n, logits, norms, &clip, &loss0);
    for (int t = 0; t < steps && !dp; t++) {
        fesf_model_zero_grad(m);
        const float *y = fesf_model_forward(m, x, n, 1);
        float *dl = fesf_model_dlogits(m);
        double loss = fesf_softmax_xent(n, k, y, labels, NULL, dl, NULL);
        if (t == 0) memcpy(logits, y, sizeof(float) * n * k), loss0 = loss;
        fesf_model_backward(m, dl, n);
        if (t == 0) memcpy(grads, fesf_model_grads(m), sizeof(float) * np);
        fesf_optim_step(&oc, t, np, fesf_model_params(m), fesf_model_grads(m), state);
    }
    if (dp) memcpy(grads, fesf_model_grads(m), sizeof(float) * np);
    snprintf(path, sizeof path, "%s/final.h5", dir);
    if (fesf_model_save(path, fesf_model_tensors(m), NULL)) die();
    memcpy(fesf_model_params(m), grads, sizeof(float) * np); /* the gradients, in the parameters' layout */
    snprintf(path, sizeof path, "%s/grads.h5", dir);
    if (fesf_model_save(path, fesf_model_tensors(m), NULL)) die();
    snprintf(path, sizeof path, "%s/io.h5", dir);
    fesf_h5_quiet();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dx[5] = {(hsize_t)n, (hsize_t)c, (hsize_t)d, (hsize_t)h, (hsize_t)w}, dl[2] = {(hsize_t)n, (hsize_t)k};
    hsize_t dn = (hsize_t)n;
    int xr = d > 1 ? 5 : 4;
    if (d == 1) dx[2] = dx[3], dx[3] = dx[4];
    float lossf = (float)loss0;
    hsize_t one = 1;
    write_array(f, "x", H5T_NATIVE_FLOAT, xr, dx, x);
    write_array(f, "labels", H5T_NATIVE_INT32, 1, &dn, labels);
    write_array(f, "logits", H5T_NATIVE_FLOAT, 2, dl, logits);
    write_array(f, "loss", H5T_NATIVE_FLOAT, 1, &one, &lossf);
    if (dp) write_array(f, "clip", H5T_NATIVE_FLOAT, 1, &one, &clip), write_array(f, "norms", H5T_NATIVE_FLOAT, 1, &dn, norms);
    H5Fclose(f);
    fesf_model_destroy(m);
    free(state), free(x), free(grads), free(logits), free(labels), free(norms);
    return 0;
}
