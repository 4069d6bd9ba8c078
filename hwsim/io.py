"""HDF5 files for chip networks and run records (h5py), with an exact round trip.

Two file formats share one layout convention:

``hwlearn-network`` (:func:`save_network` / :func:`load_network`)::

    /                   attrs: format, format_version, format_minor, hwlearn_version, name
    /spec               attrs: every ChipSpec field (int)
    /inputs/<i>         attrs: name, shape, graded                  (i = insertion order)
    /populations/<i>    attrs: name, shape, kind, du, dv, vth, reset_interval, reset_offset, vth_lo
                        datasets: bias_mant, bias_exp, u_init, v_init
    /projections/<i>    attrs: name, kind (dense | sparse | conv), src, dst, weight_exp,
                               num_weight_bits, sign_mode, graded
                               [sparse: n_dst, n_src] [conv: stride, padding, dilation, groups]
                        datasets: weights [, delays] [sparse: dst_index, src_index]
    /projections/<i>/learning   (dense with a learning rule; format_minor >= 1)
                        attrs: kind (2F | 3F | plain), [dw] [dd] [dt] (rule strings), x1_impulse,
                               x1_tau, x2_impulse, x2_tau, y1_impulse ... y3_tau (int or float),
                               t_epoch, rng_seed, bap, [y1_input] [y2_input] [y3_input]
    /probes             attrs: target (str array), var (str array)

``hwlearn-run`` (:func:`save_run` / :func:`load_run`)::

    /                   attrs: format, format_version, format_minor, hwlearn_version
    /record             the run record, encoded generically (below)
    /network            optional: the network, laid out as in a network file (without root attrs)

A record is stored as a typed tree, so spikes, probes, counters, overflow counts and whatever
else the record carries come back with the same Python types and numpy dtypes: every node has
an attribute ``pytype`` (``ndarray``, ``int``, ``float``, ``bool``, ``str``, ``npscalar``,
``none``, ``dict``, ``list``, ``tuple``, ``dataclass``); dict entries are children ``000000``,
``000001``, ... with their key JSON-encoded in the attribute ``key`` (strings, ints and tuples
of them, such as ``("pop", "v")``).

Integrity. The first 512 bytes of every file (an HDF5 "user block", which HDF5 ignores) hold
a header ``HWLEARN-HDF5 {"format", "format_version", "sha256", "size"}`` with the SHA-256 of the
rest of the file, so a truncated or damaged file is recognised before the HDF5 library parses
it (HDF5 can crash on damaged metadata). A file whose hash no longer matches (edited with h5py,
or damaged) or that has no header is read completely in a child process first; if that fails
or crashes the file is reported as corrupt, otherwise it is loaded normally. HDF5's own
checksums still guard it: files are written with ``libver=("v110", "v110")`` (any HDF5 >= 1.10
reads them), whose metadata carries checksums, and array datasets carry Fletcher-32.

Versions. ``format_version`` (major) changes on incompatible layout changes: readers refuse newer
files. ``format_minor`` (absent = 0) counts additions: this reader loads every file of its major
version, and refuses, naming it, any attribute or entry of a network it does not know (so a
file from a newer minor that uses a newer feature fails loudly instead of losing it). Minor 1
added learning projections; minor 2 the readout, error and learning compartment kinds (attrs partner,
tgt, shift, lut_shift, delay, seed and the array lut on their population groups); minor 3 mirrors
(group ``/mirrors/<i>``, attrs name, of, src, dst, weight_exp; absent when the network has none);
minor 4 the optional group ``/protocol`` of a network file: the per-sample host protocol of on-chip
training (attrs sample_steps, input_steps, payload_shift, payload_bits (int), host_ops,
payload_input, label_input (str); ``save_network(..., protocol=OTTTNetwork.protocol())``, read by
:func:`load_protocol`; ``hwsim.export.lava_protocol.SampleProtocol`` checks the values); minor 5 the
attr ``rounding`` of a learning group (absent: 'stochastic').

Every problem with a file (not HDF5, truncated, corrupt, foreign such as a lava-dl netx file,
written by a newer version, missing pieces) raises :class:`FormatError`, which names the file
and what is wrong. Loading rebuilds the network through the :class:`~hwsim.network.Network`
builder, so out-of-range values in a hand-edited file raise the usual
:class:`~hwsim.spec.SpecError` (prefixed with the file name).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Union

import h5py
import numpy as np

from .network import CIRCUIT_KINDS, ConvProjection, DenseProjection, Network, SparseProjection
from .spec import ChipSpec, SpecError

__all__ = [
    "FormatError", "WriteError", "atomic_write_bytes", "check_writable", "remove_stale_temporaries", "save_network", "load_network", "save_run", "load_run", "read_format",
    "diff_networks", "load_protocol", "NETWORK_FORMAT", "RUN_FORMAT", "FORMAT_VERSION", "FORMAT_MINOR",
]

NETWORK_FORMAT = "hwlearn-network"
RUN_FORMAT = "hwlearn-run"
FORMAT_VERSION = 1          # bump on any incompatible layout change; readers refuse newer files
FORMAT_MINOR = 5            # bump on additions (1: learning projections, 2: readout / error / learning kinds, 3: mirrors,
                            # 4: the /protocol group, 5: the learning attr rounding)
HWLEARN_VERSION = "0.1.0"
USERBLOCK_SIZE = 512       # bytes before the HDF5 data holding the hwlearn header (HDF5 ignores them)
_HEADER_MAGIC = b"HWLEARN-HDF5 "
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_COMPRESS_MIN_SIZE = 4096   # arrays with at least this many elements are gzip-compressed

PathLike = Union[str, os.PathLike]

# Fields of the IR dataclasses this module knows how to store. Saving a network whose IR has
# grown a field that is not listed here raises instead of silently dropping it.
_INPUT_FIELDS = ("name", "shape", "graded")
_POP_ATTRS = ("name", "shape", "kind", "du", "dv", "vth", "reset_interval", "reset_offset", "vth_lo")
_POP_ARRAYS = ("bias_mant", "bias_exp", "u_init", "v_init")
# the on-chip learning kinds (readout, error, learning; format_minor >= 2): their parameters
_POP_CIRCUIT_ATTRS = ("partner", "tgt", "shift", "lut_shift", "delay", "seed")
_PROJ_COMMON = ("name", "src", "dst", "weight_exp", "num_weight_bits", "sign_mode", "graded")
_PROJ_KINDS = {DenseProjection: "dense", SparseProjection: "sparse", ConvProjection: "conv"}
_PROJ_EXTRA = {
    "dense": {"weights", "delays", "learning", "bap", "third_factor", "graded_spike_cfg", "rounding"},
    "sparse": {"weights", "delays", "dst_index", "src_index", "n_dst", "n_src"},
    "conv": {"weights", "stride", "padding", "dilation", "groups"},
}
_NETWORK_ATTRS = {"spec", "name", "inputs", "populations", "projections", "probes", "mirrors"}
_MIRROR_FIELDS = ("name", "of", "src", "dst", "weight_exp")
# the per-sample host protocol of a network file (format_minor >= 4): int and str attrs of /protocol
PROTOCOL_INTS = ("sample_steps", "input_steps", "payload_shift", "payload_bits")
PROTOCOL_STRS = ("host_ops", "payload_input", "label_input")
# learning rule attributes (LearningRule fields, bar the derived ones) and the wiring
_RULE_STRINGS = ("dw", "dd", "dt")
_RULE_NUMBERS = ("x1_impulse", "x1_tau", "x2_impulse", "x2_tau", "y1_impulse", "y1_tau", "y2_impulse",
                 "y2_tau", "y3_impulse", "y3_tau")
_RULE_INTS = ("t_epoch", "rng_seed")
_RULE_FIELDS = {"kind", *_RULE_STRINGS, *_RULE_NUMBERS, *_RULE_INTS}
_Y_KEYS = ("y1", "y2", "y3")
_LEARNING_ATTRS = _RULE_FIELDS | {"bap", "graded_spike_cfg", "rounding"} | {f"{k}_input" for k in _Y_KEYS}
# what a reader of this version knows in each group of a network (anything else is refused)
_KNOWN = {
    "input": (set(_INPUT_FIELDS), set()),
    "population": (set(_POP_ATTRS) | set(_POP_CIRCUIT_ATTRS), set(_POP_ARRAYS) | {"lut"}),
    "projection": ({"kind", "n_dst", "n_src", "stride", "padding", "dilation", "groups", *_PROJ_COMMON},
                   {"weights", "delays", "dst_index", "src_index", "learning"}),
    "learning": (_LEARNING_ATTRS, set()),
}


class FormatError(ValueError):
    """A file that is not a valid hwlearn HDF5 file of the expected kind and version.

    The message names the file and says what is wrong (not HDF5, truncated, corrupt, foreign,
    newer version, missing or malformed entry).
    """


# ---------------------------------------------------------------------------------------------
# low-level helpers
# ---------------------------------------------------------------------------------------------
def _write_array(group: h5py.Group, name: str, arr: np.ndarray) -> h5py.Dataset:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"cannot store array {name!r} of dtype {arr.dtype} (only bool/int/float)")
    if arr.ndim == 0 or arr.size == 0:
        return group.create_dataset(name, data=arr)
    kw = {}
    if arr.size >= _COMPRESS_MIN_SIZE:
        kw = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    return group.create_dataset(name, data=arr, fletcher32=True, **kw)


def _str_attr(obj, key: str, where: str) -> str:
    if key not in obj.attrs:
        raise FormatError(f"missing attribute {key!r} at {where}")
    v = obj.attrs[key]
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    if not isinstance(v, str):
        raise FormatError(f"attribute {key!r} at {where} should be a string, got {type(v).__name__}")
    return v


def _int_attr(obj, key: str, where: str) -> int:
    if key not in obj.attrs:
        raise FormatError(f"missing attribute {key!r} at {where}")
    v = np.asarray(obj.attrs[key])
    if v.ndim != 0 or v.dtype.kind not in "iub":
        raise FormatError(f"attribute {key!r} at {where} should be an integer, got {v!r}")
    return int(v)


def _bool_attr(obj, key: str, where: str) -> bool:
    return bool(_int_attr(obj, key, where))


def _tuple_attr(obj, key: str, where: str) -> tuple[int, ...]:
    if key not in obj.attrs:
        raise FormatError(f"missing attribute {key!r} at {where}")
    v = np.asarray(obj.attrs[key])
    if v.ndim != 1 or v.dtype.kind not in "iu":
        raise FormatError(f"attribute {key!r} at {where} should be a 1-D integer array, got {v!r}")
    return tuple(int(x) for x in v)


def _array(group, key: str, where: str) -> np.ndarray:
    if key not in group:
        raise FormatError(f"missing dataset {key!r} at {where}")
    obj = group[key]
    if not isinstance(obj, h5py.Dataset):
        raise FormatError(f"{where}/{key} should be a dataset")
    a = obj[()]
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        raise FormatError(f"{where}/{key} should be a numeric array, got {type(a).__name__}")
    return a


def _ordered_children(group: h5py.Group, where: str) -> list:
    keys = sorted(group.keys())
    expect = [f"{i:06d}" for i in range(len(keys))]
    if keys != expect:
        raise FormatError(f"{where} should hold entries 000000..{len(keys) - 1:06d} in order, "
                          f"found {keys[:5]}{'...' if len(keys) > 5 else ''}")
    return [group[k] for k in keys]


def _file_sha256(fh, start: int) -> tuple[str, int]:
    h = hashlib.sha256()
    fh.seek(start)
    n = 0
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), start + n


def _read_header(path: Path) -> tuple[Optional[dict], Optional[str]]:
    """Parse the hwlearn userblock header; return (header or None, None if the content's size and
    SHA-256 match it, else what is wrong)."""
    with open(path, "rb") as fh:
        block = fh.read(USERBLOCK_SIZE)
        if not block.startswith(_HEADER_MAGIC):
            return None, "no hwlearn header"
        raw, _, pad = block[len(_HEADER_MAGIC):].partition(b"\n")
        try:
            if pad.strip(b"\0"):
                raise ValueError("bytes after the header line are not zero")
            header = json.loads(raw.decode("utf-8"))
            if not isinstance(header, dict):
                raise ValueError("not a JSON object")
            fmt, version = header["format"], header["format_version"]
            digest, size = header["sha256"], header["size"]
            if not (isinstance(fmt, str) and isinstance(version, int) and isinstance(digest, str)
                    and isinstance(size, int)):
                raise ValueError("bad field types")
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise FormatError(f"{path}: corrupt hwlearn header in the first {USERBLOCK_SIZE} bytes "
                              f"({exc})") from None
        actual, actual_size = _file_sha256(fh, USERBLOCK_SIZE)
    if actual_size != size:
        return header, f"{'truncated' if actual_size < size else 'corrupt'} file ({actual_size} bytes, the header says {size})"
    if actual != digest:
        return header, "damaged or edited file: the SHA-256 of its content does not match the hwlearn header"
    return header, None


def _has_hdf5_signature(path: Path) -> bool:
    """True if the HDF5 signature is at offset 0, 512, 1024, 2048, ... (where HDF5 looks)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        off = 0
        while off + 8 <= size:
            fh.seek(off)
            if fh.read(8) == _HDF5_SIGNATURE:
                return True
            off = 512 if off == 0 else off * 2
    return False


