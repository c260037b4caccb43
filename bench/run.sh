#!/bin/sh
# bench/run.sh: one LM training step (forward + backward + AdamW, dropouts on, V=1028 B=64 T=70,
# single thread) of the C library against PyTorch on the same shapes, in the same run
# (make bench; the binaries are built by make).
#
# For each shape (small: E=64 H=256; reference: E=400 H=1150; 3 layers) it runs
# bench/bench_lm_step and bench/bench_lm_step.py REPS times each, alternating, so that load on
# the machine hits both alike; each run reports the median of its timed steps. Printed: the
# median over the runs of tokens/s, the ratio C/PyTorch, the achieved GFLOP/s next to what
# cblas_sgemm reaches on the step's largest GEMM shape, and the peak RSS of each.
#
# usage: sh bench/run.sh            (about 4 minutes on a 2.5 GHz AVX-512 core)
# environment: REPS (3), SMALL_STEPS (8), BIG_STEPS (2), PYTHON (/usr/bin/python3), SHAPES
#   ("small big"), CBIN (bench/bench_lm_step: another build to compare)
set -eu
cd "$(dirname "$0")/.."
C=${CBIN:-bench/bench_lm_step}
PY=bench/bench_lm_step.py
PYTHON=${PYTHON:-/usr/bin/python3}
REPS=${REPS:-3}
SMALL_STEPS=${SMALL_STEPS:-8}
BIG_STEPS=${BIG_STEPS:-2}
SHAPES=${SHAPES:-small big}

if [ ! -x "$C" ]; then
	echo "bench/run.sh: $C is not built (run make bench)" >&2
	exit 1
fi
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
	echo "bench/run.sh: $PYTHON cannot import torch (apt-get install python3-torch)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
t0=$(date +%s)

echo "LM training step, V=1028 B=64 T=70, 3 layers, dropouts on, single thread; $REPS runs each"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
for shape in $SHAPES; do
	case $shape in
	small) steps=$SMALL_STEPS ;;
	big) steps=$BIG_STEPS ;;
	*) echo "bench/run.sh: unknown shape $shape" >&2; exit 1 ;;
	esac
	r=1
	while [ "$r" -le "$REPS" ]; do
		"$C" "$steps" "$shape" | grep '^E=' | tee -a "$tmp/c.$shape" | sed 's/^/  C:       /'
		"$PYTHON" "$PY" "$steps" "$shape" | grep '^torch' | tee -a "$tmp/py.$shape" |
			sed 's/^torch [^ ]* /  PyTorch: /'
		r=$((r + 1))
	done
done

# Summary: medians over the runs. Fields are found by the word that follows or precedes them.
summary()
{
	awk '
	function med(a, n,    i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		gf = 0
		for (i = 1; i < NF; i++) {
			if ($(i + 1) == "tokens/s,") tok[++n] = $i
			if ($(i + 1) == "GFLOP/s," && !gf) { flops[n] = $i; gf = 1 }
			if ($i == "sgemm") { shape = $(i + 1); sg[n] = $(i + 2) }
			if ($i == "RSS") rss[n] = $(i + 1)
			if ($i ~ /^E=/) e = $i
			if ($i ~ /^H=/) h = $i
		}
	}
	END {
		printf "%s %s %s|%.0f|%.1f|%s|%.1f|%.0f\n", label, e, h, med(tok, n), med(flops, n),
			shape, (shape == "" ? 0 : med(sg, n)), med(rss, n)
	}' label="$1" "$2"
}

echo
echo "Summary (medians over $REPS runs; GFLOP/s counts the GEMM work of the step):"
printf '%-8s %-14s %10s %8s %9s %22s %10s\n' shape impl tokens/s ratio GFLOP/s \
	"sgemm (largest GEMM)" "peak RSS"
for shape in $SHAPES; do
	c=$(summary C "$tmp/c.$shape")
	p=$(summary PyTorch "$tmp/py.$shape")
	ctok=$(echo "$c" | cut -d'|' -f2)
	ptok=$(echo "$p" | cut -d'|' -f2)
	ratio=$(awk -v a="$ctok" -v b="$ptok" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	cfl=$(echo "$c" | cut -d'|' -f3)
	sg=$(echo "$c" | cut -d'|' -f5)
	pct=$(awk -v a="$cfl" -v b="$sg" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }')
	printf '%-8s %-14s %10s %8s %9s %22s %7s MB\n' "$shape" C "$ctok" "${ratio}x" "$cfl" \
		"$(echo "$c" | cut -d'|' -f4) $sg (C at $pct%)" "$(echo "$c" | cut -d'|' -f6)"
	printf '%-8s %-14s %10s %8s %9s %22s %7s MB\n' "" PyTorch "$ptok" "1.00x" \
		"$(echo "$p" | cut -d'|' -f3)" "" "$(echo "$p" | cut -d'|' -f6)"
done
echo "(goal: C at least 1.5x PyTorch on small, 1.25x on big; $(($(date +%s) - t0)) s)"
