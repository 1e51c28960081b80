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
 * attacker, format fesf-model) and figures/audit-TARGET-site-NNN.png
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

/* Hash of the keys the audit depends on (data, ihm, iqem, audit, run.seed),
 * written into audit.tsv so that `fesf run` can tell a valid audit. */
uint64_t fesf_audit_hash(const fesf_config *cfg);

/* 1 if run.out/audit.tsv exists and was made with this config's hash. */
int fesf_audit_valid(const fesf_config *cfg);

#endif
