"""Memory accounting for training rules.

Two numbers per run:

* **Saved-for-backward bytes**, counted with ``torch.autograd.graph.saved_tensors_hooks``. Every
  tensor autograd saves while a graph is built passes through the pack hook; we record the unique
  *storages* (``untyped_storage().data_ptr()`` -> ``nbytes()``), so views and tensors saved twice
  count once, and we skip the storages of the model's parameters (they are resident anyway).

  Each rule builds one or more autograd graphs per batch and frees each with ``backward()``:

  ====================  ==================================  ===========================
  rule                  one graph (``meter.graph()``)       one optimizer step
  ====================  ==================================  ===========================
  bptt                  the whole T-step unroll             1 graph per batch
  ottt-a                one time step                       T graphs per batch
  ottt-o                one time step                       1 graph (T steps per batch)
  ttl                   one block over one K-step window    all blocks of one window
  rate-m / rate-s       the rate pass (no time dimension)   1 graph per batch
  ====================  ==================================  ===========================

  A **training step** is one optimizer step and the forward/backward work that feeds it (the
  middle/right columns). ``saved_bytes_per_step`` is the most saved-tensor memory held alive at
  once within one training step, i.e. the largest graph in it (graphs are freed one by one), averaged
  over the steps of a full batch; ``saved_bytes_peak`` is the maximum over the batch;
  ``saved_bytes_per_batch`` is everything packed over the batch (bytes written for backward).

* **Peak process memory**: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` on CPU (a high-water mark
  for the whole process, including Python and data), ``torch.cuda.max_memory_allocated`` on CUDA.
"""
from __future__ import annotations

import resource
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable

import torch


@dataclass(frozen=True)
class SavedBytes:
    """Saved-tensor bytes of one batch (see module docstring)."""

    per_step: int
    peak: int
    per_batch: int
    graphs: int
    steps: int


class SavedTensorMeter:
    """Counts the unique storage bytes autograd saves, per graph and per optimizer step.

    Usage inside a rule::

        with meter.graph():          # everything saved in here belongs to one graph
            loss = ...
        loss.backward()
        meter.step()                 # an optimizer step ends here
        ...
        summary = meter.batch()      # closes the batch and resets the per-batch counters

    Parameters
    ----------
    exclude : iterable of tensors whose storages are not counted (the model parameters).
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self._exclude = {self._key(p) for p in exclude}
        self._current: dict | None = None
        self._graphs_in_step: list[int] = []
        self._step_peaks: list[int] = []
        self._batch_total = 0
        self._batch_graphs = 0

    @staticmethod
    def _key(t: torch.Tensor):
        st = t.untyped_storage()
        return (t.device.type, t.device.index, st.data_ptr())

    def _pack(self, t: torch.Tensor):
        if self._current is not None and t.numel() > 0:
            key = self._key(t)
            if key not in self._exclude:
                size = t.element_size()
                lo = t.storage_offset() * size
                hi = lo + (1 + sum((n - 1) * abs(st) for n, st in zip(t.shape, t.stride()))) * size
                hi = min(hi, t.untyped_storage().nbytes())
                old = self._current.get(key)
                self._current[key] = (lo, hi) if old is None else (min(lo, old[0]), max(hi, old[1]))
        return t

    @contextmanager
    def graph(self):
        """Count what autograd saves in this block as one graph."""
        if self._current is not None:
            raise RuntimeError("SavedTensorMeter.graph() blocks cannot be nested")
        self._current = {}
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
                yield
        finally:
            nbytes = sum(hi - lo for lo, hi in self._current.values())
            self._current = None
            self._graphs_in_step.append(nbytes)
            self._batch_total += nbytes
            self._batch_graphs += 1

    def step(self):
        """Mark the end of one optimizer step (training step)."""
        self._step_peaks.append(max(self._graphs_in_step, default=0))
        self._graphs_in_step = []

    def batch(self) -> SavedBytes:
        """Summarise and reset the current batch."""
        if self._graphs_in_step:
            self.step()
        peaks = self._step_peaks or [0]
        out = SavedBytes(per_step=int(round(sum(peaks) / len(peaks))), peak=max(peaks),
                         per_batch=self._batch_total, graphs=self._batch_graphs, steps=len(self._step_peaks))
        self._step_peaks, self._batch_total, self._batch_graphs = [], 0, 0
        return out


def peak_process_memory(device: torch.device | str = "cpu") -> dict:
    """Peak memory of this process: ``{'bytes': int, 'kind': 'ru_maxrss' | 'cuda_max_allocated'}``."""
    device = torch.device(device)
    if device.type == "cuda":
        return {"bytes": int(torch.cuda.max_memory_allocated(device)), "kind": "cuda_max_allocated"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux, bytes on macOS
    return {"bytes": int(rss if sys.platform == "darwin" else rss * 1024), "kind": "ru_maxrss"}