# Reads every attribute and dataset of a file in a child process, so that a file the HDF5
# library would crash on (it can segfault on damaged metadata) is reported instead of killing us.
_PROBE_SCRIPT = r"""
import sys
import h5py
path = sys.argv[1]
try:
    f = h5py.File(path, "r")
except Exception as exc:
    print(f"cannot open: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(4)
def visit(g):
    for k in g.attrs.keys():
        g.attrs[k]
    for k in g.keys():
        o = g[k]
        if isinstance(o, h5py.Group):
            visit(o)
        else:
            for a in o.attrs.keys():
                o.attrs[a]
            o[()]
try:
    visit(f)
except Exception as exc:
    print(f"cannot read {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(5)
"""


def _probe_in_child(path: Path, timeout: float = 120.0):
    """Raise FormatError if reading the whole file crashes, hangs or fails in a child process."""
    try:
        res = subprocess.run([sys.executable, "-I", "-c", _PROBE_SCRIPT, str(path)],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FormatError(f"{path}: corrupt HDF5 file (reading it did not finish in {timeout:.0f} s)") from None
    if res.returncode == 0:
        return
    detail = (res.stderr.strip().splitlines() or [""])[-1]
    if res.returncode < 0:
        raise FormatError(f"{path}: corrupt HDF5 file (the HDF5 library crashed with signal "
                          f"{-res.returncode} reading it)")
    raise FormatError(f"{path}: corrupt or truncated HDF5 file ({detail})")


def _open_checked(path: PathLike, expected_format: Union[str, tuple[str, ...]], verify: bool = True):
    """Open ``path`` read-only after checking it is an intact hwlearn file of an expected format.

    Order of checks: exists; hwlearn header (format name, version) and SHA-256 of the content.
    With ``verify`` (the default) a file whose hash does not match (damaged, or edited with h5py)
    is refused, and so is an hwlearn file without the header. With ``verify=False`` (recovery)
    such a file is first read completely in a child process (HDF5 can crash on damaged metadata)
    and then opened. Foreign files without a header are read in the child too. Then the root
    attributes are checked in HDF5. Returns the open :class:`h5py.File` (the caller closes it)
    and the format name.
    """
    path = Path(path)
    expected = (expected_format,) if isinstance(expected_format, str) else tuple(expected_format)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, not an HDF5 file")
    if path.stat().st_size == 0:
        raise FormatError(f"{path}: empty file (0 bytes), not an HDF5 file")

    def check_kind(fmt, version, where):
        if fmt not in expected:
            other = {NETWORK_FORMAT: "a network file (use load_network)",
                     RUN_FORMAT: "a run record (use load_run)"}.get(fmt, f"of format {fmt!r}")
            raise FormatError(f"{path}: is {other}, expected format {' or '.join(map(repr, expected))}")
        if version > FORMAT_VERSION:
            raise FormatError(f"{path}: {fmt} format_version {version} ({where}) was written by a newer "
                              f"hwlearn; this version reads up to {FORMAT_VERSION}. Upgrade hwlearn.")
        if version < 1:
            raise FormatError(f"{path}: invalid format_version {version} ({where})")

    header, damage = _read_header(path)
    intact = damage is None
    if header is not None:
        check_kind(header["format"], header["format_version"], "file header")
        if verify and not intact:
            raise FormatError(f"{path}: {damage} (refused; to read it anyway for recovery pass "
                              "verify=False, on the command line --no-verify-hash)")
    if not intact:
        if not _has_hdf5_signature(path):
            if header is not None:
                raise FormatError(f"{path}: truncated or corrupt hwlearn file (no HDF5 data after the header)")
            with open(path, "rb") as fh:
                head = fh.read(8)
            raise FormatError(f"{path}: not an HDF5 file (no HDF5 signature; first bytes {head!r})")
        _probe_in_child(path)
    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise FormatError(f"{path}: HDF5 file cannot be opened; it is truncated or corrupt ({exc})") from None
    try:
        if "format" not in f.attrs:
            hint = ""
            if "layer" in f:
                hint = " It looks like a lava-dl netx file (has /layer); hwlearn cannot read netx files."
            raise FormatError(f"{path}: not an hwlearn file (the root has no 'format' attribute; "
                              f"expected one of {list(expected)}).{hint}")
        fmt = _str_attr(f, "format", "/")
        check_kind(fmt, _int_attr(f, "format_version", "/"), "root attribute")
        if header is not None and fmt != header["format"]:
            raise FormatError(f"{path}: header says {header['format']!r} but the root attribute "
                              f"says {fmt!r}")
        if header is None and verify:
            raise FormatError(f"{path}: {fmt} file without the hwlearn integrity header in its first "
                              f"{USERBLOCK_SIZE} bytes (damaged, or not written by hwlearn; refused; to "
                              "read it anyway pass verify=False, on the command line --no-verify-hash)")
        return f, fmt
    except FormatError:
        f.close()
        raise
    except Exception as exc:
        f.close()
        raise FormatError(f"{path}: corrupt HDF5 file ({type(exc).__name__}: {exc})") from None


def _with_path(exc: FormatError, path) -> FormatError:
    """``exc`` with the file name in front (layout errors are raised without it)."""
    msg = str(exc)
    return exc if msg.startswith(f"{path}:") else FormatError(f"{path}: {msg}")


def read_format(path: PathLike, verify: bool = True) -> tuple[str, int]:
    """Return ``(format, format_version)`` of an hwlearn HDF5 file after its integrity checks
    (``verify``: as :func:`load_network`).

    Raises
    ------
    FormatError
        If the file is not a valid hwlearn file.
    """
    f, fmt = _open_checked(path, (NETWORK_FORMAT, RUN_FORMAT), verify)
    try:
        return fmt, _int_attr(f, "format_version", "/")
    finally:
        f.close()


class WriteError(OSError):
    """A file could not be written (no space left, read-only file system, missing or unwritable
    folder, the path is a folder). The message names the user's path, never a temporary file;
    nothing is left half-written and any earlier file at the path is unchanged."""


_TMP_TAG = ".hwlearn-tmp-"          # temporary files: .NAME.hwlearn-tmp-PID-RANDOM next to NAME


def _tmp_glob(path: Path) -> list:
    """Temporary files of saves to ``path`` (this naming, and the older ``.NAME.tmpPID``)."""
    out = []
    try:
        for entry in os.scandir(path.parent):
            n = entry.name
            if n.startswith(f".{path.name}{_TMP_TAG}") or (
                    n.startswith(f".{path.name}.tmp") and n[len(path.name) + 5:].isdigit()):
                out.append(Path(entry.path))
    except OSError:
        pass
    return out


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temporaries(path: PathLike) -> list:
    """Remove temporary files that killed saves to ``path`` left behind (their process is gone).

    Every save calls this first, so a save interrupted by SIGKILL or a power cut leaves at most one
    ``.NAME.hwlearn-tmp-PID-RANDOM`` file until the next save of ``NAME``. Returns the removed paths.
    """
    path = Path(path)
    removed = []
    for tmp in _tmp_glob(path):
        rest = tmp.name[len(path.name) + 1:]
        digits = rest[len(_TMP_TAG):].split("-")[0] if rest.startswith(_TMP_TAG) else rest[len(".tmp"):]
        try:
            pid = int(digits)
        except ValueError:
            continue
        if not _pid_alive(pid):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def _describe_oserror(exc: OSError) -> str:
    import errno

    reason = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
              errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
              errno.EPERM: "permission denied", errno.EISDIR: "is a directory",
              errno.ENOENT: "no such directory", errno.ENOTDIR: "a parent is not a directory",
              errno.ENAMETOOLONG: "file name too long"}.get(exc.errno)
    return reason or (exc.strerror or str(exc)).lower()


