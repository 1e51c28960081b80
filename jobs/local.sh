#!/bin/sh
# fesf on one machine without SLURM: what jobs/fesf.sbatch does, with mpirun.
#   jobs/local.sh CONFIG [--set section.key=value]... [-v|-q]
#   jobs/local.sh configs/demo.ini --set train.rounds=5
# runs `mpirun --oversubscribe -np SITES+1 fesf run CONFIG ...` (rank 0 coordinates, one rank per
# site of data.sites after the --set overrides) and prints where the report is. The run
# directory is the config's run.out (a second run continues there: stages whose outputs exist
# and match are skipped) unless --set run.out=DIR, FESF_SET or FESF_OUT says otherwise.
# Environment: FESF_BIN (default bin/fesf of this checkout, else fesf on PATH), FESF_SET (extra
# "section.key=value ..." overrides, the command line wins), FESF_OUT (the run directory),
# NP (ranks; default data.sites + 1, at most that; fewer makes sites share ranks),
# MPIRUN_FLAGS (extra mpirun options). As root, sets Open MPI's OMPI_ALLOW_RUN_AS_ROOT*.
# POSIX sh.
set -eu
die() { echo "local.sh: error: $*" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then die "usage: jobs/local.sh CONFIG [--set section.key=value]... [-v|-q]"; fi
CONFIG=$1
shift
[ -r "$CONFIG" ] || die "config '$CONFIG' not found or not readable"
if [ -z "${FESF_BIN:-}" ]; then
    if [ -x "$here/bin/fesf" ]; then FESF_BIN=$here/bin/fesf
    else FESF_BIN=$(command -v fesf) || die "no fesf binary: build it (make) or set FESF_BIN=/path/to/fesf"
    fi
fi
[ -x "$FESF_BIN" ] || die "FESF_BIN '$FESF_BIN' is not an executable file"
command -v mpirun >/dev/null 2>&1 || die "mpirun not found (Debian: apt-get install openmpi-bin, or make deps)"

# ini_get FILE SECTION KEY: the key's last value in FILE (empty when absent); INI as libinih
# reads it: ';'/'#' comment lines, ' ;' inline comments, '=' or ':' separators.
ini_get() {
    awk -v sec="$2" -v key="$3" '
        { sub(/\r$/, "") }
        /^[ \t]*[;#]/ { next }
        /^[ \t]*\[/ { s = $0; sub(/^[ \t]*\[/, "", s); sub(/\].*$/, "", s); gsub(/^[ \t]+|[ \t]+$/, "", s); cur = s; next }
        cur == sec && match($0, /[=:]/) {
            k = substr($0, 1, RSTART - 1); v = substr($0, RSTART + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", k); sub(/[ \t]+;.*$/, "", v); gsub(/^[ \t]+|[ \t]+$/, "", v)
            if (k == key) val = v
        }
        END { printf "%s", val }' "$1"
}
# The --set overrides (FESF_SET, then the command line; the last wins) of data.sites and run.out
sites="" out="" prev=""
for s in ${FESF_SET:-} $(for a in "$@"; do [ "$prev" = --set ] && printf '%s\n' "$a"; case $a in --set=*) printf '%s\n' "${a#--set=}" ;; esac; prev=$a; done); do
    case $s in data.sites=*) sites=${s#*=} ;; run.out=*) out=${s#*=} ;; esac
done
# (the loop above splits values at blanks: fine for these two keys)
[ -n "$sites" ] || sites=$(ini_get "$CONFIG" data sites)
[ -n "$sites" ] || sites=$("$FESF_BIN" help config 2>/dev/null | awk '$1 == "data.sites" && $2 == "=" { print $3; exit }')
case $sites in '' | *[!0-9]*) die "cannot read data.sites from '$CONFIG' (got '$sites')" ;; esac
[ -n "$out" ] || out=${FESF_OUT:-}
[ -n "$out" ] || out=$(ini_get "$CONFIG" run out)
[ -n "$out" ] || out=$("$FESF_BIN" help config 2>/dev/null | awk '$1 == "run.out" && $2 == "=" { print $3; exit }')

np=${NP:-$((sites + 1))}
case $np in '' | *[!0-9]*) die "NP = '$np': expected a number of ranks" ;; esac
[ "$np" -ge 2 ] || die "NP = $np: fesf needs a coordinator and at least one site rank (data.sites = $sites: NP=$((sites + 1)))"
[ "$np" -le $((sites + 1)) ] || die "NP = $np but '$CONFIG' has data.sites = $sites: at most $((sites + 1)) ranks (one per site plus the coordinator)"

if [ "$(id -u)" -eq 0 ]; then # Open MPI refuses root without these
    export OMPI_ALLOW_RUN_AS_ROOT="${OMPI_ALLOW_RUN_AS_ROOT:-1}" OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}"
fi

# When a rank fails, Open MPI sends the others SIGTERM and SIGKILL one second later; a rank that
# cannot run its handler in that second (a busy machine, an fsync) leaves its NAME.tmp behind. Give
# the ranks 5 s, as SLURM's KillWait gives them 30 (the user's own setting wins).
export OMPI_MCA_odls_base_sigkill_timeout="${OMPI_MCA_odls_base_sigkill_timeout:-5}"

# fesf run CONFIG --set run.out=OUT [FESF_SET as --set ...] "$@": append, then rotate the
# user's n arguments to the end (POSIX sh has no arrays)
n=$#
set -- "$@" --set "run.out=$out"
for s in ${FESF_SET:-}; do set -- "$@" --set "$s"; done
i=0
while [ $i -lt $n ]; do set -- "$@" "$1"; shift; i=$((i + 1)); done

echo "local.sh: mpirun -np $np ($sites sites + coordinator) $FESF_BIN run $CONFIG $*"
# shellcheck disable=SC2086
mpirun --oversubscribe -np "$np" ${MPIRUN_FLAGS:-} "$FESF_BIN" run "$CONFIG" "$@" || {
    rc=$?
    echo "local.sh: fesf run failed (exit $rc)" >&2
    exit $rc
}
[ -f "$out/report.md" ] || die "fesf run ended but '$out/report.md' is missing"
echo "local.sh: report in $out/report.md (run directory $out)"
