/* Config: defaults, INI loading through libinih, --set, errors naming file,
 * line, key and range, and the effective-config text round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fesf/config.h"
#include "fesf/error.h"

static char path[64];

static void write_ini(const char *text)
{
    strcpy(path, "/tmp/fesf-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_defaults(void **state)
{
    fesf_config c;
    fesf_config_defaults(&c);
    assert_int_equal(fesf_config_finish(&c), 0);
    assert_string_equal(c.data.source, "phantom");
    assert_int_equal(c.data.sites, 4);
    assert_true(c.ihm.alpha == 0.3 && c.ihm.beta == 1.0);
    assert_true(c.iqem.alpha2 == 0.3 && c.iqem.beta2 == 1.0); /* auto resolved */
    assert_int_equal(c.model.arch, FESF_ARCH_CNN_SMALL);
    assert_int_equal(c.train.input, FESF_INPUT_SURROGATE);
    assert_true(c.data.public_fraction == 0.05 && !c.data.public_val);
}

static void test_load_and_set(void **state)
{
    fesf_config c;
    fesf_config_defaults(&c);
    write_ini("; comment\n[data]\nsites = 8\npartition = dirichlet\npublic = val\n\n[ihm]\nalpha = 0.5\n"
              "[train]\noptimizer = adamw\n[run]\nseed = 18446744073709551615\n");
    assert_int_equal(fesf_config_load(&c, path), 0);
    unlink(path);
    assert_int_equal(c.data.sites, 8);
    assert_int_equal(c.data.partition, FESF_PART_DIRICHLET);
    assert_true(c.data.public_val);
    assert_int_equal(c.train.optimizer, FESF_OPT_ADAMW);
    assert_true(c.run.seed == UINT64_MAX);
    assert_int_equal(fesf_config_set(&c, "ihm.alpha=0.1"), 0);
    assert_int_equal(fesf_config_set(&c, "iqem.beta2=0.25"), 0);
    assert_int_equal(fesf_config_finish(&c), 0);
    assert_true(c.ihm.alpha == 0.1 && c.iqem.alpha2 == 0.1 && c.iqem.beta2 == 0.25);
}

static void expect_load_error(const char *text, const char *want)
{
    fesf_config c;
    fesf_config_defaults(&c);
    write_ini(text);
    assert_int_equal(fesf_config_load(&c, path), -1);
    unlink(path);
    if (!strstr(fesf_errmsg(), want) || !strstr(fesf_errmsg(), path)) fail_msg("got '%s', want '%s'", fesf_errmsg(), want);
}

static void test_errors_name_line_key_range(void **state)
{
    expect_load_error("[ihm]\nalpha = 0.2\nalpah = 1\n", "line 3: unknown key 'ihm.alpah'");
    expect_load_error("[ihm]\nalpha = 2\n", "line 2: ihm.alpha = '2': expected a number in [0, 1]");
    expect_load_error("[data]\nsites = 0\n", "line 2: data.sites = '0': expected an integer in [1, 4096]");
    expect_load_error("[data]\nsites = 3.5\n", "data.sites = '3.5'");
    expect_load_error("[data]\npartition = random\n", "expected one of iid | dirichlet | quantity");
    expect_load_error("[data]\ndirichlet = 0\n", "data.dirichlet = '0': expected a number in [0.001");
    expect_load_error("[data]\npublic = half\n", "'val' or a fraction");
    expect_load_error("[iqem]\nenabled = maybe\n", "true or false");
    expect_load_error("[bogus]\nx = 1\n", "line 2: unknown section [bogus]");
    expect_load_error("[data]\n\n\nno equals here\n", "line 4: syntax error");
    expect_load_error("[run]\nseed = -1\n", "run.seed = '-1'");
}

/* Lines libinih would cut are refused; the longest it takes is read whole,
 * with or without a final newline; line numbers stay exact. */
