/* The run directory (DESIGN section 3): the one module that knows its file
 * names, which outputs each stage makes, and how a stage's stamp is written
 * and checked in them.
 *
 *   run.out/hosts.h5              prepare   (root attribute stamp)
 *   run.out/site-NNN.h5           prepare /plain, hide /synthetic, enhance
 *                                 /surrogate (a stamp on each group; only
 *                                 that site's ranks open it)
 *   run.out/iqem.h5               enhance, federated mode (root stamp)
 *   run.out/quality.tsv           enhance: image quality over all sites (first line)
 *   run.out/iqem-site-NNN.h5      enhance, local mode (written by the site)
 *   run.out/train-<input>/        train: summary.tsv (first line) and
 *                                 model.h5 (root stamp); metrics.jsonl,
 *                                 report.md, ckpt-RRRR.h5
 *   run.out/audit.tsv, audit.md   audit (first line), audit-<target>.h5 (root)
 *   run.out/stages.ini            the keys each finished stage was made with
 *                                 (only to say which key changed; validity
 *                                 is the stamps in the outputs)
 *   run.out/report.md, figures/   the run report (regenerated every run), plots
 *   run.out/site-NNN/figures/     site NNN's private pictures (iqem.png,
 *                                 audit-<target>.png: they show its plaintext)
 *
 * A stamp is the stage's hash: HDF5 attributes `stage` and `stage_hash`
 * (16 hex digits), or a text file's first line
 * "# fesf <kind> config_hash=<hex>" (audit.md: inside an HTML comment, so
 * that the report it is copied into does not show it). */
#ifndef FESF_RUN_DIR_H
#define FESF_RUN_DIR_H

#include <stddef.h>
#include <stdio.h>

#include "fesf/config.h"
#include "fesf/stage.h"

#define FESF_RUN_PATH_MAX (FESF_PATH_MAX + 64)

/* File names inside the run directory and a training folder. */
#define FESF_RUN_HOSTS "hosts.h5"
#define FESF_RUN_IQEM "iqem.h5"
#define FESF_RUN_STAGES "stages.ini"
#define FESF_RUN_REPORT "report.md"
#define FESF_RUN_FIGURES "figures"
#define FESF_RUN_AUDIT_TSV "audit.tsv"
#define FESF_RUN_AUDIT_MD "audit.md"
#define FESF_RUN_SUMMARY "summary.tsv"
#define FESF_RUN_METRICS "metrics.jsonl"
#define FESF_RUN_QUALITY "quality.tsv"
#define FESF_RUN_SITE_KEY "ihm.key" /* in site-NNN/, the site's private folder */

/* Paths inside run directory `out` (buf of FESF_RUN_PATH_MAX). */
void fesf_run_shard_path(char *buf, const char *out, int site);
void fesf_run_hosts_path(char *buf, const char *out);
void fesf_run_iqem_path(char *buf, const char *out, int site); /* site 0: the federated G */
void fesf_run_train_dir(char *buf, const char *out, int input); /* FESF_INPUT_* */
void fesf_run_file(char *buf, const char *dir, const char *name); /* dir/name */
void fesf_run_audit_model_path(char *buf, const char *out, const char *target); /* audit-<target>.h5 */
void fesf_run_model_path(char *buf, const char *dir, int repeat);  /* model.h5, model-r<R>.h5 for repeat R > 0 */
void fesf_run_ckpt_path(char *buf, const char *dir, long index);   /* ckpt-NNNN.h5 */
/* The numbers of dir's ckpt-N.h5 files (a directory scan, any number of
 * digits), newest (highest) first, in *idx (malloc'd, the caller frees;
 * NULL when none): their count, or -1 with a message. */
int fesf_run_ckpt_list(const char *dir, long **idx);
/* The highest NNN of the site-NNN.h5 files in dir (0 if none): what one
 * site's disk shows (fed.h's fesf_fed_count_shards takes the maximum). */
int fesf_run_highest_shard(const char *dir);
/* out/figures/<name>: the shared figures, plots without plaintext (the folder is created; 0 or -1) */
int fesf_run_figure_path(char *buf, const char *out, const char *name);
/* out/site-NNN/figures/<name>: site NNN's private pictures, which show its plaintext; only its
 * own ranks write there and the coordinator never reads it (the folder is created; 0 or -1) */
int fesf_run_site_figure_path(char *buf, const char *out, int site, const char *name);
/* out/site-NNN/train-state-IIII.h5: a training's state that stays at site
 * NNN (SCAFFOLD's control variate), beside the coordinator's ckpt-IIII.h5;
 * the folder is created. 0 or -1. _list: the numbers there, highest first
 * (as fesf_run_ckpt_list). */
int fesf_run_site_state_path(char *buf, const char *out, int site, long index);
int fesf_run_site_state_list(const char *out, int site, long **idx);
/* Site NNN's secret key for the keyed IHM options (ihm.key): auto reads
 * out/site-NNN/ihm.key (16 hex digits, 0600), making it from the system's
 * CSPRNG (getrandom) on first use, so reruns in the folder are bit-identical
 * and a new folder gets a new key; seed derives it from `seed` and the site
 * (reproducible, not secret). Only the site's own ranks call it. 0 or -1. */
int fesf_run_site_key(const char *out, int site, int mode, uint64_t seed, uint64_t *key);

/* The name of a training input ("plain", "synthetic", "surrogate"). */
const char *fesf_run_input_name(int input);

/* Write a text file's stamp line (the first line of summary.tsv, audit.tsv;
 * `html` wraps it in a comment, for markdown). 0 or -1. */
int fesf_stamp_text(FILE *f, const fesf_stage *s, int html);

/* Is every output of stage s that `site` holds stamped with s's hash?
 * site 0: the coordinator's outputs (hosts.h5, iqem.h5, train-*, audit*);
 * site k >= 1: what site k's shard (and local G) hold. Returns 1 (all
 * current), 0 (stale: why says which output and how, e.g. "site-002.h5
 * /synthetic: made by another config") or -1 on a real error. */
int fesf_run_stage_current(const fesf_config *cfg, const fesf_stage *s, int site, char *why, size_t size);

/* stages.ini: record that stage s finished (rank 0), and read the keys an
 * earlier run recorded for a stage name (0, or -1 with old[0] = 0 if none). */
int fesf_run_record_stage(const char *out, const fesf_stage *s);
int fesf_run_recorded_keys(const char *out, const char *name, char *old, size_t size);

/* Remove shards site-NNN.h5 numbered from `first` on (left by a run with
 * more sites), so that counting shards finds the current ones only. */
int fesf_run_remove_shards_from(const char *out, int first);

/* hosts.h5 (hosts.c): load the host image (fixed mode: row host_index) or
 * the whole pool (random mode); *out is malloc'ed [K, C, H, W] float, or
 * [K, C, D, H, W] for volumes (*d > 1; 1 for images). */
#include <stdint.h>
int fesf_hosts_load(const char *path, int host_mode, int host_index, float **out, int64_t *k, int *c, int *h,
                    int *w, int *d);


#endif
