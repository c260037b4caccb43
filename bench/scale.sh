#!/bin/sh
# bench/scale.sh: tokens/s of a data-parallel LM training step (forward, backward, gradient sum,
# AdamW; dropouts on; V=1028, T=70, B=64 rows a rank, weak scaling) at 1, 2, ... MPI ranks of
# one thread each, for the small (E=64 H=256) and reference (E=400 H=1150) shapes, beside
# PyTorch DistributedDataParallel (gloo) at the same ranks, shapes and batch, in the same run.
# C: bench/scale_step under mpirun (alone at 1 rank); also one process with -t 2 (threads over
# shares of a 2 x B batch). PyTorch: bench/scale_ddp.py; skipped with a note when torch is absent.
# Each run prints the median of its timed steps (after one warm-up). The last line is
#   ranks=2 speedup=X.XX
# the reference shape's C tokens/s at 2 ranks over 1 rank.
#
# usage: sh bench/scale.sh          (about 5 minutes on 2 idle cores)
# environment: RANKS ("1 2"; e.g. "1 2 4 8 16" on a 16-core machine), SMALL_STEPS (4),
#   BIG_STEPS (2), SHAPES ("small big"), PYTHON (/usr/bin/python3), B (64)
set -eu
cd "$(dirname "$0")/.."
C=bench/scale_step
PYTHON=${PYTHON:-/usr/bin/python3}
RANKS=${RANKS:-1 2}
SMALL_STEPS=${SMALL_STEPS:-4}
BIG_STEPS=${BIG_STEPS:-2}
SHAPES=${SHAPES:-small big}
B=${B:-64}
[ -x "$C" ] || { echo "bench/scale.sh: $C is not built (run make)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "bench/scale.sh: mpirun not found (sh scripts/install-deps.sh)" >&2; exit 1; }
torch=1
"$PYTHON" -c 'import torch.distributed' 2>/dev/null || {
	torch=0
	echo "note: $PYTHON cannot import torch: PyTorch DDP skipped (apt-get install python3-torch)"
}
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader} OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
t0=$(date +%s)
echo "LM training step, V=1028 T=70 B=$B rows a rank, 3 layers, dropouts on, 1 thread a rank"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(grep -c ^processor /proc/cpuinfo) cores; $(date -u '+%Y-%m-%d %H:%M UTC');" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
tps() { sed -n 's/.* \([0-9]*\) tokens\/s.*/\1/p' "$1"; }
for shape in $SHAPES; do
	case $shape in
	small) E=64 H=256 steps=$SMALL_STEPS ;;
	big) E=400 H=1150 steps=$BIG_STEPS ;;
	*) echo "bench/scale.sh: unknown shape $shape" >&2; exit 1 ;;
	esac
	for r in $RANKS; do
		if [ "$r" -eq 1 ]; then
			"$C" -b "$B" -s "$steps" $E $H > "$tmp/c.$shape.$r"
		else
			mpirun -q -np "$r" --allow-run-as-root --bind-to none "$C" -b "$B" -s "$steps" $E $H > "$tmp/c.$shape.$r"
		fi
		sed 's/^/  C:       /' "$tmp/c.$shape.$r"
		if [ "$torch" = 1 ]; then
			"$PYTHON" bench/scale_ddp.py "$r" $E $H "$steps" "$B" 2>/dev/null | grep '^ranks=' > "$tmp/py.$shape.$r"
			sed 's/^/  PyTorch: /' "$tmp/py.$shape.$r"
		fi
	done
	# one process, two threads over shares of a batch of 2 x B rows (the step of 2 ranks)
	"$C" -t 2 -b $((2 * B)) -s "$steps" $E $H > "$tmp/t.$shape"
	sed 's/^/  C -t 2:  /' "$tmp/t.$shape"
done

echo
printf '%-22s %6s %12s %12s %10s %14s\n' shape ranks "C tok/s" "DDP tok/s" "C/DDP" "C vs 1 rank"
for shape in $SHAPES; do
	case $shape in small) name="small E=64 H=256" ;; big) name="ref E=400 H=1150" ;; esac
	one=$(tps "$tmp/c.$shape.1" 2>/dev/null || true)
	for r in $RANKS; do
		c=$(tps "$tmp/c.$shape.$r")
		p=$( [ -s "$tmp/py.$shape.$r" ] && tps "$tmp/py.$shape.$r" || echo -)
		awk -v n="$name" -v r="$r" -v c="$c" -v p="$p" -v o="$one" 'BEGIN {
			printf "%-22s %6d %12.0f %12s %10s %14s\n", n, r, c, p, (p == "-" || p == 0) ? "-" : sprintf("%.2f", c / p),
				(o == "" || o == 0) ? "-" : sprintf("%.2fx", c / o) }'
	done
	c=$(tps "$tmp/t.$shape")
	awk -v n="$name" -v c="$c" -v o="$one" 'BEGIN { printf "%-22s %6s %12.0f %12s %10s %14s\n", n, "1x-t2", c, "-", "-",
		(o == "" || o == 0) ? "-" : sprintf("%.2fx", c / o) }'
done
echo "elapsed $(($(date +%s) - t0)) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -s "$tmp/c.big.1" ] && [ -s "$tmp/c.big.2" ]; then
	awk -v a="$(tps "$tmp/c.big.1")" -v b="$(tps "$tmp/c.big.2")" 'BEGIN { printf "ranks=2 speedup=%.2f\n", b / a }'
fi
