"""hwsim.io: exact HDF5 round trips of networks and run records; every broken file -> FormatError."""
import dataclasses
import json

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim import ChipSpec, Network, SpecError
from hwsim import io as hio
from hwsim.io import (FORMAT_VERSION, NETWORK_FORMAT, RUN_FORMAT, USERBLOCK_SIZE, FormatError, diff_networks,
                      load_network, load_run, read_format, save_network, save_run)


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------
def every_feature_network() -> Network:
    """Every IR feature at least once: all neuron kinds, graded input, dense/sparse/conv, delays,
    per-compartment arrays, probes and a non-default spec."""
    rng = np.random.default_rng(7)
    net = Network(ChipSpec(weight_bits=7, max_delay=20, message_bits=16), name="every feature")
    net.add_input("img", (2, 6, 5))
    net.add_input("g", 4, graded=True)
    net.add_population("c", (4, 3, 3), du=-1, dv=4096, vth=50, bias_mant=rng.integers(-100, 100, 36),
                       bias_exp=rng.integers(0, 7, 36), u_init=rng.integers(-1000, 1000, 36), v_init=7)
    net.add_population("r", (2, 3), kind="lif_reset", reset_interval=5, reset_offset=2, du=4095, dv=1)
    net.add_population("t", 3, kind="ternary_lif", vth=9, vth_lo=-4)
    net.connect_conv("k", "img", "c", rng.integers(-128, 128, (4, 1, 3, 2)), stride=(2, 1), padding=(1, 0),
                     dilation=(1, 2), groups=2, weight_exp=-3, num_weight_bits=6)
    net.connect_dense("d", "c", "r", rng.integers(0, 128, (6, 36)), delays=rng.integers(0, 21, (6, 36)),
                      sign_mode="excitatory", num_weight_bits=7)
    net.connect_sparse("s", "g", "t", [0, 2, 1], [3, 3, 0], [-5, -127, 0], sign_mode="inhibitory",
                       delays=[0, 4, 20], weight_exp=2, num_weight_bits=5)
    net.connect_dense("back", "t", "c", rng.integers(-128, 128, (36, 3)), num_weight_bits=7)
    net.add_probe("c", "v")
    net.add_probe("t", "s")
    net.add_probe("c", "u")
    return net


def test_network_round_trip_every_feature(tmp_path):
    net = every_feature_network()
    path = save_network(net, tmp_path / "net.h5")
    back = load_network(path)
    assert diff_networks(net, back) == []
    assert back.projections["s"].graded and back.projections["back"].graded
    assert back.populations["c"].bias_mant.dtype == net.populations["c"].bias_mant.dtype
    assert read_format(path) == (NETWORK_FORMAT, FORMAT_VERSION)
    assert [p.name for p in tmp_path.iterdir()] == ["net.h5"]          # no temporary file left behind


def test_diff_networks_sees_differences():
    a, b = every_feature_network(), every_feature_network()
    assert diff_networks(a, b) == []
    b.populations["c"].bias_mant[3] += 1
    b.add_probe("r", "s")
    diffs = diff_networks(a, b)
    assert any("populations['c'].bias_mant" in d for d in diffs) and any("probes" in d for d in diffs)


