"""The chip IR and ChipSpec reject what the chip cannot hold, naming parameter, value and range."""
import numpy as np
import pytest

from hwsim import LOIHI, ChipSpec, Network, SpecError
from hwsim.network import conv_output_shape


def test_spec_defaults_are_loihi():
    assert LOIHI.uv_range == (-(2 ** 23), 2 ** 23 - 1)
    assert LOIHI.du_range == (-1, 4095) and LOIHI.dv_range == (0, 4096)
    assert LOIHI.weight_range("mixed") == (-256, 255)
    assert LOIHI.weight_range("excitatory") == (0, 255)
    assert LOIHI.weight_range("inhibitory") == (-255, 0)


@pytest.mark.parametrize("field,value", [("weight_bits", 0), ("uv_bits", 40), ("compartments_per_core", 0)])
def test_spec_field_out_of_range(field, value):
    with pytest.raises(SpecError, match=rf"{field}={value} is outside the allowed range"):
        ChipSpec(**{field: value})


def test_spec_replace_unknown_field():
    with pytest.raises(SpecError, match="no field"):
        LOIHI.replace(weight_bitz=4)


def test_population_parameters_validated():
    net = Network()
    with pytest.raises(SpecError, match=r"population 'p': du=5000 is outside the allowed range \[-1, 4095\]"):
        net.add_population("p", 4, du=5000)
    with pytest.raises(SpecError, match=r"bias_mant\[2\]=9999"):
        net.add_population("p", 4, bias_mant=[0, 1, 9999, 0])
    with pytest.raises(SpecError, match="bias_mant has 3 entries"):
        net.add_population("p", 4, bias_mant=[0, 1, 2])
    with pytest.raises(SpecError, match="kind='izh'"):
        net.add_population("p", 4, kind="izh")


def test_dense_weights_validated_not_clipped():
    net = Network()
    net.add_input("in", 3)
    net.add_population("p", 2)
    with pytest.raises(SpecError, match=r"weights\[1, 2\]=300 is outside the allowed range \[-256, 255\]"):
        net.connect_dense("w", "in", "p", [[0, 1, -3], [4, 5, 300]])
    with pytest.raises(SpecError, match=r"expected \(n_dst, n_src\) = \(2, 3\)"):
        net.connect_dense("w", "in", "p", np.zeros((3, 2), int))
    with pytest.raises(SpecError, match="non-finite"):
        net.connect_dense("w", "in", "p", [[0.0, np.nan, 0.0], [0, 0, 0]])
    with pytest.raises(SpecError, match=r"weight_exp=9 is outside"):
        net.connect_dense("w", "in", "p", np.zeros((2, 3), int), weight_exp=9)
    with pytest.raises(SpecError, match=r"delays\[0, 0\]=70"):
        net.connect_dense("w", "in", "p", np.zeros((2, 3), int), delays=np.full((2, 3), 70))
    p = net.connect_dense("w", "in", "p", [[0, 1, -3], [4, 5, 6]])
    assert p.sign_mode == "mixed" and p.weights.dtype == np.int64
    with pytest.raises(SpecError, match="already used"):
        net.connect_dense("w", "in", "p", np.zeros((2, 3), int))


def test_conv_shapes_checked_against_torch_formula():
    torch = pytest.importorskip("torch")
    conv = torch.nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    out = conv(torch.zeros(1, 4, 11, 13)).shape[1:]
    assert conv_output_shape((4, 11, 13), 6, (3, 5), (2, 1), (1, 2), (1, 2)) == tuple(out)
    net = Network()
    net.add_input("in", (4, 11, 13))
    net.add_population("p", tuple(out))
    net.connect_conv("c", "in", "p", np.ones((6, 2, 3, 5), int), stride=(2, 1), padding=(1, 2),
                     dilation=(1, 2), groups=2)
    net.add_population("q", (6, 5, 5))
    with pytest.raises(SpecError, match="does not match the conv output shape"):
        net.connect_conv("c2", "in", "q", np.ones((6, 2, 3, 5), int), groups=2)


def test_sparse_and_probe_validation():
    net = Network()
    net.add_input("in", 5)
    net.add_population("p", 3)
    with pytest.raises(SpecError, match=r"src_index\[1\]=7"):
        net.connect_sparse("s", "in", "p", [0, 1], [0, 7], [1, 1])
    with pytest.raises(SpecError, match="duplicate"):
        net.connect_sparse("s", "in", "p", [0, 0], [1, 1], [1, 1])
    with pytest.raises(SpecError, match="probe var='x'"):
        net.add_probe("p", "x")
    with pytest.raises(SpecError, match="no input or population named 'zz'"):
        net.add_probe("zz", "v")


def test_names_must_survive_hdf5():
    with pytest.raises(SpecError, match="NUL"):
        Network(name="a\x00b")
    net = Network()
    with pytest.raises(SpecError, match="non-empty string"):
        net.add_input("", 3)
    with pytest.raises(SpecError, match="UTF-8"):
        net.add_population("\ud800", 3)
