/* fesf's and its libraries' versions (version.h): MPI, HDF5, FFTW and
 * OpenBLAS (and the kernels it runs) answer through their rooms (src/fed,
 * src/io, src/ihm, src/nn). */
#include "fesf/blas.h"
#include "fesf/ihm.h"
#include "fesf/layers.h"
#include "fesf/version.h"
#include "fesf/world.h"

#include <cairo.h>
#include <png.h>
#include <zip.h>

void fesf_print_versions(FILE *out)
{
    char mpi[256], h5[64], kernels[512];
    fesf_world_mpi_version(mpi, sizeof mpi);
    fesf_h5_version(h5, sizeof h5);
    fesf_blas_kernels(kernels, sizeof kernels);
    fprintf(out, "fesf %s\n", FESF_VERSION);
    fprintf(out,
            "  mpi: %s\n  hdf5: %s\n  fftw: %s\n  openblas: %s\n  openblas kernels: %s\n  conv kernels: %s\n  libzip: %s\n"
            "  libpng: %s\n"
            "  cairo: %s\n  formats: shard %d, hosts %d, model %d\n",
            mpi, h5, fesf_ihm_fftw_version(), fesf_blas_config(), kernels, fesf_conv_kernels(), zip_libzip_version(),
            png_get_libpng_ver(NULL), cairo_version_string(), FESF_SHARD_VERSION, FESF_HOSTS_VERSION,
            FESF_MODEL_VERSION);
}
