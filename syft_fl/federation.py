"""The federation every strategy shares: data and shards, the initial model, channel, compute model, transport.

:func:`build_federation` loads the run's data split (:func:`syft_fl.data.load_split`), places each UE's shard on
its worker once (through the transport), and seeds the channel and compute models from the run seed.
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch

from . import codec
from .channel import Channel
from .compute import Compute
from .config import Config
from .data import load_split, ue_shards
from .models import build_model
from .rng import derive_seed, generator
from .transport import Transport, make_transport


@dataclass
class Federation:
    """What every strategy shares: data, shards, model init, channel, compute model and the transport."""

    config: Config
    x_test: torch.Tensor
    y_test: torch.Tensor
    shards: List[Tuple[torch.Tensor, torch.Tensor]]
    initial_state: "OrderedDict[str, torch.Tensor]"
    channel: Channel
    compute: Compute
    transport: Transport
    num_classes: int
    test_model: torch.nn.Module
    _size_cache: Dict[codec.TierSpec, List[int]] = field(default_factory=dict)

    def predicted_tier_bytes(self, spec: codec.TierSpec) -> List[int]:
        """Predicted on-air bytes of each tier of ``spec``: the codec's payload sizes plus the syft framing of
        incompressible data (an upper bound on the metered size: LZ4 stores a block it cannot shrink)."""
        if spec not in self._size_cache:
            sizes = codec.tier_sizes(spec, self.initial_state)
            self._size_cache[spec] = [self.transport.message_size(n) for n in sizes]
        return self._size_cache[spec]

    def selected(self, rnd: int) -> List[int]:
        """The UEs the BS samples in round ``rnd`` (sorted; the same for every strategy)."""
        rng = generator(self.config.seed, "select", rnd)
        chosen = rng.choice(self.config.num_ues, size=self.config.ues_per_round, replace=False)
        return sorted(int(k) for k in chosen)

    def n_samples(self, ue: int) -> int:
        """Training samples UE ``ue`` holds."""
        return len(self.shards[ue][0])


def build_federation(config: Config) -> Federation:
    """Load data, split it over the UEs, place each shard on its UE worker, and set up channel and compute."""
    seed = config.seed
    dataset, indices = load_split(config)
    shards = ue_shards(dataset, indices)
    model = build_model(config.model, in_channels=dataset.x_train.shape[1], num_classes=dataset.num_classes,
                        seed=derive_seed(seed, "init"))
    transport = make_transport(config)
    try:
        transport.place_data(shards)
    except BaseException:
        transport.close()
        raise
    return Federation(
        config=config,
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        shards=shards,
        initial_state=OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items()),
        channel=Channel(config.channel, config.num_ues, seed=derive_seed(seed, "channel")),
        compute=Compute(config.compute, config.num_ues, seed=derive_seed(seed, "compute")),
        transport=transport,
        num_classes=dataset.num_classes,
        test_model=model,
    )
