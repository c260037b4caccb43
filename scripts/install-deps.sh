#!/bin/sh
# Installs the Debian build dependencies that are missing (when run as root).
# Called by `make deps`, which `make check` and `make demo` run first. gnuplot draws the
# figure of pipelines/scan.mk; tests/scan.sh runs bedtools; OpenMPI: data-parallel training
# (tests/mpi.sh).
set -u
need=""
for p in gcc make pkg-config libhts-dev libzstd-dev libopenblas-dev libjansson-dev zlib1g-dev zstd tabix bsdextrautils python3 gnuplot-nox bedtools libopenmpi-dev openmpi-bin; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$need (run as root or: sudo apt-get install$need)" >&2
	exit 1
fi
echo "install-deps: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends $need >&2 || {
	echo "install-deps: apt-get failed" >&2
	exit 1
}
