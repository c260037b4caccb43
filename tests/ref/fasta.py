"""FASTA reading shared by the reference scripts (plain or gzip, detected by magic bytes)."""
import gzip


def records(path):
    """Yields (name, sequence) per record: the name is the header's first word."""
    opener = gzip.open if open(path, 'rb').read(2) == b'\x1f\x8b' else open
    name, seq = None, []
    with opener(path, 'rt', newline='') as f:
        for line in f:
            line = line.rstrip('\r\n')
            if line.startswith('>'):
                if name is not None:
                    yield name, ''.join(seq)
                name, seq = line[1:].split()[0], []
            elif line:
                seq.append(line)
    if name is not None:
        yield name, ''.join(seq)
