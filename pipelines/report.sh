#!/usr/bin/env bash
# Writes docs/results.md from the outputs of the pipelines (never by hand):
#   pipelines/report.sh [OUT]      (OUT defaults to pipelines/out)
# The page holds one section per benchmark, the CURRENT result of each: the folder of OUT named
# after it (demo, ecoli-demo, ecoli, human, lncrna, lncrna-ensemble, gue, scan), when it holds a results.tsv, rewrites
# its section; a benchmark not re-run keeps the section of its last run from the page as it
# stands (each section states its command, machine, date and budget). Old runs live in git
# history, not in the page. DOCS=DIR writes DIR/results.md instead of docs/results.md (the tests).
# A new benchmark is a function section_NAME below and its NAME in the list at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/pipelines/out}
docs=${DOCS:-$top/docs}
doc=$docs/results.md
mkdir -p "$docs"
machine="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB"

md_table() { # TSV -> markdown table
	awk -F'\t' 'NR == 1 { h = "|"; s = "|"; for (i = 1; i <= NF; i++) { h = h " " $i " |"; s = s "---|" }; print h; print s; next }
		{ r = "|"; for (i = 1; i <= NF; i++) r = r " " $i " |"; print r }' "$1"
}

command_of() { # the command line that made a folder's table (command.txt), else the default
	if [ -s "$1/command.txt" ]; then sed 's/ *$//' "$1/command.txt"; else echo "make -C pipelines $2"; fi
}

train_minutes() { # the wall time the training steps of a folder logged, in minutes (logs in the
	# folder, or in its task folders: gue)
	{ for f in "$1"/lm*.log.tsv "$1"/tuned*.log.tsv "$1"/*/tuned*.log.tsv; do [ ! -s "$f" ] || tail -n 1 "$f" | cut -f 10; done
	  for f in "$1"/cls.*.log.tsv "$1"/*/cls.*.log.tsv; do [ ! -s "$f" ] || tail -n +2 "$f" | cut -f 7; done; } | awk '{ s += $1 } END { printf "%.0f", s / 60 }'
}

run_line() { # the command, when and where a folder's table was made, then $3 (default: the wall
	# time of its training steps)
	echo "Command: \`$(command_of "$1" "$2")\`"
	echo "Run: $(date -u -r "$1/results.tsv" '+%Y-%m-%d %H:%M') UTC on $machine; ${3:-the training steps logged $(train_minutes "$1") min
of wall time in all (one thread each unless the settings say otherwise).}"
}

step_lines() { # one line per LM or classifier log of a folder: steps or epochs, time, validation
	local f
	for f in "$1"/lm*.log.tsv "$1"/tuned*.log.tsv; do
		[ -s "$f" ] || continue
		echo "- \`$(basename "$f" .log.tsv)\`: $(tail -n 1 "$f" | awk -F'\t' '{ printf "%d steps, %.0f s, last validation loss %s nats/token (%s bits/base)", $1, $10, $5, $8 }')"
	done
	for f in "$1"/cls.*.log.tsv; do
		[ -s "$f" ] || continue
		echo "- \`$(basename "$f" .log.tsv)\`: $(awk -F'\t' 'NR > 1 { n++; s += $7; if ($5 != "nan" && (b == "" || $5 < b)) { b = $5; a = $6 } }
			END { printf "%d epochs, %.0f s, best validation loss %s (accuracy %s)", n, s, b, a }' "$f")"
	done
}

settings_line() { [ ! -s "$1/settings.txt" ] || { echo; echo "Settings: $(cat "$1/settings.txt")."; }; }

