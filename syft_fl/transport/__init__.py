"""Transports: how the BS reaches its UEs. One seam (:class:`base.Transport`), chosen by ``transport:``."""
from .base import RoundTask, Transport, UploadReport  # noqa: F401


def make_transport(config) -> "Transport":
    """The transport ``config.transport`` (``virtual`` | ``websocket`` | ``ray``) for ``config.num_ues`` UEs.

    Sets torch's threads in this process to ``config.torch_threads`` first (0: torch's default); each transport
    gives its UE processes the same count, so the results do not depend on where a UE trains. Ray is imported
    only for ``transport: ray``.
    """
    from ..workers import apply_torch_threads

    threads = apply_torch_threads(config.torch_threads)
    if config.transport == "virtual":
        from .virtual import VirtualTransport

        return VirtualTransport(config.num_ues, training=config.training)
    if config.transport == "websocket":
        from .websocket import WebsocketTransport

        return WebsocketTransport(config)
    if config.transport == "ray":
        from .ray_actors import RayTransport

        return RayTransport(config, torch_threads=threads)
    raise ValueError(f"transport={config.transport!r} is not one of virtual, websocket, ray")
