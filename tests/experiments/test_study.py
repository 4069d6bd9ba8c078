"""rules.study / hwlearn sweep: study parsing, presets, and every bad-input error (before any cell runs)."""
import json

import pytest

from rules.study import PRESETS, StudyError, load_study_file, parse_study, preset
from scripts.cli import main

TINY = {"base": "onchip", "epochs": 1, "limit": 48, "seeds": [0, 1],
        "fixed": {"hidden": [16], "T": 4, "in_bits": "auto", "timing": "chip"},
        "axes": {"weight_bits": [6, 8], "trace_bits": [5, 7]}}


def test_grid_and_points_expand_to_cells_with_stable_keys():
    s = parse_study(TINY)
    assert s.axes == ("weight_bits", "trace_bits") and len(s.points) == 4
    entries = s.cells()
    assert len(entries) == 8 and len({e[2].key for e in entries}) == 8
    assert parse_study(json.loads(json.dumps(TINY))).hash == s.hash
    assert parse_study({**TINY, "seeds": [0, 2]}).hash != s.hash
    assert parse_study({**TINY, "name": "renamed"}).hash == s.hash          # the name is not the study
    point, seed, cell, ref = entries[0]
    chip = cell.config["chip"]
    assert (chip["weight_bits"], chip["trace_bits"], chip["in_bits"], chip["hidden"]) == (6, 5, 5, [16])
    assert cell.config["twin"] is True and ref is None and seed == 0
    pts = parse_study({**{k: v for k, v in TINY.items() if k != "axes"},
                       "points": [{"weight_bits": 8, "trace_bits": 7}, {"weight_bits": 4, "trace_bits": 4}]})
    assert [p["weight_bits"] for p in pts.points] == [8, 4] and len(pts.cells()) == 4


def test_reference_mode_shares_one_float_twin_per_seed():
    s = parse_study({**TINY, "float": "reference"})
    assert s.reference == {"weight_bits": 8, "trace_bits": 7}          # the widest value of each width axis
    entries = s.cells()
    own = {e[2].key for e in entries}
    refs = {e[3].key for e in entries if e[3] is not None}
    assert refs <= own and len(refs) == 2                               # the (8, 7) cells, one per seed
    assert all(e[2].config["twin"] == (e[0] == {"weight_bits": 8, "trace_bits": 7}) for e in entries)


