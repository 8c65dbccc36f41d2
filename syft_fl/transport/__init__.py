"""Transports: how the BS reaches its UEs. One seam (:class:`base.Transport`), chosen by ``transport:`` in the config."""
from .base import Transport, UploadReport  # noqa: F401


def make_transport(name: str, num_ues: int, **kwargs) -> "Transport":
    """The transport called ``name`` (``virtual`` | ``websocket``) for ``num_ues`` UEs."""
    if name == "virtual":
        from .virtual import VirtualTransport

        return VirtualTransport(num_ues, **kwargs)
    if name == "websocket":
        from .websocket import WebsocketTransport

        return WebsocketTransport(num_ues, **kwargs)
    raise ValueError(f"transport={name!r} is not one of virtual, websocket")