def check_writable(path: PathLike, what: str = "") -> Path:
    """Check, before any work, that ``path`` can be written: not a folder, its folder exists (it is
    created if missing) and accepts files. Raises :class:`WriteError` naming ``what`` (an option
    such as ``--json``) and the path. Returns ``Path(path)``."""
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise WriteError(f"cannot write {label}: is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot write {label}: cannot create its folder {path.parent} "
                         f"({_describe_oserror(exc)})") from None
    probe = path.with_name(f".{path.name}{_TMP_TAG}{os.getpid()}-probe")
    try:
        with open(probe, "wb"):
            pass
    except OSError as exc:
        raise WriteError(f"cannot write {label}: {_describe_oserror(exc)}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that it is complete or absent: a temporary file next to it,
    flushed and fsync'd, renamed into place (and the folder fsync'd).

    Plain file I/O only, so a full disk can never leave a library (HDF5) in a broken state. Stale
    temporaries of killed saves to the same path are removed first. An OS error raises
    :class:`WriteError` ("cannot write PATH: no space left on device"); the temporary file is
    removed and an existing file at ``path`` is untouched.
    """
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"cannot write {path}: is a directory")
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}{_TMP_TAG}{os.getpid()}-{os.urandom(4).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            view = memoryview(data)
            while view:
                n = fh.write(view)
                view = view[n:]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        try:
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {_describe_oserror(exc)}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    return path


def _atomic_write(path: PathLike, writer, fmt: str):
    """Build an hwlearn HDF5 file of format ``fmt`` in memory (``writer`` receives the open
    :class:`h5py.File`), add the header with the content's SHA-256, write it with
    :func:`atomic_write_bytes`.

    HDF5 itself never touches the disk, so ENOSPC or EROFS surface as :class:`WriteError` from
    plain file I/O (an HDF5 file left open on a full disk can crash the process at exit).
    """
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver=("v110", "v110"), userblock_size=USERBLOCK_SIZE) as f:
        writer(f)
        f.attrs["format"] = fmt
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["format_minor"] = FORMAT_MINOR
        f.attrs["hwlearn_version"] = HWLEARN_VERSION
    data = bytearray(buf.getbuffer())
    body = memoryview(data)[USERBLOCK_SIZE:]
    header = _HEADER_MAGIC + json.dumps(
        {"format": fmt, "format_version": FORMAT_VERSION, "format_minor": FORMAT_MINOR,
         "sha256": hashlib.sha256(body).hexdigest(), "size": len(data)},
        separators=(",", ":")).encode() + b"\n"
    if len(header) > USERBLOCK_SIZE:
        raise AssertionError("hwlearn header longer than the HDF5 user block")
    data[:USERBLOCK_SIZE] = header.ljust(USERBLOCK_SIZE, b"\0")
    atomic_write_bytes(path, bytes(data))


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------
def _check_known_fields(obj, known: set, what: str):
    names = {f.name for f in dataclasses.fields(obj)}
    unknown = names - known
    if unknown:
        raise NotImplementedError(f"hwsim.io cannot store {what} field(s) {sorted(unknown)} yet; "
                                  "extend hwsim/io.py (and bump FORMAT_VERSION if needed)")


def _write_network(g: h5py.Group, net: Network):
    extra = {k for k, v in vars(net).items() if not k.startswith("_")} - _NETWORK_ATTRS
    if extra:
        raise NotImplementedError(f"hwsim.io cannot store Network attribute(s) {sorted(extra)} yet")
    g.attrs["name"] = net.name
    spec = g.create_group("spec")
    for f in dataclasses.fields(ChipSpec):
        spec.attrs[f.name] = int(getattr(net.spec, f.name))

    gi = g.create_group("inputs")
    for i, node in enumerate(net.inputs.values()):
        _check_known_fields(node, set(_INPUT_FIELDS), "SpikeInput")
        e = gi.create_group(f"{i:06d}")
        e.attrs["name"] = node.name
        e.attrs["shape"] = np.asarray(node.shape, dtype=np.int64)
        e.attrs["graded"] = int(node.graded)

    gp = g.create_group("populations")
    for i, pop in enumerate(net.populations.values()):
        _check_known_fields(pop, set(_POP_ATTRS) | set(_POP_ARRAYS) | set(_POP_CIRCUIT_ATTRS) | {"lut"}, "Population")
        e = gp.create_group(f"{i:06d}")
        for k in _POP_ATTRS:
            v = getattr(pop, k)
            if k == "shape":
                e.attrs[k] = np.asarray(v, dtype=np.int64)
            elif isinstance(v, str):
                e.attrs[k] = v
            else:
                e.attrs[k] = int(v)
        for k in _POP_ARRAYS:
            _write_array(e, k, np.asarray(getattr(pop, k)))
        if pop.kind in CIRCUIT_KINDS:
            for k in _POP_CIRCUIT_ATTRS:
                v = getattr(pop, k)
                e.attrs[k] = v if isinstance(v, str) else int(v)
            _write_array(e, "lut", np.asarray(pop.lut, dtype=np.int64))

    gj = g.create_group("projections")
    for i, p in enumerate(net.projections.values()):
        kind = _PROJ_KINDS.get(type(p))
        if kind is None:
            raise NotImplementedError(f"hwsim.io cannot store projection type {type(p).__name__}")
        _check_known_fields(p, set(_PROJ_COMMON) | _PROJ_EXTRA[kind], type(p).__name__)
        e = gj.create_group(f"{i:06d}")
        e.attrs["kind"] = kind
        for k in _PROJ_COMMON:
            v = getattr(p, k)
            e.attrs[k] = v if isinstance(v, str) else int(v)
        _write_array(e, "weights", np.asarray(p.weights))
        if kind in ("dense", "sparse") and p.delays is not None:
            _write_array(e, "delays", np.asarray(p.delays))
        if kind == "sparse":
            _write_array(e, "dst_index", np.asarray(p.dst_index))
            _write_array(e, "src_index", np.asarray(p.src_index))
            e.attrs["n_dst"] = int(p.n_dst)
            e.attrs["n_src"] = int(p.n_src)
        if kind == "conv":
            for k in ("stride", "padding", "dilation"):
                e.attrs[k] = np.asarray(getattr(p, k), dtype=np.int64)
            e.attrs["groups"] = int(p.groups)
        if kind == "dense" and p.learning is not None:
            _write_learning(e.create_group("learning"), p)

    if net.mirrors:
        gm = g.create_group("mirrors")
        for i, m in enumerate(net.mirrors.values()):
            _check_known_fields(m, set(_MIRROR_FIELDS), "Mirror")
            e = gm.create_group(f"{i:06d}")
            for k in _MIRROR_FIELDS:
                v = getattr(m, k)
                e.attrs[k] = v if isinstance(v, str) else int(v)

    pr = g.create_group("probes")
    pr.attrs["target"] = np.array([p.target for p in net.probes], dtype=h5py.string_dtype())
    pr.attrs["var"] = np.array([p.var for p in net.probes], dtype=h5py.string_dtype())


def _write_learning(e: h5py.Group, p: DenseProjection) -> None:
    """The rule (strings, impulses, taus, t_epoch, rng_seed, kind) and its wiring (bap, y inputs)."""
    rule = p.learning
    _check_known_fields(rule, _RULE_FIELDS | {"products", "decimate_exponent"}, "LearningRule")
    e.attrs["kind"] = rule.kind
    for k in _RULE_STRINGS:
        if getattr(rule, k) is not None:
            e.attrs[k] = getattr(rule, k)
    for k in _RULE_NUMBERS:
        v = getattr(rule, k)
        e.attrs[k] = np.int64(v) if isinstance(v, (int, np.integer)) else np.float64(v)
    for k in _RULE_INTS:
        e.attrs[k] = int(getattr(rule, k))
    e.attrs["bap"] = int(p.bap)
    if p.graded_spike_cfg != "regular":                       # format_minor >= 2
        e.attrs["graded_spike_cfg"] = p.graded_spike_cfg
    if p.rounding != "stochastic":                            # format_minor >= 5
        e.attrs["rounding"] = p.rounding
    for k, inp in p.third_factor.items():
        e.attrs[f"{k}_input"] = inp


def _number_attr(obj, key: str, where: str):
    if key not in obj.attrs:
        raise FormatError(f"missing attribute {key!r} at {where}")
    v = np.asarray(obj.attrs[key])
    if v.ndim != 0 or v.dtype.kind not in "iuf":
        raise FormatError(f"attribute {key!r} at {where} should be a number, got {v!r}")
    return int(v) if v.dtype.kind in "iu" else float(v)


def _read_learning(e: h5py.Group, where: str, minor: int) -> dict:
    """``connect_dense`` keyword arguments ``learning``, ``bap``, ``third_factor`` from a learning group."""
    from .learning.rule import LearningRule

    _check_unknown(e, "learning", where, minor)
    kw = {k: _str_attr(e, k, where) for k in _RULE_STRINGS if k in e.attrs}
    kw.update({k: _number_attr(e, k, where) for k in _RULE_NUMBERS})
    kw.update({k: _int_attr(e, k, where) for k in _RULE_INTS})
    rule = LearningRule(kind=_str_attr(e, "kind", where), **kw)
    tf = {k: _str_attr(e, f"{k}_input", where) for k in _Y_KEYS if f"{k}_input" in e.attrs}
    cfg = _str_attr(e, "graded_spike_cfg", where) if "graded_spike_cfg" in e.attrs else "regular"
    rounding = _str_attr(e, "rounding", where) if "rounding" in e.attrs else "stochastic"
    return dict(learning=rule, bap=_bool_attr(e, "bap", where), third_factor=tf or None, graded_spike_cfg=cfg,
                rounding=rounding)


def _check_unknown(e: h5py.Group, what: str, where: str, minor: int) -> None:
    """Refuse attributes and entries a reader of this version does not know."""
    attrs, children = _KNOWN[what]
    extra = sorted(set(e.attrs.keys()) - attrs) + sorted(set(e.keys()) - children)
    if extra:
        newer = (f"; the file is format {FORMAT_VERSION}.{minor}, written by a newer hwlearn (this one "
                 f"reads up to {FORMAT_VERSION}.{FORMAT_MINOR}): upgrade hwlearn") if minor > FORMAT_MINOR else ""
        raise FormatError(f"{where}: unknown {what} field(s) {extra}{newer}")


def _str_list_attr(obj, key, where) -> list[str]:
    if key not in obj.attrs:
        raise FormatError(f"missing attribute {key!r} at {where}")
    v = np.asarray(obj.attrs[key])
    if v.ndim != 1:
        raise FormatError(f"attribute {key!r} at {where} should be a 1-D string array")
    out = []
    for x in v.reshape(-1):
        if isinstance(x, bytes):
            x = x.decode("utf-8")
        if not isinstance(x, str):
            raise FormatError(f"attribute {key!r} at {where} should hold strings, got {x!r}")
        out.append(x)
    return out


def _read_circuit_population(net: Network, e: h5py.Group, kind: str, w: str) -> None:
    """A readout / error / learning population (format_minor >= 2) through its Network method."""
    name = _str_attr(e, "name", w)
    if kind == "readout":
        net.add_readout(name, _tuple_attr(e, "shape", w), du=_int_attr(e, "du", w), dv=_int_attr(e, "dv", w))
    elif kind == "error":
        net.add_error(name, _str_attr(e, "partner", w), tgt=_int_attr(e, "tgt", w), es=_int_attr(e, "shift", w),
                      seed=_int_attr(e, "seed", w))
    else:
        net.add_learning_compartment(name, _str_attr(e, "partner", w), lut=_array(e, "lut", w),
                                     lut_shift=_int_attr(e, "lut_shift", w), sh=_int_attr(e, "shift", w),
                                     delay=_int_attr(e, "delay", w), seed=_int_attr(e, "seed", w))
    if net.populations[name].shape != _tuple_attr(e, "shape", w):
        raise FormatError(f"{w}: shape {_tuple_attr(e, 'shape', w)} differs from its partner's "
                          f"{net.populations[name].shape}")


def _read_network(g: h5py.Group, base: str) -> Network:
    """Rebuild a Network from group ``g``; FormatError for layout problems, SpecError for values."""
    for k in ("spec", "inputs", "populations", "projections", "probes"):
        if k not in g or not isinstance(g[k], h5py.Group):
            raise FormatError(f"missing group {base}/{k}")
    gs = g["spec"]
    names = [f.name for f in dataclasses.fields(ChipSpec)]
    missing = [n for n in names if n not in gs.attrs]
    if missing:
        raise FormatError(f"{base}/spec is missing field(s) {missing}")
    unknown = sorted(set(gs.attrs.keys()) - set(names))
    if unknown:
        raise FormatError(f"{base}/spec has unknown field(s) {unknown}")
    spec = ChipSpec(**{n: _int_attr(gs, n, f"{base}/spec") for n in names})
    net = Network(spec, name=_str_attr(g, "name", base or "/"))
    minor = _int_attr(g.file, "format_minor", "/") if "format_minor" in g.file.attrs else 0

    for e in _ordered_children(g["inputs"], f"{base}/inputs"):
        w = e.name
        _check_unknown(e, "input", w, minor)
        net.add_input(_str_attr(e, "name", w), _tuple_attr(e, "shape", w), graded=_bool_attr(e, "graded", w))

    for e in _ordered_children(g["populations"], f"{base}/populations"):
        w = e.name
        _check_unknown(e, "population", w, minor)
        kind = _str_attr(e, "kind", w)
        if kind in CIRCUIT_KINDS:
            _read_circuit_population(net, e, kind, w)
            continue
        kw = dict(kind=kind)
        for k in ("du", "dv", "vth", "reset_interval", "reset_offset", "vth_lo"):
            kw[k] = _int_attr(e, k, w)
        for k in _POP_ARRAYS:
            kw[k] = _array(e, k, w)
        net.add_population(_str_attr(e, "name", w), _tuple_attr(e, "shape", w), **kw)

    for e in _ordered_children(g["projections"], f"{base}/projections"):
        w = e.name
        _check_unknown(e, "projection", w, minor)
        kind = _str_attr(e, "kind", w)
        name = _str_attr(e, "name", w)
        common = dict(weight_exp=_int_attr(e, "weight_exp", w),
                      num_weight_bits=_int_attr(e, "num_weight_bits", w),
                      sign_mode=_str_attr(e, "sign_mode", w),
                      graded=_bool_attr(e, "graded", w))
        src, dst = _str_attr(e, "src", w), _str_attr(e, "dst", w)
        weights = _array(e, "weights", w)
        delays = _array(e, "delays", w) if "delays" in e else None
        learning = {}
        if "learning" in e:
            if kind != "dense" or not isinstance(e["learning"], h5py.Group):
                raise FormatError(f"{w}/learning: only dense projections learn (kind is {kind!r}), and "
                                  "learning must be a group")
            learning = _read_learning(e["learning"], f"{w}/learning", minor)
        if kind == "dense":
            net.connect_dense(name, src, dst, weights, delays=delays, **common, **learning)
        elif kind == "sparse":
            p = net.connect_sparse(name, src, dst, _array(e, "dst_index", w), _array(e, "src_index", w),
                                   weights, delays=delays, **common)
            for k in ("n_dst", "n_src"):
                if _int_attr(e, k, w) != getattr(p, k):
                    raise FormatError(f"{w}: {k}={_int_attr(e, k, w)} does not match the "
                                      f"population size {getattr(p, k)}")
        elif kind == "conv":
            if delays is not None:
                raise FormatError(f"{w}: conv projections have no delays")
            net.connect_conv(name, src, dst, weights, stride=_tuple_attr(e, "stride", w),
                             padding=_tuple_attr(e, "padding", w), dilation=_tuple_attr(e, "dilation", w),
                             groups=_int_attr(e, "groups", w), **common)
        else:
            raise FormatError(f"{w}: unknown projection kind {kind!r} (dense, sparse or conv)")

    if "mirrors" in g:
        if minor < 3 or not isinstance(g["mirrors"], h5py.Group):
            raise FormatError(f"{base}/mirrors: mirrors need format_minor >= 3 (the file says {minor}) and a group")
        for e in _ordered_children(g["mirrors"], f"{base}/mirrors"):
            w = e.name
            unknown = sorted(set(e.attrs.keys()) - set(_MIRROR_FIELDS))
            if unknown:
                raise FormatError(f"{w}: unknown mirror attribute(s) {unknown}")
            net.add_mirror(_str_attr(e, "name", w), _str_attr(e, "of", w), _str_attr(e, "src", w),
                           _str_attr(e, "dst", w), weight_exp=_int_attr(e, "weight_exp", w))

    pr = g["probes"]
    targets = _str_list_attr(pr, "target", pr.name)
    pvars = _str_list_attr(pr, "var", pr.name)
    if len(targets) != len(pvars):
        raise FormatError(f"{pr.name}: {len(targets)} probe targets but {len(pvars)} probe vars")
    for t, v in zip(targets, pvars):
        net.add_probe(t, v)
    return net


def _check_protocol(protocol: dict, where: str) -> dict:
    if not isinstance(protocol, dict):
        raise ValueError(f"{where}: protocol={protocol!r} must be a dict")
    unknown = sorted(set(protocol) - set(PROTOCOL_INTS) - set(PROTOCOL_STRS))
    missing = sorted(set(PROTOCOL_INTS + PROTOCOL_STRS) - set(protocol))
    if unknown or missing:
        raise ValueError(f"{where}: protocol has unknown field(s) {unknown} / lacks {missing}; fields "
                         f"{PROTOCOL_INTS + PROTOCOL_STRS}")
    for k in PROTOCOL_INTS:
        if isinstance(protocol[k], bool) or not isinstance(protocol[k], (int, np.integer)):
            raise ValueError(f"{where}: protocol {k}={protocol[k]!r} must be an integer")
    for k in PROTOCOL_STRS:
        if not isinstance(protocol[k], str):
            raise ValueError(f"{where}: protocol {k}={protocol[k]!r} must be a string")
    return {k: (int(protocol[k]) if k in PROTOCOL_INTS else protocol[k]) for k in PROTOCOL_INTS + PROTOCOL_STRS}


def save_network(net: Network, path: PathLike, protocol: Optional[dict] = None) -> Path:
    """Write ``net`` to an HDF5 file (format ``hwlearn-network``).

    Parameters
    ----------
    net : Network
        The chip IR to store: spec, inputs, populations, projections (dense, sparse, conv, with
        delays), probes, all integer arrays with their dtypes.
    path : str or os.PathLike
        Destination; written to a temporary file first and renamed into place.
    protocol : dict, optional
        The per-sample host protocol (``OTTTNetwork.protocol()``: fields :data:`PROTOCOL_INTS` and
        :data:`PROTOCOL_STRS`), stored as the attrs of group ``/protocol`` (format_minor 4).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    proto = None if protocol is None else _check_protocol(protocol, "save_network")

    def write(f):
        _write_network(f, net)
        if proto is not None:
            g = f.create_group("protocol")
            for k, v in proto.items():
                g.attrs[k] = v

    _atomic_write(path, write, NETWORK_FORMAT)
    return Path(path)


