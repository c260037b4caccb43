#!/usr/bin/env bash
# Writes docs/results.md and its figures from the outputs of the pipelines (never by hand):
#   pipelines/report.sh [OUT]      (OUT defaults to pipelines/out)
# Each experiment folder of OUT that holds a results.tsv (re)writes its section,
# docs/results/EXP.md, and its line of the goals, docs/results/EXP.goals (lncRNA: read from the
# section's table when results.md is assembled); gnuplot draws the
# curves from the --log TSVs and the ROC files of clspredict. results.md is then assembled from
# every section file, so an experiment not re-run keeps the section of its last run (each
# section states its date and command). DOCS=DIR writes DIR/results.md, DIR/results/ and
# DIR/fig/ instead of docs/ (the tests). DATA=DIR (default: shared/data beside the repository)
# holds the lncRNA FASTA whose headers (orf=) give each section's recall by ORF length.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/pipelines/out}
docs=${DOCS:-$top/docs}
data=${DATA:-$top/../shared/data} # the lncRNA FASTA headers (orf=) for the recall by ORF length
doc=$docs/results.md
sec=$docs/results
fig=$docs/fig
mkdir -p "$fig" "$sec"
command -v gnuplot > /dev/null || { echo "report: gnuplot not found: install gnuplot-nox (scripts/install-deps.sh does)" >&2; exit 1; }
plot_failed=0 # a figure gnuplot could not draw: the report is written, then the script fails

md_table() { # TSV -> markdown table
	awk -F'\t' 'NR == 1 { h = "|"; s = "|"; for (i = 1; i <= NF; i++) { h = h " " $i " |"; s = s "---|" }; print h; print s; next }
		{ r = "|"; for (i = 1; i <= NF; i++) r = r " " $i " |"; print r }' "$1"
}
machine="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB"

command_of() { # the command line that made a folder's table (command.txt), else the default
	if [ -s "$1/command.txt" ]; then sed 's/ *$//' "$1/command.txt"; else echo "make -C pipelines $2"; fi
}

precise_bn_note() { # a sentence when the folder's classifiers set their BatchNorm statistics by --precise-bn
	local f
	for f in "$1"/cls.*.log.tsv; do
		if [ -s "$f" ] && head -n 1 "$f" | grep -q running_valid_loss && awk -F'\t' 'NR > 1 && $8 != "nan" { ok = 1 } END { exit !ok }' "$f"; then
			echo "The classifiers set their BatchNorm statistics after every epoch from 1,024 training records in"
			echo "eval mode (clstrain --precise-bn, the default since 2026-12-02); the reference keeps the running"
			echo "averages of training, under which each classifier line above also gives the best epoch's validation."
			echo
			return 0
		fi
	done
	return 0
}

cls_summaries() { # one line per clstrain log of a folder: epochs, time, best validation
	local f on
	for f in "$1"/cls.*.log.tsv; do
		[ -s "$f" ] || continue
		# an LN_HARD run's classifier validated on valid's challenge-like quarter only
		on=""
		[ "${f##*/}" = cls.ulmfit.log.tsv ] && grep -qF '(LN_HARD)' "$1/settings.txt" 2> /dev/null && on=" on valid's challenge-like quarter (LN_HARD)"
		echo "- \`$(basename "$f" .log.tsv)\`: $(awk -F'\t' -v on="$on" 'NR > 1 { n++; s += $7; if ($5 != "nan" && (b == "" || $5 < b)) { b = $5; a = $6; rb = $8; ra = $9 } }
			END { printf "%d epochs, %.0f s, best validation loss%s %s (accuracy %s)", n, s, on, b, a
				if (rb != "" && rb != "nan") printf "; that epoch under the running averages of training (no --precise-bn): %s (%s)", rb, ra }' "$f")"
	done
}

