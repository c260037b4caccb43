# Sourced by pipelines/savedlm and pipelines/savedcls: the folders they keep in the repository
# carry a saved.txt of KEY<TAB>VALUE lines. Git does not keep file dates, and the report reads
# when a model was trained from its log's date, so saved.txt records the dates of the files
# whose dates matter ("date FILE<TAB>SECONDS") and a restore puts them back.

# FILE KEY: the value of KEY in a saved.txt
field() { awk -F'\t' -v k="$2" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$1"; }
# DIR FILE...: a "date" line for each FILE of DIR
date_lines() { local d=$1 f; shift; for f; do printf 'date %s\t%s\n' "$f" "$(stat -c %Y "$d/$f")"; done; }
# SAVEDTXT DIR: date DIR's files as the saved.txt records (a saved.txt without dates changes nothing)
put_dates() {
	local f s
	while IFS=$'\t' read -r f s; do
		if [[ -e $2/$f ]]; then touch -d "@$s" "$2/$f"; fi
	done < <(awk -F'\t' '$1 ~ /^date / { sub(/^date /, "", $1); print $1 "\t" $2 }' "$1")
}
