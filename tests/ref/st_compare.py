#!/usr/bin/env python3
"""st_compare.py A.safetensors B.safetensors PREFIX same|differ: exit 0 when every tensor whose
name starts with PREFIX is byte-identical in A and B (same), or when at least one differs
(differ). Plain Python: no torch, no safetensors package."""
import json
import struct
import sys


def tensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    head.pop('__metadata__', None)
    return {k: data[v['data_offsets'][0]:v['data_offsets'][1]] for k, v in head.items()}


a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
names = [k for k in a if k.startswith(sys.argv[3])]
if not names:
    sys.exit('st_compare: no tensor named %s*' % sys.argv[3])
same = all(a[k] == b.get(k) for k in names)
sys.exit(0 if same == (sys.argv[4] == 'same') else 1)
