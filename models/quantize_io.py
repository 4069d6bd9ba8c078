"""A quantized network on disk: an ``hwlearn-network`` HDF5 file (:mod:`hwsim.io`) whose root also
holds ``/chipmodel``, the float side of a :class:`models.quantize.ChipModel` (layer scales, the
host readout, the folded pooling factors, the float mirror's NetConfig, the quantization report)
and ``meta`` (where the network came from: the float checkpoint's path and SHA-256, rule, T,
encoder, dataset, the scale policy and widths used).

Every reader of networks (``hwsim.io.load_network``, ``hwlearn export``) reads the file as a plain
network and ignores ``/chipmodel``; :func:`load_chip_model` reads both. Written through hwsim.io's
atomic writer (integrity header, no partial file) and read through its checked opener.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from hwsim.io import (NETWORK_FORMAT, FormatError, _atomic_write, _open_checked, _read_network, _read_value,
                      _with_path, _write_network, _write_value)

from .network import NetConfig
from .neuron import LIFConfig
from .quantize import ChipModel, LayerQuant, QuantReport
from .surrogate import Surrogate

CHIPMODEL_VERSION = 1


def net_config_to_dict(cfg: NetConfig) -> dict:
    """A NetConfig as plain data (lists, numbers, strings)."""
    d = asdict(cfg)
    d["input_shape"] = list(cfg.input_shape)
    d["layers"] = [list(s) for s in cfg.layers]
    return d


def net_config_from_dict(d: dict) -> NetConfig:
    """Inverse of :func:`net_config_to_dict`."""
    n = dict(d["neuron"])
    n["surrogate"] = Surrogate(**n["surrogate"])
    return NetConfig(tuple(d["input_shape"]), tuple(tuple(s) for s in d["layers"]), int(d["n_classes"]),
                     LIFConfig(**n), int(d["block_size"]))


def _report_dict(r: QuantReport) -> dict:
    d = {f.name: getattr(r, f.name) for f in fields(QuantReport) if f.name != "layers"}
    d["layers"] = [{f.name: getattr(lq, f.name) for f in fields(LayerQuant)} for lq in r.layers]
    for lq in d["layers"]:
        lq["notes"] = list(lq["notes"])
        lq["weight_range"] = list(lq["weight_range"])
    return d


def _report_from_dict(d: dict) -> QuantReport:
    layers = []
    for lq in d["layers"]:
        lq = dict(lq)
        lq["notes"] = tuple(lq["notes"])
        lq["weight_range"] = tuple(lq["weight_range"])
        layers.append(LayerQuant(**lq))
    rest = {k: v for k, v in d.items() if k != "layers"}
    return QuantReport(layers=tuple(layers), **rest)


def save_chip_model(path, cm: ChipModel, meta: dict | None = None) -> Path:
    """Write ``cm`` (network + float side) and ``meta`` to ``path`` (format ``hwlearn-network``)."""
    Wf, bf = cm.readout_fc if cm.readout_fc is not None else (cm.readout_weight, cm.readout_bias)
    payload = {
        "version": CHIPMODEL_VERSION,
        "scales": [float(s) for s in cm.scales], "populations": list(cm.populations),
        "projections": list(cm.projections), "input_name": cm.input_name, "input_graded": bool(cm.input_graded),
        "input_scale": int(cm.input_scale), "readout_weight": np.asarray(cm.readout_weight, np.float64),
        "readout_bias": np.asarray(cm.readout_bias, np.float64), "readout_fc_weight": np.asarray(Wf, np.float64),
        "readout_fc_bias": np.asarray(bf, np.float64), "config": net_config_to_dict(cm.config),
        "pools": [int(p) for p in cm.pools], "report": _report_dict(cm.report), "meta": dict(meta or {}),
    }

    def writer(f):
        _write_network(f, cm.network)
        _write_value(f, "chipmodel", payload, "chipmodel")

    _atomic_write(path, writer, NETWORK_FORMAT)
    return Path(path)


def load_chip_model(path) -> tuple[ChipModel, dict]:
    """``(ChipModel, meta)`` from a file written by :func:`save_chip_model`.

    Raises FormatError naming the file for anything that is not such a file (a plain network
    file without ``/chipmodel`` included: it has no float readout to run)."""
    f, _ = _open_checked(path, NETWORK_FORMAT)
    try:
        if "chipmodel" not in f:
            raise FormatError(f"{path}: a chip network without /chipmodel (no host readout or scales); "
                              "`hwlearn run` needs a file written by `hwlearn quantize`")
        net = _read_network(f, "")
        d = _read_value(f["chipmodel"], "/chipmodel", rebuild=False)
        if int(d.get("version", 0)) != CHIPMODEL_VERSION:
            raise FormatError(f"{path}: /chipmodel version {d.get('version')!r}, this hwlearn reads "
                              f"{CHIPMODEL_VERSION}")
        cm = ChipModel(network=net, scales=tuple(d["scales"]), populations=tuple(d["populations"]),
                       projections=tuple(d["projections"]), input_name=d["input_name"],
                       input_graded=bool(d["input_graded"]), input_scale=int(d["input_scale"]),
                       readout_weight=d["readout_weight"], readout_bias=d["readout_bias"],
                       config=net_config_from_dict(d["config"]), pools=tuple(d["pools"]),
                       report=_report_from_dict(d["report"]),
                       readout_fc=(d["readout_fc_weight"], d["readout_fc_bias"]))
        for p in cm.populations:
            if p not in net.populations:
                raise FormatError(f"{path}: /chipmodel names population {p!r}, the network has "
                                  f"{list(net.populations)}")
        return cm, d["meta"]
    except FormatError as exc:
        raise _with_path(exc, path) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{path}: malformed /chipmodel ({type(exc).__name__}: {exc})") from None
    finally:
        f.close()
