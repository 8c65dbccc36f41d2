"""UE local-training time and energy (config section ``compute:``); numpy only.

UE ``k`` has a CPU frequency ``f_k`` [Hz] drawn uniformly from ``[cpu_hz_min, cpu_hz_max]``
(seeded per UE, fixed for the run), so slow devices are stragglers. Local training of ``samples``
samples for ``epochs`` epochs costs ``C = cycles_per_sample * samples * epochs`` CPU cycles and
takes ``C / f_k`` seconds; its energy is ``kappa * C * f_k^2`` joules (the usual CMOS dynamic-power
model, e.g. Yang et al., "Energy efficient federated learning over wireless communication
networks"). Transmit energy is ``P * t`` with ``P`` the transmit power.

Default ``cycles_per_sample = 2e7``: one training step of the FedAvg CNN on a 28x28 image is about
3 x 12.3 M multiply-accumulates (forward + backward), i.e. about 2e7 cycles at ~2 MAC/cycle.
400 samples x 1 epoch then take 4 s on a 2 GHz UE and 16 s on a 0.5 GHz straggler.

Per-round jitter (``jitter = v > 0``): in round ``r`` UE ``k`` runs at ``f_k * J`` with ``J`` log-normal of mean 1
and coefficient of variation ``v`` (``J = exp(s z - s^2 / 2)``, ``s^2 = ln(1 + v^2)``, ``z ~ N(0, 1)`` from
``(seed, "compute.jitter", k, r)``: the same for every strategy), so a UE's clock spreads around its own mean from
round to round (background load, thermal throttling) and who straggles changes. ``jitter = 0``: ``f_k`` every round.

Bounds (``BOUNDS``): each key within a physical range, so time and energy stay finite.
"""

import math
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

from syft_fl.fields import documented as _key, float_field, keyword_only
from syft_fl.rng import generator


#: Physical ranges of the compute keys (1 kHz to 1 THz clocks, up to 1e15 cycles a sample, kappa up to 1e-20).
BOUNDS = {
    "cycles_per_sample": (1.0, 1e15),
    "cpu_hz_min": (1e3, 1e12),
    "cpu_hz_max": (1e3, 1e12),
    "kappa": (0.0, 1e-20),
    "jitter": (0.0, 4.0),
}


@keyword_only
@dataclass(frozen=True)
class ComputeConfig:
    """UE compute parameters (config section ``compute:``); every field carries its unit.

    Invalid values raise ``ValueError("<field>=<value> must be ...")`` at construction.
    """

    cycles_per_sample: float = _key("CPU cycles per training sample per epoch", "cycles", 2e7)
    cpu_hz_min: float = _key("slowest UE CPU frequency", "Hz", 0.5e9)
    cpu_hz_max: float = _key("fastest UE CPU frequency; f_k ~ U[min, max] per UE", "Hz", 2.0e9)
    kappa: float = _key(
        "effective switched capacitance: energy = kappa x cycles x f^2", "J/(cycle Hz^2)", 1e-28
    )
    jitter: float = _key(
        "coefficient of variation of a UE's clock from round to round around its own f_k (log-normal, "
        "mean f_k); 0 = the same clock every round",
        "-",
        0.0,
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = float_field(self, f.name)
            if not (math.isfinite(value) and (value > 0 or f.name == "jitter")):
                raise ValueError("{}={!r} must be finite and > 0".format(f.name, value))
            low, high = BOUNDS[f.name]
            if not low <= value <= high:
                raise ValueError("{}={!r} must be in [{:g}, {:g}]".format(f.name, value, low, high))
        if self.cpu_hz_min > self.cpu_hz_max:
            raise ValueError(
                "cpu_hz_min={!r} must be <= cpu_hz_max={!r}".format(
                    self.cpu_hz_min, self.cpu_hz_max
                )
            )


class Compute:
    """Per-UE compute model; ``cpu_hz`` [Hz], shape ``[num_ues]``, is drawn from ``seed``.

    UE ``k``'s frequency depends only on ``(seed, k)``, not on ``num_ues``.
    """

    def __init__(self, config: ComputeConfig, num_ues: int, seed: int) -> None:
        if isinstance(num_ues, bool) or not isinstance(num_ues, (int, np.integer)) or num_ues < 1:
            raise ValueError("num_ues must be an int >= 1, got {!r}".format(num_ues))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError("seed must be an int >= 0, got {!r}".format(seed))
        self.config = config
        self.num_ues = int(num_ues)
        self.seed = int(seed)
        self.cpu_hz = np.array(
            [
                generator(self.seed, "compute.cpu_hz", u).uniform(
                    config.cpu_hz_min, config.cpu_hz_max
                )
                for u in range(num_ues)
            ]
        )

    def cycles(self, samples: int, epochs: int) -> float:
        """CPU cycles of local training: ``cycles_per_sample * samples * epochs``."""
        if samples < 0:
            raise ValueError("samples must be >= 0, got {!r}".format(samples))
        if epochs < 0:
            raise ValueError("epochs must be >= 0, got {!r}".format(epochs))
        return self.config.cycles_per_sample * samples * epochs

    def _f(self, ue: int, rnd: Optional[int] = None) -> float:
        if not 0 <= ue < self.num_ues:
            raise ValueError("ue must be in [0, {}), got {!r}".format(self.num_ues, ue))
        if rnd is None or self.config.jitter == 0.0:
            return float(self.cpu_hz[ue])
        return float(self.cpu_hz[ue]) * self.jitter_factor(ue, rnd)

    def jitter_factor(self, ue: int, rnd: int) -> float:
        """``J``, UE ``ue``'s clock in round ``rnd`` over its mean ``f_k`` (module docstring); 1.0 without jitter."""
        v = self.config.jitter
        if v == 0.0:
            return 1.0
        if rnd < 0:
            raise ValueError("rnd must be >= 0, got {!r}".format(rnd))
        s2 = math.log1p(v * v)
        z = float(generator(self.seed, "compute.jitter", int(ue), int(rnd)).standard_normal())
        return math.exp(math.sqrt(s2) * z - s2 / 2.0)

    def clock_hz(self, ue: int, rnd: Optional[int] = None) -> float:
        """UE ``ue``'s CPU frequency [Hz] in round ``rnd`` (``f_k`` times the jitter); ``f_k`` when ``rnd`` is None."""
        return self._f(ue, rnd)

    def train_time_s(self, ue: int, samples: int, epochs: int, rnd: Optional[int] = None) -> float:
        """Local training time [s] of ``ue`` (in round ``rnd``, with its jitter): cycles / f."""
        return self.cycles(samples, epochs) / self._f(ue, rnd)

    def compute_energy_j(self, ue: int, samples: int, epochs: int, rnd: Optional[int] = None) -> float:
        """Local training energy [J] of ``ue`` (in round ``rnd``, with its jitter): kappa * cycles * f^2."""
        f = self._f(ue, rnd)
        return self.config.kappa * self.cycles(samples, epochs) * f * f


def transmit_energy_j(tx_power_dbm: float, seconds: float) -> float:
    """Radiated energy [J] of transmitting at ``tx_power_dbm`` [dBm] for ``seconds`` [s].

    ``P [W] = 10^((dBm - 30) / 10)``; ``math.inf`` seconds (a tier in outage that the UE keeps
    sending) gives ``math.inf`` -- pass the time actually on air if the UE stops early.
    """
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("seconds must be >= 0, got {!r}".format(seconds))
    if seconds == 0:
        return 0.0
    return 10.0 ** ((tx_power_dbm - 30.0) / 10.0) * seconds
