/* OpenBLAS policy (see blas.h). */
#include "fesf/blas.h"

#include <cblas.h>

void fesf_blas_set_threads(int n) { openblas_set_num_threads(n > 0 ? n : 1); }

const char *fesf_blas_config(void) { return openblas_get_config(); }
