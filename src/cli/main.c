/* fesf: one binary, subcommands dispatched from a table. */
#include "fesf/blas.h"
#include "fesf/cli.h"
#include "fesf/error.h"
#include "fesf/fsutil.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const fesf_command fesf_commands[] = {
    {"run", fesf_cmd_run, "every stage in one job: prepare, hide, enhance, train, audit, report",
     "fesf run CONFIG [--set section.key=value]... [--point I] [--exclude-site K]... [-v|-q]\n"
     "  Runs every stage in one MPI job (rank 0 coordinates): prepare, hide, enhance, training on plain /\n"
     "  synthetic / surrogate images (run.out/train-<input>/) and the audit, skipping each stage whose\n"
     "  outputs exist and match the config, so an interrupted run continues (each training from its\n"
     "  newest checkpoint that fits); then run.out/report.md. SIGTERM, SIGINT or SIGUSR1 during a\n"
     "  training: a checkpoint at the end of the round, one line, exit 75; rerun the same command.\n"
     "  With [sweep] alpha / beta lists: every point in run.out/alpha<A>-beta<B>/, then the frontier\n"
     "  (report.md, figures/frontier.png); --point I runs only point I (0-based, alpha-major; array jobs).\n"
     "  --exclude-site K: the trainings leave site K out from where they resume (see fesf help train)."},
    {"prepare", fesf_cmd_prepare, "ingest a dataset into site shards and a host pool",
     "fesf prepare [-c FILE] [--set section.key=value]... [--site K] [-v|-q]\n"
     "  -c FILE        configuration (INI); defaults are used for keys it omits\n"
     "  --set S.K=V    override one key (any number)\n"
     "  --site K       deployment mode: data.source is site K's own data, data.hosts (required) the public\n"
     "                 host set; writes only site-KKK.h5 and hosts.h5\n"
     "  -v, -q         more or less logging\n"
     "Writes run.out/hosts.h5 and run.out/site-001.h5 ... (simulation mode; hosts.h5 from data.hosts, or\n"
     "else carved from data.source by data.public). Run it as one process or under mpirun (rank 0 does\n"
     "the work)."},
    {"hide", fesf_cmd_hide, "IHM: turn every site's plaintext into synthetic images",
     "fesf hide [-c FILE] [--set section.key=value]... [-v|-q]\n"
     "  Reads run.out/hosts.h5 and run.out/site-NNN.h5 (from 'fesf prepare'); writes\n"
     "  /synthetic/{train,val,test} into each shard with ihm.alpha, ihm.beta, ihm.mask, ihm.host_mode and\n"
     "  ihm.host_index. Under mpirun -np N+1, rank 0 coordinates and ranks 1..N hide the shards (shard s\n"
     "  on rank 1 + (s-1) mod N); a single process hides them all."},
    {"enhance", fesf_cmd_enhance, "IQEM: train the GAN and write every site's surrogate images",
     "fesf enhance [-c FILE] [--set section.key=value]... [--load IQEM.h5] [-v|-q]\n"
     "  Trains the residual generator G against a PatchGAN D on the sites' /synthetic images and the\n"
     "  public host pool (federated: gradients summed at rank 0; iqem.epochs, iqem.lr, iqem.lambda_id),\n"
     "  saves G to run.out/iqem.h5, then writes /surrogate/{train,val,test} = IHM(x, G(x_sy); iqem.alpha2,\n"
     "  iqem.beta2) into each shard with PSNR/SSIM/out-of-range measures as attributes. --load takes G\n"
     "  from a saved iqem.h5 instead of training."},
    {"train", fesf_cmd_train, "federated training of the diagnostic model on the sites' shards",
     "fesf train [-c FILE] [--set section.key=value]... [--resume] [--exclude-site K]... [-v|-q]\n"
     "  Trains model.arch on train.input images (surrogate | synthetic | plain) of run.out/site-NNN.h5\n"
     "  with train.algo (fedsgd | fedavg) for train.rounds rounds, evaluating every train.eval_every\n"
     "  rounds; writes run.out/metrics.jsonl, model.h5 (the best-validation round) and report.md, and\n"
     "  ckpt-RRRR.h5 every run.checkpoint_every rounds. --resume continues from the newest checkpoint\n"
     "  and ends bit-identical to an uninterrupted run. SIGTERM, SIGINT or SIGUSR1 stops every rank at the\n"
     "  end of the round with a checkpoint (exit 75); run.timeout bounds every wait. --exclude-site K: site K\n"
     "  takes no part from the round the training resumes at (or starts) on, its shard unopened, the others'\n"
     "  weights re-normalised; the checkpoints record it, so later resumes keep it out.\n"
     "  Under mpirun -np N+1 rank 0 coordinates and ranks 1..N hold the sites; one process does all."},
    {"audit", fesf_cmd_audit, "privacy audit: a learned inversion attack on the released images",
     "fesf audit [-c FILE] [--set section.key=value]... [-v|-q]\n"
     "  The attacker knows alpha, beta, the host, G and the public host pool (run.out/hosts.h5). Rank 0\n"
     "  trains an 8-layer CNN (audit.width channels, batch norm; audit.epochs of Adam) from released\n"
     "  versions of augmented public images back to the images; every site reconstructs its own released\n"
     "  test images (/synthetic, and /surrogate with IQEM) and scores PSNR / SSIM against its plaintext,\n"
     "  next to the host and the mean public image (the prior). Writes run.out/audit.md, audit.tsv,\n"
     "  audit-<target>.h5 and site-NNN/figures/audit-<target>.png."},
    {"predict", fesf_cmd_predict, "diagnose new images at a site through their surrogates",
     "fesf predict --model MODEL.h5 [--iqem IQEM.h5] [--hosts HOSTS.h5] [-c FILE] [--set S.K=V]...\n"
     "             INPUT... -o OUT.csv [--keep-surrogates SUR.h5] [--logits] [-v|-q]\n"
     "fesf predict --model MODEL.h5 --surrogates SUR.h5 -o OUT.csv [--logits]\n"
     "  Turns each INPUT image into its surrogate exactly as in training (the host of ihm.host_index from\n"
     "  HOSTS.h5, alpha/beta, G from IQEM.h5 and the second IHM pass; defaults run.out/hosts.h5 and\n"
     "  run.out/iqem.h5), classifies it with MODEL.h5 and writes one row per image to OUT.csv: file, label\n"
     "  (empty if none), predicted class, p_<class>... With labels, logs accuracy, balanced accuracy, AUC\n"
     "  and the confusion matrix. The method keys come from the config MODEL.h5 records; -c FILE must\n"
     "  agree with them. INPUT: FILE.npz (MedMNIST-style or one pool; labels optional), npz:PATH,\n"
     "  png:DIR:CSV (file,label[,split]), a folder of PNGs, or PNG files. --keep-surrogates writes the\n"
     "  surrogates to SUR.h5; --surrogates classifies such a file (no plaintext, G or hosts needed).\n"
     "  --logits adds the columns logit_<class>."},
    {"inspect", fesf_cmd_inspect, "summarise a fesf HDF5 file; export image grids as PNG",
     "fesf inspect FILE [--png OUT.png] [--dataset PATH] [--count N] [--config]\n"
     "  --png OUT.png    write a grid of images from an image dataset\n"
     "  --dataset PATH   the dataset for --png (default: the first image dataset)\n"
     "  --count N        images in the grid (default 16)\n"
     "  --config         print the config text stored in the file"},
    {"bench", fesf_cmd_bench, "micro-benchmarks with a machine-readable result line",
     "fesf bench ihm [--size S] [--channels C] [--batch B] [--tenths T]\n"
     "  ihm: IHM images/s against a bare FFTW forward+inverse of the same batch (FFTW_ESTIMATE and\n"
     "       FFTW_MEASURE plans; the ratio is against the faster). Defaults: 64 px, 1 channel, batch 64,\n"
     "       T/10 s in all per candidate (default 10), in 7 interleaved rounds; medians reported.\n"
     "fesf bench train [--model cnn-small|resnet18|iqem-g|iqem-d|attack-cnn] [--width W] [--size S]\n"
     "                 [--channels C] [--batch B] [--threads T] [--classes K] [--tenths T]\n"
     "  train: training images/s (forward + backward + SGD-momentum step) on random data, after a\n"
     "         warm-up; OpenBLAS uses T threads. Defaults: cnn-small width 16, 28 px, batch 64, 1 thread.\n"
     "         The GAN's G and D and the audit's attacker take a softmax over their outputs as the loss.\n"
     "mpirun -np N fesf bench agg [--params P] [--rounds R]\n"
     "  agg: one aggregation round as fesf trains (broadcast P floats from rank 0, sum them back with\n"
     "       sleeping waits) against a bare blocking MPI_Bcast + MPI_Reduce of the same buffer, R\n"
     "       interleaved rounds each (medians), and rank 0's CPU seconds per round in each. Defaults:\n"
     "       P = 11200000 (ResNet-18), R = 10.\n"
     "fesf bench iqem [--size S] [--channels C] [--batch B] [--tenths T]\n"
     "  iqem: images/s of the IQEM generator (width 16) on a batch plus the second IHM pass per image.\n"
     "mpirun -np K fesf bench ihm3d [--size S] [--rounds R] [--ranks-per-site K]\n"
     "  ihm3d: one site of K ranks hides an S^3 volume together (slabs, FFTW's MPI interface): volumes/s\n"
     "         against a bare distributed forward + inverse of the same size, R interleaved rounds\n"
     "         (medians), and the plan's MiB and the peak RSS per rank. Defaults: 128, 5 rounds.\n"
     "Prints one line: bench KIND key=value ..."},
    {"version", fesf_cmd_version, "print the version and the libraries in use",
     "fesf version\n"
     "  fesf's version, the libraries', the OpenBLAS kernels in use and how they were chosen. Where OpenBLAS\n"
     "  picks generic kernels on a CPU with AVX2 or AVX-512, every fesf command but help re-executes itself\n"
     "  with OPENBLAS_CORETYPE=SkylakeX or Haswell (checked by a GEMM self-check), unless the environment\n"
     "  sets OPENBLAS_CORETYPE or FESF_BLAS_AUTO=0. 'conv kernels' names the convolutions' direct kernels\n"
     "  (AVX-512 or AVX2, the CPU's widest; FESF_MAX_ISA=avx2 or none caps them) beside Winograd and im2col."},
    {"help", fesf_cmd_help, "list commands, or explain one ('fesf help config' lists every key)",
     "fesf help [COMMAND | config]"},
    {NULL, NULL, NULL, NULL},
};

