"""Transports: how the BS reaches its UEs. One seam (:class:`base.Transport`), chosen by ``transport:``."""
from .base import RoundTask, Transport, UploadReport  # noqa: F401


def make_transport(config) -> "Transport":
    """The transport ``config.transport`` (``virtual`` | ``websocket``) for ``config.num_ues`` UEs."""
    if config.transport == "virtual":
        from .virtual import VirtualTransport

        return VirtualTransport(config.num_ues, training=config.training)
    if config.transport == "websocket":
        from .websocket import WebsocketTransport

        return WebsocketTransport(config)
    raise ValueError(f"transport={config.transport!r} is not one of virtual, websocket")