@st.composite
def networks(draw):
    """Small random networks through the builder (so every one is valid)."""
    spec = ChipSpec(weight_bits=draw(st.integers(4, 8)), max_delay=draw(st.integers(0, 10)))
    net = Network(spec, name=draw(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                          min_size=1, max_size=8)))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    nodes = []
    for i in range(draw(st.integers(1, 2))):
        shape = draw(st.sampled_from([(3,), (2, 4, 3), (5,)]))
        net.add_input(f"in{i}", shape, graded=draw(st.booleans()))
        nodes.append(f"in{i}")
    pops = []
    for i in range(draw(st.integers(1, 3))):
        shape = draw(st.sampled_from([(4,), (2, 3, 2), (1, 5)]))
        kind = draw(st.sampled_from(["lif", "lif_reset", "ternary_lif"]))
        n = int(np.prod(shape))
        net.add_population(f"p{i}", shape, kind=kind, du=int(rng.integers(-1, 4096)), dv=int(rng.integers(0, 4097)),
                           vth=int(rng.integers(0, 1000)), bias_mant=rng.integers(-4096, 4096, n),
                           bias_exp=rng.integers(0, 8, n), u_init=rng.integers(-2 ** 23, 2 ** 23, n),
                           reset_interval=int(rng.integers(1, 9)) if kind == "lif_reset" else 0,
                           reset_offset=int(rng.integers(0, 9)), vth_lo=int(rng.integers(-50, 50)))
        pops.append(f"p{i}")
    for j in range(draw(st.integers(0, 4))):
        src = draw(st.sampled_from(nodes + pops))
        dst = draw(st.sampled_from(pops))
        s, d = net.node(src), net.node(dst)
        sm = draw(st.sampled_from(["mixed", "excitatory", "inhibitory"]))
        lo, hi = spec.weight_range(sm)
        common = dict(weight_exp=int(rng.integers(-8, 8)), num_weight_bits=int(rng.integers(1, spec.weight_bits + 1)),
                      sign_mode=sm, graded=draw(st.booleans()))
        kind = draw(st.sampled_from(["dense", "sparse", "conv"]))
        delays = draw(st.booleans())
        if kind == "conv" and len(s.shape) == 3 and len(d.shape) == 3:
            from hwsim.network import conv_output_shape
            c_out, kh, kw = d.shape[0], 1 + s.shape[1] - d.shape[1], 1 + s.shape[2] - d.shape[2]
            if kh >= 1 and kw >= 1 and conv_output_shape(s.shape, c_out, (kh, kw), (1, 1), (0, 0), (1, 1)) == d.shape:
                net.connect_conv(f"q{j}", src, dst, rng.integers(lo, hi + 1, (c_out, s.shape[0], kh, kw)), **common)
                continue
        if kind == "sparse":
            k = int(rng.integers(0, d.size * s.size + 1))
            flat = rng.choice(d.size * s.size, k, replace=False)
            net.connect_sparse(f"q{j}", src, dst, flat // s.size, flat % s.size, rng.integers(lo, hi + 1, k),
                               delays=rng.integers(0, spec.max_delay + 1, k) if delays else None, **common)
        else:
            shape = (d.size, s.size)
            net.connect_dense(f"q{j}", src, dst, rng.integers(lo, hi + 1, shape),
                              delays=rng.integers(0, spec.max_delay + 1, shape) if delays else None, **common)
    for _ in range(draw(st.integers(0, 3))):
        net.add_probe(draw(st.sampled_from(pops)), draw(st.sampled_from(["u", "v", "s"])))
    return net


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(net=networks())
def test_network_round_trip_random(tmp_path, net):
    path = tmp_path / "rand.h5"
    save_network(net, path)
    assert diff_networks(net, load_network(path)) == []


# ---------------------------------------------------------------------------------------------
# run records
# ---------------------------------------------------------------------------------------------
def test_run_record_round_trip_from_simulator(tmp_path):
    from hwsim.simulator import RunRecord, Simulator

    net = every_feature_network()
    rng = np.random.default_rng(1)
    rec = Simulator(net).run(12, inputs={"img": (rng.random((12, 2, 6, 5)) < 0.4).astype(np.int8),
                                         "g": rng.integers(-300, 300, (12, 4))})
    path = save_run(rec, tmp_path / "run.h5", network=net)
    back = load_run(path)
    assert isinstance(back, RunRecord) and type(back.counters) is type(rec.counters)
    for f in dataclasses.fields(rec):
        a, b = getattr(rec, f.name), getattr(back, f.name)
        if f.name == "counters":
            for g in dataclasses.fields(a):
                x, y = getattr(a, g.name), getattr(b, g.name)
                if isinstance(x, np.ndarray):
                    assert x.dtype == y.dtype and np.array_equal(x, y), g.name
                else:
                    assert x == y and type(x) is type(y), g.name
        elif isinstance(a, dict):
            assert list(a) == list(b), f.name
            for k in a:
                x, y = a[k], b[k]
                if isinstance(x, np.ndarray):
                    assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), (f.name, k)
                else:
                    assert x == y and type(x) is type(y), (f.name, k)
        else:
            assert a == b and type(a) is type(b), f.name
    assert diff_networks(net, load_network(path)) == []          # the embedded network
    assert read_format(path) == (RUN_FORMAT, FORMAT_VERSION)


