/* A fuzz harness without libFuzzer: runs LLVMFuzzerTestOneInput on each
 * file named on the command line (and every file of a named folder), so
 * that the seeds and every crash found by `make fuzz` stay regression tests
 * of `make check` (tests/e2e/fuzz_regress.sh). Prints "replayed N inputs". */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int one(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "replay: cannot open '%s'\n", path), -1;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, k;
    do {
        if (len == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 65536))) abort();
        k = fread(buf + len, 1, cap - len, f);
        len += k;
    } while (k > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) return fprintf(stderr, "replay: no '%s'\n", argv[i]), 1;
        if (!S_ISDIR(st.st_mode)) {
            if (one(argv[i])) return 1;
            n++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char p[4096];
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            if (one(p)) return 1;
            n++;
        }
        if (d) closedir(d);
    }
    printf("replayed %d inputs\n", n);
    return 0;
}
