"""hwsim.io with learning projections: rules and their 3F wiring round-trip exactly; files from
format 1.0 (before learning) still load; unknown or malformed learning fields are refused."""
import json

import h5py
import numpy as np
import pytest

from hwsim import Network, SpecError
from hwsim import io as hio
from hwsim.io import (FORMAT_MINOR, FORMAT_VERSION, FormatError, diff_networks, load_network, load_run,
                      save_network, save_run)
from hwsim.learning import LearningRule, reward_modulated_stdp, stdp_loihi
from hwsim.simulator import RunRecord, Simulator


def learning_network(stdp_seed: int = 3) -> Network:
    """2F (float impulse), 3F with one and two third factors (R-STDP), plain, and a static projection."""
    rng = np.random.default_rng(3)
    net = Network(name="learning")
    net.add_input("in", 6)
    net.add_input("err", 4, graded=True)
    net.add_input("trace", 4, graded=True)
    net.add_population("p", 4, du=1000, dv=500, vth=40)
    net.add_population("q", 2, vth=20)
    net.connect_dense("stdp", "in", "p", rng.integers(-50, 90, (4, 6)),
                      learning=stdp_loihi(1, 2, -2, 10, 8, t_epoch=2, rng_seed=stdp_seed, x1_impulse=16.5))
    net.connect_dense("three", "in", "p", rng.integers(-50, 90, (4, 6)), num_weight_bits=7,
                      learning=LearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=20, x1_tau=5, t_epoch=4,
                                            rng_seed=1, kind="3F"),
                      third_factor={"y2": "err"}, bap=True)
    net.connect_dense("rstdp", "in", "p", rng.integers(-50, 90, (4, 6)),
                      learning=reward_modulated_stdp(1, 2, -2, 10, 10, 16, 16, 0.5, rng_seed=2),
                      third_factor={"y1": "trace", "y2": "err"})
    net.connect_dense("plain", "p", "q", rng.integers(0, 90, (2, 4)), sign_mode="excitatory",
                      learning=LearningRule(dw="2^-2*u0*x1 - 2^-4*u0*w", dt="x0*y0", x1_impulse=12.25,
                                            x1_tau=3.5, rng_seed=9, kind="plain"))
    net.connect_dense("static", "p", "q", rng.integers(-9, 9, (2, 4)))
    net.add_probe("p", "v")
    return net


def inputs(T, seed=0):
    rng = np.random.default_rng(seed)
    return {"in": (rng.random((T, 6)) < 0.4).astype(np.int8), "err": rng.integers(-128, 128, (T, 4)),
            "trace": rng.integers(0, 128, (T, 4))}


def test_learning_round_trip(tmp_path):
    net = learning_network()
    back = load_network(save_network(net, tmp_path / "l.h5"))
    assert diff_networks(net, back) == []
    for name, p in net.projections.items():
        q = back.projections[name]
        assert (q.learning, q.bap, q.third_factor, q.sign_mode) == (p.learning, p.bap, p.third_factor, p.sign_mode)
        if p.learning is not None:
            assert q.learning.impulses == p.learning.impulses and q.learning.taus == p.learning.taus
            assert [type(v) for v in q.learning.impulses] == [type(v) for v in p.learning.impulses]
            assert q.learning.products == p.learning.products
    assert back.projections["static"].learning is None
    # the loaded network learns exactly as the original
    x = inputs(30)
    a = Simulator(net).run(30, inputs=x)
    b = Simulator(back).run(30, inputs=x)
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name])
    np.testing.assert_array_equal(a.spikes["q"], b.spikes["q"])
    with h5py.File(tmp_path / "l.h5", "r") as f:
        assert int(f.attrs["format_minor"]) == FORMAT_MINOR == 5
        g = f["projections/000001/learning"]
        assert g.attrs["dw"] == "-2^-3*u0*x1*y2" and g.attrs["y2_input"] == "err" and int(g.attrs["bap"]) == 1
        assert "learning" not in f["projections/000004"]


def test_diff_networks_sees_a_different_rule():
    a, b = learning_network(), learning_network(stdp_seed=4)
    b.projections["three"].third_factor["y2"] = "trace"
    diffs = diff_networks(a, b)
    assert any("projections['stdp'].learning differs" in d for d in diffs)
    assert any("projections['three'].third_factor differs" in d for d in diffs)


def test_run_record_with_weights_round_trip(tmp_path):
    net = learning_network()
    rec = Simulator(net).run(12, inputs=inputs(12), record_weights=4)
    back = load_run(save_run(rec, tmp_path / "r.h5", network=net))
    assert isinstance(back, RunRecord)
    for name in rec.weights:
        np.testing.assert_array_equal(back.weights[name], rec.weights[name])
        assert back.weights[name].dtype == rec.weights[name].dtype
        np.testing.assert_array_equal(back.tags[name]["tag_1"], rec.tags[name]["tag_1"])
        np.testing.assert_array_equal(back.weight_history[name], rec.weight_history[name])
    assert back.counters.synapse_updates.sum() == rec.counters.synapse_updates.sum() > 0
    assert diff_networks(load_network(tmp_path / "r.h5"), net) == []