section_ecoli() { # $1 folder, $2 its name (ecoli-demo or ecoli)
	echo "## E. coli promoters ($2)"
	echo
	run_line "$1" "$2"
	echo
	echo "Test set: 412 promoters, 416 non-promoters (150 bp, k=5 stride 2), test accuracy. Positive class:"
	echo "promoter. The simple baseline is the last row, a one-line rule (\`pipelines/startcodon.awk\`): every"
	echo "promoter window ends 50 bp into its CDS, so a start codon at positions 101-103 marks nearly every"
	echo "promoter. The reference's numbers come from its own split, GPU training and E=400/H=1150 models."
	echo
	md_table "$1/results.tsv"
	settings_line "$1"
	echo
	step_lines "$1"
}
section_ecoli_demo() { section_ecoli "$1" ecoli-demo; }

section_human() {
	echo "## Human language models (human)"
	echo
	run_line "$1" human
	echo
	echo "Trained on chr20 (2 kb records cut at N runs) with the same wall-clock budget each; scored on the"
	echo "held-out chrX slice (2,500 N-free 2 kb chunks). Bits per base = loss / ln 2 / stride. The simple"
	echo "baseline (markov columns) is the best add-one order-k Markov model counted on chr20 and its reverse"
	echo "complement in the same run (\`bin/markov -k 12 -r\`). Reference: whole genome, GPU, E=400 H=1150."
	echo "gain_over_markov: the Markov bits per base minus the LM's (positive: the LM compresses better)."
	echo "The canonical models trained longer are in [models/](../models/README.md)."
	echo
	md_table "$1/results.tsv"
	settings_line "$1"
}

section_lncrna() {
	echo "## lncRNA vs mRNA (lncrna)"
	echo
	run_line "$1" lncrna
	echo
	echo "Sets: test 500+500, challenge 300+300 (mRNAs whose longest ORF covers little of the transcript,"
	echo "lncRNAs with long ORFs), mouse 1000+1000. Positive class mRNA. ulmfit = a human LM fine-tuned on"
	echo "the unlabelled transcripts, then the classifier; nopre = the same classifier from scratch. The"
	echo "baseline columns are the simple baseline of the same run (\`bin/lncbaseline\`: logistic regression"
	echo "on ORF, Fickett, hexamer, k-mer and codon features). Published reference, the best classical"
	echo "tools on these sets: 0.980 / 0.657 / 0.841 accuracy on test / challenge / mouse."
	echo
	md_table "$1/results.tsv"
	settings_line "$1"
	echo
	step_lines "$1"
	[ ! -s "$1/lm.eval" ] || echo "- the LM it started from, on the whole chrX slice: $(tr '\t' '\n' < "$1/lm.eval" | sed -n 's/^bits_per_base=//p') bits/base"
}

section_lncrna_ensemble() {
	echo "## lncRNA vs mRNA, a forward and a backward classifier averaged (lncrna-ensemble)"
	echo
	# the step itself only scores: the training time is its members' (the runs beside it in OUT)
	local m d times=
	for m in $(awk -F'\t' 'NR > 1 && $2 != "ensemble" && !s[$2]++ { print $2 }' "$1/results.tsv"); do
		d=$(dirname "$1")/$m
		[ ! -d "$d" ] || times="$times${times:+, }$m $(train_minutes "$d") min"
	done
	run_line "$1" lncrna-ensemble "the step only scores the
members${times:+, whose training steps logged $times of wall time}."
	echo
	echo "ensemble = the ULMFiT classifiers of the two runs named in the other rows (one reads the"
	echo "transcripts, the other their reverse complements), each record's probabilities the mean of the"
	echo "two (\`clspredict -m A -m B\`); the other rows are each classifier alone. Baseline columns: the"
	echo "simple baseline of the first run. Published reference: 0.980 / 0.657 / 0.841 (test / challenge /"
	echo "mouse)."
	echo
	md_table "$1/results.tsv"
	[ ! -s "$1/settings.txt" ] || { echo; echo "Settings:"; sed 's/^/- /' "$1/settings.txt"; }
}