def load_protocol(path: PathLike, verify: bool = True) -> Optional[dict]:
    """The per-sample host protocol stored with a network file (:func:`save_network`), or None.

    FormatError for a malformed group (unknown or missing attrs, wrong types, format_minor < 4)."""
    f, fmt = _open_checked(path, (NETWORK_FORMAT, RUN_FORMAT), verify)
    try:
        if "protocol" not in f:
            return None
        g = f["protocol"]
        minor = _int_attr(f, "format_minor", "/") if "format_minor" in f.attrs else 0
        if minor < 4 or not isinstance(g, h5py.Group):
            raise FormatError(f"/protocol: needs format_minor >= 4 (the file says {minor}) and a group")
        d = {}
        for k in g.attrs:
            if k in PROTOCOL_INTS:
                d[k] = _int_attr(g, k, "/protocol")
            elif k in PROTOCOL_STRS:
                d[k] = _str_attr(g, k, "/protocol")
            else:
                d[k] = g.attrs[k]
        try:
            return _check_protocol(d, "/protocol")
        except ValueError as exc:
            raise FormatError(str(exc)) from None
    except FormatError as exc:
        raise _with_path(exc, path) from None
    finally:
        f.close()


def load_network(path: PathLike, verify: bool = True) -> Network:
    """Read a network from an ``hwlearn-network`` file (or the network embedded in a run file).

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool
        Refuse a file whose content no longer matches its SHA-256 header (default). ``False``
        reads such a file anyway (recovery of a damaged or hand-edited file; every value is still
        validated by the Network builder).

    Returns
    -------
    Network
        Rebuilt through the Network builder, so every value is validated again.

    Raises
    ------
    FormatError
        The file is not HDF5, truncated, corrupt, damaged (hash mismatch), foreign, newer or
        malformed.
    SpecError
        A stored value is outside the chip's range (message prefixed with the file name).
    FileNotFoundError
        No such file.
    """
    f, fmt = _open_checked(path, (NETWORK_FORMAT, RUN_FORMAT), verify)
    try:
        if fmt == RUN_FORMAT:
            if "network" not in f:
                raise FormatError(f"{path}: is a run record without an embedded network "
                                  "(save_run(..., network=net) stores one)")
            return _read_network(f["network"], "/network")
        return _read_network(f, "")
    except FormatError as exc:
        raise _with_path(exc, path) from None
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    except Exception as exc:
        raise FormatError(f"{path}: malformed network file ({type(exc).__name__}: {exc})") from None
    finally:
        f.close()