def _as_format_1_0(path, drop_record_fields=()):
    """Rewrite a file as hwlearn wrote it before format 1.1: no ``format_minor`` (root attribute and
    header), and run records without the fields added since; the header hash is recomputed."""
    with h5py.File(path, "r+") as f:
        del f.attrs["format_minor"]
        for k in drop_record_fields:
            rec = f["record"]
            del rec[k]
            rec.attrs["fields"] = np.array([x for x in rec.attrs["fields"] if x != k], dtype=h5py.string_dtype())
    with open(path, "r+b") as fh:
        header = json.loads(fh.read(hio.USERBLOCK_SIZE).rstrip(b"\0")[len(hio._HEADER_MAGIC):])
        digest, size = hio._file_sha256(fh, hio.USERBLOCK_SIZE)
        new = {"format": header["format"], "format_version": 1, "sha256": digest, "size": size}
        fh.seek(0)
        fh.write((hio._HEADER_MAGIC + json.dumps(new, separators=(",", ":")).encode() + b"\n")
                 .ljust(hio.USERBLOCK_SIZE, b"\0"))
    return path


def test_files_written_before_learning_still_load(tmp_path):
    net = Network(name="old")
    net.add_input("in", 5)
    net.add_population("p", 3, vth=5)
    net.connect_dense("w", "in", "p", np.arange(15).reshape(3, 5) - 7)
    net.add_probe("p", "v")
    path = _as_format_1_0(save_network(net, tmp_path / "old.h5"))
    hdr, damage = hio._read_header(path)
    assert damage is None and "format_minor" not in hdr
    assert diff_networks(load_network(path), net) == []
    rec = Simulator(net).run(4, inputs={"in": np.ones((4, 5), np.int8)})
    run = _as_format_1_0(save_run(rec, tmp_path / "old_run.h5", network=net),
                         drop_record_fields=("weights", "tags", "weight_history"))
    back = load_run(run)
    assert isinstance(back, RunRecord) and back.weights == {} and back.tags == {}
    np.testing.assert_array_equal(back.spikes["p"], rec.spikes["p"])


@pytest.mark.parametrize("minor, extra", [(1, ""), (FORMAT_MINOR + 1, r".*written by a newer hwlearn")])
def test_unknown_learning_field_is_refused(tmp_path, minor, extra):
    path = save_network(learning_network(), tmp_path / "u.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["format_minor"] = minor
        f["projections/000000/learning"].attrs["z1_tau"] = 3
    with pytest.raises(FormatError, match=rf"u\.h5: .*000000/learning: unknown learning field\(s\) \['z1_tau'\]{extra}"):
        load_network(path, verify=False)


def test_unknown_projection_entry_is_refused(tmp_path):
    path = save_network(learning_network(), tmp_path / "u.h5")
    with h5py.File(path, "r+") as f:
        f["projections/000004"].create_group("plasticity")
    with pytest.raises(FormatError, match=r"000004: unknown projection field\(s\) \['plasticity'\]"):
        load_network(path, verify=False)


@pytest.mark.parametrize("edit, err, match", [
    (lambda g: g.attrs.__delitem__("t_epoch"), FormatError, r"missing attribute 't_epoch' at /projections/000000/learning"),
    (lambda g: g.attrs.__setitem__("x1_tau", "ten"), FormatError, r"attribute 'x1_tau' .* should be a number"),
    (lambda g: g.attrs.__setitem__("dw", "x0*y1*9*2^9"), SpecError, r"u\.h5: .*scale"),
    (lambda g: g.attrs.__setitem__("y2_input", "nope"), SpecError, r"u\.h5: .*needs a 3F rule"),
    (lambda g: g.attrs.__setitem__("t_epoch", 0), SpecError, r"u\.h5: .*t_epoch=0 must be an integer >= 1"),
])
def test_malformed_learning_group(tmp_path, edit, err, match):
    path = save_network(learning_network(), tmp_path / "u.h5")
    with h5py.File(path, "r+") as f:
        edit(f["projections/000000/learning"])
    with pytest.raises(err, match=match):
        load_network(path, verify=False)


def test_learning_on_a_sparse_projection_in_a_file_is_refused(tmp_path):
    net = Network()
    net.add_input("in", 3)
    net.add_population("p", 2)
    net.connect_sparse("s", "in", "p", [0, 1], [2, 0], [5, 6])
    path = save_network(net, tmp_path / "s.h5")
    donor = save_network(learning_network(), tmp_path / "d.h5")
    with h5py.File(donor, "r") as d, h5py.File(path, "r+") as f:
        d.copy(d["projections/000000/learning"], f["projections/000000"], name="learning")
    with pytest.raises(FormatError, match=r"000000/learning: only dense projections learn \(kind is 'sparse'\)"):
        load_network(path, verify=False)


def test_format_version_constants():
    assert FORMAT_VERSION == 1 and FORMAT_MINOR == 5
