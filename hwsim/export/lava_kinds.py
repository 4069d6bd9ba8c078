"""Lava Processes and fixed-point ProcessModels (tag ``fixed_pt``) for the compartment kinds of
docs/compartments.md: ``readout``, ``error`` (fused with its readout) and the OTTT ``learning``
compartment (fused with its LIF partner).

Lava is imported only inside :func:`lava_kinds` (and the functions that need it); the arithmetic
below the class builder is plain numpy and imports without Lava.

Processes (all 1-D: ``shape=(n,)``; compartment ``c`` is the flat index used by the random stream)
------------------------------------------------------------------------------------------------
``HwReadout``
    Readout only (inference networks). Ports ``a_in``; Vars ``u``, ``v``, ``du``, ``dv``. Per step
    (Lava step ``t``, 1-based): ``u, v`` follow Lava's fixed-point LIF sub-threshold arithmetic
    (``AbstractPyLifModelFixed.subthr_dynamics``: 24-bit ``u`` wrap, ``v`` clip) with bias 0; it
    sends nothing.
``HwReadoutError``
    Readout fused with its error compartments. Ports ``a_in`` (head input), ``a_label`` (label),
    ``s_out`` (graded ``y``, int32), ``s_out_y2`` (``y`` for a ``LearningDense.s_in_y2``); Vars
    ``u``, ``v``, ``du``, ``dv``, ``y2`` (the ``y`` of the last step). After the readout update::

        e = v(t) - tgt * a_label(t)                          (int64, exact)
        y = clip_y(SR(e, es))

``HwLearningLIF``
    A Lava ``LearningLIF`` (LIF part: Lava's own ``AbstractPyLifModelFixed.run_spk``, bit-exact
    with ``PyLifModelBitAcc``) fused with its OTTT learning compartments. Ports ``a_in``,
    ``a_third_factor_in`` (feedback sum ``fb``, graded messages), ``s_out`` (binary spikes),
    ``s_out_y2``, ``s_out_graded`` (``y`` as graded int32 messages); Vars ``u``, ``v``, ``y2``
    and, when ``delay > 0``, ``vpre`` (int32 ``(delay, n)``: row k holds ``vpre(t - 1 - k)``).
    After the LIF step::

        vpre(t) = v after the sub-threshold update, before the spike reset
        idx     = ((vpre(t - d) - (vth << 6)) >> lut_shift) + L // 2       (floor shift)
        y       = 0 if fb == 0 or idx < 0 or idx >= L else clip_y(SR(fb * lut[idx], sh))

    (``vpre(t - d) = 0`` before the first step and before a reset: with ``reset_interval > 0`` the
    LIF part resets as Lava's ``LIFReset``). The unused ports of ``LearningLIF``
    (``s_out_bap``, ``s_out_y1``, ``s_out_y3``) send nothing.

Widths: ``y_bits`` (``ChipSpec.trace_bits``, 7 on Loihi): ``clip_y(x) = clip(x, -2**y_bits,
2**y_bits - 1)``. Every model sends ``y`` at step ``t`` on both its y ports; a ``LearningDense``
receives ``s_in_y2`` in the same step's ``run_spk`` and uses it in that step's learning phase.

Stochastic rounding ``SR(z, s)`` (docs/compartments.md): ``z << -s`` for ``s <= 0``; otherwise
``floor(z / 2**s) + (r < z mod 2**s)`` with ``r = bits(seed, t, c) >> (64 - s)`` from the
counter-based splitmix64 stream (uint64 numpy arithmetic, no float promotion). ``s`` is in
[-32, 62]. For ``s <= 0``, ``z`` is first saturated to ``+-2**(y_bits + 1)`` so that the left shift
cannot overflow int64; the clipped result is the exact one.

Running: the ProcessModels are built inside a function, so Lava's model search cannot find them;
pass :func:`exception_map` of the processes to the run config (or use :func:`run_cfg`).
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Iterable, Sequence

import numpy as np

from .._optional import require_lava

__all__ = ["SHIFT_RANGE", "sr_bits", "sr_clip", "error_y", "learning_y", "lava_kinds", "exception_map",
           "run_cfg"]

SHIFT_RANGE = (-32, 62)          # docs/compartments.md: SR shift s, -32 <= s <= 62
Y_BITS_RANGE = (1, 16)           # hwsim.spec: trace_bits range
UV_BITS = 24                     # Lava's fixed-point LIF state width (u, v)
VTH_SHIFT = 6                    # lava/proc/lif/models.py: vth_shift (threshold MSB alignment)
_U64_MAX = (1 << 64) - 1
_INT31 = (1 << 31) - 1

# splitmix64 finaliser and the step multiplier (docs/compartments.md)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STEP = np.uint64(0xD1B54A32D192ED03)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


# ---------------------------------------------------------------------------------------------
# parameter checks (no Lava needed): one line naming the parameter, the value and the range
# ---------------------------------------------------------------------------------------------
def _int_in(name: str, value, lo, hi) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        hi_s = "inf" if hi is None else hi
        raise ValueError(f"{name}={value!r} must be an integer in [{lo}, {hi_s}]")
    return int(value)


def _int_min(name: str, value, lo) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name}={value!r} must be an integer >= {lo}")
    return int(value)


def _shape_1d(name: str, shape) -> tuple:
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise ValueError(f"{name}: shape={shape!r} must be a 1-D shape (n,) with n >= 1") from None
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"{name}: shape={shape!r} must be a 1-D shape (n,) with n >= 1")
    return shape


def _check_lut(lut) -> tuple:
    try:
        vals = tuple(lut)
    except TypeError:
        raise ValueError(f"lut={lut!r} must be a sequence of L >= 1 integers in [0, {_INT31}]") from None
    if not vals:
        raise ValueError(f"lut={lut!r} must be a sequence of L >= 1 integers in [0, {_INT31}]")
    for k, x in enumerate(vals):
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or not 0 <= x <= _INT31:
            raise ValueError(f"lut[{k}]={x!r} must be an integer in [0, {_INT31}]")
    return tuple(int(x) for x in vals)


# ---------------------------------------------------------------------------------------------
# arithmetic of the models (numpy; what the Lava ProcessModels run)
# ---------------------------------------------------------------------------------------------
def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of a uint64 array (wrapping uint64 arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _MIX1
    x = (x ^ (x >> _S27)) * _MIX2
    return x ^ (x >> _S31)


def sr_bits(seed: int, t: int, n: int) -> np.ndarray:
    """``bits(seed, t, c)`` for compartments ``c = 0..n-1``: uint64 (n,).

    Parameters
    ----------
    seed : int
        The population's seed, unsigned 64-bit.
    t : int
        Lava time step (1-based), unsigned 64-bit.
    n : int
        Number of compartments.
    """
    with np.errstate(over="ignore"):
        base = _mix(np.array([seed], np.uint64) ^ (np.array([t], np.uint64) * _STEP))
        return _mix(base ^ np.arange(n, dtype=np.uint64))


def sr_clip(z, s: int, seed: int, t: int, y_bits: int) -> np.ndarray:
    """``clip_y(SR(z, s))`` of an int64 array ``z`` (compartment c = flat index): int64.

    ``y_bits`` wide signed result in ``[-2**y_bits, 2**y_bits - 1]``; ``s`` in [-32, 62].
    """
    z = np.asarray(z, dtype=np.int64).reshape(-1)
    lo, hi = -(1 << y_bits), (1 << y_bits) - 1
    if s <= 0:
        big = 1 << (y_bits + 1)              # beyond it the clip decides; keeps z << 32 in int64
        return np.clip(np.clip(z, -big, big) << (-s), lo, hi)
    q = z >> s
    rem = z & ((1 << s) - 1)
    r = (sr_bits(seed, t, z.size) >> np.uint64(64 - s)).astype(np.int64)     # < 2**62: exact
    return np.clip(q + (r < rem), lo, hi)


def error_y(v, label, tgt: int, es: int, seed: int, t: int, y_bits: int) -> np.ndarray:
    """Error compartments: ``clip_y(SR(v - tgt * label, es))`` (int64 (n,)).

    ``v``: the readout's voltage of step t (24-bit); ``label``: the label input of step t (int32).
    """
    e = np.asarray(v, np.int64).reshape(-1) - np.int64(tgt) * np.asarray(label, np.int64).reshape(-1)
    return sr_clip(e, es, seed, t, y_bits)


def learning_y(fb, vpre, vth: int, lut: Sequence[int], lut_shift: int, sh: int, seed: int, t: int,
               y_bits: int) -> np.ndarray:
    """OTTT learning compartments (int64 (n,)).

    ``fb``: the feedback sum of step t (int32); ``vpre``: the partner's pre-reset voltage of step
    ``t - delay`` (24-bit); ``vth``: the partner's threshold (unshifted, ``<< 6`` here).
    """
    fb = np.asarray(fb, np.int64).reshape(-1)
    lut_a = np.asarray(lut, np.int64)
    L = lut_a.size
    idx = ((np.asarray(vpre, np.int64).reshape(-1) - (np.int64(vth) << VTH_SHIFT)) >> lut_shift) + L // 2
    ok = (fb != 0) & (idx >= 0) & (idx < L)
    z = np.where(ok, fb * lut_a[np.clip(idx, 0, L - 1)], 0)
    return np.where(ok, sr_clip(z, sh, seed, t, y_bits), 0)


# ---------------------------------------------------------------------------------------------
# Lava classes
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def lava_kinds() -> SimpleNamespace:
    """The Lava Processes and ProcessModels of the compartment kinds (built once; imports Lava).

    Returns
    -------
    SimpleNamespace
        ``HwReadout``, ``HwReadoutError``, ``HwLearningLIF`` (Processes) and their models
        ``PyHwReadoutModel``, ``PyHwReadoutErrorModel``, ``PyHwLearningLIFModel`` and
        ``PyHwLearningLIFDelayModel`` (``delay > 0``).
    """
    require_lava("the Lava compartment kinds")
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.neuron import LearningNeuronModelFixed
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.process.variable import Var
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
    from lava.proc.lif.models import AbstractPyLifModelFixed, PyLifModelBitAcc
    from lava.proc.lif.process import LearningLIF

    # ---- processes ---------------------------------------------------------------------------
    class _Checked:
        """Parameters are checked before Lava's constructor runs; an object whose check failed has no
        runtime, and Lava's ``__del__`` (which stops the runtime) must then do nothing."""

        def __del__(self):
            if "_runtime" in self.__dict__:
                super().__del__()

    class HwReadout(_Checked, AbstractProcess):
        """Readout compartments (non-spiking integrators): ``a_in``; Vars ``u``, ``v``.

        Parameters
        ----------
        shape : (n,)
        du, dv : int
            Lava LIF decays (unsigned 12-bit; ``du = -1`` keeps ``u``, ``dv = 4096`` clears ``v``).
        u, v : int or array, optional
            Initial state (24-bit).
        """

        def __init__(self, *, shape, du: int, dv: int, u=0, v=0, name=None, **kwargs):
            shape = _shape_1d(type(self).__name__, shape)
            super().__init__(shape=shape, du=du, dv=dv, name=name, **kwargs)
            self.a_in = InPort(shape=shape)
            self.u = Var(shape=shape, init=u)
            self.v = Var(shape=shape, init=v)
            self.du = Var(shape=(1,), init=du)
            self.dv = Var(shape=(1,), init=dv)

    class HwReadoutError(HwReadout):
        """Readout fused with its error compartments (module docstring).

        Parameters
        ----------
        shape, du, dv, u, v
            As :class:`HwReadout`.
        tgt : int
            Target in v units, ``0 <= tgt <= 2**23 - 1``.
        es : int
            SR shift, [-32, 62].
        seed : int
            Random stream seed, unsigned 64-bit.
        y_bits : int
            Width of ``y`` (``ChipSpec.trace_bits``; 7 on Loihi), [1, 16].
        """

        def __init__(self, *, shape, du: int, dv: int, tgt: int, es: int, seed: int, y_bits: int = 7,
                     u=0, v=0, name=None, **kwargs):
            tgt = _int_in("tgt", tgt, 0, (1 << (UV_BITS - 1)) - 1)
            es = _int_in("es", es, *SHIFT_RANGE)
            seed = _int_in("seed", seed, 0, _U64_MAX)
            y_bits = _int_in("y_bits", y_bits, *Y_BITS_RANGE)
            super().__init__(shape=shape, du=du, dv=dv, u=u, v=v, name=name, tgt=tgt, es=es, seed=seed,
                             y_bits=y_bits, **kwargs)
            shape = self.u.shape
            self.a_label = InPort(shape=shape)
            self.s_out = OutPort(shape=shape)
            self.s_out_y2 = OutPort(shape=shape)
            self.y2 = Var(shape=shape, init=0)

    class HwLearningLIF(_Checked, LearningLIF):
        """A LIF fused with its OTTT learning compartments (module docstring).

        Parameters
        ----------
        shape, u, v, du, dv, bias_mant, bias_exp, vth
            As Lava's ``LIF`` (fixed point).
        lut : sequence of int
            Surrogate table, ``L >= 1`` entries in [0, 2**31 - 1].
        lut_shift : int
            Voltage units per entry, ``2**lut_shift``; [0, 62].
        sh : int
            SR shift, [-32, 62].
        delay : int
            ``d >= 0``: ``y`` of step t uses ``vpre(t - d)``.
        seed : int
            Random stream seed, unsigned 64-bit.
        y_bits : int
            Width of ``y``, [1, 16] (7 on Loihi).
        reset_interval, reset_offset : int
            ``reset_interval > 0`` makes the LIF part a Lava ``LIFReset`` (``u = v = 0`` right after
            the input is received when ``t % reset_interval == reset_offset % reset_interval``) and
            clears the ``vpre`` history at that step; 0 (default): no reset.
        """

        def __init__(self, *, shape, lut, lut_shift: int, sh: int, delay: int, seed: int, y_bits: int = 7,
                     u=0, v=0, du=0, dv=0, bias_mant=0, bias_exp=0, vth=10, reset_interval: int = 0,
                     reset_offset: int = 0, name=None, **kwargs):
            shape = _shape_1d(type(self).__name__, shape)
            lut = _check_lut(lut)
            lut_shift = _int_in("lut_shift", lut_shift, 0, 62)
            sh = _int_in("sh", sh, *SHIFT_RANGE)
            delay = _int_min("delay", delay, 0)
            seed = _int_in("seed", seed, 0, _U64_MAX)
            y_bits = _int_in("y_bits", y_bits, *Y_BITS_RANGE)
            reset_interval = _int_min("reset_interval", reset_interval, 0)
            reset_offset = _int_min("reset_offset", reset_offset, 0)
            super().__init__(shape=shape, u=u, v=v, du=du, dv=dv, bias_mant=bias_mant, bias_exp=bias_exp,
                             vth=vth, name=name, lut=lut, lut_shift=lut_shift, sh=sh, delay=delay, seed=seed,
                             y_bits=y_bits, reset_interval=reset_interval, reset_offset=reset_offset, **kwargs)
            self.s_out_graded = OutPort(shape=shape)
            if delay > 0:
                self.vpre = Var(shape=(delay,) + shape, init=0)

    # ---- models ------------------------------------------------------------------------------
    # Lava's @implements refuses a subclass of a model that implements another Process, so each
    # shared part is an undecorated base class.
    class _ReadoutBase(AbstractPyLifModelFixed):
        """Lava's fixed-point LIF sub-threshold update, bias 0, no spikes, no output."""

        # no bias Vars: the readout has no bias (effective_bias stays 0)
        bias_mant = None
        bias_exp = None

        def __init__(self, proc_params):
            super().__init__(proc_params)
            self.effective_bias = 0

        def run_spk(self):
            self.subthr_dynamics(activation_in=self.a_in.recv())

    @implements(proc=HwReadout, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyHwReadoutModel(_ReadoutBase):
        """Readout only: Lava's fixed-point LIF sub-threshold update, bias 0; sends nothing."""

    @implements(proc=HwReadoutError, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyHwReadoutErrorModel(_ReadoutBase):
        """Readout update, then ``y = clip_y(SR(v - tgt * a_label, es))`` sent on both y ports."""

        a_label: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
        s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
        s_out_y2: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=7)
        y2: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=7)

        def run_spk(self):
            a = self.a_in.recv()
            label = self.a_label.recv()
            self.subthr_dynamics(activation_in=a)
            p = self.proc_params
            y = error_y(self.v, label, p["tgt"], p["es"], p["seed"], self.time_step, p["y_bits"])
            self.y2[:] = y
            self.s_out.send(y.astype(np.int32))
            self.s_out_y2.send(y.astype(np.int32))

    class _LearningLIFBase(LearningNeuronModelFixed, AbstractPyLifModelFixed):
        """Lava's fixed-point LIF step (``AbstractPyLifModelFixed.run_spk`` with
        ``PyLifModelBitAcc``'s threshold), then the learning compartments (``delay = 0``)."""

        s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
        s_out_graded: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
        vth: int = LavaPyType(int, np.int32, precision=17)
        # Lava's own LIF threshold code (PyLifModelBitAcc), not a copy
        scale_threshold = PyLifModelBitAcc.scale_threshold
        spiking_activation = PyLifModelBitAcc.spiking_activation

        def __init__(self, proc_params):
            super().__init__(proc_params)
            self.effective_vth = 0
            self._vpre = None

        def subthr_dynamics(self, activation_in):
            # Lava's LIFReset (PyLifResetModelBitAcc.run_spk) zeroes u and v after recv, before the update
            every, offset = self.proc_params["reset_interval"], self.proc_params["reset_offset"]
            if every and self.time_step % every == offset % every:
                self.u *= 0
                self.v *= 0
                self._clear_history()
            super().subthr_dynamics(activation_in)

        def _clear_history(self):
            pass

        def reset_voltage(self, spike_vector):
            # called by Lava's run_spk between the sub-threshold update and the reset
            self._vpre = np.array(self.v, dtype=np.int64)
            super().reset_voltage(spike_vector)

        def _delayed_vpre(self) -> np.ndarray:
            return self._vpre

        def run_spk(self):
            super().run_spk()                    # Lava's LIF: recv a_in, update, spike, reset, send
            fb = self.a_third_factor_in.recv()
            p = self.proc_params
            y = learning_y(fb, self._delayed_vpre(), int(np.asarray(self.vth).reshape(-1)[0]), p["lut"],
                           p["lut_shift"], p["sh"], p["seed"], self.time_step, p["y_bits"])
            self.y2[:] = y
            self.s_out_y2.send(y.astype(np.int32))
            self.s_out_graded.send(y.astype(np.int32))

    @implements(proc=HwLearningLIF, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyHwLearningLIFModel(_LearningLIFBase):
        """HwLearningLIF with ``delay = 0`` (``y`` of step t uses ``vpre(t)``)."""

    @implements(proc=HwLearningLIF, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyHwLearningLIFDelayModel(_LearningLIFBase):
        """As :class:`PyHwLearningLIFModel`, with the ``vpre`` history of ``delay > 0`` steps."""

        vpre: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

        def _clear_history(self):
            self.vpre[:] = 0                                       # vpre before a reset is 0

        def _delayed_vpre(self) -> np.ndarray:
            old = np.array(self.vpre[-1], dtype=np.int64)          # vpre(t - d)
            self.vpre[1:] = self.vpre[:-1]
            self.vpre[0] = self._vpre
            return old

    return SimpleNamespace(HwReadout=HwReadout, HwReadoutError=HwReadoutError, HwLearningLIF=HwLearningLIF,
                           PyHwReadoutModel=PyHwReadoutModel, PyHwReadoutErrorModel=PyHwReadoutErrorModel,
                           PyHwLearningLIFModel=PyHwLearningLIFModel,
                           PyHwLearningLIFDelayModel=PyHwLearningLIFDelayModel)


def _model_of(proc):
    K = lava_kinds()
    if isinstance(proc, K.HwLearningLIF):
        return K.PyHwLearningLIFDelayModel if proc.proc_params["delay"] > 0 else K.PyHwLearningLIFModel
    if isinstance(proc, K.HwReadoutError):
        return K.PyHwReadoutErrorModel
    if isinstance(proc, K.HwReadout):
        return K.PyHwReadoutModel
    return None


def exception_map(procs: Iterable) -> dict:
    """``exception_proc_model_map`` entries for the compartment-kind processes among ``procs``.

    Lava's compiler looks a process up by instance (its model search cannot see models built in a
    function), so every instance is mapped, and its class too (the run config's own lookup).
    """
    out = {}
    for proc in procs:
        model = _model_of(proc)
        if model is not None:
            out[proc] = model
            out.setdefault(type(proc), model)
    return out


def run_cfg(procs: Iterable, extra: dict | None = None):
    """``Loihi2SimCfg(select_tag="fixed_pt")`` that runs the compartment-kind processes in ``procs``
    with these models (plus ``extra`` exceptions)."""
    require_lava("the Lava compartment kinds")
    from lava.magma.core.run_configs import Loihi2SimCfg
    return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={**exception_map(procs), **(extra or {})})
