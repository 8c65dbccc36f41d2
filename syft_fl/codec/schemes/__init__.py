"""The codec's schemes, behind one registry: a spec's first word picks the class that encodes and decodes it.

To add a scheme: write a subclass of :class:`~syft_fl.codec.schemes.base.Scheme` (name, a new wire id, grammar
attributes, ``encode`` / ``decode``) in a new module here, and add an instance to the ``register`` line below
(the registry itself is ``syft_fl.codec.registry.SCHEMES``).
"""
from ..registry import register
from .base import Scheme
from .float_planes import FloatBitPlanes
from .full import Full
from .sign import Sign
from .uniform import Uniform

__all__ = ["Scheme", "SCHEMES"]

SCHEMES = register(Full(), FloatBitPlanes(), Uniform(), Sign())
