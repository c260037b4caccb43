#!/bin/sh
# Runs every unit test binary given as an argument; fails on the first failure. On a CPU with
# AVX-512F each test runs twice: with the library's AVX-512 kernels and with GULM_NO_AVX512=1
# (the AVX2 / OpenBLAS paths that CPUs without AVX-512 take), so one machine checks both.
set -u
pass=0
fail=0
modes=default
grep -qw avx512f /proc/cpuinfo 2>/dev/null && modes="default no-avx512"
for t in "$@"; do
	for m in $modes; do
		tag=$t
		[ "$m" = default ] || tag="$t (GULM_NO_AVX512=1)"
		if if [ "$m" = default ]; then "$t"; else GULM_NO_AVX512=1 "$t"; fi >/dev/null 2>tests/unit.err; then
			pass=$((pass + 1))
			echo "ok   $tag"
		else
			fail=$((fail + 1))
			echo "FAIL $tag"
			sed 's/^/    /' tests/unit.err
		fi
	done
done
rm -f tests/unit.err
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
