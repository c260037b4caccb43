#!/bin/sh
# Runs every unit test binary given as an argument; fails on the first failure.
set -u
pass=0
fail=0
for t in "$@"; do
	if "$t" >/dev/null 2>tests/unit.err; then
		pass=$((pass + 1))
		echo "ok   $t"
	else
		fail=$((fail + 1))
		echo "FAIL $t"
		sed 's/^/    /' tests/unit.err
	fi
done
rm -f tests/unit.err
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
