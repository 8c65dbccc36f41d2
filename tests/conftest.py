"""Shared fixtures: a tiny data set and virtual federations (syft workers) torn down after each test."""
import pytest
import torch
from hypothesis import settings

from .examples import QUICK, examples

if QUICK:  # the quick unit lane: property tests without an explicit count draw a tenth of hypothesis's 100 too
    settings.register_profile("quick", max_examples=examples(100))
    settings.load_profile("quick")


@pytest.fixture
def tiny_shards():
    """Three UEs' shards of 60 random 28x28 'digits' each, owning their own storage."""
    gen = torch.Generator()
    gen.manual_seed(0)
    return [(torch.randn(60, 1, 28, 28, generator=gen), torch.randint(0, 10, (60,), generator=gen))
            for _ in range(3)]


@pytest.fixture
def virtual_transport():
    """A factory of VirtualTransport objects, all closed (workers unregistered) at teardown."""
    from syft_fl.transport.virtual import VirtualTransport

    made = []

    def make(num_ues, **kwargs):
        made.append(VirtualTransport(num_ues, **kwargs))
        return made[-1]

    yield make
    for transport in made:
        transport.close()