def test_run_record_generic_values(tmp_path):
    @dataclasses.dataclass
    class Local:                       # not inside hwsim: comes back as a dict of its fields
        ops: np.ndarray
        n: int

    rec = {"spikes": {"a": np.arange(6, dtype=np.int8).reshape(3, 2)},
           "probes": {("a", "v"): np.full((3, 2), -5, np.int32)},
           "overflow": {"a": 0}, "x": None, "f": 1.5, "b": True, "s": "text", "t": (1, "two", [3.0]),
           "np": np.int16(-7), "c": Local(np.arange(3, dtype=np.uint16), 5), 3: "int key"}
    save_run(rec, tmp_path / "r.h5")
    back = load_run(tmp_path / "r.h5")
    assert back["probes"][("a", "v")].dtype == np.int32 and back["spikes"]["a"].dtype == np.int8
    assert back["t"] == (1, "two", [3.0]) and back["x"] is None and back["b"] is True and back["s"] == "text"
    assert back["np"] == np.int16(-7) and back["np"].dtype == np.int16 and back[3] == "int key"
    assert back["c"]["n"] == 5 and back["c"]["ops"].dtype == np.uint16
    with pytest.raises(FormatError, match="run record without an embedded network"):
        load_network(tmp_path / "r.h5")
    with pytest.raises(TypeError, match="cannot store a set"):
        save_run({"bad": {1, 2}}, tmp_path / "bad.h5")


# ---------------------------------------------------------------------------------------------
# broken files
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def net_file(tmp_path):
    net = every_feature_network()
    return net, save_network(net, tmp_path / "good.h5")


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_not_hdf5(tmp_path):
    with pytest.raises(FormatError, match=r"bad\.h5: not an HDF5 file"):
        load_network(_write(tmp_path / "bad.h5", b"hello, I am text\n" * 40))
    with pytest.raises(FormatError, match=r"empty\.h5: empty file"):
        load_network(_write(tmp_path / "empty.h5", b""))
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_network(tmp_path / "missing.h5")
    with pytest.raises(FormatError, match="is a directory"):
        load_network(tmp_path)
    assert issubclass(FormatError, ValueError)


@pytest.mark.parametrize("keep", [0.02, 0.3, 0.6, 0.95, 0.9999])
def test_truncated(net_file, tmp_path, keep):
    _, path = net_file
    data = path.read_bytes()
    bad = _write(tmp_path / "trunc.h5", data[:max(1, int(len(data) * keep))])
    with pytest.raises(FormatError, match=r"trunc\.h5: (truncated|corrupt)"):
        load_network(bad)


def test_flipped_bytes_never_crash(net_file, tmp_path):
    """A flipped byte anywhere: FormatError naming the file, or (unused bytes) the same network."""
    net, path = net_file
    data = path.read_bytes()
    offsets = [0, 3, 20, 100, USERBLOCK_SIZE, USERBLOCK_SIZE + 8, USERBLOCK_SIZE + 60]
    offsets += list(np.random.default_rng(0).choice(np.arange(USERBLOCK_SIZE, len(data)), 8, replace=False))
    outcomes = []
    for off in offsets:
        b = bytearray(data)
        b[int(off)] ^= 0xA5
        bad = _write(tmp_path / "flip.h5", bytes(b))
        try:
            back = load_network(bad)
        except FormatError as exc:
            assert "flip.h5" in str(exc)
            outcomes.append("error")
        else:
            assert diff_networks(net, back) == [], f"byte {off} changed the network silently"
            outcomes.append("same")
    assert outcomes.count("error") >= len(offsets) // 2


def test_corrupt_header(net_file, tmp_path):
    _, path = net_file
    data = bytearray(path.read_bytes())
    data[20:30] = b"}}}}}}}}}}"
    with pytest.raises(FormatError, match="corrupt hwlearn header"):
        load_network(_write(tmp_path / "h.h5", bytes(data)))


