/* Typed readers of the files a training writes (summary.tsv, metrics.jsonl),
 * so that no other module knows their column order or key order. */
#include "fesf/fed.h"
#include "fesf/error.h"
#include "fesf/run_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One data row of summary.tsv: input, site ("all" or k), round ("best" or
 * "last"), repeats, then mean and sd of accuracy, balanced accuracy,
 * macro-F1, AUC. 1 if parsed. */
static int parse_row(const char *line, fesf_train_row *r)
{
    char input[32], site[32], round[16];
    double v[8];
    if (sscanf(line, "%31s %31s %15s %d %lf %lf %lf %lf %lf %lf %lf %lf", input, site, round, &r->repeats, &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 12)
        return 0;
    r->site = strcmp(site, "all") ? atoi(site) : 0;
    r->last = !strcmp(round, "last");
    for (int q = 0; q < FESF_TRAIN_FIGURES; q++) r->mean[q] = v[2 * q], r->sd[q] = v[2 * q + 1];
    return 1;
}

int fesf_train_summary_load(const char *dir, fesf_train_summary *s)
{
    char path[FESF_RUN_PATH_MAX], line[1024];
    memset(s, 0, sizeof *s);
    fesf_run_file(path, dir, "summary.tsv");
    FILE *f = fopen(path, "r");
    if (!f) return fesf_error("cannot read '%s'", path);
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        fesf_train_row r;
        if (line[0] == '#' || !parse_row(line, &r)) continue;
        if (s->n == cap) {
            cap = cap ? 2 * cap : 16;
            fesf_train_row *g = realloc(s->rows, sizeof *g * (size_t)cap);
            if (!g) break;
            s->rows = g;
        }
        s->rows[s->n++] = r;
    }
    fclose(f);
    return 0;
}

void fesf_train_summary_free(fesf_train_summary *s)
{
    free(s->rows);
    s->rows = NULL, s->n = 0;
}

const fesf_train_row *fesf_train_summary_find(const fesf_train_summary *s, int site, int last)
{
    for (int i = 0; i < s->n; i++)
        if (s->rows[i].site == site && s->rows[i].last == last) return &s->rows[i];
    return NULL;
}

/* metrics.jsonl lines start {"repeat": R, "round": N, and carry "val_auc"
 * before "per_site" on evaluated rounds (write_metrics_line in train.c). */
int fesf_train_curve_read(const char *dir, int repeat, double *round, double *val_auc, int max)
{
    char path[FESF_RUN_PATH_MAX], line[8192];
    fesf_run_file(path, dir, "metrics.jsonl");
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < max && fgets(line, sizeof line, f)) {
        int rep = -1, r = 0;
        const char *v = strstr(line, "\"val_auc\": "), *ps = strstr(line, "\"per_site\"");
        if (sscanf(line, "{\"repeat\": %d, \"round\": %d", &rep, &r) != 2 || rep != repeat) continue;
        round[n] = r, val_auc[n] = NAN; /* rounds without evaluation, or an undefined AUC ("null") */
        if (v && (!ps || v < ps) && strncmp(v + 11, "null", 4)) val_auc[n] = strtod(v + 11, NULL);
        n++;
    }
    if (f) fclose(f);
    return n;
}
