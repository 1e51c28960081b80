/* The privacy audit (`fesf audit`, a stage of `fesf run`): a learned
 * inversion attack against the images the sites release.
 *
 * Threat model: the attacker knows the algorithm, ihm.alpha/beta, the host
 * (fixed mode; the pool in random and keyed modes), G, iqem.alpha2/beta2 and
 * the keyed options' settings (not a site's key: it draws its own noise,
 * betas and hosts), and holds the public images (the host pool). On the
 * coordinator it makes released images of augmented public images
 * (intensity x U(0.9, 1.1); no flips or shifts, which would blur what it
 * learns of the anatomy's fixed position), exactly as a site would, and trains an 8-layer
 * CNN (model arch attack-cnn, audit.width channels, batch norm) to map them
 * back to the plaintext: MSE, Adam (audit.lr), audit.epochs passes,
 * minibatch audit.batch. The trained attacker goes to every site, which
 * reconstructs its own test images from what it released (/synthetic and,
 * with IQEM, /surrogate) and scores the reconstructions against its
 * plaintext; only sums of PSNR and SSIM leave the site. Baselines, scored
 * the same way: the host image, the mean public image (the best guess
 * without the released image: the prior), and the released image itself.
 * The privacy figure is the attack's advantage over the prior, in dB and SSIM.
 *
 * Second, a linkage attack at every site (src/audit/linkage.h): matching
 * each released test image to a gallery of plaintext images (the site's test
 * images and the public images) by the amplitude the equations let the
 * attacker recover inside the mask; it reports top-1/top-5 re-identification
 * against chance and membership inference (AUC, TPR at 1% and 0.1% FPR),
 * per site and pooled. Only the counts and the membership scores leave the
 * site.
 *
 * Outputs in run.out: audit.tsv (per target: every site and "all",
 * image-weighted means), audit.md (the report's table), audit-TARGET.h5 (the
 * attacker, format fesf-model) and site-NNN/figures/audit-TARGET.png
 * (written by the site: four test images as columns titled plaintext |
 * released (TARGET) | reconstruction | prior (public mean), png.h's titled
 * grid). */
#ifndef FESF_AUDIT_H
#define FESF_AUDIT_H

#include <stdint.h>

#include "fesf/config.h"
#include "fesf/world.h"

/* Run the audit over the world (rank 0 trains the attackers, ranks that own
 * shards score them). Needs hosts.h5 and the shards' /synthetic (and
 * /surrogate with iqem.h5 when iqem.enabled). 0 or -1. */
int fesf_audit_run(const fesf_config *cfg, const fesf_world *w);

/* Copy run_out/audit.md (the report's audit section, written by
 * fesf_audit_run) to out without its stamp line; nothing if absent. */
#include <stdio.h>
void fesf_audit_md_copy(FILE *out, const char *run_out);

/* Membership figures from distances (lower = more likely a member):
 * AUC = P(d_member < d_nonmember) + P(=) / 2; TPR at a false-positive rate
 * fpr: with k = floor(fpr * nn) and the non-members' distances sorted, the
 * share of members strictly below the (k+1)-th smallest (so at most k
 * non-members are called members; 1 when k >= nn). NAN when a side is empty. */
double fesf_mia_auc(const double *member, int64_t np, const double *nonmember, int64_t nn);
double fesf_mia_tpr_at(const double *member, int64_t np, const double *nonmember, int64_t nn, double fpr);

/* One row of run_out/audit.tsv (target "synthetic" | "surrogate", site "all"
 * or the site number): image count and image-weighted mean figures. 0, or -1
 * when the file or the row is absent. */
enum { FESF_AUDIT_COLS = 18 };
typedef struct {
    double images, psnr_attack, ssim_attack, psnr_prior, ssim_prior, psnr_host, ssim_host, psnr_released,
        ssim_released, advantage_db, advantage_ssim;
    double reid_top1, reid_top5, chance_top1, chance_top5; /* linkage: re-identification rates */
    double mia_auc, mia_tpr_1pct, mia_tpr_01pct;          /* linkage: membership */
} fesf_audit_row;
int fesf_audit_row_read(const char *run_out, const char *target, const char *site, fesf_audit_row *r);

#endif
