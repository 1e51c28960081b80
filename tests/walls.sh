# The walls between the rooms of src/ (docs/architecture.md): each check
# fails naming the offending file and line.
. tests/lib.sh

# wall DESCRIPTION COMMAND...: COMMAND prints the offending "file:line: text" lines
# (comment lines are not code, and are left out)
wall() {
    _d=$1; shift
    "$@" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' >"$TMP/bad"
    if [ -s "$TMP/bad" ]; then
        nok "$_d"
        sed 's/^/#   /' "$TMP/bad" | head -20
    else
        ok "$_d"
    fi
}
# grep the C sources and headers of src/ and include/ for a pattern (-E), outside the given path prefixes
offenders() { # PATTERN ALLOWED-PREFIX...
    pat=$1; shift
    grep -nE -- "$pat" $(find src include -name '*.[ch]' | sort) | while IFS= read -r line; do
        keep=1
        for p in "$@"; do case "$line" in "$p"*) keep=0 ;; esac; done
        [ $keep -eq 1 ] && echo "$line"
    done
}

long_files() {
    find src -name '*.[ch]' | sort | while read -r f; do
        n=$(wc -l <"$f")
        if [ "$n" -gt 600 ]; then echo "$f:$n: $n lines"; fi
    done
}
wall "no file under src/ has more than 600 lines" long_files

# (and src/io/shard_par.c: parallel HDF5's MPI-IO lists, which take the communicator)
wall "MPI (mpi.h, MPI_*) only under src/fed: no header exposes MPI_Comm" offenders '#include <mpi\.h>|\bMPI_(Comm|Request|Status|Datatype|Op|COMM_[A-Z_]+|MAX_[A-Z_]+)\b|\bMPI_[A-Z][a-z_]+[[:space:]]*\(' src/fed/ \
    src/io/shard_par.c

wall "HDF5 (hdf5.h, h5io.h, H5* calls) only under src/io" offenders '#include <(hdf5|H5[A-Za-z]*)\.h>|#include "fesf/h5io\.h"|\bH5[A-Z][A-Za-z0-9_]*[[:space:]]*\(|\bhid_t\b|\bhsize_t\b' \
    src/io/ include/fesf/h5io.h

# (and src/fed/ihm3d_dist.c: FFTW's MPI interface, which takes the communicator)
wall "FFTW (fftw3.h, fftw*_ calls) only under src/ihm" offenders '#include <fftw3(-mpi)?\.h>|\bfftwf?_[a-z_]+[[:space:]]*\(' src/ihm/ \
    src/fed/ihm3d_dist.c

wall "cryptography (sodium.h, crypto_*/sodium_* calls) only in src/fed/secagg.c" offenders '#include <sodium\.h>|\b(crypto|sodium|randombytes)_[a-z0-9_]+[[:space:]]*\(' src/fed/secagg.c

wall "OpenBLAS thread policy in one place (src/nn/blas.c)" offenders '\bopenblas_[a-z_]+[[:space:]]*\(' src/nn/blas.c

# found PATTERN PATH...: grep -nE in just these files or folders
found() { pat=$1; shift; grep -rnE --include='*.[ch]' -- "$pat" "$@"; }

wall "the file formats (src/io) do not depend on the engine (src/nn)" found '#include "fesf/(model|layers|loss|optim)\.h"' src/io include/fesf/model_io.h

wall "no library room includes the CLI's or the benchmarks' header" offenders '#include "fesf/(cli|bench)\.h"' src/cli/ src/bench/ include/fesf/cli.h include/fesf/bench.h

wall "the kernels (IHM, the GAN, quality measures, the layers, the accountant) know no MPI, HDF5 or files" found '#include (<mpi\.h>|<hdf5\.h>|"fesf/(h5io|shard|run_dir|world|fed|fsutil|iqem|hide)\.h")|\bf?open[[:space:]]*\(' \
    src/ihm/ihm.c src/ihm/ihm_naive.c src/iqem/gan.c src/iqem/quality.c src/nn/conv.c src/nn/layers.c src/nn/loss.c \
    src/nn/norm.c src/nn/optim.c src/dp/accountant.c
echo "1..$_n"
