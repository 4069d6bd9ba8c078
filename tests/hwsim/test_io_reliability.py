"""hwsim.io under damage and failure (issue 12, items 1, 2, 9): full disks, read-only folders,
byte flips and truncation of every file kind, hash mismatches, leftovers of killed saves.

Oracles: the kernel's own tmpfs (a real full file system), the file's bytes (a damaged byte is
found and changed in the raw file), a child process' exit status, and the saved objects
themselves (what loads must equal what was saved, field by field, dtypes included).
"""
import dataclasses
import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from hwsim import io as hio
from hwsim.io import (USERBLOCK_SIZE, FormatError, WriteError, diff_networks, load_network, load_run,
                      save_network, save_run)
from hwsim.learning import LearningRule
from hwsim.network import Network
from hwsim.simulator import Simulator
from tests.filescan import damage_scan

ROOT = Path(__file__).resolve().parents[2]


def every_feature_network():
    sys.path.insert(0, str(Path(__file__).parent))
    from test_io import every_feature_network as make
    return make()


def learning_network() -> Network:
    net = Network(name="learns")
    net.add_input("in", 4)
    net.add_population("p", 3, vth=5, du=4095, dv=4096)
    net.connect_dense("w", "in", "p", np.arange(12).reshape(3, 4) - 6,
                      learning=LearningRule(dw="2^-2*x1*y0-2^-3*y1*x0", rng_seed=3))
    net.add_probe("p", "v")
    return net


def big_network(n=300) -> Network:
    """A network whose file is much larger than 64 KiB (random weights barely compress)."""
    rng = np.random.default_rng(0)
    net = Network(name="big")
    net.add_input("in", n)
    net.add_population("p", n)
    net.connect_dense("w", "in", "p", rng.integers(-256, 256, (n, n)))
    return net


@pytest.fixture
def tmpfs(tmp_path):
    """A 64 KiB tmpfs (we run as root in CI); skipped where mounting is not permitted."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.decode().strip()}); the fault-injection "
                    "test below covers the same path")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# ---------------------------------------------------------------------------------------------
# item 1: a full disk is an error message, never a crash; nothing half-written
# ---------------------------------------------------------------------------------------------
def test_full_disk_is_a_clear_error_and_the_process_exits_normally(tmpfs):
    """In a child process (a segfault at exit would show as exit -11 / 139): save onto the full
    tmpfs, catch the error, exit 0. The old file at the path survives unchanged."""
    small = Network(name="small")
    small.add_input("in", 2)
    small.add_population("p", 2)
    old = save_network(small, tmpfs / "net.h5")
    before = old.read_bytes()
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_io_reliability import big_network
        from hwsim.io import WriteError, save_network
        try:
            save_network(big_network(), {str(old)!r})
        except WriteError as exc:
            print("ERR", exc)
        else:
            print("no error")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"ERR cannot write {old}: no space left on device" in res.stdout
    assert old.read_bytes() == before                                  # the earlier file is intact
    assert sorted(p.name for p in tmpfs.iterdir()) == ["net.h5"]       # no temporary left
    assert diff_networks(small, load_network(old)) == []


def test_full_disk_cli_exit_2(tmpfs, tmp_path, capsys):
    from scripts.cli import main

    src = save_network(big_network(), tmp_path / "big.h5")
    out = tmpfs / "out.h5"
    assert main(["export", "--to", "hdf5", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"hwlearn export: error: cannot write {out}: no space left on device"
    assert not out.exists() and list(tmpfs.iterdir()) == []


def test_read_only_file_system(tmpfs, tmp_path, capsys):
    from scripts.cli import main

    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(WriteError, match=rf"cannot write {tmpfs}/n\.h5: read-only file system"):
        save_network(every_feature_network(), tmpfs / "n.h5")
    src = save_network(every_feature_network(), tmp_path / "n.h5")
    assert main(["export", "--to", "hdf5", str(src), "-o", str(tmpfs / "o.h5")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"cannot write --output {tmpfs}/o.h5: read-only file system")


def test_write_failure_by_fault_injection(tmp_path, monkeypatch):
    """The same path without a mount: fsync fails with ENOSPC (as a full disk reports it)."""
    path = save_network(every_feature_network(), tmp_path / "n.h5")
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(hio.os, "fsync", full)
    with pytest.raises(WriteError, match=rf"^cannot write {path}: no space left on device$"):
        save_network(big_network(), path)
    with pytest.raises(OSError):                       # WriteError is an OSError (callers catching it keep working)
        save_run({"a": 1}, tmp_path / "r.h5")
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["n.h5"]


def test_output_path_problems_name_the_users_path(tmp_path):
    with pytest.raises(WriteError, match=rf"cannot write {tmp_path}: is a directory"):
        save_network(every_feature_network(), tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=r"cannot write .*file/sub/n\.h5: cannot create its folder"):
        hio.check_writable(tmp_path / "file" / "sub" / "n.h5", "--output")
    with pytest.raises(WriteError, match=rf"cannot write --json {tmp_path}: is a directory"):
        hio.check_writable(tmp_path, "--json")
    ok = hio.check_writable(tmp_path / "new" / "dir" / "x.json", "--json")   # missing folders are created
    assert ok.parent.is_dir() and list(ok.parent.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# item 2: a hash mismatch refuses to load (explicit opt-out), and the hash covers everything read
# ---------------------------------------------------------------------------------------------
def _replace_once(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) >= 1, old
    path.write_bytes(data.replace(old, new, 1))


def test_one_byte_in_a_name_or_rule_string_is_refused(tmp_path):
    net = learning_network()
    path = save_network(net, tmp_path / "l.h5")
    _replace_once(path, b"learns", b"learnt")                           # the network's name
    with pytest.raises(FormatError, match=r"l\.h5: damaged or edited file.*--no-verify-hash"):
        load_network(path)
    assert load_network(path, verify=False).name == "learnt"            # the damage is real; opt-out reads it
    path = save_network(net, tmp_path / "l2.h5")
    _replace_once(path, b"2^-2*x1*y0", b"2^-3*x1*y0")                   # the learning rule string
    with pytest.raises(FormatError, match="damaged or edited file"):
        load_network(path)
    assert load_network(path, verify=False).projections["w"].learning.dw.startswith("2^-3*x1*y0")


def test_run_record_scalar_edit_is_refused(tmp_path):
    net = every_feature_network()
    rec = Simulator(net).run(3, inputs={"img": np.ones((3, 2, 6, 5), np.int8), "g": np.ones((3, 4), np.int32)})
    path = save_run(rec, tmp_path / "r.h5", network=net)
    with h5py.File(path, "r+") as f:                                   # an overflow count, edited with h5py
        g = f["record/overflow"]
        child = sorted(g.keys())[0]
        g[child][()] = 12345
    with pytest.raises(FormatError, match="damaged or edited file"):
        load_run(path)
    with pytest.raises(FormatError, match="damaged or edited file"):
        load_network(path)
    assert 12345 in load_run(path, verify=False).overflow.values()


def test_export_does_not_launder_damage(tmp_path, capsys):
    from scripts.cli import main

    path = save_network(learning_network(), tmp_path / "d.h5")
    _replace_once(path, b"learns", b"learnt")
    out = tmp_path / "out.h5"
    assert main(["export", "--to", "hdf5", str(path), "-o", str(out)]) == 2
    assert "damaged or edited file" in capsys.readouterr().err and not out.exists()
    assert main(["export", "--to", "hdf5", str(path), "-o", str(out), "--no-verify-hash"]) == 0
    assert load_network(out).name == "learnt"                           # recovered on purpose, re-hashed


def test_header_padding_is_covered(tmp_path):
    path = save_network(learning_network(), tmp_path / "h.h5")
    data = bytearray(path.read_bytes())
    data[USERBLOCK_SIZE - 1] = 1
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="corrupt hwlearn header"):
        load_network(path)


# ---------------------------------------------------------------------------------------------
# byte-flip and truncation scan over every file kind we write
# ---------------------------------------------------------------------------------------------
def _same(a, b, where="") -> None:
    """Deep equality with types and dtypes (the oracle: the object that was saved)."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    else:
        assert a == b, where