# ---------------------------------------------------------------------------------------------
# run records: a typed tree
# ---------------------------------------------------------------------------------------------
def _enc_key(k) -> str:
    def enc(x):
        if isinstance(x, (str, bool)) or x is None:
            return x
        if isinstance(x, (int, np.integer)):
            return {"i": int(x)}
        if isinstance(x, tuple):
            return {"t": [enc(y) for y in x]}
        raise TypeError(f"cannot store dict key {k!r} (str, int or tuples of them only)")
    return json.dumps(enc(k))


def _dec_key(s: str):
    def dec(x):
        if isinstance(x, dict):
            if "i" in x:
                return int(x["i"])
            if "t" in x:
                return tuple(dec(y) for y in x["t"])
            raise ValueError(f"bad key encoding {s!r}")
        return x
    return dec(json.loads(s))


def _write_value(parent: h5py.Group, name: str, value, where: str):
    if value is None:
        parent.create_group(name).attrs["pytype"] = "none"
    elif isinstance(value, np.ndarray):
        _write_array(parent, name, value).attrs["pytype"] = "ndarray"
    elif isinstance(value, bool):
        ds = parent.create_dataset(name, data=np.int8(value))
        ds.attrs["pytype"] = "bool"
    elif isinstance(value, np.generic):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{where}: cannot store numpy scalar of dtype {value.dtype}")
        parent.create_dataset(name, data=value).attrs["pytype"] = "npscalar"
    elif isinstance(value, int):
        if not -(1 << 63) <= value < (1 << 63):
            raise TypeError(f"{where}: integer {value} does not fit in int64")
        parent.create_dataset(name, data=np.int64(value)).attrs["pytype"] = "int"
    elif isinstance(value, float):
        parent.create_dataset(name, data=np.float64(value)).attrs["pytype"] = "float"
    elif isinstance(value, str):
        g = parent.create_group(name)
        g.attrs["pytype"] = "str"
        g.attrs["value"] = value
    elif isinstance(value, dict):
        g = parent.create_group(name)
        g.attrs["pytype"] = "dict"
        for i, (k, v) in enumerate(value.items()):
            child = f"{i:06d}"
            _write_value(g, child, v, f"{where}[{k!r}]")
            g[child].attrs["key"] = _enc_key(k)
    elif isinstance(value, (list, tuple)):
        g = parent.create_group(name)
        g.attrs["pytype"] = "tuple" if isinstance(value, tuple) else "list"
        for i, v in enumerate(value):
            _write_value(g, f"{i:06d}", v, f"{where}[{i}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        g = parent.create_group(name)
        g.attrs["pytype"] = "dataclass"
        g.attrs["class"] = f"{type(value).__module__}:{type(value).__qualname__}"
        g.attrs["fields"] = np.array([f.name for f in dataclasses.fields(value)], dtype=h5py.string_dtype())
        for f in dataclasses.fields(value):
            _write_value(g, f.name, getattr(value, f.name), f"{where}.{f.name}")
    elif hasattr(value, "to_dict") and callable(value.to_dict):
        g_value = value.to_dict()
        _write_value(parent, name, g_value, where)
        parent[name].attrs["class"] = f"{type(value).__module__}:{type(value).__qualname__}"
    else:
        raise TypeError(f"{where}: cannot store a {type(value).__name__} in a run record "
                        "(arrays, numbers, strings, None, dicts, lists, tuples and dataclasses only)")


def _resolve_class(spec: str):
    """Import ``module:qualname`` if it names a dataclass inside hwsim (never anything else)."""
    mod, _, qual = spec.partition(":")
    if not (mod == "hwsim" or mod.startswith("hwsim.")):
        return None
    try:
        obj = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, type) else None


