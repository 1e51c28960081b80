/* The privacy audit (`fesf audit`, a stage of `fesf run`): a learned
 * inversion attack against the images the sites release.
 *
 * Threat model: the attacker knows the algorithm, ihm.alpha/beta, the host
 * (fixed mode; the pool in random mode), G and iqem.alpha2/beta2, and holds
 * the public images (the host pool). On the coordinator it makes released
 * images of augmented public images (flips, shifts of up to 2 pixels,
 * intensity x U(0.9, 1.1)), exactly as a site would, and trains an 8-layer
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
 * Outputs in run.out: audit.tsv (per target: every site and "all",
 * image-weighted means), audit.md (the report's table), audit-TARGET.h5 (the
 * attacker, format fesf-model) and site-NNN/figures/audit-TARGET.png
 * (plaintext | released | reconstruction | prior, written by the site). */
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

/* One row of run_out/audit.tsv (target "synthetic" | "surrogate", site "all"
 * or the site number): image count and image-weighted mean figures. 0, or -1
 * when the file or the row is absent. */
enum { FESF_AUDIT_COLS = 11 };
typedef struct {
    double images, psnr_attack, ssim_attack, psnr_prior, ssim_prior, psnr_host, ssim_host, psnr_released,
        ssim_released, advantage_db, advantage_ssim;
} fesf_audit_row;
int fesf_audit_row_read(const char *run_out, const char *target, const char *site, fesf_audit_row *r);

#endif
