"""The damage scan of issue 12, shared by every file kind's tests: flip header and seeded body bytes,
truncate, extend; each damaged file must be refused with FormatError naming it, or load content equal
to what was saved."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim.io import USERBLOCK_SIZE, FormatError


def damage_scan(path, load, equal, *, kind: str, seed: int, n_body: int, n_trunc: int, max_loaded: int,
                header_step: int = 1, extend: bool = True, name_sep: str = ": ") -> None:
    """Scan ``path`` (written by hwlearn): ``load(bad_path)`` must raise FormatError naming the damaged
    file or return content for which ``equal(back)`` holds; fewer than ``max_loaded`` flips may load
    (only bytes that do not change the content). A truncated file's error starts with its name and
    ``name_sep``."""
    data = path.read_bytes()
    bad = path.with_name(f"bad-{path.name}")
    rng = np.random.default_rng(seed)
    offsets = list(range(0, USERBLOCK_SIZE, header_step)) + sorted(
        rng.choice(np.arange(USERBLOCK_SIZE, len(data)), n_body, replace=False).tolist())
    loaded = 0
    for off in offsets:
        b = bytearray(data)
        b[off] ^= 0x5A
        bad.write_bytes(bytes(b))
        try:
            back = load(bad)
        except FormatError as exc:
            assert bad.name in str(exc), (kind, off, exc)
        else:
            assert equal(back), f"{kind}: byte {off} flipped loaded different content"
            loaded += 1
    assert loaded < max_loaded, (kind, loaded)
    for n in sorted(set(np.linspace(0, len(data) - 1, n_trunc).astype(int).tolist())):
        bad.write_bytes(data[:n])
        with pytest.raises(FormatError, match=rf"{bad.name}{name_sep}"):
            load(bad)
    if extend:
        bad.write_bytes(data + b"\0")                  # extended by one byte
        with pytest.raises(FormatError, match="corrupt file"):
            load(bad)