def _read_value(obj, where: str, rebuild: bool):
    pytype = obj.attrs.get("pytype")
    if isinstance(pytype, bytes):
        pytype = pytype.decode()
    if isinstance(obj, h5py.Dataset):
        data = obj[()]
        if pytype == "ndarray":
            if not isinstance(data, np.ndarray):
                raise FormatError(f"{where}: expected an array")
            return data
        if pytype == "int":
            return int(data)
        if pytype == "float":
            return float(data)
        if pytype == "bool":
            return bool(data)
        if pytype == "npscalar":
            return data if isinstance(data, np.generic) else np.asarray(data)[()]
        raise FormatError(f"{where}: dataset has unknown pytype {pytype!r}")
    if pytype == "none":
        return None
    if pytype == "str":
        return _str_attr(obj, "value", where)
    if pytype == "dict":
        out = {}
        for child in _ordered_children(obj, where):
            key = _dec_key(_str_attr(child, "key", child.name))
            out[key] = _read_value(child, child.name, rebuild)
        return out if not ("class" in obj.attrs and rebuild) else _rebuild_from_dict(obj, out, where)
    if pytype in ("list", "tuple"):
        items = [_read_value(c, c.name, rebuild) for c in _ordered_children(obj, where)]
        return tuple(items) if pytype == "tuple" else items
    if pytype == "dataclass":
        order = _str_list_attr(obj, "fields", where) if "fields" in obj.attrs else sorted(obj.keys())
        if sorted(order) != sorted(obj.keys()):
            raise FormatError(f"{where}: fields {sorted(obj.keys())} do not match the stored list {order}")
        fields = {k: _read_value(obj[k], obj[k].name, rebuild) for k in order}
        cls = _resolve_class(_str_attr(obj, "class", where)) if rebuild else None
        if cls is not None and dataclasses.is_dataclass(cls):
            # fields added since the file was written (with defaults) may be missing
            names = {f.name for f in dataclasses.fields(cls) if f.init}
            required = {f.name for f in dataclasses.fields(cls) if f.init and f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING}
            if required <= set(fields) <= names:
                return cls(**fields)
        return fields
    raise FormatError(f"{where}: unknown pytype {pytype!r}")


