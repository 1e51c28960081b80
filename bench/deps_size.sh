#!/bin/sh
# What `make demo` and `make deps` install on a bare Debian: apt's own install
# plan (apt-get -s, --no-install-recommends as jobs/install-deps.sh) computed
# against an empty package database, and the sum of the planned packages'
# Installed-Size. An upper bound: a real system already has libc and friends,
# which both sets share.
RUN="gcc make pkg-config openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools libfftw3-dev libfftw3-mpi-dev
libopenblas-dev libinih-dev libzip-dev zlib1g-dev libpng-dev libcairo2-dev libsodium-dev"
TESTS="libcmocka-dev python3-numpy python3-h5py python3-torch python3-mpmath"
EMPTY=$(mktemp)
trap 'rm -f "$EMPTY"' EXIT
plan() { # PACKAGES...: "N packages, M MiB" of apt's plan from nothing
    # shellcheck disable=SC2086
    apt-get -s -q -o Dir::State::Status="$EMPTY" install --no-install-recommends "$@" 2>/dev/null |
        sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' |
        while read -r pv; do apt-cache show "$pv" 2>/dev/null | sed -n 's/^Installed-Size: //p' | head -1; done |
        awk '{ n++; kib += $1 } END { printf "%d packages, %.0f MiB installed\n", n, kib / 1024 }'
}
# shellcheck disable=SC2086
echo "make demo (build and run):  $(plan $RUN)"
# shellcheck disable=SC2086
echo "make deps (and the tests):  $(plan $RUN $TESTS)"
echo "  python3-torch on its own:  $(plan python3-torch)"
