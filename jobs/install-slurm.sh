#!/bin/sh
# Install Debian's SLURM (slurmctld, slurmd, the client commands) and munge, for the
# job scripts in jobs/ and the one-node test cluster of `make check-slurm`.
# POSIX sh. Idempotent: silent when everything is installed; otherwise says what it
# installs. Needs root (or sudo) and Debian's apt; never starts or enables a daemon.
set -e
missing=""
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_cmd slurmctld slurmctld
need_cmd slurmd slurmd
need_cmd sbatch slurm-client
need_cmd munged munge
[ -z "$missing" ] && exit 0

command -v apt-get >/dev/null 2>&1 || {
    echo "install-slurm: apt-get not found; install by hand:$missing" >&2
    exit 1
}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-slurm: need root or sudo to install:$missing" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-slurm: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101: the packages' postinst scripts must not start the system daemons
# (the test cluster starts its own, from a temporary directory); removed again on exit
rcd=/usr/sbin/policy-rc.d
log=$(mktemp "${TMPDIR:-/tmp}/install-slurm.XXXXXX")
own_rcd=""
trap 'rm -f "$log"; if [ -n "$own_rcd" ]; then $SUDO rm -f "$rcd"; fi' EXIT
if [ ! -e "$rcd" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$rcd" >/dev/null && $SUDO chmod 755 "$rcd" && own_rcd=1
fi
# apt-get update only when the package lists do not know slurmd (fresh container)
apt-cache show slurmd >/dev/null 2>&1 || $SUDO apt-get update -q >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
if ! $SUDO apt-get install -y -q --no-install-recommends slurm-wlm slurmctld slurmd slurm-client munge >"$log" 2>&1; then
    tail -20 "$log" >&2
    echo "install-slurm: apt-get install failed" >&2
    exit 1
fi
echo "install-slurm: done ($(slurmd -V 2>/dev/null), $(munged -V 2>/dev/null | awk '{print $1}'))"