def _rebuild_from_dict(obj, data: dict, where: str):
    cls = _resolve_class(_str_attr(obj, "class", where))
    if cls is not None and hasattr(cls, "from_dict"):
        return cls.from_dict(data)
    return data


def _record_payload(record) -> Any:
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return record
    if isinstance(record, dict):
        return record
    if hasattr(record, "__dict__"):
        return {k: v for k, v in vars(record).items() if not k.startswith("_")}
    raise TypeError(f"cannot store a run record of type {type(record).__name__}")


def save_run(record, path: PathLike, network: Optional[Network] = None) -> Path:
    """Write a simulator run record (format ``hwlearn-run``), optionally with its network.

    Parameters
    ----------
    record : hwsim.simulator.RunRecord, dataclass or dict
        Spikes, probes, counters (stored generically: every dataclass field, array and number
        it exposes), overflow counts and any other fields, with exact dtypes.
    path : str or os.PathLike
        Destination; written to a temporary file first and renamed into place.
    network : Network, optional
        Stored under ``/network`` so :func:`load_network` can read it back from the run file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    payload = _record_payload(record)

    def writer(f):
        _write_value(f, "record", payload, "record")
        if network is not None:
            _write_network(f.create_group("network"), network)

    _atomic_write(path, writer, RUN_FORMAT)
    return Path(path)


def load_run(path: PathLike, rebuild: bool = True, verify: bool = True):
    """Read a run record written by :func:`save_run`.

    Parameters
    ----------
    path : str or os.PathLike
    rebuild : bool
        Rebuild dataclasses defined inside ``hwsim`` (such as ``RunRecord`` and its counters)
        when their fields match; otherwise (or with ``rebuild=False``) they come back as dicts
        of their fields. Classes outside ``hwsim`` are never imported.
    verify : bool
        As :func:`load_network`: refuse a file whose content does not match its hash (default).

    Returns
    -------
    RunRecord or dict
        The record, with arrays of the same dtypes and shapes as saved.

    Raises
    ------
    FormatError
        The file is not a valid ``hwlearn-run`` file.
    """
    f, _ = _open_checked(path, RUN_FORMAT, verify)
    try:
        if "record" not in f:
            raise FormatError(f"{path}: missing /record")
        return _read_value(f["record"], "/record", rebuild)
    except FormatError as exc:
        raise _with_path(exc, path) from None
    except Exception as exc:
        raise FormatError(f"{path}: malformed run record ({type(exc).__name__}: {exc})") from None
    finally:
        f.close()


# ---------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------
def _same_array(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))


def diff_networks(a: Network, b: Network) -> list[str]:
    """List every difference between two networks (empty list: identical, dtypes included).

    Compares spec, name, the order and every field of inputs, populations and projections
    (arrays by dtype, shape and value) and the probe list.
    """
    out = []
    if a.spec != b.spec:
        out.append(f"spec differs: {a.spec} != {b.spec}")
    if a.name != b.name:
        out.append(f"name differs: {a.name!r} != {b.name!r}")
    for what in ("inputs", "populations", "projections", "mirrors"):
        da, db = getattr(a, what), getattr(b, what)
        if list(da) != list(db):
            out.append(f"{what} differ: {list(da)} != {list(db)}")
            continue
        for k in da:
            x, y = da[k], db[k]
            if type(x) is not type(y):
                out.append(f"{what}[{k!r}] type differs: {type(x).__name__} != {type(y).__name__}")
                continue
            for f in dataclasses.fields(x):
                vx, vy = getattr(x, f.name), getattr(y, f.name)
                if isinstance(vx, np.ndarray) or isinstance(vy, np.ndarray):
                    if not _same_array(vx, vy):
                        out.append(f"{what}[{k!r}].{f.name} differs")
                elif vx != vy or type(vx) is not type(vy):
                    out.append(f"{what}[{k!r}].{f.name} differs: {vx!r} != {vy!r}")
    pa = [(p.target, p.var) for p in a.probes]
    pb = [(p.target, p.var) for p in b.probes]
    if pa != pb:
        out.append(f"probes differ: {pa} != {pb}")
    return out
