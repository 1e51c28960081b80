#!/bin/sh
# Install the Debian packages fesf needs to build, test and run (make deps), or with
# --run only what building and running need (make demo: no cmocka, no Python stack,
# whose python3-torch pulls in Qt, FFmpeg and OpenCV).
# Idempotent: checks first (pkg-config, commands, Python modules) and installs only
# what is missing, saying what. Needs root (or sudo) and Debian's apt.
set -e
tests=1
[ "${1:-}" = "--run" ] && tests=0
PY=/usr/bin/python3
missing=""

need_pc()  { pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_py()  { [ -x "$PY" ] && "$PY" -c "import $1" 2>/dev/null || missing="$missing $2"; }

command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
need_cmd gcc gcc
need_cmd g++ g++
need_cmd make make
need_cmd mpirun openmpi-bin
need_pc ompi-c libopenmpi-dev
need_pc hdf5-openmpi libhdf5-openmpi-dev
need_cmd h5dump hdf5-tools
need_pc fftw3f libfftw3-dev
[ -e /usr/lib/x86_64-linux-gnu/libfftw3f_mpi.so ] || [ -n "$(ls /usr/lib/*/libfftw3f_mpi.so 2>/dev/null)" ] \
    || missing="$missing libfftw3-mpi-dev"
need_pc openblas libopenblas-dev
need_pc inih libinih-dev
need_pc libzip libzip-dev
need_pc zlib zlib1g-dev
need_pc libpng libpng-dev
need_pc cairo libcairo2-dev
need_pc libsodium libsodium-dev
# the clinical volume readers: libnifti2 has no pkg-config file, and dcmtk.pc needs the -dev packages of
# libraries fesf does not use (libssl, sndfile, libtiff): their headers are the test
[ -e /usr/include/nifti/nifti2_io.h ] || missing="$missing libnifti2-dev"
[ -e /usr/include/dcmtk/dcmdata/dcfilefo.h ] || missing="$missing libdcmtk-dev"
if [ $tests -eq 1 ]; then # the tests' and cross-checks' own
    need_pc cmocka libcmocka-dev
    need_py numpy python3-numpy
    need_py h5py python3-h5py
    need_py torch python3-torch
    need_py mpmath python3-mpmath
    need_py nibabel python3-nibabel
    need_py pydicom python3-pydicom
fi
what="make deps"
[ $tests -eq 1 ] || what="make demo"
if [ -z "$missing" ]; then
    echo "$what: all dependencies present"
    exit 0
fi
echo "$what: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