def _file_kinds(tmp_path):
    net = every_feature_network()
    rec = Simulator(net).run(4, inputs={"img": np.ones((4, 2, 6, 5), np.int8), "g": np.ones((4, 4), np.int32)})
    lnet = learning_network()
    return [
        ("network", save_network(net, tmp_path / "net.h5"), load_network, lambda back: diff_networks(net, back) == []),
        ("learning network", save_network(lnet, tmp_path / "lnet.h5"), load_network,
         lambda back: diff_networks(lnet, back) == []),
        ("run record", save_run(rec, tmp_path / "run.h5", network=net), load_run,
         lambda back: _same(rec, back) is None),
    ]


def test_flip_and_truncation_scan_every_file_kind(tmp_path):
    """Every header byte and 600 seeded body bytes flipped, and 40 truncation lengths, per file kind:
    each damaged file is refused with FormatError naming it, or loads content equal to what was saved."""
    for kind, path, load, equal in _file_kinds(tmp_path):
        damage_scan(path, load, equal, kind=kind, seed=12, n_body=600, n_trunc=40, max_loaded=40)


# ---------------------------------------------------------------------------------------------
# item 9: leftovers of killed saves are removed by the next save
# ---------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    path = tmp_path / "k.h5"
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_io_reliability import big_network
        from hwsim import io as hio
        hio.os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)    # killed just before the rename
        hio.save_network(big_network(), {str(path)!r})
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         timeout=120)
    assert res.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".k.h5.hwlearn-tmp-") and not path.exists()
    legacy = tmp_path / f".k.h5.tmp{_dead_pid()}"                   # the name older versions used
    legacy.write_bytes(b"half")
    alive = tmp_path / f".k.h5.hwlearn-tmp-{os.getpid()}-0000"      # a save in progress (live pid) is kept
    alive.write_bytes(b"busy")
    save_network(every_feature_network(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "k.h5"]
    assert diff_networks(every_feature_network(), load_network(path)) == []