def test_toml_file_and_presets(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('base = "onchip"\nepochs = 1\nseeds = [3]\n[fixed]\nhidden = [8]\nin_bits = "auto"\ntiming = "chip"\n'
                 '[axes]\ntrace_bits = [4, 7]\nrounding = ["stochastic"]\n')
    s = parse_study(load_study_file(f))
    assert s.seeds == (3,) and [p["trace_bits"] for p in s.points] == [4, 7]
    lp = parse_study(preset("learning-precision"))
    assert len(lp.points) == 25 and lp.seeds == (0, 1, 2) and lp.epochs == 10
    assert {p["weight_bits"] for p in lp.points} == {4, 6, 8, 10, 12}
    assert {p["trace_bits"] for p in lp.points} == {4, 5, 7, 9, 12}
    ptq = parse_study(preset("ptq"))
    assert len(ptq.points) == 6 * 7
    # rounding: on chip timing (the Simulator's learning engine), the only timing
    assert len(parse_study(preset("rounding")).points) == 9
    sync = preset("rounding")
    sync["fixed"]["timing"] = "layer-sync"
    with pytest.raises(StudyError, match=r"fixed: timing='layer-sync': the layer-synchronous integer kernel was "
                                         r"removed \(one chip\); allowed: 'chip'"):
        parse_study(sync)
    assert set(PRESETS) == {"learning-precision", "ptq", "rounding"}


BAD = [
    ({"bases": "onchip"}, r"unknown key\(s\) \['bases'\]; known keys: \['name', 'base'"),
    ({"base": "chip"}, r"base='chip' is not one of \('onchip', 'ptq'\)"),
    ({"axes": {"wbits": [4]}}, r"unknown axis 'wbits'; known axes of base 'onchip': \['weight_bits', 'trace_bits'"),
    ({"axes": {"weight_bits": [4, 17]}}, r"axis weight_bits: ChipSpec: weight_bits=17 is outside the allowed "
                                         r"range \[1, 16\]"),
    ({"axes": {"trace_bits": [0]}}, r"trace_bits=0 is outside the allowed range \[1, 16\]"),
    ({"axes": {"accumulator_bits": [40]}}, r"accumulator_bits=40 is outside the allowed range \[4, 31\]"),
    ({"axes": {"uv_bits": [20]}}, r"axis 'uv_bits' is a ChipSpec width that base 'onchip' cannot vary yet"),
    ({"axes": {}}, r"axes is empty \(an empty grid\)"),
    ({"axes": {"weight_bits": []}}, r"axis 'weight_bits' has no values \(an empty grid\)"),
    ({"axes": None, "points": []}, r"points is empty \(an empty grid\)"),
    ({"axes": None}, r"no axes or points given \(an empty grid\)"),
    ({"points": [{"weight_bits": 8}]}, r"either axes \(a grid\) or points \(a list\), not both"),
    ({"axes": {"weight_bits": [8, 8]}}, r"axis 'weight_bits' lists a value twice"),
    ({"axes": {"rounding": ["up"]}}, r"rounding='up' is not allowed; one of \('stochastic', 'nearest', 'floor'\)"),
    ({"axes": {"rule": ["bptt"]}}, r"rule='bptt' is not allowed; one of \('ottt-a', 'ottt-o'\)"),
    ({"axes": {"T": [0]}}, r"T=0 is not allowed; an integer in \[1, 10000\]"),
    ({"axes": {"lr": [0]}}, r"lr=0 is not allowed; a number in \(0, 10\]"),
    ({"axes": {"leak": [1.0]}}, r"leak=1.0 is not allowed; a number in \(0, 1\)"),
    ({"axes": {"hidden": [[0]]}}, r"hidden=\[0\] is not allowed; a list of hidden layer sizes"),
    ({"seeds": []}, r"seeds=\[\] must be a non-empty list"),
    ({"seeds": [-1]}, r"seed -1 is outside the allowed range"),
    ({"epochs": 0}, r"epochs=0 must be an integer in \[1, 100000\]"),
    ({"float": "both"}, r"float='both' is not one of \('twin', 'reference', 'none'\)"),
    ({"fixed": {"in_bits": 7}}, r"in_bits=7 is outside the allowed range \[1, trace_bits=5\].*in_bits = 'auto'"),
    ({"fixed": {"hidden": [16], "weight_bits": 8}}, r"\['weight_bits'\] are both fixed and axes"),
    ({"axes": {"weight_bits": [8], "accumulator_bits": [6]}},
     r"accumulator_bits=6 must be >= weight_bits=8"),
    ({"reference": {"weight_bits": 8}}, r"reference is used with float='reference' only"),
    ({"axes": {"timing": ["chip", "layer-sync"]}},
     r"axes: timing='layer-sync': the layer-synchronous integer kernel was removed \(one chip\); allowed: 'chip'; "
     r"the layer-synchronous reference is the float OTTT \(--backend float --rule ottt-a\)"),
    ({"fixed": {"hidden": [16], "timing": "layer-sync"}}, r"fixed: timing='layer-sync': the layer-synchronous"),
    ({"axes": {"timing": ["lava"]}}, r"timing='lava' is not allowed; allowed: 'chip'"),
    ({"fixed": {"timing": ["chip"]}}, r"timing=\['chip'\] is not allowed; allowed: 'chip'"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_study_is_refused_with_a_clear_message(change, message):
    data = {**TINY, **change}
    for k in [k for k, v in change.items() if v is None]:
        del data[k]
    with pytest.raises(StudyError, match=message):
        parse_study(data)


def test_ptq_bad_inputs():
    ptq = {"base": "ptq", "axes": {"rule": ["bptt"], "weight_bits": [2, 8]}}
    assert len(parse_study(ptq).points) == 2
    with pytest.raises(StudyError, match=r"rule='ottt' is not allowed; one of \('bptt'"):
        parse_study({**ptq, "axes": {"rule": ["ottt"]}})
    with pytest.raises(StudyError, match=r"decay_bits=2 is outside the allowed range \[4, 16\]"):
        parse_study({**ptq, "axes": {"decay_bits": [2]}})
    with pytest.raises(StudyError, match="crosscheck_samples applies to base 'onchip' only"):
        parse_study({**ptq, "crosscheck_samples": 8})


def test_bad_toml_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("base = onchip\n")
    with pytest.raises(StudyError, match="is not valid TOML"):
        load_study_file(f)
    with pytest.raises(StudyError, match="does not exist"):
        load_study_file(tmp_path / "missing.toml")


def test_cli_refuses_before_running_anything(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["sweep", "--base", "onchip", "--axis", "weight_bits=4,30", "--out", str(out)])
    assert rc == 2 and not out.exists()
    assert "weight_bits=30 is outside the allowed range [1, 16]" in capsys.readouterr().err
    rc = main(["sweep", "--base", "onchip", "--axis", "weight_bits=[]", "--out", str(out)])
    assert rc == 2 and not out.exists() and "empty grid" in capsys.readouterr().err
    rc = main(["sweep", "--base", "onchip", "--axis", "nobits=4", "--out", str(out)])
    assert rc == 2 and "unknown axis 'nobits'; known axes" in capsys.readouterr().err
    rc = main(["sweep", "--base", "onchip", "--axis", "rounding=stochastic,floor", "--set", "timing=layer-sync",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists() and len(err.strip().splitlines()) == 1
    assert ("timing='layer-sync': the layer-synchronous integer kernel was removed (one chip); allowed: 'chip'; "
            "the layer-synchronous reference is the float OTTT (--backend float --rule ottt-a)") in err
    toml = tmp_path / "sync.toml"
    toml.write_text('base = "onchip"\nepochs = 1\n[axes]\ntiming = ["chip", "layer-sync"]\n')
    rc = main(["sweep", str(toml), "--out", str(out)])
    assert rc == 2 and not out.exists() and "the layer-synchronous integer kernel was removed" in capsys.readouterr().err
    rc = main(["sweep", "report", str(tmp_path / "nothing")])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
    rc = main(["sweep", "report", str(tmp_path), "--epochs", "3"])
    assert rc == 2 and "sweep report takes RESULTS" in capsys.readouterr().err


def test_cli_check_lists_cells_and_builds_networks(capsys):
    rc = main(["sweep", "--base", "onchip", "--axis", "weight_bits=6,8", "--set", "hidden=[16]", "--set", "T=4",
               "--set", "timing=chip",
               "--seeds", "0", "1", "--epochs", "1", "--limit", "48", "--check"])
    cap = capsys.readouterr()
    assert rc == 0 and len(cap.out.strip().splitlines()) == 4
    assert "built 4 distinct on-chip network(s)" in cap.err


def test_results_folder_of_another_study_is_refused(tmp_path):
    from rules.sweep import check_folder

    a, b = parse_study(TINY), parse_study({**TINY, "seeds": [5]})
    check_folder(a, tmp_path / "r")
    check_folder(a, tmp_path / "r")                     # the same study: fine (resume)
    with pytest.raises(StudyError, match=f"holds study {a.hash}, this study is {b.hash}"):
        check_folder(b, tmp_path / "r")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(StudyError, match="not empty and holds no study.json"):
        check_folder(a, tmp_path / "full")


def test_learning_precision_preset_networks_all_build():
    """Every cell of the preset builds on the chip (scales, exponents, rates, mapping) up front."""
    from rules.sweep import preflight

    assert preflight(parse_study(preset("learning-precision"))) == 75     # 25 points x 3 seeds
