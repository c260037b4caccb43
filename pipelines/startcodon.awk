# The E. coli promoter test set scored by one rule: a start codon (ATG, GTG or TTG) at positions
# 101-103 means promoter. Reads the FASTA (one sequence line per record, label before '|' in the
# header) and writes the metric keys of clspredict --metrics (positive class: promoter).
/^>/ { split(substr($1, 2), f, "|"); truth = f[1] == "promoter"; next }
{
	c = toupper(substr($0, 101, 3))
	pred = c == "ATG" || c == "GTG" || c == "TTG"
	tp += pred && truth; fp += pred && !truth; tn += !pred && !truth; fn += !pred && truth
}
END {
	n = tp + fp + tn + fn
	sens = tp / (tp + fn); spec = tn / (tn + fp); prec = tp / (tp + fp)
	d = sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
	printf "n\t%d\npositive\tpromoter\n", n
	printf "accuracy\t%.6f\nsensitivity\t%.6f\nspecificity\t%.6f\nprecision\t%.6f\n", (tp + tn) / n, sens, spec, prec
	mcc = d > 0 ? (tp * tn - fp * fn) / d : 0
	printf "f1\t%.6f\nmcc\t%.6f\n", 2 * tp / (2 * tp + fp + fn), mcc
	# a 0/1 score: the ROC has one inner point, AUC = (sensitivity + specificity) / 2
	printf "roc_auc\t%.6f\ntp\t%d\nfp\t%d\ntn\t%d\nfn\t%d\n", (sens + spec) / 2, tp, fp, tn, fn
}