# GUE: MCC x 100 on test per task and model, beside the published numbers (DNABERT-2 paper,
# Table 4, as ../shared/data/SOURCES.md lists them)
gue_published() {
	cat <<'EOT'
prom_core_all	69.37	70.92 (DNABERT 3-mer)
prom_core_notata	68.04	71.58 (NT-2500M-multi)
prom_core_tata	74.17	78.15 (DNABERT 3-mer)
prom_300_tata	71.59	79.43 (NT-2500M-multi)
tf_0	71.99	71.99 (DNABERT-2)
tf_1	76.06	76.06 (DNABERT-2)
tf_2	66.52	66.52 (DNABERT-2)
mouse_0	56.76	64.23 (DNABERT-2 + GUE pre-training)
mouse_2	79.32	81.28 (DNABERT-2 + GUE pre-training)
mouse_4	52.66	52.66 (DNABERT-2)
EOT
}

section_demo() {
	echo "## Demo: GUE $(awk -F'\t' 'NR == 2 { print $1 }' "$1/results.tsv") from the canonical human LM (demo)"
	echo
	gue_body "$1" demo
	echo
	echo "ulmfit_scratch is ulmfit_fwd's classifier from a random encoder (the same E, H and budget):"
	echo "ulmfit_fwd minus ulmfit_scratch is what the pre-trained LM adds. kmer_lr is the simple baseline,"
	echo "in the same run."
}

section_gue() {
	echo "## GUE benchmark tasks (gue)"
	echo
	gue_body "$1" gue
}

