/* OpenBLAS policy in one place: how many threads GEMM uses, and what
 * OpenBLAS says of itself (for `fesf version` and reports). Every rank
 * sets run.threads at start-up, so N ranks on N cores do not oversubscribe
 * them; the audit's coordinator raises it while the sites wait. */
#ifndef FESF_BLAS_H
#define FESF_BLAS_H

void fesf_blas_set_threads(int n);
/* openblas_get_config(): version, build options and the kernels' core name. */
const char *fesf_blas_config(void);

#endif
