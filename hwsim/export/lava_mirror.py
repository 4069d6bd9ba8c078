"""A Lava ``LearningDense`` fused with its mirror (hwsim's :class:`hwsim.network.Mirror`, OTTT's
mirrored feedback): the learning projection's own weights, read transposed, carry graded values of
its post side back to its pre side.

Lava is imported only inside :func:`lava_mirror` (and the functions that need it); the parameter
checks import without Lava.

Process ``HwMirrorLearningDense`` (a subclass of Lava's ``LearningDense``)
-------------------------------------------------------------------------
Everything of ``LearningDense`` (``weights`` of shape ``(n_post, n_pre)``, ``learning_rule``,
``weight_exp``, ``num_weight_bits``, ``sign_mode``, ``num_message_bits``, ``graded_spike_cfg``, the
ports ``s_in``, ``a_out``, ``s_in_bap``, ``s_in_y1..3`` and the trace / tag Vars), plus

- InPort ``s_in_back`` ``(n_post,)``: graded values ``y`` (int32; e.g. an error population's
  ``s_out``), received in step t's ``run_spk``;
- OutPort ``a_out_back`` ``(n_pre,)``: the back sum, int32 (connect it to the pre population's
  ``a_in`` or to a learning compartment's ``a_third_factor_in``);
- Var ``back_exp`` ``(1,)``: the back sum's shift (hwsim ``Mirror.weight_exp``), in [-16, 16];
- Var ``a_buff_back`` ``(n_pre,)``: the back sum computed at step t, sent at step t + 1.

Per Lava step t (``PyHwMirrorLearningDenseModel.run_spk``)::

    a_out_back.send(a_buff_back)                  # the sum of step t - 1 (0 at step 1), as Dense does
    <Lava's PyLearningDenseModelBitApproximate.run_spk>   # forward sum, pre/post traces, y ports
    y           = s_in_back.recv()                # y(t)
    a_buff_back = wrap32(floor_shift(W^T . y, back_exp))   # int64 sum; wrap32 = int32 two's complement

``W`` is ``weights`` as they are in ``run_spk`` of step t: after Lava's one-time truncation at step 1
and after the learning phase of step t - 1, i.e. before step t's learning (Lava runs ``run_lrn``
after every process's ``run_spk`` of the step) -- the weights the forward sum of step t uses. This
is hwsim's mirror (``hwsim/kernels/engine.py`` ``learn_phase``): ``back(t)`` arrives at the
destination's synaptic input at step t + 1, exactly as a graded ``Dense`` from the source would
deliver it. Units: weights are Lava's raw mantissas (8-bit range, mixed ``[-256, 255]``), ``y``
graded payloads; the sum is exact in int64 for ``n_post * 2**8 * |y| < 2**63``.

Running: the model is built inside a function, so Lava's model search cannot find it; pass
:func:`exception_map` of the processes to the run config, or use :func:`run_cfg`, which also maps
the compartment kinds of :mod:`hwsim.export.lava_kinds`.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Iterable

import numpy as np

from .._optional import require_lava

__all__ = ["BACK_EXP_RANGE", "back_sum", "lava_mirror", "exception_map", "run_cfg"]

# the widest weight_exp any ChipSpec allows (hwsim.spec field bounds weight_exp_min >= -16,
# weight_exp_max <= 16); hwsim's Mirror.weight_exp is checked against the network's own spec
BACK_EXP_RANGE = (-16, 16)


def _check_back_exp(back_exp) -> int:
    lo, hi = BACK_EXP_RANGE
    if isinstance(back_exp, (bool, np.bool_)) or not isinstance(back_exp, (int, np.integer)) \
            or not lo <= back_exp <= hi:
        raise ValueError(f"back_exp={back_exp!r} must be an integer in [{lo}, {hi}]")
    return int(back_exp)


def _check_weights(weights) -> np.ndarray:
    w = np.asarray(weights)
    if w.ndim != 2 or 0 in w.shape:
        raise ValueError(f"weights: shape={w.shape} must be 2-D (n_post, n_pre) with n_post, n_pre >= 1")
    if not (np.issubdtype(w.dtype, np.integer) or (np.issubdtype(w.dtype, np.floating)
                                                   and np.all(np.isfinite(w)) and np.all(w == np.round(w)))):
        raise ValueError(f"weights: dtype {w.dtype} must hold integers (Lava's raw weight mantissas)")
    return w


def back_sum(weights, y, back_exp: int) -> np.ndarray:
    """The mirror's message: ``wrap32(floor_shift(weights^T . y, back_exp))`` as int32 ``(n_pre,)``.

    ``weights`` ``(n_post, n_pre)`` and ``y`` ``(n_post,)`` are integers; the sum is int64, the
    shift an arithmetic shift (``floor`` for ``back_exp < 0``), the wrap two's complement (what
    Lava's int32 port does with a wider value).
    """
    acc = np.asarray(weights, np.int64).T @ np.asarray(y, np.int64).reshape(-1)
    acc = np.left_shift(acc, back_exp) if back_exp >= 0 else np.right_shift(acc, -back_exp)
    return acc.astype(np.int32)                  # numpy's int64 -> int32 cast wraps (two's complement)


@functools.lru_cache(maxsize=None)
def lava_mirror() -> SimpleNamespace:
    """The Lava Process ``HwMirrorLearningDense`` and its fixed-point model (built once; imports Lava).

    Returns
    -------
    SimpleNamespace
        ``HwMirrorLearningDense`` (Process), ``PyHwMirrorLearningDenseModel`` (ProcessModel, tag
        ``fixed_pt``) and ``MirrorModelBase``, its undecorated base (ports, Vars and the back sum
        ``_back(y)``; Lava refuses to re-decorate a decorated model for a subclass).
    """
    require_lava("the Lava mirror process")
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.variable import Var
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
    from lava.proc.dense.models import PyLearningDenseModelBitApproximate
    from lava.proc.dense.process import LearningDense

    class HwMirrorLearningDense(LearningDense):
        """Lava's ``LearningDense`` plus the mirror: ``s_in_back`` (n_post) -> ``a_out_back``
        (n_pre) through the transposed weights of the step, shifted by ``back_exp`` (module
        docstring).

        Parameters
        ----------
        weights : ndarray (n_post, n_pre)
            Integer weight mantissas, as for ``LearningDense``.
        learning_rule : LoihiLearningRule
            Lava's rule object (required).
        back_exp : int
            Shift of the back sum, in [-16, 16] (hwsim ``Mirror.weight_exp``); default 0.
        **kwargs
            Every other ``LearningDense`` argument (``weight_exp``, ``num_weight_bits``,
            ``sign_mode``, ``num_message_bits``, ``graded_spike_cfg``, ``tag_1``, ``tag_2``, ``name``).
        """

        def __del__(self):
            # parameters are checked before Lava's constructor runs; an object whose check failed has
            # no runtime attribute, and Lava's __del__ (which stops the runtime) must then do nothing
            if "_runtime" in self.__dict__:
                super().__del__()

        def __init__(self, *, weights, learning_rule=None, back_exp: int = 0, **kwargs):
            w = _check_weights(weights)
            back_exp = _check_back_exp(back_exp)
            if learning_rule is None:
                raise ValueError("learning_rule=None: HwMirrorLearningDense needs a Lava learning rule "
                                 "(Loihi2FLearningRule, Loihi3FLearningRule or LoihiLearningRule)")
            super().__init__(weights=w, learning_rule=learning_rule, back_exp=back_exp, **kwargs)
            n_post, n_pre = w.shape
            self.s_in_back = InPort(shape=(n_post,))
            self.a_out_back = OutPort(shape=(n_pre,))
            self.back_exp = Var(shape=(1,), init=back_exp)
            self.a_buff_back = Var(shape=(n_pre,), init=0)

    class MirrorModelBase(PyLearningDenseModelBitApproximate):
        """Lava's bit-approximate LearningDense model plus the mirror's ports and Vars."""

        # Lava's @implements refuses to re-target a model whose parent implements another Process;
        # this model implements HwMirrorLearningDense (selected through the exception map), so the
        # inherited attribute is cleared before the decorator sets it.
        implements_process = None

        s_in_back: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
        a_out_back: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
        back_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
        a_buff_back: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

        def _back(self, y) -> None:
            self.a_buff_back[:] = back_sum(self.weights, y, int(np.asarray(self.back_exp).reshape(-1)[0]))

    @implements(proc=HwMirrorLearningDense, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyHwMirrorLearningDenseModel(MirrorModelBase):
        """Send the last step's back sum, run Lava's LearningDense spike phase, then compute the back
        sum of this step's ``y`` with the weights before this step's learning."""

        def run_spk(self):
            self.a_out_back.send(self.a_buff_back)     # computed at step t - 1 (Dense's buffering)
            super().run_spk()                          # forward sum + traces (weights not yet learned)
            self._back(self.s_in_back.recv())

    return SimpleNamespace(HwMirrorLearningDense=HwMirrorLearningDense,
                           PyHwMirrorLearningDenseModel=PyHwMirrorLearningDenseModel, MirrorModelBase=MirrorModelBase)


def exception_map(procs: Iterable, model=None) -> dict:
    """``exception_proc_model_map`` entries for the ``HwMirrorLearningDense`` processes among ``procs``
    (by instance, and by class for the run config's own lookup); ``model`` overrides the model class
    (default ``PyHwMirrorLearningDenseModel``)."""
    M = lava_mirror()
    model = model or M.PyHwMirrorLearningDenseModel
    out = {}
    for proc in procs:
        if isinstance(proc, M.HwMirrorLearningDense):
            out[proc] = model
            out.setdefault(type(proc), model)
    return out


def run_cfg(procs: Iterable, extra: dict | None = None, model=None):
    """``Loihi2SimCfg(select_tag="fixed_pt")`` running the mirror processes and the compartment kinds
    (:func:`hwsim.export.lava_kinds.exception_map`) among ``procs`` with our models, plus ``extra``
    exceptions."""
    require_lava("the Lava mirror process")
    from lava.magma.core.run_configs import Loihi2SimCfg

    from . import lava_kinds
    procs = list(procs)
    return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={
        **lava_kinds.exception_map(procs), **exception_map(procs, model), **(extra or {})})
