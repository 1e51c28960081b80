/* Models: shapes and tensor tables, a training step allocates nothing,
 * training reduces the loss, save/load round trip and architecture checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#include <omp.h>

#include "fesf/config.h"
#include "fesf/error.h"
#include "fesf/model.h"
#include "fesf/model_io.h"
#include "fesf/optim.h"
#include "fesf/rng.h"

#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer owns malloc: no counting there (make check SAN=1) */
/* Count heap allocations while `counting` is set (glibc's own allocator
 * underneath; the test binary's definitions take precedence). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static volatile int counting;
static volatile long allocations;
void *malloc(size_t n)
{
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    if (counting) allocations++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    if (counting) allocations++;
    return __libc_realloc(p, n);
}
int posix_memalign(void **p, size_t align, size_t n)
{
    if (counting) allocations++;
    *p = __libc_memalign(align, n);
    return *p ? 0 : 12;
}
#else
static volatile int counting;
static volatile long allocations;
#endif

static void fill(float *x, size_t n, uint32_t stream)
{
    fesf_rng r;
    fesf_rng_init(&r, 3, stream, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)fesf_rng_normal(&r);
}

static void test_shapes_and_tensors(void **state)
{
    fesf_model *m;
    assert_int_equal(fesf_model_create(&m, "resnet18", 8, 3, 28, 28, 5, 4), 0);
    assert_string_equal(fesf_model_arch(m), "resnet18 width=8 input=3x28x28 classes=5");
    size_t total = 0;
    int has_shortcut = 0;
    for (int i = 0; i < fesf_model_n_tensors(m); i++) {
        const fesf_tensor_info *t = fesf_model_tensor(m, i);
        if (!t->buffer) total += t->len;
        has_shortcut |= !strcmp(t->name, "layer2.0.shortcut.0.weight");
    }
    assert_true(has_shortcut);
    assert_int_equal(total, fesf_model_n_params(m));
    /* torch's resnet18 (MedMNIST variant) at width 8: 4 stages x 2 blocks */
    fesf_model_destroy(m);
    assert_int_equal(fesf_model_create(&m, "vgg", 8, 1, 28, 28, 2, 4), -1);
    assert_non_null(strstr(fesf_errmsg(), "unknown model.arch 'vgg'"));
}

static void test_step_allocates_nothing_and_learns(void **state)
{
    const int n = 16, c = 1, h = 28, w = 28;
    fesf_model *m;
    assert_int_equal(fesf_model_create(&m, "cnn-small", 8, c, h, w, 2, n), 0);
    fesf_model_init(m, 1);
    fesf_optim_config oc;
    fesf_optim_defaults(&oc, FESF_OPT_ADAM, 1e-2f);
    float *st = calloc(fesf_model_n_params(m) * 2, sizeof(float)), *x = malloc(sizeof(float) * n * c * h * w);
    int32_t labels[16];
    fill(x, (size_t)n * c * h * w, 1);
    for (int i = 0; i < n; i++) {
        labels[i] = i % 2;
        for (int q = 0; q < h * w; q++) x[(size_t)i * h * w + q] += labels[i] ? 0.5f : -0.5f; /* learnable */
    }
    /* One BLAS thread (as fesf_blas_set_threads and the kernels set it):
     * OpenBLAS's threaded GEMM mallocs a 512 KiB job buffer per call
     * (library-internal; measured with gdb), fesf's code none. The engine's
     * OpenMP threads (as many as the machine's cores here) allocate nothing
     * after their first parallel region. */
    openblas_set_num_threads(1);
    double first = fesf_model_train_step(m, x, labels, n, NULL, &oc, 0, st), last = first;
#ifdef __SANITIZE_ADDRESS__
    allocations = 0; /* not counted under the sanitizers */
#endif
    allocations = 0;
    counting = 1;
    for (int t = 1; t < 30; t++) last = fesf_model_train_step(m, x, labels, n, NULL, &oc, t, st);
    counting = 0;
    assert_int_equal(allocations, 0);
    assert_true(last < 0.5 * first);
    free(st), free(x);
    fesf_model_destroy(m);
}

/* Ten Adam steps with 1..3 engine threads: bitwise the same parameters,
 * gradients and batch-norm statistics (the engine's work split is fixed). */
