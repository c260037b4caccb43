#!/bin/sh
# Command-table tests (htslib style). Every *.tsv beside this script holds lines
#   EXIT<TAB>STDERR-SUBSTRING<TAB>COMMAND
# COMMAND runs under sh with BIN, DATA and T (a scratch folder made by setup.sh); the case passes
# when the exit status equals EXIT and stderr contains the substring ('-' = anything).
# Each case that is expected to fail must print exactly one message line on stderr.
set -u
cd "$(dirname "$0")/../.."
BIN=$(pwd)/bin
DATA=${DATA:-$(cd ../shared/data 2>/dev/null && pwd)}
T=$(pwd)/tests/tmp/cli
export BIN DATA T
rm -rf "$T" && mkdir -p "$T"
sh tests/cli/setup.sh || { echo "cli: setup failed"; exit 1; }
pass=0
fail=0
for table in tests/cli/*.tsv; do
	n=0
	while IFS='	' read -r want msg cmd; do
		n=$((n + 1))
		case "$want" in '#'* | '') continue ;; esac
		sh -c "$cmd" >"$T/out" 2>"$T/err" </dev/null
		got=$?
		ok=1
		[ "$got" = "$want" ] || ok=0
		if [ "$msg" != "-" ] && ! grep -qF -- "$msg" "$T/err"; then ok=0; fi
		# failures say one line (usage errors may add the "Try --help" hint)
		if [ "$want" != 0 ] && [ "$(grep -vc "^Try '" "$T/err")" -ne 1 ]; then ok=0; fi
		if [ $ok = 1 ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			echo "FAIL $table:$n: exit $got (want $want): $cmd"
			sed 's/^/    stderr: /' "$T/err" | head -5
		fi
	done < "$table"
done
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
