# Cuts FASTA into 2 kb records (the reference's 2 kb rows) in one pass; every 7th record goes
# to the file `va`, the others to `tr`. Records are named NAME:BEG-END (0-based, half-open);
# with -v name=X the sequence name is prefixed by X_.
function emit(piece,   dst) {
	dst = (count++ % 7 == 6) ? va : tr
	printf ">%s:%d-%d\n%s\n", id, pos, pos + length(piece), piece > dst
	pos += length(piece)
}
/^>/ {
	if (buf != "") emit(buf)
	buf = ""; pos = 0
	id = (name != "" ? name "_" : "") substr($1, 2)
	next
}
{
	buf = buf $0
	while (length(buf) >= 2000) {
		emit(substr(buf, 1, 2000))
		buf = substr(buf, 2001)
	}
}
END { if (buf != "") emit(buf) }
