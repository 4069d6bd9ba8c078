"""Learning rules of the Loihi learning engine: sum-of-products strings, parsed exactly as Lava does.

A rule has up to three targets, each a sum of products over the learning epoch::

    dw = sum_p  s_p * dep_p * prod_f factor_f        (updates the weight, w)
    dd = ...                                          (updates tag_2, "d", the delay tag)
    dt = ...                                          (updates tag_1, "t", the tag)

* ``dep_p`` is the *dependency* of the product: ``x0`` (the pre neuron spiked in the epoch),
  ``y0`` (the post neuron spiked) or ``u<k>`` (every epoch whose index is a multiple of 2**k).
  It is the **first** dependency that appears in the product; later ``x0``/``y0`` are 1-bit factors.
* Factors are the traces ``x1 x2`` (pre), ``y1 y2 y3`` (post), the synaptic variables ``w d t``,
  each optionally with a constant ``(var + C)``, and ``sgn(w|d|t [+ C])``.
* ``s_p = m * 2**e`` is the product of all literals of the product (``m*2^e``, ``2^e``, ``m``);
  a leading ``-`` negates m. It is normalised (``while |m|>7 and m even and e<8: m/=2; e+=1``)
  and must fit m in [-8, 7] (4-bit mantissa, ``W_S_MANT``) and e in [-7, 8].

The grammar, its quirks and its errors are those of Lava 0.10.0
(``lava/magma/core/learning/{symbolic_equation,product_series,learning_rule}.py``); strings Lava
accepts parse to the same products here, and strings Lava rejects (with ValueError, IndexError or
AttributeError) raise :class:`RuleError` here, with a message naming the term and the allowed range.
Quirks kept on purpose (all checked against Lava): ``(-x1)`` equals ``(x1)`` (the sign of a lone
variable in brackets is dropped), ``(x0)`` and ``((x1))`` are dropped, ``(x1*3)`` means ``(x1+3)``,
anything after the fourth symbol inside brackets is ignored, and ``u 0`` (with a space) parses but
is not seen by Lava's decimation check, so its products are always 0 (a warning is issued).
"""
from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

import numpy as np

from ..constants import W_S_MANT
from ..spec import SpecError

__all__ = [
    "RuleError", "RuleWarning", "Factor", "Product", "parse_rule", "LearningRule",
    "float_to_literal", "stdp_loihi", "reward_modulated_stdp", "TARGETS", "RULE_KINDS",
]

TARGETS = ("dw", "dd", "dt")          # Lava's application order
RULE_KINDS = ("2F", "3F", "plain")    # Loihi2FLearningRule, Loihi3FLearningRule, LoihiLearningRule
DEPENDENCIES = ("x0", "y0", "u")
FACTOR_VARS = ("x0", "y0", "x1", "x2", "y1", "y2", "y3", "w", "d", "t", "C")
SYN_VARS = ("w", "d", "t")
S_MANT_RANGE = (-(1 << (W_S_MANT - 1)), (1 << (W_S_MANT - 1)) - 1)   # [-8, 7]
S_EXP_RANGE = (-7, 8)
S_EXP_OFFSET = 7          # Lava stores the exponent as e + 7 (the left shift applied to the product)
TAU_3F = int(np.iinfo(np.uint16).max)   # Loihi3FLearningRule fixes the y taus to 65535


class RuleError(SpecError):
    """A learning-rule string or parameter that Lava (and the chip) cannot represent."""


class RuleWarning(UserWarning):
    """A rule Lava accepts but evaluates differently from what it seems to say."""


# --------------------------------------------------------------------------------------------
# Tokens (Lava's Symbol classes)
# --------------------------------------------------------------------------------------------
@dataclass
class _Tok:
    kind: str                 # '+', '-', '*', 'x0', 'y0', 'u', 'var', 'bracket', 'sgn', 'lit'
    text: str                 # the matched text (whole bracket for expressions)
    name: str = ""            # variable name for 'var'
    k: int = 0                # decimation exponent for 'u'
    mant: int = 0             # literal mantissa
    base: int = 1             # literal base
    exp: int = 0              # literal exponent
    sub: Optional[list] = None   # parsed sub-expression of 'bracket' / 'sgn'
    sub_text: str = ""

    @property
    def is_operator(self) -> bool:
        return self.kind in ("+", "-", "*")

    @property
    def is_dependency(self) -> bool:
        return self.kind in ("x0", "y0", "u")

    @property
    def value(self):
        """Literal value as Lava computes it: ``mantissa * base ** exponent`` (may be a float)."""
        return self.mant * self.base ** self.exp


