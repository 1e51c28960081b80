/* OpenBLAS policy in one place: which kernels OpenBLAS runs, how many
 * threads the engine uses, and what OpenBLAS says of itself (for `fesf
 * version` and reports). Threads: GEMM always runs on one thread (OpenBLAS's
 * own threads are off); the engine parallelises over the batch with OpenMP
 * (see conv.c), run.threads threads. Every rank sets run.threads at
 * start-up, so N ranks on N cores do not oversubscribe them; the audit's
 * coordinator raises it while the sites wait.
 *
 * Kernels. A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU when it is
 * loaded and falls back to generic ones (Prescott, SSE3) on a CPU it does not
 * know (Debian's 0.3.21 on recent Xeons), at a fraction of the speed.
 * fesf_blas_autoselect, first thing in main(), before MPI_Init, notices a
 * generic or pre-AVX2 choice on a CPU with AVX-512 (-> SkylakeX) or AVX2 + FMA
 * (-> Haswell) and re-executes the process (same PID, so mpirun and PMIx do
 * not notice) with OPENBLAS_CORETYPE set, since OpenBLAS reads it only when it
 * is loaded. The re-executed process checks that OpenBLAS took the kernels and
 * that they compute (fesf_blas_selfcheck); if not, it re-executes once more
 * with OpenBLAS's own choice. Never when the user set OPENBLAS_CORETYPE, nor
 * with FESF_BLAS_AUTO=0. Environment between the executions (not for users):
 * FESF_BLAS_FROM=<OpenBLAS's own choice> marks an automatic choice,
 * FESF_BLAS_FAILED="<core>: <why>" a rejected one; neither process re-executes
 * again, so nothing loops. Test hooks: FESF_BLAS_TEST_CORENAME=NAME pretends
 * OpenBLAS chose NAME; FESF_BLAS_TEST_SELFCHECK=fail fails the self-check of
 * an automatic choice. */
#ifndef FESF_BLAS_H
#define FESF_BLAS_H

#include <stddef.h>

/* OpenMP threads of the engine = n; OpenBLAS to one thread. */
void fesf_blas_set_threads(int n);
/* OpenBLAS to one thread if fesf_blas_set_threads was never called (the
 * kernels call it: GEMM runs inside the engine's parallel regions). */
void fesf_blas_serial_gemm(void);
/* 1 if OpenBLAS runs AVX-512 kernels (SkylakeX, Cooperlake, SapphireRapids):
 * the convolutions pick their path by it (conv_direct.c) */
int fesf_blas_avx512(void);
/* openblas_get_config(): version, build options and the kernels' core name. */
const char *fesf_blas_config(void);

/* The start-up choice above; argv is main's (NULL-terminated). Returns only
 * if the process keeps its kernels (0), or -1 (error recorded) in the one case
 * that cannot go on: rejected kernels and no way back to OpenBLAS's own. Logs
 * nothing (the rank is not known yet): see fesf_blas_log_choice. */
int fesf_blas_autoselect(char **argv);

/* The kernels to ask for instead of `chosen` (OpenBLAS's choice), or NULL to
 * keep them: "SkylakeX" when a generic or pre-AVX2 core was chosen on a CPU
 * with AVX-512 (F, BW, DQ, VL), "Haswell" on one with AVX2 and FMA. */
const char *fesf_blas_better_core(const char *chosen, int avx512, int avx2_fma);

/* sgemm against a naive double-precision product on a few shapes like the
 * engine's (odd sizes, transposes, leading dimensions, alpha, beta), on one
 * thread, a few milliseconds. 0 if every element is within 1e-5 of the sum of
 * the magnitudes of its terms; -1 with the first failure (or a SIGILL) in
 * why[n]. */
int fesf_blas_selfcheck(char *why, size_t n);

/* The kernels in use and how they were chosen, into buf[n], e.g.
 * "SkylakeX (auto: OpenBLAS chose Prescott on a CPU with AVX-512; GEMM
 * self-check passed)", "Haswell (detected by OpenBLAS)",
 * "SkylakeX (OPENBLAS_CORETYPE=SkylakeX set by the user)". */
void fesf_blas_kernels(char *buf, size_t n);

/* The one log line of the start-up choice, once per process: an automatic
 * choice at info level where `first` (rank 0, or a single process); a
 * rejected or impossible one as a warning on every rank it happened on;
 * nothing when nothing was changed. */
void fesf_blas_log_choice(int first);

#endif
