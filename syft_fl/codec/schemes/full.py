"""``full``: one tier, the raw bytes of every tensor in its own dtype. Lossless; the full-precision baseline."""
from typing import List, Sequence, Tuple

import numpy as np

from ..layout import Layout, check_finite
from ..spec import DEFAULT_RECONSTRUCTION, DEFAULT_ROUNDING, CodecError, TierSpec
from .base import Jobs, Planes, Scheme


class Full(Scheme):
    """Every tensor travels raw in the base (``x^ == x`` bit for bit; bfloat16 travels as float32)."""

    name = "full"
    wire_id = 0
    quantizes = False

    def check(self, spec: TierSpec) -> None:
        if spec.bits or spec.block is not None or spec.rounding != DEFAULT_ROUNDING or (
            spec.reconstruction != DEFAULT_RECONSTRUCTION
        ):
            raise CodecError("scheme 'full' takes no bits and no options")

    def plane_widths(self, spec: TierSpec) -> Tuple[int, ...]:
        return (0,)  # one tier, and its plane is empty

    def element_bits(self, spec: TierSpec) -> Tuple[float, ...]:
        return (32.0,)  # float32 tensors (a float16 or float64 tensor travels in its own width)

    def encode(self, layout: Layout, floats: Sequence[np.ndarray], seed: int) -> Tuple[Planes, List[np.ndarray]]:
        for i, x in zip(layout.floats, floats):
            check_finite(layout.entries[i].name, x)
        return [np.empty(0, np.uint8)], []

    def error_power(self, layout: Layout, side: np.ndarray, received: int, decoded: np.ndarray) -> float:
        return 0.0  # lossless

    def relative_error(self, spec: TierSpec, received: int) -> float:
        return 0.0

    def decode(self, layout: Layout, planes: Planes, side: np.ndarray, outs: List[np.ndarray]) -> Jobs:
        return []  # the float tensors were raw: the framework copied them
