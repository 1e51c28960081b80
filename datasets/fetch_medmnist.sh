#!/bin/sh
# Download official MedMNIST .npz files from Zenodo and check their MD5 sums.
#
#   datasets/fetch_medmnist.sh [-d DIR] [-s SIZE] NAME...
#
#   NAME   pathmnist chestmnist dermamnist octmnist pneumoniamnist retinamnist
#          breastmnist bloodmnist tissuemnist organamnist organcmnist organsmnist
#   -d     target folder (default: datasets/medmnist next to this script,
#          ignored by git); files keep their official names, NAME.npz for
#          28 px and NAME_SIZE.npz for the larger sizes
#   -s     28 (default): MedMNIST v2, Zenodo record 6496656, every NAME;
#          64, 128 or 224: MedMNIST+, Zenodo record 10519652, only
#          pneumoniamnist and breastmnist
#
# The MD5 sums are those of the INFO table in medmnist/info.py (v2.1.0 for
# 28 px, v3.0.2 for the larger sizes). A file is kept only if its sum
# matches; an existing file with the right sum is not downloaded again.
# Example:  sh datasets/fetch_medmnist.sh pneumoniamnist
#           -> datasets/medmnist/pneumoniamnist.npz (configs/pneumoniamnist.ini)
set -eu

usage() {
    sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

die() {
    echo "fetch_medmnist: $*" >&2
    exit 1
}

# md5_of NAME SIZE: the published sum, empty if the pair is not known.
md5_of() {
    case "$1:$2" in
    pathmnist:28) echo a8b06965200029087d5bd730944a56c1 ;;
    chestmnist:28) echo 02c8a6516a18b556561a56cbdd36c4a8 ;;
    dermamnist:28) echo 0744692d530f8e62ec473284d019b0c7 ;;
    octmnist:28) echo c68d92d5b585d8d81f7112f81e2d0842 ;;
    pneumoniamnist:28) echo 28209eda62fecd6e6a2d98b1501bb15f ;;
    retinamnist:28) echo bd4c0672f1bba3e3a89f0e4e876791e4 ;;
    breastmnist:28) echo 750601b1f35ba3300ea97c75c52ff8f6 ;;
    bloodmnist:28) echo 7053d0359d879ad8a5505303e11de1dc ;;
    tissuemnist:28) echo ebe78ee8b05294063de985d821c1c34b ;;
    organamnist:28) echo 866b832ed4eeba67bfb9edee1d5544e6 ;;
    organcmnist:28) echo 0afa5834fb105f7705a7d93372119a21 ;;
    organsmnist:28) echo e5c39f1af030238290b9557d9503af9d ;;
    pneumoniamnist:64) echo 8f4eceb4ccffa70c672198ea285246c6 ;;
    pneumoniamnist:128) echo 05b46931834c231683c68f40c47b2971 ;;
    pneumoniamnist:224) echo d6a3c71de1b945ea11211b03746c1fe1 ;;
    breastmnist:64) echo 742edef2a1fd1524b2efff4bd7ba9364 ;;
    breastmnist:128) echo 363e4b3f8d712e9b5de15470a2aaadf1 ;;
    breastmnist:224) echo b56378a6eefa9fed602bb16d192d4c8b ;;
    *) echo "" ;;
    esac
}

# file_of NAME SIZE: the official file name.
file_of() {
    if [ "$2" = 28 ]; then echo "$1.npz"; else echo "$1_$2.npz"; fi
}

url_of() {
    if [ "$2" = 28 ]; then
        echo "https://zenodo.org/records/6496656/files/$(file_of "$1" "$2")?download=1"
    else
        echo "https://zenodo.org/records/10519652/files/$(file_of "$1" "$2")?download=1"
    fi
}

md5_file() {
    if command -v md5sum >/dev/null 2>&1; then
        md5sum "$1" | cut -d ' ' -f 1
    elif command -v md5 >/dev/null 2>&1; then
        md5 -q "$1"
    else
        die "need md5sum or md5"
    fi
}

download() { # URL FILE
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -O "$2" "$1"
    else
        die "need curl or wget"
    fi
}

size=28
dir=$(dirname "$0")/medmnist
while getopts d:s:h opt; do
    case "$opt" in
    d) dir=$OPTARG ;;
    s) size=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
mkdir -p "$dir" || die "cannot create '$dir'"

for name in "$@"; do
    want=$(md5_of "$name" "$size")
    [ -n "$want" ] || die "unknown dataset '$name' at size $size (see -h)"
    out="$dir/$(file_of "$name" "$size")"
    if [ -f "$out" ] && [ "$(md5_file "$out")" = "$want" ]; then
        echo "$out: present, MD5 ok"
        continue
    fi
    part="$out.part"
    echo "downloading $name (size $size) to $out"
    download "$(url_of "$name" "$size")" "$part" || { rm -f "$part"; die "download of '$name' failed"; }
    got=$(md5_file "$part")
    if [ "$got" != "$want" ]; then
        rm -f "$part"
        die "'$name' size $size: MD5 mismatch (got $got, expected $want); file removed"
    fi
    mv "$part" "$out"
    echo "$out: MD5 ok"
done
