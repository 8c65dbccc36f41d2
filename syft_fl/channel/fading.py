"""Small-scale fading: the models by name (``FADING``) and the unit-mean power gain they draw."""
import math

import numpy as np

from syft_fl.registry import Registry

#: Small-scale fading models: name -> ``gain(rng, *, rician_k_db, size)``, the unit-mean power gain ``|h|^2``
#: (a new model is one function and one ``FADING.add`` line; see ``_rician`` below).
FADING = Registry("fading model")


def fading_power(
    rng: np.random.Generator, fading: str, *, rician_k_db: float = 6.0, size=None
) -> np.ndarray:
    """Small-scale power gain ``|h|^2`` (linear, unit mean) drawn from ``rng``.

    ``fading`` names a model of :data:`FADING`: ``none``: 1. ``rayleigh``: Exp(1). ``rician``:
    ``|sqrt(K/(K+1)) + CN(0, 1/(K+1))|^2`` with ``K = 10^(rician_k_db/10)``; tends to 1 (no fading) as K grows.
    """
    if fading not in FADING:
        raise ValueError("fading must be one of {}, got {!r}".format(FADING.names(), fading))
    return FADING[fading](rng, rician_k_db=rician_k_db, size=size)


def _no_fading(rng: np.random.Generator, *, rician_k_db: float, size=None) -> np.ndarray:
    return np.ones(size) if size is not None else np.float64(1.0)


def _rayleigh(rng: np.random.Generator, *, rician_k_db: float, size=None) -> np.ndarray:
    return rng.standard_exponential(size)


def _rician(rng: np.random.Generator, *, rician_k_db: float, size=None) -> np.ndarray:
    k = 10.0 ** (rician_k_db / 10.0)
    scatter = math.sqrt(1.0 / (2.0 * (k + 1.0)))
    re = math.sqrt(k / (k + 1.0)) + scatter * rng.standard_normal(size)
    im = scatter * rng.standard_normal(size)
    return re * re + im * im


FADING.add("none", _no_fading, doc="no small-scale fading: gain 1")
FADING.add("rayleigh", _rayleigh, doc="Rayleigh: gain ~ Exp(1) (no line of sight)")
FADING.add("rician", _rician, doc="Rician with K = rician_k_db: a line of sight plus scatter, unit mean")