class_recalls() { # per lncRNA classifier of a folder: each set's recall of either class (where its errors go)
	local f m line s
	for f in "$1"/cls.*.test.metrics; do
		[ -s "$f" ] || continue
		m=$(basename "$f" .test.metrics) line=""
		for s in test challenge mouse; do
			[ -s "$1/$m.$s.metrics" ] || continue
			line+="${line:+, }$s $(awk -F'\t' '$1 == "sensitivity" { se = $2 } $1 == "specificity" { sp = $2 } END { printf "%.3f / %.3f", se, sp }' "$1/$m.$s.metrics")"
		done
		echo "- \`$m\` recall of mRNA / of lncRNA: $line"
	done
}

hybrid_paired() { # a hybrid folder: the hybrid against its baseline alone, record by record
	# (pipelines/paired: who is right where the other is wrong, the exact McNemar p), and the
	# 95% Wilson interval of the hybrid's accuracy; the FASTA files of $data/lncrna give the truth
	local s line="" r
	for s in test challenge mouse; do
		[ -s "$1/cls.hybrid.$s.tsv" ] && [ -s "$1/cls.baseline.$s.tsv" ] || continue
		[ -s "$data/lncrna/mRNA.$s.fa.gz" ] && [ -s "$data/lncrna/lncRNA.$s.fa.gz" ] || return 0
		r=$("$top/pipelines/paired" -d "$data" "$s" "$1/cls.hybrid.$s.tsv" "$1/cls.baseline.$s.tsv" | tail -n +2)
		line+="${line:+; }$s $(printf '%s\n' "$r" | awk -F'\t' '{ printf "%.3f (%.3f-%.3f), %d / %d, p %.2g", $2, $3, $4, $8, $9, $10 }')"
	done
	[ -n "$line" ] || return 0
	echo "- \`hybrid\` against \`baseline\` alone: accuracy (95% Wilson interval), records only the hybrid / only the baseline gets right, two-sided exact McNemar p (\`pipelines/paired\`): $line"
}

baseline_weights() { # a classical baseline's largest weights (bench/lncbaseline's weights file; a group left out weighs 0 and is not listed)
	# or, for boosted trees, the features with the largest summed split gain (its trees file)
	local w=$1/cls.weights.tsv t=$1/cls.trees.tsv
	[ -s "$t" ] && echo "- the trees' features of largest summed split gain (splits): $(awk -F'\t' 'NR > 1 && $2 != "" { printf "%s%s %.0f (%d)", (n++ ? ", " : ""), $1, $3, $2; if (n == 8) exit }' "$t")"
	[ -s "$w" ] || return 0
	echo "- the baseline's largest weights (per standard deviation of the feature; positive: mRNA): $(awk -F'\t' 'NR > 1 && $2 != "" && $4 != 0 { print ($4 < 0 ? -$4 : $4) "\t" $1 "\t" $4 }' "$w" | sort -g -r | head -n 8 | awk -F'\t' '{ printf "%s%s %+.2f", (NR > 1 ? ", " : ""), $2, $3 }')"
}

orf_recalls() { # a lncRNA folder's main classifier (the ensemble, else ulmfit, hybrid, baseline): its
	# recall of each class by the record's longest forward ORF (orf= of the FASTA headers in
	# $data/lncrna), a table
	local m s c f
	for m in ensemble ulmfit hybrid baseline; do [ -s "$1/cls.$m.test.tsv" ] && break; done
	[ -s "$1/cls.$m.test.tsv" ] || return 0
	for s in test challenge mouse; do
		for c in mRNA lncRNA; do [ -s "$data/lncrna/$c.$s.fa.gz" ] || return 0; done
	done
	echo "Recall of \`$m\` by the longest forward ATG..stop ORF of the transcript (nt; \`orf=\` of the"
	echo "FASTA headers), correct / records:"
	echo
	echo "| set | class | < 150 | 150-299 | 300-599 | 600-1199 | >= 1200 |"
	echo "|---|---|---|---|---|---|---|"
	for s in test challenge mouse; do
		[ -s "$1/cls.$m.$s.tsv" ] || continue
		for c in mRNA lncRNA; do
			f=$data/lncrna/$c.$s.fa.gz
			gzip -dc "$f" | awk -v set="$s" -v cls="$c" -v pred="$1/cls.$m.$s.tsv" '
				function bin(o) { return o < 150 ? 1 : o < 300 ? 2 : o < 600 ? 3 : o < 1200 ? 4 : 5 }
				/^>/ { name = substr($1, 2); for (i = 2; i <= NF; i++) if ($i ~ /^orf=/) orf[name] = substr($i, 5) + 0 }
				END {
					while ((getline line < pred) > 0) {
						split(line, p, "\t")
						if (!(p[1] in orf)) continue
						b = bin(orf[p[1]]); n[b]++; if (p[2] == cls) ok[b]++
					}
					row = "| " set " | " cls " |"
					for (b = 1; b <= 5; b++) row = row " " (n[b] ? (ok[b] + 0) "/" n[b] : "-") " |"
					print row
				}'
		done
	done
	echo
}