const fesf_command *fesf_command_find(const char *name)
{
    for (const fesf_command *c = fesf_commands; c->name; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *name = argc < 2 ? "help" : argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) name = "help";
    if (!strcmp(name, "--version")) name = "version";
    const fesf_command *cmd = fesf_command_find(name);
    /* OpenBLAS's kernels, before anything else (and before MPI_Init): this may
     * re-execute the process with OPENBLAS_CORETYPE set (blas.h); help needs no GEMM */
    if (cmd && cmd->run != fesf_cmd_help && fesf_blas_autoselect(argv)) {
        fprintf(stderr, "fesf: %s\n", fesf_errmsg());
        return FESF_EXIT_FAIL;
    }
    /* Owner-only outputs: a run directory holds sites' plaintext and what derives
     * from it, so every file fesf creates is 0600 and every folder 0700. */
    umask(077);
    fesf_tmp_remove_on_signals(); /* no NAME.tmp outlives a SIGTERM (mpirun ending the job, SLURM) */
    signal(SIGXFSZ, SIG_IGN);     /* past a file-size limit (ulimit -f), write() fails with EFBIG: a message, not a core */
    fesf_h5_start();              /* before MPI (fsutil.h) */
    if (argc < 2) {
        fesf_cmd_help(0, argv);
        return FESF_EXIT_USAGE;
    }
    if (!cmd) {
        fprintf(stderr, "fesf: unknown command '%s'\n", argv[1]);
        fesf_cmd_help(0, argv);
        return FESF_EXIT_USAGE;
    }
    return cmd->run(argc - 1, argv + 1);
}
