"""Data: scikit-learn's digits (bundled default), plus loaders for user-supplied files.

``load_digits_split`` returns float32 images scaled to [0, 1] (pixel / 16) with a seeded,
stratified train/test split. Shapes: ``(N, 64)`` flat or ``(N, 1, 8, 8)`` with ``image=True``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])


def load_digits_split(seed: int = 0, test_fraction: float = 0.2, image: bool = False) -> Split:
    """scikit-learn digits (1797 real 8x8 handwritten digits), seeded stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction} is outside the allowed range (0, 1)")
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    if image:
        xtr, xte = xtr.reshape(-1, 1, 8, 8), xte.reshape(-1, 1, 8, 8)
    return Split(xtr, ytr, xte, yte, 10)