gue_body() { # $1 folder, $2 the target that made it
	run_line "$1" "$2"
	echo
	echo "Test MCC x 100, each test set scored once; everything chosen on dev. ulmfit = the canonical"
	echo "human LM fine-tuned on the task's training sequences, then the classifier with clstrain's"
	echo "defaults (best dev epoch kept), on each strand (ulmfit_fwd on the sequences, ulmfit_rc on their"
	echo "reverse complements), the two classifiers' probabilities averaged; kmer_lr = the simple baseline"
	echo "of the same run (\`bin/kmerlr\`: L2 logistic regression on 1- to 6-mer counts, C chosen on dev);"
	echo "ulmfit_scratch, when present, is ulmfit_fwd without pre-training. Published: DNABERT-2 and the"
	echo "best model of its paper (GPU transformers of 89M-2.5B parameters). Budgets are steps and tokens:"
	echo "a loaded machine gives the same models, later."
	echo
	local t
	t=$(mktemp)
	gue_published > "$t.pub"
	# the table to $t, and the count of tasks where ulmfit is above kmer_lr to $t.wins
	awk -F'\t' -v wins="$t.wins" 'FNR == NR { pub[$1] = $2 "\t" $3; dn[$1] = $2; next }
		FNR == 1 { next }
		{ if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } v[$1, $2] = $4; m[$1, $2] = sprintf("%.1f", 100 * $4); models[$2] = 1
		  sum[$2] += 100 * $4; cnt[$2]++ }
		END {
			h = "task"; nm = split("ulmfit ulmfit_fwd ulmfit_rc ulmfit_scratch kmer_lr", ms, " ")
			pre = "ulmfit_fwd" in models ? "ulmfit_fwd" : "ulmfit"
			for (i = 1; i <= nm; i++) if (ms[i] in models) h = h "\t" ms[i]
			print h "\tDNABERT-2\tbest published"
			for (j = 1; j <= n; j++) {
				r = order[j]
				for (i = 1; i <= nm; i++) if (ms[i] in models) r = r "\t" ((order[j], ms[i]) in m ? m[order[j], ms[i]] : "-")
				print r "\t" (order[j] in pub ? pub[order[j]] : "-\t-")
				if (order[j] in dn) dsum += dn[order[j]]; else dmiss = 1
				if ((order[j], "ulmfit") in v && (order[j], "kmer_lr") in v) {
					t++
					if (v[order[j], "ulmfit"] > v[order[j], "kmer_lr"]) w++; else l = l (l ? ", " : "") order[j]
				}
				# what pre-training adds: the forward classifier against the same one from scratch
				if ((order[j], pre) in v && (order[j], "ulmfit_scratch") in v) {
					pt++
					if (v[order[j], pre] > v[order[j], "ulmfit_scratch"]) pw++; else pl = pl (pl ? ", " : "") order[j]
				}
			}
			if (t) printf "ulmfit is above kmer_lr on %d of %d task(s)%s.\n", w, t, l ? "; not on " l : "" > wins
			if (pt) printf "Pre-training helps (%s above ulmfit_scratch) on %d of %d task(s)%s.\n", pre, pw, pt, pl ? "; it does not on " pl : "" > wins
			if (n < 2) exit
			r = "mean of " n
			for (i = 1; i <= nm; i++) if (ms[i] in models) r = r "\t" (cnt[ms[i]] == n ? sprintf("%.1f", sum[ms[i]] / n) : "-")
			print r "\t" (dmiss ? "-" : sprintf("%.1f", dsum / n)) "\t"
		}' "$t.pub" "$1/results.tsv" > "$t"
	md_table "$t"
	echo
	cat "$t.wins" 2> /dev/null || true
	rm -f "$t" "$t.pub" "$t.wins"
	settings_line "$1"
	echo
	local d
	for d in "$1"/*/; do step_lines "${d%/}" | awk -v t="$(basename "$d")" '{ sub(/^- /, "- " t " "); print }'; done
}

section_scan() {
	echo "## Genome scan (scan)"
	echo
	echo "Command: \`$(command_of "$1" scan)\`"
	echo "Run: $(date -u -r "$1/results.tsv" '+%Y-%m-%d %H:%M') UTC on $machine."
	echo
	echo "The E. coli promoter classifier over the whole E. coli genome, both strands, windows of 150 every"
	echo "10 (\`fa2kmer --window 150 --step 10 | clspredict --bedgraph\`). A test-set gene start (412, never"
	echo "trained on) is found at a threshold when a window on its strand starting near its promoter record"
	echo "scores above it; windows near no annotated start are the negatives; rates per Mb of genome. The"
	echo "simple baseline is the demo's start-codon rule scanned over the same windows. The classifier's"
	echo "training negatives all lie inside genes, so windows between genes, never seen in training, are"
	echo "where its false positives come from."
	echo
	md_table "$1/results.tsv"
	settings_line "$1"
	echo
	echo "Time and memory of each pass (the programs' own summaries; fa2kmer's wall time is the pipe's):"
	echo
	md_table "$1/time.tsv"
	[ ! -s "$1/region.png" ] || { mkdir -p "$docs/fig" && cp "$1/region.png" "$docs/fig/scan-region.png" &&
		echo && echo "![P(promoter) along one region, annotated gene starts marked](fig/scan-region.png)"; }
}

old_section() { # the section NAME of the page as it stands (from its marker to the next)
	[ -s "$doc" ] || return 0
	awk -v m="<!-- section $1 -->" '$0 == m { on = 1; next } /^<!-- section / { on = 0 } on' "$doc"
}

{
	echo "# Results"
	echo
	echo "The current result of each benchmark, written by \`pipelines/report.sh\` from the pipelines' outputs"
	echo "(never by hand). Each section gives the command that made it, the machine, the date and the budget;"
	echo "the demo and the GUE recipe train for fixed steps and tokens (the same numbers on a loaded"
	echo "machine); the other pipelines on wall-clock budgets, so their numbers move with the machine's"
	echo "speed and load. Older runs are in git history."
	echo
	for name in demo ecoli-demo ecoli human lncrna lncrna-ensemble gue scan; do
		body=$(if [ -s "$out/$name/results.tsv" ]; then "section_${name//-/_}" "$out/$name"; else old_section "$name"; fi)
		[ -n "$body" ] || continue
		echo "<!-- section $name -->"
		printf '%s\n\n' "$body"
	done
} > "$doc.tmp"
mv "$doc.tmp" "$doc"
echo "report: wrote $doc ($(wc -c < "$doc") bytes)" >&2