static void test_threads_bitwise(void **state)
{
    static const char *arch[] = {"cnn-small", "resnet18", "attack-cnn"};
    const int n = 19, h = 16; /* odd batch: uneven groups */
    for (int a = 0; a < 3; a++) {
        float *ref = NULL;
        size_t np = 0, nbuf = 0;
        for (int t = 1; t <= 3; t++) {
            fesf_model *m;
            assert_int_equal(fesf_model_create(&m, arch[a], 8, 1, h, h, 2, n), 0);
            fesf_model_init(m, 4);
            np = fesf_model_n_params(m), nbuf = fesf_model_n_buffers(m);
            fesf_optim_config oc;
            fesf_optim_defaults(&oc, FESF_OPT_ADAM, 1e-3f);
            int classes = fesf_model_classes(m);
            float *st = calloc(np * 2, sizeof(float)), *x = malloc(sizeof(float) * n * h * h);
            int32_t labels[19];
            fill(x, (size_t)n * h * h, 7);
            for (int i = 0; i < n; i++) labels[i] = i % 2;
            omp_set_num_threads(t);
            for (int k = 0; k < 10; k++) {
                if (classes == 2) {
                    fesf_model_train_step(m, x, labels, n, NULL, &oc, k, st);
                    continue;
                }
                fesf_model_zero_grad(m); /* image output: the gradient of 0.5 |y|^2 */
                const float *y = fesf_model_forward(m, x, n, 1);
                memcpy(fesf_model_dlogits(m), y, sizeof(float) * (size_t)n * classes);
                fesf_model_backward(m, fesf_model_dlogits(m), n);
                fesf_optim_step(&oc, k, np, fesf_model_params(m), fesf_model_grads(m), st);
            }
            float *got = malloc(sizeof(float) * (2 * np + nbuf));
            memcpy(got, fesf_model_params(m), sizeof(float) * np);
            memcpy(got + np, fesf_model_grads(m), sizeof(float) * np);
            memcpy(got + 2 * np, fesf_model_buffers(m), sizeof(float) * nbuf);
            if (!ref) ref = got;
            else {
                assert_memory_equal(ref, got, sizeof(float) * (2 * np + nbuf));
                free(got);
            }
            free(st), free(x);
            fesf_model_destroy(m);
        }
        free(ref);
    }
    omp_set_num_threads(omp_get_num_procs());
}

static void test_save_load_round_trip(void **state)
{
    char dir[] = "/tmp/fesf-test-model-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.h5", dir);
    fesf_model *a, *b, *other;
    assert_int_equal(fesf_model_create(&a, "resnet18", 4, 1, 16, 16, 3, 2), 0);
    assert_int_equal(fesf_model_create(&b, "resnet18", 4, 1, 16, 16, 3, 2), 0);
    assert_int_equal(fesf_model_create(&other, "cnn-small", 4, 1, 16, 16, 3, 2), 0);
    fesf_model_init(a, 5);
    fesf_model_init(b, 6);
    fill(fesf_model_buffers(a), fesf_model_n_buffers(a), 9); /* running stats too */
    float opt[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, back[10] = {0};
    fesf_model_save_info info = {.optim_state = opt, .optim_floats = 10, .optimizer = "adam", .round = 17,
                                 .config_text = "[run]\nseed = 1\n"};
    assert_int_equal(fesf_model_save(path, fesf_model_tensors(a), &info), 0);
    int64_t round = 0;
    assert_int_equal(fesf_model_load(path, fesf_model_tensors(b), back, 10, &round), 0);
    assert_memory_equal(fesf_model_params(a), fesf_model_params(b), sizeof(float) * fesf_model_n_params(a));
    assert_memory_equal(fesf_model_buffers(a), fesf_model_buffers(b), sizeof(float) * fesf_model_n_buffers(a));
    assert_memory_equal(opt, back, sizeof opt);
    assert_int_equal(round, 17);
    fesf_model_meta meta;
    assert_int_equal(fesf_model_read_meta(path, &meta), 0); /* no /normalise saved */
    assert_string_equal(meta.arch, fesf_model_arch(a));
    assert_string_equal(meta.config_text, "[run]\nseed = 1\n");
    assert_true(meta.round == 17 && meta.norm_channels == 0);
    fesf_model_meta_free(&meta);
    const float norm[2] = {0.25f, 0.125f};
    info.norm = norm, info.norm_channels = 1;
    assert_int_equal(fesf_model_save(path, fesf_model_tensors(a), &info), 0);
    assert_int_equal(fesf_model_read_meta(path, &meta), 0);
    assert_true(meta.norm_channels == 1 && meta.mean[0] == 0.25f && meta.std[0] == 0.125f);
    fesf_model_meta_free(&meta);
    const float bad[2] = {0.25f, 0.0f}; /* a std of 0 is refused on reading */
    info.norm = bad;
    assert_int_equal(fesf_model_save(path, fesf_model_tensors(a), &info), 0);
    assert_int_equal(fesf_model_read_meta(path, &meta), -1);
    assert_non_null(strstr(fesf_errmsg(), "/normalise"));
    assert_int_equal(fesf_model_load(path, fesf_model_tensors(other), NULL, 0, NULL), -1);
    assert_non_null(strstr(fesf_errmsg(), "holds a model 'resnet18 width=4"));
    assert_non_null(strstr(fesf_errmsg(), "not 'cnn-small width=4"));
    unlink(path);
    rmdir(dir);
    fesf_model_destroy(a), fesf_model_destroy(b), fesf_model_destroy(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_and_tensors),
        cmocka_unit_test(test_step_allocates_nothing_and_learns),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_save_load_round_trip),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