plot_curves() { # title, ylabel, column, output png, then label=file or label=file@seconds pairs
	local title=$1 ylabel=$2 col=$3 png=$4
	shift 4
	local cmd="set terminal pngcairo size 900,540 font 'sans,11'; set output '$png'; set title '$title';"
	cmd+=" set xlabel 'training time (s)'; set ylabel '$ylabel'; set key outside right; set grid; set datafile missing 'nan';"
	[ -z "${PLOT_YRANGE:-}" ] || cmd+=" set yrange $PLOT_YRANGE;"
	cmd+=" plot"
	local sep=""
	for pair in "$@"; do
		local label=${pair%%=*} file=${pair#*=} off=0
		case $file in *@*) off=${file##*@} file=${file%@*};; esac
		cmd+="$sep '$file' using (\$10 + $off):(\$$col) every ::1 with linespoints title '$label'"
		sep=","
	done
	gnuplot -e "$cmd" || { echo "report: gnuplot failed for $png" >&2; plot_failed=1; }
}

chain_start() { # seconds of training before an LM log's step: the earlier logs of its chain
	# (lm.X, lm.X.r1, ..., then tuned.X), so that a model's curves follow one another in time
	local f=$1 d n m r prev=() i
	d=$(dirname "$f") n=$(basename "$f" .log.tsv)
	case $n in
		tuned.*) m=${n#tuned.}; prev=("$d/lm.$m.log.tsv"); for i in "$d/lm.$m".r*.log.tsv; do [ -s "$i" ] && prev+=("$i"); done ;;
		lm.*.r*) m=${n#lm.}; r=${m##*.r}; m=${m%.r*}; prev=("$d/lm.$m.log.tsv")
			for ((i = 1; i < r; i++)); do prev+=("$d/lm.$m.r$i.log.tsv"); done ;;
	esac
	for i in "${prev[@]}"; do [ -s "$i" ] && tail -n 1 "$i" | cut -f 10; done | awk '{ s += $1 } END { printf "%.1f", s }'
}

plot_roc() { # title, output png, then label=file pairs
	local title=$1 png=$2
	shift 2
	local cmd="set terminal pngcairo size 640,600 font 'sans,11'; set output '$png'; set title '$title';"
	cmd+=" set xlabel 'false positive rate'; set ylabel 'true positive rate'; set key bottom right; set grid; set size square;"
	cmd+=" plot x with lines dt 2 lc rgb 'gray' notitle"
	for pair in "$@"; do
		local label=${pair%%=*} file=${pair#*=}
		cmd+=", '$file' using 1:2 every ::1 with lines lw 2 title '$label'"
	done
	gnuplot -e "$cmd" || { echo "report: gnuplot failed for $png" >&2; plot_failed=1; }
}

run_line() { # when and where a folder's results were made, and how long it took
	local first steps
	first=$(find "$1" -maxdepth 1 -type f ! -name '*.tmp' -printf '%T@\n' | sort -n | head -n 1)
	# each step as "seconds end": the last line of an LM log, the epochs of a classifier log,
	# ending at the log's mtime; the union of [end - seconds, end] is the wall time of training
	steps=$(for f in "$1"/lm.*.log.tsv "$1"/tuned*.log.tsv; do [ ! -s "$f" ] || echo "$(tail -n 1 "$f" | cut -f 10) $(date -r "$f" +%s)"; done
		for f in "$1"/cls.*.log.tsv; do [ ! -s "$f" ] || echo "$(tail -n +2 "$f" | awk -F'\t' '{ s += $7 } END { print s }') $(date -r "$f" +%s)"; done)
	echo "Run: $(date -u -r "$1/results.tsv" '+%Y-%m-%d %H:%M') UTC on $machine."
	if [ -z "$steps" ]; then # an ensemble or the classical baseline: no wall time to report
		printf "No training log in the folder: its step scores finished classifiers (an ensemble) or fits the classical\nbaseline in seconds.\n"
		return 0
	fi
	echo "$steps" | awk 'NF == 2 { printf "%.0f %.0f %s\n", $2 - $1, $2, $1 }' | sort -n | awk -v a="$first" -v b="$(date -u -r "$1/results.tsv" +%s)" '
		# the steps as "start end seconds", by start: merge overlapping intervals into their union
		{ s += $3; if (NR == 1 || $1 > e) { u += e - st; st = $1; e = $2 } else if ($2 > e) e = $2 }
		END {
			u += e - st
			printf "Wall time: %.0f min from the oldest file in the folder to results.tsv (counting the pause of a stop\nand resume, and the age of outputs reused from an earlier run); the training steps ran during %.0f min\n", (b - a) / 60, u / 60
			printf "of wall time (the union of their logged intervals) and log %.0f min in all (the sum of the steps'\''\nwall times; each step runs one thread unless the command sets more).\n", s / 60 }'
}

for d in "$out"/demo "$out"/ecoli "$out"/ecoli-*; do
	[ -s "$d/results.tsv" ] || continue
	exp=$(basename "$d")
	{
		echo "## E. coli promoters ($exp: \`$(command_of "$d" "$exp")\`)"
		echo
		run_line "$d"
		echo
		echo "Test set: 412 promoters, 416 non-promoters (150 bp, k=5 stride 2). Positive class: promoter."
		echo "The reference's numbers come from its own split, GPU training and E=400/H=1150 models."
		grep -q '^rule: start codon' "$d/results.tsv" && {
			echo "The last row is no model but a one-line rule (\`pipelines/startcodon.awk\`): every promoter window"
			echo "ends 50 bp into its CDS, so a start codon (ATG, GTG, TTG) at positions 101-103 marks nearly every"
			echo "promoter, and a classifier that locates it is near the top. Concat pooling is blind to position."
		}
		echo
		md_table "$d/results.tsv"
		echo
		[ -s "$d/settings.txt" ] && echo "Settings: $(cat "$d/settings.txt")." && echo
		for f in "$d"/lm.*.log.tsv "$d"/tuned.*.log.tsv; do
			[ -s "$f" ] || continue
			n=$(basename "$f" .log.tsv)
			echo "- \`$n\`: $(tail -n 1 "$f" | awk -F'\t' '{ printf "%d steps, %.0f s, last validation loss %s nats/token (%s bits/base)", $1, $10, $5, $8 }')"
		done
		cls_summaries "$d"
		echo
		precise_bn_note "$d"
		# the first minutes fall from 7 nats: the y range shows the rest
		PLOT_YRANGE='[*:3.2]' plot_curves "E. coli LM pre-training, warm restarts and fine-tuning ($exp)" "training loss (nats/token, moving average)" 4 "$fig/$exp-lm.png" \
			$(for f in "$d"/lm.*.log.tsv "$d"/tuned.*.log.tsv; do [ -s "$f" ] && echo "$(basename "$f" .log.tsv)=$f@$(chain_start "$f")"; done)
		plot_roc "E. coli promoters, test set ($exp)" "$fig/$exp-roc.png" \
			$(for f in "$d"/cls.*.test.roc; do [ -s "$f" ] && echo "$(basename "$f" .test.roc)=$f"; done)
		echo "![LM training loss]($(basename "$fig")/$exp-lm.png)"
		echo "![ROC curves]($(basename "$fig")/$exp-roc.png)"
		echo
	} > "$sec/$exp.md"
	: > "$sec/$exp.goals"
	[ "$exp" = demo ] || awk -F'\t' -v ex="$exp" '$1 == "E. coli genome LM" { ea = $2; em = $5 } $1 == "multi-genome LM" { ma = $2; mm = $5 }
		END { printf "- E. coli promoters, `%s`: E. coli LM %s accuracy / %s MCC against the goal 0.92 / 0.84: %s; multi-genome LM %s / %s.\n",
			ex, ea, em, (ea >= 0.92 && em >= 0.84) ? "met" : "not met", ma, mm }' "$d/results.tsv" > "$sec/$exp.goals"
done

for d in "$out"/human "$out"/human-*; do
	[ -s "$d/results.tsv" ] || continue
	exp=$(basename "$d")
	{
		echo "## Human language models ($exp: \`$(command_of "$d" human)\`)"
		echo
		run_line "$d"
		echo
		echo "Trained on chr20 (2 kb records cut at N runs) with the same wall-clock budget each;"
		echo "validated on the fixed chrX slice (2,500 N-free 2 kb chunks). Bits per base = loss / ln 2 /"
		echo "stride. The Markov column is the best add-one order-k model counted on chr20 and its reverse"
		echo "complement (\`bench/markov -k 12 -r\`). Reference: whole genome, GPU. gain_over_markov is the"
		echo "Markov bits per base minus the LM's (positive: the LM compresses better); gain_per_cpu_hour"
		echo "divides it by the LM's training time in hours (one thread each; the Markov counts take ~20 s)."
		echo
		md_table "$d/results.tsv"
		echo
		[ -s "$d/settings.txt" ] && echo "Settings: $(cat "$d/settings.txt")." && echo
		# the y axis stops 0.15 above the worst final value, so that the restarts' gains show
		top=$(awk -F'\t' 'FNR > 1 && $8 != "nan" { last[FILENAME] = $8 }
			END { for (f in last) if (m == "" || last[f] > m) m = last[f]; if (m != "") printf "%.2f", m + 0.15 }' "$d"/lm.*.log.tsv)
		PLOT_YRANGE=${PLOT_YRANGE:-${top:+[*:$top]}} plot_curves "Human LMs: validation bits per base ($exp)" "bits per base" 8 "$fig/$exp-lm.png" \
			$(for f in "$d"/lm.*.log.tsv; do [ -s "$f" ] && echo "$(basename "$f" .log.tsv | sed 's/^lm\.//')=$f@$(chain_start "$f")"; done)
		echo "![Human LM validation curves]($(basename "$fig")/$exp-lm.png)"
		echo
	} > "$sec/$exp.md"
	awk -F'\t' -v ex="$exp" 'NR > 1 { n++; if (b == "" || $4 < b) { b = $4; c = $1; g = $9; h = $10 }; if ($9 > 0) w = w " " $1 }
		END { printf "- Human LMs, `%s` (%d configurations): best %s at %s bits/base, %+.4f against the Markov baseline (%+.3f bits/base per CPU-hour); %s.\n",
			ex, n, c, b, g, h, (w == "" ? "no configuration beats the Markov baseline yet" : "beating it:" w) }' "$d/results.tsv" > "$sec/$exp.goals"
done

for d in "$out"/lncrna "$out"/lncrna-*; do
	[ -s "$d/results.tsv" ] || continue
	exp=$(basename "$d")
	{
		echo "## lncRNA vs mRNA ($exp: \`$(command_of "$d" lncrna)\`)"
		echo
		run_line "$d"
		echo
		if cut -f2 "$d/results.tsv" | grep -qx ensemble; then
			echo "Positive class mRNA. ensemble = the ULMFiT classifiers of the runs named in the other rows, each"
			echo "record's probabilities the mean of theirs (clspredict with several -m); the other rows are those"
			echo "classifiers alone, as their runs scored them. Baselines: the best classical"
		elif cut -f2 "$d/results.tsv" | grep -qx nopre; then
			echo "Positive class mRNA. ulmfit = human LM fine-tuned on the unlabelled transcripts, then the"
			echo "classifier; nopre = the same classifier from random initialisation. Baselines: the best classical"
		elif cut -f2 "$d/results.tsv" | grep -qx baseline; then
			echo "Positive class mRNA. baseline = a classical model measured here on these splits (\`bench/lncbaseline\`:"
			# the model: a logistic regression, or boosted trees (--boost: a trees file instead of weights)
			model="logistic regression" tuned="its L2 penalty" there="penalty was"
			[ -s "$d/cls.trees.tsv" ] && model="gradient-boosted trees" tuned="their depth and number" there="depth and number of trees were"
			echo "$model on the coding-potential features that the settings line below names, among the"
			echo "longest ORF's length, coverage and start, Fickett's statistics, CPAT's hexamer score, 1- to 3-mer"
			echo "frequencies, the ORF's codon usage, the best coding segment's hexamer score and the ATG's context"
			echo "(a purine at -3, ATGs upstream); trained on train, $tuned chosen on valid; no randomness)."
			if cut -f2 "$d/results.tsv" | grep -qx hybrid; then
				echo "hybrid = that baseline and the ULMFiT ensemble of the third row joined by a logistic regression on"
				echo "their two logits, fit on the validation set (the ensemble's predictions of it; the baseline's"
				echo "$there chosen there too)."
			fi
			echo "The baseline_* columns are the issue's, as in the other sections: the best classical"
		else
			echo "Positive class mRNA. ulmfit = human LM fine-tuned on the unlabelled transcripts, then the"
			echo "classifier (this run trained no ablation, LN_MODELS=ulmfit: the ablation does not depend on the"
			echo "LM, so a run with the same tokens and classifier settings gives it). Baselines: the best classical"
		fi
		echo "models measured on these splits (ORF length/coverage, Fickett and hexamer scores, k-mer spectra)."
		echo
		md_table "$d/results.tsv"
		echo
		# one line of settings; an ensemble's: what it is, then each member's line
		if [ -s "$d/settings.txt" ]; then
			echo "Settings: $(head -n 1 "$d/settings.txt")."
			tail -n +2 "$d/settings.txt" | sed 's/^/- /'
			echo
		fi
		tok=$(sed -n 's/^LM \(k[0-9]*s[0-9]*\) .*/\1/p' "$d/settings.txt")
		# the part-2 LM's log and evaluation as fine-tuning found them (the pipeline copies them)
		lmlog=$d/lm.log.tsv lmeval=$d/lm.eval
		[ -s "$lmlog" ] && echo "- the part-2 LM it starts from, \`lm.$tok.model\` (trained $(date -u -r "$lmlog" '+%Y-%m-%d %H:%M') UTC): $(tail -n 1 "$lmlog" | awk -F'\t' '{ printf "%d steps, %.0f s", $1, $10 }'), validation on the chrX slice's first 250 chunks $(awk -F'\t' 'NR > 1 && $5 != "nan" { v = $5 } END { print v }' "$lmlog") nats/token$([ -s "$lmeval" ] && [ ! -s "$d/lm.r1.log.tsv" ] && tr '\t' '\n' < "$lmeval" | sed -n 's/^bits_per_base=/, on the whole slice /p' | sed 's/$/ bits\/base/')"
		for f in "$d"/lm.r*.log.tsv; do
			[ -s "$f" ] && echo "- then its warm restart \`$(basename "$f" .log.tsv | sed "s/^lm\./lm.$tok./")\`: $(tail -n 1 "$f" | awk -F'\t' '{ printf "%d steps, %.0f s", $1, $10 }'), validation on the first 250 chunks $(awk -F'\t' 'NR > 1 && $5 != "nan" { v = $5 } END { print v }' "$f") nats/token"
		done
		[ -s "$d/lm.r1.log.tsv" ] && [ -s "$lmeval" ] && echo "- the last restart on the whole slice: $(tr '\t' '\n' < "$lmeval" | sed -n 's/^bits_per_base=//p') bits/base"
		for f in "$d"/tuned.log.tsv; do
			[ -s "$f" ] && echo "- fine-tuning: $(tail -n 1 "$f" | awk -F'\t' '{ printf "%d steps, %.0f s, validation loss %s nats/token", $1, $10, $5 }')"
		done
		cls_summaries "$d"
		baseline_weights "$d"
		class_recalls "$d"
		hybrid_paired "$d"
		echo
		orf_recalls "$d"
		precise_bn_note "$d"
		for s in test challenge mouse; do
			plot_roc "lncRNA vs mRNA: $s ($exp)" "$fig/$exp-roc-$s.png" \
				$(for f in "$d"/cls.*."$s".roc; do [ -s "$f" ] && echo "$(basename "$f" ."$s".roc | sed 's/^cls\.//')=$f"; done)
			echo "![ROC $s]($(basename "$fig")/$exp-roc-$s.png)"
		done
		echo
	} > "$sec/$exp.md"
done

lncrna_goals() { # a lncRNA section's table -> its lines of the goals (part 3 of issue 6: tie the best
	# baseline on test; beat it clearly on challenge, aiming at 0.85, and on mouse)
	local exp
	exp=$(basename "$1" .md)
	awk -F'|' -v ex="$exp" 'function t(x) { gsub(/^ +| +$/, "", x); return x }
		NF >= 8 && t($3) == "baseline" && t($2) ~ /^(test|challenge|mouse)$/ {
			printf "- lncRNA %s, `%s`: the classical baseline measured here %s accuracy, the issue'"'"'s best baseline %s (%+.3f).\n", t($2), ex, t($4), t($7), t($4) - t($7)
		}
		NF >= 8 && t($3) ~ /^(ulmfit|ensemble|hybrid)$/ && t($2) ~ /^(test|challenge|mouse)$/ {
			set = t($2); a = t($4); b = t($7); d = a - b
			printf "- lncRNA %s, `%s`: %s %s accuracy against the best baseline %s", set, ex, (t($3) == "ensemble" ? "ULMFiT ensemble" : t($3) == "hybrid" ? "ULMFiT + classical hybrid" : "ULMFiT"), a, b
			if (set == "test")
				printf " (goal: at least tie it): %s.\n", (a >= b ? "met" : sprintf("not met, %.3f below", -d))
			else if (set == "challenge")
				printf " and the aim 0.85 (goal: beat the baseline clearly): %s the baseline (%+.3f); aim %s.\n", (d > 0 ? "beats" : "does not beat"), d, (a >= 0.85 ? "met" : "not met")
			else
				printf " (goal: beat it clearly): %s it (%+.3f).\n", (d > 0 ? "beats" : "does not beat"), d
		}' "$1"
}

# results.md: every section file, in pipeline order, then the goals
sections() {
	local f
	for f in "$sec"/demo.md "$sec"/ecoli.md "$sec"/ecoli-*.md "$sec"/human.md "$sec"/human-*.md "$sec"/lncrna.md "$sec"/lncrna-*.md; do
		[ -s "$f" ] && echo "$f"
	done
	return 0
}
{
	echo "# Results"
	echo
	echo "Made by \`pipelines/report.sh\` from the outputs of the committed pipelines (never edited by hand);"
	echo "each section says when its run was made and by which command. Re-run a pipeline, then this"
	echo "script, to reproduce a table; training runs under a wall-clock budget, so numbers move with the"
	echo "machine's speed and load."
	echo
	for f in $(sections); do cat "$f"; done
	echo "## Against the goals"
	echo
	echo "Checked by this script from the tables above."
	echo
	for f in $(sections); do
		g=${f%.md}.goals
		case $(basename "$f") in
		lncrna*.md) lncrna_goals "$f" ;;
		*) [ -s "$g" ] && cat "$g" ;;
		esac
	done
	echo
} > "$doc"
echo "report: wrote $doc" >&2
if (( plot_failed )); then
	echo "report: a figure failed (above): its section links a PNG that is missing or stale" >&2
	exit 1
fi
