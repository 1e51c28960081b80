/* Internal to src/audit: the auditor's state, shared by the stage
 * (audit.c: training, scoring, gathering) and its report (audit_report.c:
 * audit.tsv, audit.md and their readers). */
#ifndef FESF_AUDIT_INTERNAL_H
#define FESF_AUDIT_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "fesf/config.h"
#include "fesf/ihm.h"
#include "fesf/ihm3d.h"
#include "fesf/model.h"
#include "fesf/stage.h"
#include "fesf/world.h"
#include "linkage.h"

#define FIG_ROWS 4
enum { TARGET_SYN, TARGET_SUR, N_TARGETS };
static const char *const target_names[N_TARGETS] = {"synthetic", "surrogate"};

/* Per (target, site) sums: images, then PSNR / SSIM against the plaintext of
 * the reconstruction, the prior, the host and the released image. */
enum { S_N, S_ATT_P, S_ATT_S, S_PRI_P, S_PRI_S, S_HOST_P, S_HOST_S, S_REL_P, S_REL_S, S_LEN };
/* Membership figures per (target, site; pooled last), on the coordinator. */
enum { M_AUC, M_TPR1, M_TPR01, M_LEN };

typedef struct {
    const fesf_config *cfg;
    const fesf_world *w;
    int n_sites, n_targets, c, h, wd, batch;
    int d;                 /* volumes' depth (1: images); items are [C, D, H, W] */
    int targets[N_TARGETS]; /* TARGET_* in the order audited */
    int64_t n_pub;
    size_t img;
    float *pub;            /* [K, C, H, W] the public images (host pool) */
    float *prior;          /* [C, H, W] their mean */
    const float *host;     /* [C, H, W] the fixed host (in pub), or NULL in random mode */
    fesf_model *gen;       /* G (coordinator, surrogate target) */
    fesf_model *att;       /* the attacker */
    fesf_ihm_any ihm1, ihm2; /* the two IHM passes (2-D, or 3-D for volumes) */
    float *x, *rel;        /* [batch, C, H, W] the attacker's training batch: plaintext, released (coordinator) */
    float *rec;            /* [batch, C, H, W] reconstructions (sites) */
    float *opt;            /* Adam state [2 * params] */
    float *ssim_scratch;
    float *grid;           /* [FIG_ROWS * 4, C, H, W] (a volume's middle plane) */
    int32_t *order;        /* [K] */
    double *sums;          /* [N_TARGETS][n_sites][S_LEN] */
    double *lsums;         /* [N_TARGETS][n_sites][LK_LEN] linkage sums */
    double *mfig;          /* [N_TARGETS][n_sites + 1][M_LEN] membership figures (coordinator) */
    double **scores;       /* [n_sites] this rank's sites' membership scores: n test, then n_pub */
    uint64_t att_key;      /* the attacker's own draws of the keyed options (it has no site's key) */
    uint64_t att_id;
    fesf_stage stage;      /* stamped on audit.tsv, audit.md and audit-TARGET.h5 */
} auditor;

static inline double fesf_audit_mean(const double *s, int k) { return s[S_N] > 0 ? s[k] / s[S_N] : NAN; }

/* One row's figures: inversion sums, linkage sums, membership figures. */
typedef struct {
    double s[S_LEN], l[LK_LEN], m[M_LEN];
} fesf_audit_view;

static inline double fesf_audit_rate(const fesf_audit_view *v, int k) { return v->l[LK_N] > 0 ? v->l[k] / v->l[LK_N] : NAN; }

/* Site s's row (s in 0..n_sites-1), or the pooled one (s = n_sites). */
void fesf_audit_view_of(const auditor *a, int target, int site, fesf_audit_view *v);
/* audit.tsv and audit.md (coordinator). 0 or -1. */
int fesf_audit_write_tsv(const auditor *a);
int fesf_audit_write_md(const auditor *a);

#endif