def test_hdf5_library_crash_is_reported(net_file, tmp_path, monkeypatch):
    """If reading the file kills the HDF5 library (segfault), the child process dies, not us."""
    _, path = net_file
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF                                   # hash mismatch -> refused, or (recovery) child-process read
    bad = _write(tmp_path / "crash.h5", bytes(data))
    monkeypatch.setattr(hio, "_PROBE_SCRIPT", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(FormatError, match=r"crash\.h5: damaged or edited file"):
        load_network(bad)
    with pytest.raises(FormatError, match=r"crash\.h5: corrupt HDF5 file \(the HDF5 library crashed with signal"):
        load_network(bad, verify=False)


def test_foreign_files(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(FormatError, match=r"plain\.h5: not an hwlearn file \(the root has no 'format'"):
        load_network(plain)
    netx = tmp_path / "netx.h5"
    with h5py.File(netx, "w") as f:                      # lava-dl netx layout (lava-semantics.md section 4)
        g = f.create_group("layer/0")
        g["type"] = np.array([b"dense"], dtype="S10")
        g["weight"] = np.zeros((2, 3), np.float32)
    with pytest.raises(FormatError, match="lava-dl netx"):
        load_network(netx)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "somebody-else"
        f.attrs["format_version"] = 1
    with pytest.raises(FormatError, match="of format 'somebody-else'"):
        load_network(other)


def test_wrong_kind(net_file, tmp_path):
    _, path = net_file
    with pytest.raises(FormatError, match=r"is a network file \(use load_network\)"):
        load_run(path)


def test_newer_version(net_file, tmp_path):
    _, path = net_file
    # header says version 2 (as a newer hwlearn would write it)
    data = bytearray(path.read_bytes())
    header = data[:USERBLOCK_SIZE].rstrip(b"\0")
    magic, payload = header[:len(hio._HEADER_MAGIC)], json.loads(header[len(hio._HEADER_MAGIC):])
    payload["format_version"] = FORMAT_VERSION + 1
    new = magic + json.dumps(payload).encode() + b"\n"
    data[:USERBLOCK_SIZE] = new.ljust(USERBLOCK_SIZE, b"\0")
    with pytest.raises(FormatError, match=rf"format_version {FORMAT_VERSION + 1} .*newer hwlearn"):
        load_network(_write(tmp_path / "newer.h5", bytes(data)))
    # only the HDF5 attribute says so (edited with h5py)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 5
    with pytest.raises(FormatError, match=rf"format_version {FORMAT_VERSION + 5} .*newer hwlearn"):
        load_network(path, verify=False)


def test_hand_edited_out_of_range_is_spec_error(net_file):
    _, path = net_file
    with h5py.File(path, "r+") as f:
        f["populations/000000"].attrs["du"] = 5000
    with pytest.raises(SpecError, match=r"good\.h5: population 'c': du=5000 is outside the allowed range"):
        load_network(path, verify=False)


def test_hand_edited_weights_and_missing_pieces(net_file):
    _, path = net_file
    with h5py.File(path, "r+") as f:
        w = f["projections/000001/weights"][()]
        w[0, 0] = 999
        del f["projections/000001/weights"]
        f["projections/000001/weights"] = w
    with pytest.raises(SpecError, match=r"projection 'd': weights\[0, 0\]=999 is outside"):
        load_network(path, verify=False)
    with h5py.File(path, "r+") as f:
        del f["populations/000001"]
    with pytest.raises(FormatError, match=r"good\.h5: .*/populations should hold entries 000000\.\.000001"):
        load_network(path, verify=False)
    with h5py.File(path, "r+") as f:
        del f["spec"]
    with pytest.raises(FormatError, match="missing group /spec"):
        load_network(path, verify=False)


def test_hand_edited_valid_change_loads(net_file):
    net, path = net_file
    with h5py.File(path, "r+") as f:
        f["populations/000000"].attrs["vth"] = 77
    back = load_network(path, verify=False)
    assert back.populations["c"].vth == 77
    assert diff_networks(net, back) == ["populations['c'].vth differs: 50 != 77"]