static void test_long_lines(void **state)
{
    char text[1200], want[64];
    fesf_config c;
    for (int len = 150; len <= 320; len++) { /* `len` characters on line 2: "out = " and len - 6 digits */
        snprintf(text, sizeof text, "[run]\nout = %0*d\n[data]\nsites = 3", len - 6, 7);
        fesf_config_defaults(&c);
        write_ini(text);
        int rc = fesf_config_load(&c, path);
        unlink(path);
        if (len <= INI_MAX_LINE - 2) { /* Debian's libinih: built with its header's INI_MAX_LINE (200) */
            if (rc) fail_msg("%d characters: %s", len, fesf_errmsg());
            assert_int_equal(strlen(c.run.out), (size_t)(len - 6));
            assert_int_equal(c.data.sites, 3);
        } else {
            snprintf(want, sizeof want, "line 2: line longer than %d characters", INI_MAX_LINE - 2);
            assert_int_equal(rc, -1);
            if (!strstr(fesf_errmsg(), want)) fail_msg("%d characters: got '%s'", len, fesf_errmsg());
        }
    }
    snprintf(text, sizeof text, "[data]\nsites = 3\n[run]\nout = %0200d", 1); /* the last line, no newline */
    fesf_config_defaults(&c);
    write_ini(text);
    assert_int_equal(fesf_config_load(&c, path), -1);
    unlink(path);
    snprintf(want, sizeof want, "line 4: line longer than %d characters", INI_MAX_LINE - 2);
    assert_non_null(strstr(fesf_errmsg(), want));
    static const char nul[] = "[data]\nsites = 3\n[run]\nseed = 1\0 2\n"; /* libinih would see "seed = 1" */
    strcpy(path, "/tmp/fesf-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, nul, sizeof nul - 1), (ssize_t)(sizeof nul - 1));
    close(fd);
    fesf_config_defaults(&c);
    assert_int_equal(fesf_config_load(&c, path), -1);
    unlink(path);
    assert_non_null(strstr(fesf_errmsg(), "line 4: a NUL byte in the line"));
}

static void test_set_errors(void **state)
{
    fesf_config c;
    fesf_config_defaults(&c);
    assert_int_equal(fesf_config_set(&c, "alpha=1"), -1);
    assert_non_null(strstr(fesf_errmsg(), "expected section.key=value"));
    assert_int_equal(fesf_config_set(&c, "ihm.gamma=1"), -1);
    assert_non_null(strstr(fesf_errmsg(), "unknown key 'ihm.gamma'"));
    assert_int_equal(fesf_config_set(&c, "train.batch=0"), -1);
    assert_non_null(strstr(fesf_errmsg(), "train.batch = '0': expected an integer in [1, 65536]"));
    assert_int_equal(fesf_config_load(&c, "/nonexistent/x.ini"), -1);
    assert_non_null(strstr(fesf_errmsg(), "cannot open config '/nonexistent/x.ini'"));
}

/* Config text in memory (a model's recorded config): the same keys as a
 * file, errors naming the origin given. */
static void test_load_text(void **state)
{
    fesf_config a, b;
    fesf_config_defaults(&a);
    fesf_config_defaults(&b);
    assert_int_equal(fesf_config_set(&a, "ihm.alpha=0.45"), 0);
    assert_int_equal(fesf_config_set(&a, "model.arch=resnet18"), 0);
    assert_int_equal(fesf_config_finish(&a), 0);
    char *text = fesf_config_text_alloc(&a);
    assert_non_null(text);
    assert_int_equal(fesf_config_load_text(&b, text, "m.h5:config"), 0);
    assert_int_equal(fesf_config_finish(&b), 0);
    assert_true(b.ihm.alpha == 0.45 && b.model.arch == FESF_ARCH_RESNET18);
    assert_int_equal(fesf_config_hash(&a), fesf_config_hash(&b));
    free(text);
    assert_int_equal(fesf_config_load_text(&b, "[ihm]\nalpha = 2\n", "m.h5:config"), -1);
    assert_non_null(strstr(fesf_errmsg(), "'m.h5:config' line 2"));
    assert_non_null(strstr(fesf_errmsg(), "line 2"));
    assert_int_equal(fesf_config_load_text(&b, "", "empty"), 0);
}

static void test_text_round_trip(void **state)
{
    fesf_config a, b;
    fesf_config_defaults(&a);
    assert_int_equal(fesf_config_set(&a, "ihm.alpha=0.1"), 0);
    assert_int_equal(fesf_config_set(&a, "data.source=npz:/x/y.npz"), 0);
    assert_int_equal(fesf_config_set(&a, "train.lr=0.003"), 0);
    assert_int_equal(fesf_config_finish(&a), 0);
    char *text = fesf_config_text_alloc(&a);
    assert_non_null(strstr(text, "alpha = 0.1\n"));     /* shortest exact form */
    assert_non_null(strstr(text, "alpha2 = 0.1\n"));    /* resolved */
    write_ini(text);
    fesf_config_defaults(&b);
    assert_int_equal(fesf_config_load(&b, path), 0);
    unlink(path);
    assert_int_equal(fesf_config_finish(&b), 0);
    char *text2 = fesf_config_text_alloc(&b);
    assert_string_equal(text, text2);
    assert_true(fesf_config_hash(&a) == fesf_config_hash(&b));
    assert_int_equal(fesf_config_set(&b, "train.lr=0.004"), 0);
    assert_true(fesf_config_hash(&a) != fesf_config_hash(&b));
    free(text);
    free(text2);
}

/* List-valued keys ([sweep]): items with spaces, the empty list, bad items
 * and trailing commas, the text form read back, and the 'auto' alpha2 flag. */
static void test_lists(void **state)
{
    fesf_config c;
    fesf_config_defaults(&c);
    assert_int_equal(c.sweep.alpha.n, 0);
    write_ini("[sweep]\nalpha = 0.1, 0.2,0.3 , 0.5\nbeta = 1\n");
    assert_int_equal(fesf_config_load(&c, path), 0);
    unlink(path);
    assert_int_equal(c.sweep.alpha.n, 4);
    assert_true(c.sweep.alpha.v[0] == 0.1 && c.sweep.alpha.v[2] == 0.3 && c.sweep.alpha.v[3] == 0.5);
    assert_int_equal(c.sweep.beta.n, 1);
    char *text = fesf_config_text_alloc(&c);
    assert_non_null(strstr(text, "[sweep]\nalpha = 0.1,0.2,0.3,0.5\nbeta = 1\n"));
    free(text);
    assert_int_equal(fesf_config_set(&c, "sweep.alpha="), 0);
    assert_int_equal(c.sweep.alpha.n, 0);
    static const char *const bad[] = {"sweep.alpha=0.1,", "sweep.alpha=0.1,,0.2", "sweep.alpha=1.5",
                                      "sweep.beta=x", "sweep.alpha=0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fesf_config_set(&c, bad[i]), -1);
        assert_non_null(strstr(fesf_errmsg(), "comma-separated numbers in [0, 1]"));
    }
    assert_int_equal(fesf_config_finish(&c), 0);
    assert_true(c.iqem.alpha2_auto && c.iqem.beta2_auto);
    assert_int_equal(fesf_config_set(&c, "iqem.alpha2=0.4"), 0);
    assert_int_equal(fesf_config_finish(&c), 0);
    assert_false(c.iqem.alpha2_auto);
}

static void test_finish_checks(void **state)
{
    fesf_config c;
    fesf_config_defaults(&c);
    assert_int_equal(fesf_config_set(&c, "data.source=csv:x"), 0);
    assert_int_equal(fesf_config_finish(&c), -1);
    assert_non_null(strstr(fesf_errmsg(), "data.source = 'csv:x'"));
    fesf_config_defaults(&c);
    assert_int_equal(fesf_config_set(&c, "data.public=0.6"), 0);
    assert_int_equal(fesf_config_set(&c, "data.val_fraction=0.5"), 0);
    assert_int_equal(fesf_config_finish(&c), -1);
    assert_string_equal(fesf_config_enum_name("data.partition", FESF_PART_QUANTITY), "quantity");
}

/* data.hosts: empty by default, npz:PATH | png:DIR; with it data.public is
 * 0 in the effective config, and 'val' is refused. */
static void test_hosts_key(void **state)
{
    fesf_config c;
    fesf_config_defaults(&c);
    assert_string_equal(c.data.hosts, "");
    assert_int_equal(fesf_config_finish(&c), 0);
    assert_true(c.data.public_fraction == 0.05);
    assert_int_equal(fesf_config_set(&c, "data.hosts=npz:/pub/x.npz"), 0);
    assert_int_equal(fesf_config_finish(&c), 0);
    assert_true(c.data.public_fraction == 0 && !c.data.public_val);
    char *text = fesf_config_text_alloc(&c);
    assert_non_null(strstr(text, "public = 0\nhosts = npz:/pub/x.npz\n"));
    free(text);
    assert_int_equal(fesf_config_set(&c, "data.hosts=png:/pub/dir"), 0);
    assert_int_equal(fesf_config_finish(&c), 0);
    assert_int_equal(fesf_config_set(&c, "data.hosts="), 0); /* back to empty */
    assert_string_equal(c.data.hosts, "");
    static const char *const bad[] = {"data.hosts=npz:", "data.hosts=png:", "data.hosts=phantom", "data.hosts=/x.npz"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fesf_config_defaults(&c);
        assert_int_equal(fesf_config_set(&c, bad[i]), 0);
        assert_int_equal(fesf_config_finish(&c), -1);
        assert_non_null(strstr(fesf_errmsg(), "expected npz:PATH | png:DIR"));
    }
    fesf_config_defaults(&c);
    assert_int_equal(fesf_config_set(&c, "data.public=val"), 0);
    assert_int_equal(fesf_config_set(&c, "data.hosts=npz:/pub/x.npz"), 0);
    assert_int_equal(fesf_config_finish(&c), -1);
    assert_non_null(strstr(fesf_errmsg(), "exclude each other"));
    assert_int_equal(fesf_config_set(&c, "data.source="), -1); /* a key with a default stays non-empty */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_and_set),
        cmocka_unit_test(test_errors_name_line_key_range),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_text_round_trip),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_load_text),
        cmocka_unit_test(test_finish_checks),
        cmocka_unit_test(test_hosts_key),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
