"""Transports: how the BS reaches its UEs. One seam (:class:`base.Transport`), chosen by ``transport:`` among the
transports registered in :data:`syft_fl.choices.TRANSPORTS`."""
from ..choices import TRANSPORTS
from .base import RoundTask, Transport, UploadReport  # noqa: F401


def make_transport(config) -> "Transport":
    """The transport ``config.transport`` (one of :data:`syft_fl.choices.TRANSPORTS`) for ``config.num_ues`` UEs.

    Sets torch's threads in this process to ``config.torch_threads`` first (0: torch's default); each transport
    gives its UE processes the same count, so the results do not depend on where a UE trains. Ray is imported
    only for ``transport: ray``.
    """
    from ..workers import apply_torch_threads

    threads = apply_torch_threads(config.torch_threads)
    return TRANSPORTS[config.transport].from_config(config, torch_threads=threads)