_RE_LIT0 = re.compile(r"[\+\-]?\d+\*2\^[\+\-]?\d+")
_RE_LIT1 = re.compile(r"[\+\-]?2\^[\+\-]?\d+")
_RE_LIT2 = re.compile(r"[\+\-]?\d+")
_SIMPLE = [("+", re.compile(r"\+")), ("-", re.compile(r"\-")), ("*", re.compile(r"\*")),
           ("x0", re.compile("x0")), ("y0", re.compile("y0"))]
_RE_UK = re.compile(r"u\d")
_RE_VARS = [re.compile("x[12]"), re.compile("y[123]"), re.compile("w"), re.compile("d"),
            re.compile("t")]


def _literal_eval_int(text: str, where: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise RuleError(f"{where}: literal {text!r} is not a valid integer ({exc})") from None


def _closing_bracket(expr: str) -> Optional[int]:
    depth = 0
    for m in re.finditer("[()]", expr):
        depth += 1 if m.group() == "(" else -1
        if depth == 0:
            return m.start()
    return None


def _next_token(expr: str, where: str) -> tuple[_Tok, str]:
    """Match the next symbol in Lava's order (operators, x0, y0, u<k>, variables, brackets, sgn, literals)."""
    for kind, rx in _SIMPLE:
        m = rx.match(expr)
        if m:
            return _Tok(kind, m.group()), expr[m.end():]
    m = _RE_UK.match(expr)
    if m:
        return _Tok("u", m.group(), k=int(m.group()[1:])), expr[m.end():]
    for rx in _RE_VARS:
        m = rx.match(expr)
        if m:
            return _Tok("var", m.group(), name=m.group()), expr[m.end():]
    for kind, start in (("bracket", 1), ("sgn", 4)):
        if expr.startswith("(" if kind == "bracket" else "sgn("):
            idx = _closing_bracket(expr)
            if idx is None:
                raise RuleError(f"{where}: bracket expression {expr!r} is missing its closing bracket")
            sub_text = expr[start:idx]
            tok = _Tok(kind, expr[:idx + 1], sub_text=sub_text, sub=_tokenize(sub_text, where))
            return tok, expr[idx + 1:]
    m = _RE_LIT0.match(expr)
    if m:
        left, right = m.group().split("^")
        tok = _Tok("lit", m.group(), mant=_literal_eval_int(left[:-2], where), base=2,
                   exp=_literal_eval_int(right, where))
        return tok, expr[m.end():]
    m = _RE_LIT1.match(expr)
    if m:
        left, right = m.group().split("^")
        tok = _Tok("lit", m.group(), mant=int(_literal_eval_int(left, where) / 2), base=2,
                   exp=_literal_eval_int(right, where))
        return tok, expr[m.end():]
    m = _RE_LIT2.match(expr)
    if m:
        return _Tok("lit", m.group(), mant=_literal_eval_int(m.group(), where)), expr[m.end():]
    what = f"cannot parse {expr!r}" if expr else "empty expression"
    raise RuleError(f"{where}: {what}; allowed symbols: + - * x0 y0 u<k> x1 x2 y1 y2 y3 w d t "
                    f"( ) sgn( ) and literals m, 2^e, m*2^e")


def _tokenize(expr: str, where: str) -> list[_Tok]:
    """Lava's ``SymbolicEquation._parse``: at least one symbol, then symbols until the string is used up."""
    if not expr:
        raise RuleError(f"{where}: empty expression (e.g. '()' or an empty rule string) is not allowed")
    toks = []
    while True:
        tok, expr = _next_token(expr, where)
        toks.append(tok)
        if not expr:
            return toks


# --------------------------------------------------------------------------------------------
# Products (Lava's ProductSeries)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Factor:
    """One factor of a product: ``var + const`` (clipped to the variable's width), or its sign.

    Parameters
    ----------
    var : str
        ``'x0' 'y0'`` (1 bit), ``'x1' 'x2' 'y1' 'y2' 'y3'`` (traces, ``trace_bits`` wide),
        ``'w'`` (weight, ``weight_bits + 1`` wide), ``'d'`` (tag_2), ``'t'`` (tag_1) (``tag_bits + 1``),
        or ``'C'`` (a constant, 8 bits; Lava's parser never produces it).
    const : int or float or None
        Added before clipping (``None`` = no constant). A non-integer sum is truncated toward 0
        after clipping, as Lava's ``astype(int32)`` does.
    is_sgn : bool
        ``sgn(var + const)`` in {-1, 0, 1}; only for w, d, t. Its width still counts as the variable's.
    """

    var: str
    const: Optional[Union[int, float]] = None
    is_sgn: bool = False

    def __post_init__(self):
        if self.var not in FACTOR_VARS:
            raise RuleError(f"factor variable {self.var!r} is not one of {FACTOR_VARS}")
        if self.is_sgn and self.var not in SYN_VARS:
            raise RuleError(f"sgn() applies only to {SYN_VARS}, not to {self.var!r}")

    def __str__(self) -> str:
        s = self.var if self.const is None else f"({self.var}{self.const:+})"
        return f"sgn({s})" if self.is_sgn else s


@dataclass(frozen=True)
class Product:
    """One product of a rule target: ``mantissa * 2**exponent * dependency * prod(factors)``.

    Parameters
    ----------
    target : str
        'dw', 'dd' or 'dt'.
    dependency : str
        'x0', 'y0' or 'u'.
    mantissa : int
        Scale mantissa, 4-bit signed, [-8, 7].
    exponent : int
        Scale exponent, [-7, 8]; the engine shifts the product left by ``exponent + 7``.
    factors : tuple of Factor
    decimate_exponent : int or None
        k of ``u<k>`` for u products, else None.
    text : str
        The term as written (spaces removed), for messages.
    """

    target: str
    dependency: str
    mantissa: int
    exponent: int
    factors: tuple
    decimate_exponent: Optional[int] = None
    text: str = ""

    @property
    def stored_exponent(self) -> int:
        """The exponent as Lava stores it, ``exponent + 7`` in [0, 15]: the left shift of the product."""
        return self.exponent + S_EXP_OFFSET

    def __str__(self) -> str:
        parts = [f"{self.mantissa}*2^{self.exponent}", self.dependency if self.dependency != "u"
                 else f"u{self.decimate_exponent}"] + [str(f) for f in self.factors]
        return "*".join(parts)


def _split_products(toks: list[_Tok]) -> list[list[_Tok]]:
    """Lava's ``_separate_products``: split at + and - unless the current product is empty; * tokens
    are kept for the text of the term but do not count (Lava drops them)."""
    out, cur = [], []
    for tok in toks:
        if tok.kind in ("+", "-") and any(t.kind != "*" for t in cur):
            out.append(cur)
            cur = [tok]
        else:
            cur.append(tok)
    out.append(cur)
    return out


def _make_product(target: str, toks: list[_Tok], series_k: list) -> Product:
    """Lava's ``ProductSeries._generate_product`` (combine_literals is always True there)."""
    text = "".join(t.text for t in toks)
    where = f"{target}: term {text!r}"
    dependency = None
    decimate = None
    m, e = 1, 0
    factors = []
    for tok in toks:
        if tok.kind in ("+", "*"):
            continue
        if tok.kind == "-":
            m = -m
        elif tok.is_dependency:
            if tok.kind == "u":
                decimate = tok.k
                if series_k[0] is not None and series_k[0] != decimate:
                    raise RuleError(f"{where}: u{decimate} differs from u{series_k[0]} used earlier in "
                                    f"{target}; one decimation exponent per target")
                series_k[0] = decimate
                if dependency is None:
                    dependency = "u"
            elif dependency is None:
                dependency = tok.kind
            else:
                factors.append(Factor(tok.kind))
        elif tok.kind == "lit":
            m *= tok.mant
            e += tok.exp
        elif tok.kind == "var":
            factors.append(Factor(tok.name))
        elif tok.kind in ("bracket", "sgn"):
            sub = list(tok.sub)
            if not sub[0].is_operator:
                sub.insert(0, _Tok("+", "+"))
            var = const = None
            var_sgn_idx = None
            inner = f"{where}: {'sgn' if tok.kind == 'sgn' else ''}({tok.sub_text})"
            if len(sub) <= 2:
                if len(sub) < 2:
                    raise RuleError(f"{inner} holds only an operator; expected [+,-]var[+,-]const")
                sign = -1 if sub[0].kind == "-" else 1
                if sub[1].kind == "var":
                    var = sub[1].name          # the sign of a lone variable is dropped, as in Lava
                elif sub[1].kind == "lit":
                    m = m * sub[1].mant * sign
                    e += sub[1].exp
            else:
                if len(sub) < 4:
                    raise RuleError(f"{inner} cannot be interpreted as [+,-]var[+,-]const")
                if (sub[1].is_dependency or sub[1].kind == "var") and sub[3].kind == "lit":
                    var_sgn_idx, var_idx, const_sgn_idx, const_idx = 0, 1, 2, 3
                elif (sub[3].is_dependency or sub[3].kind == "var") and sub[1].kind == "lit":
                    var_sgn_idx, var_idx, const_sgn_idx, const_idx = 2, 3, 0, 1
                else:
                    raise RuleError(f"{inner} cannot be interpreted as [+,-]var[+,-]const")
                sign_var = -1 if sub[var_sgn_idx].kind == "-" else 1
                var = sub[var_idx].name if sub[var_idx].kind == "var" else sub[var_idx].text
                const = sub[const_idx].value * (-1 if sub[const_sgn_idx].kind == "-" else 1)
                if sign_var == -1:
                    m = -m
                    const = const * -1
                if var not in FACTOR_VARS:
                    raise RuleError(f"{inner}: {var!r} cannot be a factor; allowed "
                                    f"{FACTOR_VARS[:-1]}")
            if tok.kind == "bracket":
                if var is not None:
                    factors.append(Factor(var, const))
            else:
                if var not in SYN_VARS:
                    raise RuleError(f"{inner}: sgn() applies only to {SYN_VARS}")
                if var_sgn_idx is not None and sub[var_sgn_idx].kind == "-":
                    raise RuleError(f"{inner}: the variable inside sgn() cannot be negated")
                factors.append(Factor(var, const, is_sgn=True))
        else:  # pragma: no cover - every token kind is handled above
            raise RuleError(f"{where}: cannot interpret {tok.text!r}")
    while abs(m) > 7 and m % 2 == 0 and e < 8:
        m = int(m / 2)
        e += 1
    if dependency is None:
        raise RuleError(f"{where} has no dependency; each product needs x0, y0 or u<k>")
    if not S_MANT_RANGE[0] <= m <= S_MANT_RANGE[1]:
        raise RuleError(f"{where}: scale mantissa {m} (exponent {e}) after normalisation is outside "
                        f"the allowed range [{S_MANT_RANGE[0]}, {S_MANT_RANGE[1]}]; write the scale "
                        f"as m*2^e with an integer |m| <= 7 (or -8)")
    if not S_EXP_RANGE[0] <= e <= S_EXP_RANGE[1]:
        raise RuleError(f"{where}: scale exponent {e} (mantissa {m}) is outside the allowed range "
                        f"[{S_EXP_RANGE[0]}, {S_EXP_RANGE[1]}]")
    if decimate is not None and dependency != "u":
        raise RuleError(f"{where}: u{decimate} cannot appear after the dependency {dependency}")
    return Product(target, dependency, int(m), int(e), tuple(factors),
                   decimate if dependency == "u" else None, text)


def parse_rule(target: str, text: str) -> tuple:
    """Parse one rule string into its products, as Lava's ``ProductSeries`` does.

    Parameters
    ----------
    target : str
        'dw', 'dd' or 'dt'.
    text : str
        Sum-of-products string, e.g. ``"-2^-3*u0*x1*y2"``. Spaces are ignored (only spaces).

    Returns
    -------
    tuple of Product

    Raises
    ------
    RuleError
        For every string Lava rejects, naming the term and the allowed range.
    """
    if target not in TARGETS:
        raise RuleError(f"target {target!r} is not one of {TARGETS}")
    if not isinstance(text, str):
        raise RuleError(f"{target}: rule must be a string, got {type(text).__name__}")
    toks = _tokenize(text.replace(" ", ""), target)
    series_k = [None]
    return tuple(_make_product(target, group, series_k) for group in _split_products(toks))


# --------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------
def _check_nonneg(name: str, value, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RuleError(f"{where}: {name}={value!r} is not a number") from None
    if not np.isfinite(v) or v < 0:
        raise RuleError(f"{where}: {name}={value!r} must be a finite number >= 0")
    return value


@dataclass(frozen=True)
class LearningRule:
    """A Loihi learning rule, equivalent to Lava's ``Loihi2FLearningRule`` / ``Loihi3FLearningRule`` /
    ``LoihiLearningRule``.

    Parameters
    ----------
    dw, dd, dt : str or None
        Sum-of-products strings for the weight, tag_2 (delay tag) and tag_1; at least one.
    x1_impulse, x2_impulse, y1_impulse, y2_impulse, y3_impulse : float
        Trace increment per spike, >= 0, in trace units (traces are ``trace_bits``-bit unsigned,
        0..127). The fraction is rounded to ``trace_frac_bits`` (8) bits and added stochastically.
    x1_tau, x2_tau, y1_tau, y2_tau, y3_tau : float
        Decay time constants in steps (>= 0); a trace decays by ``exp(-1/tau)`` per step with
        stochastic rounding. 0 means no memory (the trace holds only the impulse of its spike step).
    t_epoch : int
        Learning epoch in steps (>= 1): learning runs at steps ``t % t_epoch == 0``.
    rng_seed : int
        Seed of the trace random streams (seeds ``rng_seed .. rng_seed+3``), >= 0. Required by the
        engine: Lava draws a random seed when it is None, which is not reproducible.
    kind : {'2F', '3F', 'plain'}
        '2F': post traces come from bap spikes (``s_in_bap``). '3F': y1..y3 are written every step by
        the post neuron (``s_in_y1..3``); y impulses are fixed to 0 and y taus to 65535. 'plain':
        no post input at all.

    Attributes
    ----------
    products : Mapping[str, tuple of Product]
        Parsed products of each given target, in Lava's order dw, dd, dt.
    decimate_exponent : int or None
        k of the ``u<k>`` terms (Lava's rule-level check), None if no u term is seen.
    """

    dw: Optional[str] = None
    dd: Optional[str] = None
    dt: Optional[str] = None
    x1_impulse: float = 0.0
    x1_tau: float = 0.0
    x2_impulse: float = 0.0
    x2_tau: float = 0.0
    y1_impulse: Optional[float] = None
    y1_tau: Optional[float] = None
    y2_impulse: Optional[float] = None
    y2_tau: Optional[float] = None
    y3_impulse: Optional[float] = None
    y3_tau: Optional[float] = None
    t_epoch: int = 1
    rng_seed: Optional[int] = None
    kind: str = "2F"
    products: Mapping = field(init=False, repr=False, compare=False)
    decimate_exponent: Optional[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        where = "LearningRule"
        if self.kind not in RULE_KINDS:
            raise RuleError(f"{where}: kind={self.kind!r} is not one of {RULE_KINDS}")
        for n in ("y1", "y2", "y3"):
            imp, tau = getattr(self, f"{n}_impulse"), getattr(self, f"{n}_tau")
            if self.kind == "3F":
                if (imp not in (None, 0)) or (tau not in (None, TAU_3F)):
                    raise RuleError(f"{where}: a 3F rule takes its post traces from the post neuron; "
                                    f"{n}_impulse must be 0 and {n}_tau {TAU_3F} (got {imp}, {tau})")
                object.__setattr__(self, f"{n}_impulse", 0)
                object.__setattr__(self, f"{n}_tau", TAU_3F)
            else:
                object.__setattr__(self, f"{n}_impulse", 0.0 if imp is None else imp)
                object.__setattr__(self, f"{n}_tau", 0.0 if tau is None else tau)
        for n in ("x1", "x2", "y1", "y2", "y3"):
            _check_nonneg(f"{n}_impulse", getattr(self, f"{n}_impulse"), where)
            _check_nonneg(f"{n}_tau", getattr(self, f"{n}_tau"), where)
        if isinstance(self.t_epoch, bool) or int(self.t_epoch) != self.t_epoch or self.t_epoch < 1:
            raise RuleError(f"{where}: t_epoch={self.t_epoch!r} must be an integer >= 1")
        object.__setattr__(self, "t_epoch", int(self.t_epoch))
        if self.rng_seed is not None:
            if isinstance(self.rng_seed, bool) or int(self.rng_seed) != self.rng_seed or self.rng_seed < 0:
                raise RuleError(f"{where}: rng_seed={self.rng_seed!r} must be an integer >= 0")
            object.__setattr__(self, "rng_seed", int(self.rng_seed))
        strings = {t: getattr(self, t) for t in TARGETS if getattr(self, t) is not None}
        if not strings:
            raise RuleError(f"{where}: no rule given; at least one of dw, dd, dt is needed")
        # Lava's rule-level decimation check runs on the raw strings (spaces included).
        uks = [u for s in strings.values() for u in re.findall("u[0-9]+", s)]
        if len(set(uks)) > 1:
            raise RuleError(f"{where}: u terms {sorted(set(uks))} differ; dw, dd and dt must share "
                            f"one decimation exponent k")
        k = int(uks[0][1]) if uks else None
        object.__setattr__(self, "decimate_exponent", k)
        products = {t: parse_rule(t, s) for t, s in strings.items()}
        if k is None and any(p.dependency == "u" for ps in products.values() for p in ps):
            warnings.warn(f"{where}: a u<k> term is written with a space (e.g. 'u 0'); Lava's "
                          f"decimation check does not see it, so these products are always 0",
                          RuleWarning, stacklevel=3)
        object.__setattr__(self, "products", products)

    # -- views ------------------------------------------------------------------------------
    @property
    def impulses(self) -> tuple:
        """(x1, x2, y1, y2, y3) impulses."""
        return tuple(getattr(self, f"{n}_impulse") for n in ("x1", "x2", "y1", "y2", "y3"))

    @property
    def taus(self) -> tuple:
        """(x1, x2, y1, y2, y3) decay time constants."""
        return tuple(getattr(self, f"{n}_tau") for n in ("x1", "x2", "y1", "y2", "y3"))

    @property
    def targets(self) -> tuple:
        """The given targets, in application order."""
        return tuple(self.products)

    def lava_kwargs(self) -> dict:
        """Keyword arguments of the equivalent Lava rule class (``Loihi2FLearningRule`` for '2F',
        ``Loihi3FLearningRule`` for '3F' (no y arguments), ``LoihiLearningRule`` for 'plain')."""
        kw = dict(dw=self.dw, dd=self.dd, dt=self.dt, x1_impulse=self.x1_impulse, x1_tau=self.x1_tau,
                  x2_impulse=self.x2_impulse, x2_tau=self.x2_tau, t_epoch=self.t_epoch,
                  rng_seed=self.rng_seed)
        if self.kind != "3F":
            for n in ("y1", "y2", "y3"):
                kw[f"{n}_impulse"] = getattr(self, f"{n}_impulse")
                kw[f"{n}_tau"] = getattr(self, f"{n}_tau")
        return kw

    @classmethod
    def from_lava(cls, lava_rule) -> "LearningRule":
        """Build the rule equivalent to a Lava rule object (duck-typed; Lava is not imported).

        The kind comes from the class hierarchy: a subclass of ``Loihi3FLearningRule`` is '3F', of
        ``Loihi2FLearningRule`` '2F' (e.g. ``STDPLoihi``), otherwise 'plain'.
        """
        names = {c.__name__ for c in type(lava_rule).__mro__}
        kind = "3F" if "Loihi3FLearningRule" in names else "2F" if "Loihi2FLearningRule" in names \
            else "plain"
        kw = dict(dw=lava_rule.dw_str, dd=lava_rule.dd_str, dt=lava_rule.dt_str,
                  x1_impulse=lava_rule.x1_impulse, x1_tau=lava_rule.x1_tau,
                  x2_impulse=lava_rule.x2_impulse, x2_tau=lava_rule.x2_tau,
                  t_epoch=lava_rule.t_epoch, rng_seed=lava_rule.rng_seed, kind=kind)
        for n in ("y1", "y2", "y3"):
            kw[f"{n}_impulse"] = getattr(lava_rule, f"{n}_impulse")
            kw[f"{n}_tau"] = getattr(lava_rule, f"{n}_tau")
        return cls(**kw)


# --------------------------------------------------------------------------------------------
# Constructors mirroring lava.proc.learning_rules
# --------------------------------------------------------------------------------------------
def float_to_literal(value: float) -> str:
    """Lava's ``float_to_literal``: ``mantissa = max(int(|v|), 1)``, ``exp = round(log2(|v|/mantissa))``.

    The result is approximate (e.g. 0.3 -> ``(1) * 2 ^ -2`` = 0.25, 2.5 -> ``(2) * 2 ^ 0``).
    """
    if value == 0:
        return "0"
    sign = int(np.sign(value))
    value = np.abs(value)
    mantissa = np.max([int(value), 1])
    remainder = value / mantissa
    if remainder == 1:
        return f"({sign * mantissa})"
    exp = int(np.round(np.log2(remainder)))
    return f"({sign * mantissa}) * 2 ^ {exp}"


def stdp_loihi(learning_rate: float, A_plus: float, A_minus: float, tau_plus: float,
               tau_minus: float, *, x1_impulse: float = 16, y1_impulse: float = 16,
               **kwargs) -> LearningRule:
    """Pair-based STDP, as Lava's ``STDPLoihi`` builds it (a '2F' rule).

    ``dw = lr*A_minus*x0*y1 + lr*A_plus*y0*x1`` with the floats turned into literals by
    :func:`float_to_literal`; x1 decays with ``tau_plus``, y1 with ``tau_minus`` (steps).
    ``kwargs`` go to :class:`LearningRule` (``t_epoch``, ``rng_seed``, x2/y2/y3 parameters).
    """
    lr, ap, am = float_to_literal(learning_rate), float_to_literal(A_plus), float_to_literal(A_minus)
    dw = f"{lr} * {am} * x0 * y1 +{lr} * {ap} * y0 * x1"
    return LearningRule(dw=dw, x1_impulse=x1_impulse, x1_tau=tau_plus, y1_impulse=y1_impulse,
                        y1_tau=tau_minus, kind="2F", **kwargs)


def reward_modulated_stdp(learning_rate: float, A_plus: float, A_minus: float,
                          pre_trace_decay_tau: float, post_trace_decay_tau: float,
                          pre_trace_kernel_magnitude: float, post_trace_kernel_magnitude: float,
                          eligibility_trace_decay_tau: float, **kwargs) -> LearningRule:
    """Reward-modulated STDP, as Lava's ``RewardModulatedSTDP`` builds it (a '3F' rule).

    ``dt = lr*A_minus*x0*y1 + lr*A_plus*y0*x1 - u0*t*tau_e`` (the tag is the eligibility trace) and
    ``dw = u0*t*y2`` (y2 is the reward). The post neuron supplies y1 and y2 every step;
    ``post_trace_*`` are unused, as in Lava. ``kwargs`` go to :class:`LearningRule`.
    """
    lr, ap, am = float_to_literal(learning_rate), float_to_literal(A_plus), float_to_literal(A_minus)
    tau_e = float_to_literal(eligibility_trace_decay_tau)
    dt = f"{lr} * {am} * x0 * y1 + {lr} * {ap} * y0 * x1 - u0 * t * {tau_e}"
    return LearningRule(dw=" u0 * t * y2 ", dt=dt, x1_impulse=pre_trace_kernel_magnitude,
                        x1_tau=pre_trace_decay_tau, kind="3F", **kwargs)
