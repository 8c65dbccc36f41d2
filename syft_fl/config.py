"""One config tree for an experiment: defaults, a YAML file and ``--set`` overrides, validated once.

``load_config(path, overrides)`` is a pure function (no I/O but reading ``path``) that returns a frozen
:class:`Config` or raises :class:`ConfigError` with a one-line message naming the key and the value. The CLI
prints that line and exits 2; nothing runs and nothing is written before the config is valid.

Every key carries its unit and a one-line description in its field metadata: ``describe_keys()`` turns them into
the ``--help`` text, and the README's key table is made from the same source. A key that names a choice (a model, a
transport, a fading model, ...) takes its allowed values and their docs from that choice's registry
(:mod:`syft_fl.choices` and the registries of ``channel``, ``policy``, ``strategies`` and the codec;
``describe_choices()`` lists them); a transport checks its own keys (``Transport.check_config``).
"""
import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from . import baselines as _baselines
from . import aggregate, channel, choices, codec, feedback, objectives, policy, strategies
from .codec import TierSpec
from .channel import ChannelConfig
from .compute import ComputeConfig
from .downlink import BroadcastConfig
from .config_yaml import parse_override, read_yaml, set_path
from .errors import SHOWN_CHARS, ConfigError, one_line, short
from .errors import did_you_mean as _did_you_mean
from .data import MNIST5K_SAMPLES, SPLIT_SIZES, resolve_sizes
from .fields import documented as _key

DEFAULT_CONFIG_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments", "configs", "default.yaml"
)
MAX_INT = 2 ** 63 - 1  # integer keys fit in 64 bits
MAX_SERVER_LR = 1e3  # FedOpt server rates span 1e-3 .. 1e1 (Reddi et al. 2021); 1e20 already overflows float32
MAX_LR = 1e3  # local SGD rates are 1e-3 .. 1; from ~1e6 every UE's update overflows (all rejected, silently)


@dataclass(frozen=True)
class StrategyConfig:
    """One strategy compared in the experiment: its upload policy, its reception options, the BS's aggregation rule
    and the UEs' local objective.

    ``upload`` (formerly ``kind``, still accepted) is one of :data:`syft_fl.strategies.STRATEGIES`. ``full``,
    ``fixed`` and ``tiered`` upload ``spec`` every round; ``adaptive`` and ``adaptive-tiered`` pick per UE and round
    from ``ladder`` (poorest to richest). The other keys are per-strategy options whose defaults give the plain rules
    (see :mod:`syft_fl.policy`), FedAvg (:mod:`syft_fl.aggregate`) and plain local SGD (:mod:`syft_fl.objectives`).
    """

    upload: str = _key("upload policy (the tier spec each UE sends; old name: kind): "
                       + " | ".join(strategies.STRATEGIES), default="full")
    spec: TierSpec = _key("codec tier spec for full/fixed/tiered, e.g. uniform:4+4+8,block=256", default="full")
    ladder: Tuple[TierSpec, ...] = _key(
        "single-tier codec specs, poorest to richest, for the adaptive kinds", default=()
    )
    deadline_s: Optional[float] = _key("this strategy's BS deadline for base tiers; null = the run's deadline_s",
                                       "s", default=None)
    early_close: bool = _key("the BS stops listening for a UE's increments it predicts (from the round-start rate "
                             "estimate and the tier sizes) will miss the window", default=False)
    window_start: str = _key("increment window opens at: " + policy.WINDOW_START.describe(), default="deadline")
    increment_window_s: Optional[float] = _key("this strategy's increment window; null = the run's "
                                               "increment_window_s (0 with window_start last_base: the round closes "
                                               "when the base alone's would)", "s", default=None)
    csi_error_db: float = _key("std of the BS's round-start SNR estimate error (log-normal), used by the adaptive "
                               "kinds and early close; 0 = perfect CSI", "dB", default=0.0)
    error_feedback: bool = _key("a UE adds what the BS did not merge of its last upload to its next one",
                                default=False)
    ef_on_drop: str = _key("error feedback, for an upload the BS merged nothing of: " + feedback.ON_DROP.describe()
                           + " (keep nothing; keep it all; keep ef_decay of it)", default="discard")
    ef_decay: float = _key("error feedback's share kept of an upload the BS merged nothing of (ef_on_drop decay), "
                           "in [0, 1)", default=0.5)
    ef_residual_cap: float = _key("error feedback's largest residual norm, relative to the update's norm it is "
                                  "added to", default=1.0)
    aggregation: str = _key("the BS's update rule: " + " | ".join(aggregate.RULES) + " (syft_fl.aggregate; the "
                            "fedavg family steps by the run's server_lr)", default="fedavg")
    server_momentum: Optional[float] = _key("fedavgm's momentum in [0, 1); null = 0.9", default=None)
    eta: Optional[float] = _key("fedadam / fedyogi / fedadagrad: server learning rate; null = Flower's default (0.1, "
                                "0.01, 0.1)", default=None)
    beta1: Optional[float] = _key("fedadam / fedyogi / fedadagrad: first-moment decay in [0, 1); null = 0.9, 0.9, 0",
                                  default=None)
    beta2: Optional[float] = _key("fedadam / fedyogi: second-moment decay in (0, 1); null = 0.99", default=None)
    tau: Optional[float] = _key("fedadam / fedyogi / fedadagrad: adaptivity (added to sqrt(v)), > 0; null = 1e-9, "
                                "1e-3, 1e-9", default=None)
    bias_correction: bool = _key("fedadam: scale eta by sqrt(1 - beta2^t) / (1 - beta1^t), t = round + 2, as Flower's "
                                 "FedAdam", default=False)
    local_objective: str = _key("the UEs' local loss: " + " | ".join(objectives.OBJECTIVES)
                                + " (cross-entropy + mu/2 ||w - w_global||^2; needs training: worker)",
                                default="plain")
    mu: float = _key("fedprox's proximal weight, >= 0 (0 = plain)", default=0.0)

    @property
    def kind(self) -> str:
        """The upload policy under its old name (``upload``)."""
        return self.upload

    def aggregation_rule(self) -> aggregate.Rule:
        """The BS's update rule with this strategy's parameters (:mod:`syft_fl.aggregate`)."""
        return aggregate.build(self.aggregation, server_momentum=self.server_momentum, eta=self.eta, beta1=self.beta1,
                               beta2=self.beta2, tau=self.tau, bias_correction=self.bias_correction or None)

    def __post_init__(self) -> None:
        """Parse ``spec`` and ``ladder`` (spec text or TierSpecs) once: after construction they hold TierSpecs."""
        if self.upload not in strategies.KINDS:
            raise ValueError(f"upload={short(self.upload)} is not one of {', '.join(strategies.KINDS)}")
        if not isinstance(self.bias_correction, bool):
            raise ValueError(f"bias_correction={self.bias_correction!r} is not true/false")
        self.aggregation_rule()
        objectives.build(self.local_objective, mu=self.mu)
        if self.deadline_s is not None and not (math.isfinite(self.deadline_s) and self.deadline_s > 0):
            raise ValueError(f"deadline_s={self.deadline_s!r} must be null or finite and > 0")
        if self.window_start not in policy.WINDOW_START:
            raise ValueError(f"window_start={short(self.window_start)} is not one of "
                             f"{policy.WINDOW_START.describe(', ')}")
        if self.increment_window_s is not None and not (
                math.isfinite(self.increment_window_s) and self.increment_window_s >= 0):
            raise ValueError(f"increment_window_s={self.increment_window_s!r} must be null or finite and >= 0")
        if not (math.isfinite(self.csi_error_db) and self.csi_error_db >= 0):
            raise ValueError(f"csi_error_db={self.csi_error_db!r} must be finite and >= 0")
        if self.early_close is True and self.window_start == "last_base":
            raise ValueError("early_close=true has nothing to predict under window_start=last_base (the window end "
                             "is known only when the last base arrives)")
        feedback.FeedbackRule(on_drop=self.ef_on_drop, decay=self.ef_decay, residual_cap=self.ef_residual_cap)
        for name in ("early_close", "error_feedback"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is not true/false")
        try:
            parsed = codec.parse_spec(self.spec)
        except codec.CodecError as err:
            raise ValueError(f"spec={short(self.spec)}: {one_line(err, 200)}") from None
        ladder = []
        for text in self.ladder:
            try:
                ladder.append(codec.parse_spec(text))
            except codec.CodecError as err:
                raise ValueError(f"ladder entry {short(text)}: {one_line(err, 200)}") from None
        object.__setattr__(self, "spec", parsed)
        object.__setattr__(self, "ladder", tuple(ladder))
        strategies.KINDS[self.upload].check(parsed, ladder)


def _default_strategies() -> Dict[str, StrategyConfig]:
    """The fair set the main command compares: full precision (late = dropped), the tiered base sent alone, 8 bits
    in one tier, tiered with the fair close rule (the round closes when its base alone's would) and adaptive."""
    ladder = ("uniform:2,block=256", "uniform:4,block=256", "uniform:8,block=256", "float:16", "full")
    return {
        "full": StrategyConfig(upload="full", spec="full"),
        "base-alone": StrategyConfig(upload="fixed", spec="uniform:2,block=256"),
        "fixed": StrategyConfig(upload="fixed", spec="uniform:8,block=256"),
        "tiered": StrategyConfig(upload="tiered", spec="uniform:2+2+4,block=256", window_start="last_base",
                                 increment_window_s=0.0),
        "adaptive": StrategyConfig(upload="adaptive", ladder=ladder),
    }


@dataclass(frozen=True)
class FaultsConfig:
    """Injected faults, each drawn per UE and round from the run seed (0 = off)."""

    ue_crash_prob: float = _key("probability that a selected UE's training raises", "prob", default=0.0)
    corrupt_tier_prob: float = _key("probability that a tier's bytes are flipped in flight", "prob", default=0.0)
    nan_update_prob: float = _key("probability that a UE uploads a NaN update", "prob", default=0.0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name}={value!r} is not a probability in [0, 1]")


@dataclass(frozen=True)
class RayConfig:
    """``transport: ray``: where the Ray cluster is and how many UE actors to start on it."""

    address: Optional[str] = _key(
        "null = start Ray on this machine for the run | auto | ray://HOST:PORT | HOST:PORT = join a running cluster",
        default=None)
    num_actors: int = _key("UE actors (each hosts a share of the UEs, trained one after another); 0 = the CPUs Ray "
                           "sees", "actors", default=0)

    def __post_init__(self) -> None:
        if self.num_actors < 0:
            raise ValueError(f"num_actors={self.num_actors!r} must be >= 0")
        if self.address is not None and not (self.address == "auto" or self.address.startswith("ray://")
                                             or self.address.rpartition(":")[2].isdigit()):
            raise ValueError(f"address={short(self.address)} is not null, auto, ray://HOST:PORT or HOST:PORT")


@dataclass(frozen=True)
class Config:
    """A whole experiment. Field metadata gives each key's unit and meaning (see ``describe_keys``)."""

    seed: int = _key("seed of every random draw (data split, init, channel, sampling, faults)", default=0)
    rounds: int = _key("communication rounds per strategy", "rounds", default=22)
    num_ues: int = _key("UEs in the cell", "UEs", default=20)
    ues_per_round: int = _key("UEs selected (seeded, uniformly) each round", "UEs", default=8)
    local_epochs: int = _key("local training epochs per round", "epochs", default=1)
    batch_size: int = _key("local minibatch size", "samples", default=20)
    lr: float = _key("local SGD learning rate of round 0", "-", default=0.05)
    lr_decay: float = _key("learning rate multiplier per round: round r trains with lr x lr_decay^r, in (0, 1]", "-",
                           default=1.0)
    momentum: float = _key("local SGD momentum (buffer restarts each round), in [0, 1)", "-", default=0.0)
    weight_decay: float = _key("local SGD L2 penalty added to the gradient (weight_decay x w), >= 0", "-",
                               default=0.0)
    server_lr: float = _key("BS step on the weighted mean update (payload: delta)", "-", default=1.0)
    model: str = _key("model: " + choices.MODELS.describe(), default="cnn")
    dataset: str = _key("data set: " + choices.DATASETS.describe() + " (mnist5k is embedded)", default="mnist5k")
    data_root: Optional[str] = _key("folder with the data set's files: the 4 IDX files of mnist / fashion_mnist, "
                                    "torchvision's cifar-10-batches-py; null: mnist5k embedded, fashion_mnist from "
                                    "/usr/share/datasets/fashion-mnist (Debian)", default=None)
    train_size: Optional[int] = _key("training samples drawn from the data set; null = 4000 for mnist5k, the whole "
                                     "training split otherwise", "samples", default=None)
    test_size: Optional[int] = _key("held-out test samples the BS evaluates on; null = 1000 for mnist5k, the whole "
                                    "test split otherwise", "samples", default=None)
    normalize: str = _key("pixel scaling: dataset ((x/255 - mean) / std of the training set) | mnist (MNIST's mean "
                          "and std, as Flower's Fashion-MNIST examples) | none (x/255 in [0, 1], as NIID-Bench)",
                          default="dataset")
    augment: str = _key("local data augmentation per sample and epoch: none | crop_flip (a random 28 x 28 crop of the "
                        "4-pixel zero-padded image, then a horizontal flip with probability 1/2; torchvision's "
                        "RandomCrop(28, padding=4) + RandomHorizontalFlip); needs training: worker", default="none")
    partition: str = _key("data split over UEs: " + choices.PARTITIONS.describe(), default="shards")
    alpha: float = _key("Dirichlet concentration for partition: dirichlet", "-", default=0.5)
    payload: str = _key("what a UE uploads: delta (local minus global) | model", default="delta")
    deadline_s: float = _key("BS deadline for base tiers, from the round's broadcast", "s", default=10.0)
    increment_window_s: float = _key("extra wait for increment tiers after the deadline", "s", default=2.0)
    target_accuracy: float = _key("test accuracy whose time and bytes to reach are reported", "fraction", default=0.9)
    downlink: str = _key("how the global model reaches the selected UEs: " + choices.DOWNLINKS.describe()
                         + " (docs/downlink.md)", default="ideal")
    training: str = _key("local training: worker (one command, plain loop on the UE) | pointers (op by op)",
                         default="worker")
    transport: str = _key("syft transport: virtual (in-process workers) | websocket (UE processes) | ray (UE "
                          "actors)", default="virtual")
    torch_threads: int = _key("torch intra-op threads of each process that trains UEs (BS, UE servers, Ray actors); "
                              "results depend on it, so 1 by default (the same numbers on any core count; parallelism comes from UEs and "
                              "runs); 0 = torch's default on the BS (the core count)", "threads", default=1)
    ue_addresses: Tuple[str, ...] = _key(
        "transport: websocket: host:port of UE servers ue0, ue1, ... (python -m syft_fl.transport.ue_server)",
        default=())
    launch_local: int = _key("transport: websocket: start this many UE servers on 127.0.0.1 (0 = use ue_addresses)",
                             "UEs", default=0)
    ue_secret_file: Optional[str] = _key(
        "transport: websocket with ue_addresses: file (mode 0600) holding the secret the UE servers were started "
        "with (--secret-file); launch_local makes its own", default=None)
    ue_timeout_s: float = _key(
        "transport: websocket: wall-clock wait for a UE's answer before it counts as crashed for that round",
        "s", default=120.0)
    strategies: Dict[str, StrategyConfig] = _key(
        "strategies compared side by side: name -> {upload, spec, ladder, deadline_s, early_close, window_start, "
        "csi_error_db, error_feedback, aggregation, local_objective, ...}", default_factory=_default_strategies
    )
    baselines: bool = _key("add each tiered strategy's baselines: fixed at each cumulative tier width, and at full "
                           "width with deadline + window (syft_fl.baselines)", default=False)
    channel: ChannelConfig = _key("wireless uplink (see channel.* keys)", default_factory=ChannelConfig)
    broadcast: BroadcastConfig = _key("downlink: broadcast: the BS's layered broadcast (see broadcast.* keys)",
                                      default_factory=BroadcastConfig)
    compute: ComputeConfig = _key("UE computation and energy (see compute.* keys)", default_factory=ComputeConfig)
    faults: FaultsConfig = _key("injected faults (see faults.* keys)", default_factory=FaultsConfig)
    ray: RayConfig = _key("transport: ray (see ray.* keys)", default_factory=RayConfig)

    def round_lr(self, rnd: int) -> float:
        """The local learning rate of round ``rnd`` (0-based): ``lr x lr_decay^rnd``; exactly ``lr`` when the
        decay is 1. The BS computes it and sends it in each ``RoundTask``."""
        return self.lr * self.lr_decay ** rnd

    def __post_init__(self) -> None:
        if self.torch_threads < 0:
            raise ConfigError(f"torch_threads={self.torch_threads!r} must be >= 0")
        for name in ("rounds", "num_ues", "ues_per_round", "local_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 1")
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 1")
        if self.seed < 0:
            raise ConfigError(f"seed={self.seed!r} must be >= 0")
        for name in ("lr", "server_lr", "deadline_s", "alpha", "ue_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}={value!r} must be finite and > 0")
        if self.lr > MAX_LR:
            raise ConfigError(f"lr={self.lr!r} must be at most {MAX_LR:g} (local SGD: a larger one makes every UE's "
                              "update overflow)")
        if self.server_lr > MAX_SERVER_LR:
            raise ConfigError(f"server_lr={self.server_lr!r} must be at most {MAX_SERVER_LR:g} (the BS's step on the "
                              "mean update: a larger one makes the global model overflow)")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(f"lr_decay={self.lr_decay!r} must be in (0, 1]")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum={self.momentum!r} must be in [0, 1)")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay={self.weight_decay!r} must be finite and >= 0")
        if not (math.isfinite(self.increment_window_s) and self.increment_window_s >= 0):
            raise ConfigError(f"increment_window_s={self.increment_window_s!r} must be finite and >= 0")
        if not 0.0 < self.target_accuracy <= 1.0:
            raise ConfigError(f"target_accuracy={self.target_accuracy!r} must be in (0, 1]")
        if self.ues_per_round > self.num_ues:
            raise ConfigError(f"ues_per_round={self.ues_per_round} is more than num_ues={self.num_ues}")
        for name, registry in choices.TOP_LEVEL.items():
            try:
                registry.check(name, getattr(self, name))
            except ValueError as err:
                raise ConfigError(str(err)) from None
        local = [n for n, st in self.strategies.items() if st.local_objective != "plain"]
        if local and self.training != "worker":
            raise ConfigError(f"strategies.{local[0]}.local_objective={self.strategies[local[0]].local_objective} "
                              f"needs training: worker (training: {self.training} trains op by op, without it)")
        if self.augment != "none" and self.training == "pointers":
            raise ConfigError(f"augment={self.augment} needs training: worker (training: pointers trains op by op, "
                              "without augmentation)")
        # null sizes become the data set's own, so the written config.yaml states them
        sizes = resolve_sizes(self.dataset, self.train_size, self.test_size)
        object.__setattr__(self, "train_size", sizes[0])
        object.__setattr__(self, "test_size", sizes[1])
        if self.num_ues > self.train_size:
            raise ConfigError(f"num_ues={self.num_ues} is more than train_size={self.train_size}: every UE needs a "
                              "sample")
        if self.dataset == "mnist5k" and self.train_size + self.test_size > MNIST5K_SAMPLES:
            raise ConfigError(f"train_size={self.train_size} + test_size={self.test_size} is more than the "
                              f"{MNIST5K_SAMPLES} samples of mnist5k")
        split = SPLIT_SIZES.get(self.dataset)
        if split is not None and (self.train_size > split[0] or self.test_size > split[1]):
            raise ConfigError(f"train_size={self.train_size} / test_size={self.test_size}: {self.dataset} has "
                              f"{split[0]} / {split[1]} samples")
        if self.data_root is not None and not os.path.isdir(self.data_root):
            raise ConfigError(f"data_root={short(self.data_root)} is not an existing folder")
        if self.dataset in ("mnist", "cifar10") and self.data_root is None:
            raise ConfigError(f"dataset={self.dataset!r} needs data_root (a folder with its files)")
        if self.dataset == "cifar10" and self.data_root is not None and not _listdir(self.data_root):
            raise ConfigError(f"data_root={short(self.data_root)} is empty (dataset={self.dataset!r} is read from "
                              "its files there)")
        if self.launch_local < 0:
            raise ConfigError(f"launch_local={self.launch_local!r} must be >= 0")
        self._check_transport()
        if not self.strategies:
            raise ConfigError("strategies={} names no strategy")
        if self.baselines:
            try:
                expanded = _baselines.with_baselines(
                    self.strategies, deadline_s=self.deadline_s, increment_window_s=self.increment_window_s)
            except ValueError as err:
                raise ConfigError(f"baselines=true: {err}") from None
            object.__setattr__(self, "strategies", expanded)

    def rules_for(self, strategy: StrategyConfig) -> policy.RoundRules:
        """The round rules of ``strategy`` in this run (its own ``deadline_s`` or else the run's; the run's window;
        its window start and early close): resolved here once, read by every stage."""
        return policy.rules_for(strategy, deadline_s=self.deadline_s, increment_window_s=self.increment_window_s)

    def _check_transport(self) -> None:
        """The websocket keys need transport=websocket; then the chosen transport checks the config itself."""
        if self.transport != "websocket":
            for name in ("launch_local", "ue_addresses", "ue_secret_file"):
                if getattr(self, name):
                    raise ConfigError(f"{name}={short(getattr(self, name))} needs transport=websocket (transport="
                                      f"{self.transport!r})")
        try:
            choices.TRANSPORTS[self.transport].check_config(self)
        except ValueError as err:
            raise ConfigError(one_line(err)) from None


def _listdir(path: str) -> List[str]:
    try:
        return os.listdir(path)
    except OSError as err:
        raise ConfigError(f"data_root={short(path)}: {err.strerror}") from None


def _field_types(cls: type) -> Dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Check ``value`` against the annotated type ``kind``; ints are accepted where floats are asked."""
    if kind is float:
        if isinstance(value, str):  # PyYAML reads 1e-2 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={short(value)} is not a number")
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{key}={short(value)} is too large for a number") from None
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={short(value)} is not an integer")
        if abs(value) > MAX_INT:
            raise ConfigError(f"{key}={short(value)} is out of range (|value| <= 2**63 - 1)")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={short(value)} is not a string")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={short(value)} is not true/false")
        return value
    if kind == Optional[int]:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{key}={short(value)} is not an integer or null")
        return value
    if kind == Optional[str]:
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key}={short(value)} is not a string or null")
        return value
    if kind == Optional[float]:
        return None if value is None else _coerce(value, float, key)
    if kind == Tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}={short(value)} is not a list of strings")
        return tuple(value)
    if kind is TierSpec:  # parsed by StrategyConfig, which names the key in its error
        if not isinstance(value, (str, TierSpec)):
            raise ConfigError(f"{key}={short(value)} is not a spec string")
        return value
    if kind == Tuple[float, ...]:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={short(value)} is not a list of numbers")
        return tuple(_coerce(v, float, key) for v in value)
    if kind == Tuple[TierSpec, ...]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, TierSpec)) for v in value):
            raise ConfigError(f"{key}={short(value)} is not a list of spec strings")
        return tuple(value)
    raise ConfigError(f"{key}: unsupported type {kind!r}")  # a programming error, still one line


def _upload_key(raw: Any, prefix: str) -> Any:
    """A strategy's mapping with its old key ``kind`` read as ``upload`` (the upload policy's name since v3)."""
    if not isinstance(raw, Mapping) or "kind" not in raw:
        return raw
    out = {k: v for k, v in raw.items() if k != "kind"}
    if "upload" in raw and raw["upload"] != raw["kind"]:
        raise ConfigError(f"{prefix}kind={short(raw['kind'])} and {prefix}upload={short(raw['upload'])} disagree: "
                          "kind is upload's old name; set upload only")
    out["upload"] = raw["kind"]
    return out


def _build(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    """Build dataclass ``cls`` from the plain mapping ``raw`` (unknown keys, types and ranges checked)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}={short(raw)} is not a mapping of keys")
    fields = _field_types(cls)
    unknown = [k for k in raw if k not in fields]
    if unknown:
        key = unknown[0]
        shown = (key if len(key) <= SHOWN_CHARS else key[: SHOWN_CHARS - 3] + "...") if isinstance(key, str) \
            else short(key)
        raise ConfigError(one_line(f"unknown key {prefix}{shown}{_did_you_mean(key, list(fields))}"))
    kwargs = {}
    for name, value in raw.items():
        kind = fields[name].type
        key = prefix + name
        if name == "strategies" and cls is Config:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}={short(value)} is not a mapping of name -> {{upload, spec, ladder}}")
            kwargs[name] = {str(n): _build(StrategyConfig, _upload_key(s, f"{key}.{n}."), f"{key}.{n}.")
                            for n, s in value.items()}
        elif dataclasses.is_dataclass(kind) and kind is not TierSpec:
            kwargs[name] = _build(kind, value, key + ".")
        else:
            kwargs[name] = _coerce(value, kind, key)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise ConfigError(one_line(f"{prefix}{err}")) from None


def to_dict(config: Any) -> Any:
    """The config as plain YAML-able data (tuples become lists, TierSpecs their canonical text)."""
    if isinstance(config, TierSpec):
        return config.text
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    return config


def load_config(
    path: Optional[str] = None,
    overrides: Sequence[str] = (),
    *,
    seed: Optional[int] = None,
    strategies: Optional[Sequence[str]] = None,
) -> Config:
    """Read the YAML at ``path`` (the default experiment when None), apply ``--set`` overrides, validate.

    ``strategies`` keeps only those names (in that order); ``seed`` overrides the file's seed. The YAML's own
    ``strategies:`` mapping replaces the default set; ``--set strategies.NAME.KEY=...`` edits or adds one.
    """
    source = DEFAULT_CONFIG_PATH if path is None else path
    raw = read_yaml(source)
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {short(source)}: top level is not a mapping of keys")
    if "study" in raw:
        raise ConfigError(f"--config {short(source)} holds a study: block (seeds, sweeps): run it with "
                          f"experiments/run_study.py --config {short(source)}")
    merged = _with_defaults(raw)
    for text in overrides:
        key_path, value = parse_override(text)
        set_path(merged, key_path, value)
    if seed is not None:
        merged["seed"] = seed
    if strategies is not None and isinstance(merged.get("strategies") or {}, Mapping):
        known = merged.get("strategies") or {}
        missing = [s for s in strategies if s not in known]
        if missing or not strategies:
            name = missing[0] if missing else ""
            raise ConfigError(one_line(
                f"--strategies {short(name)} is not a configured strategy ({', '.join(map(str, known))})"
                f"{_did_you_mean(name, list(map(str, known)))}"
            ))
        twice = [s for i, s in enumerate(strategies) if s in strategies[:i]]
        if twice:
            raise ConfigError(f"--strategies names {short(twice[0])} twice")
        merged["strategies"] = {s: known[s] for s in strategies}
    return _build(Config, merged, "")


def _with_defaults(raw: Mapping[str, Any]) -> Dict[str, Any]:
    """``raw`` (a config file's top-level mapping) over the declared defaults, section by section."""
    merged = _declared_defaults()
    merged.update(raw)
    for section in ("channel", "broadcast", "compute", "faults", "ray"):
        if isinstance(raw.get(section), dict):
            merged[section] = {**to_dict(getattr(Config(), section)), **raw[section]}
    return merged


def resolve(raw: Mapping[str, Any]) -> Config:
    """A resolved config (plain data, e.g. a run's ``config.yaml`` or a checkpoint's) read by this syft-fl: the
    keys it lacks (added since it was written) take their defaults, as :func:`load_config` gives them; validated
    (:class:`ConfigError`)."""
    return _build(Config, _with_defaults(raw), "")


def _declared_defaults() -> Dict[str, Any]:
    """The top-level defaults as declared (null sizes stay null: they depend on the data set chosen)."""
    merged = to_dict(Config())
    merged.update(train_size=None, test_size=None)
    return merged


def describe_keys() -> List[Tuple[str, str, str, str]]:
    """Every config key as (dotted key, unit, default, description), for ``--help`` and the README."""
    rows: List[Tuple[str, str, str, str]] = []

    def walk(cls: type, instance: Any, prefix: str) -> None:
        for f in dataclasses.fields(cls):
            value = getattr(instance, f.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, TierSpec):
                walk(type(value), value, f"{prefix}{f.name}.")
                continue
            doc = f.metadata.get("doc", "")
            unit = f.metadata.get("unit", "")
            if f.name == "strategies" and cls is Config:
                shown = ", ".join(value)
            elif f.name in ("train_size", "test_size") and cls is Config:
                shown = "null"
            else:
                shown = yaml.safe_dump(to_dict(value), default_flow_style=True, width=1000).strip()
                shown = shown[:-4] if shown.endswith("\n...") else shown.replace("\n...", "")
            rows.append((prefix + f.name, unit, shown, doc))

    walk(Config, Config(), "")
    return rows


def describe_choices() -> List[Tuple[str, str, str]]:
    """Every key that names a registered choice, as (dotted key, value, one-line doc), in registry order: what
    ``--help`` lists under the key table. Read from the registries, so a newly registered value shows up here."""
    registries = [(key, registry) for key, registry in choices.TOP_LEVEL.items()]
    registries += [("channel.fading", channel.FADING), ("channel.coherence", channel.COHERENCE),
                   ("channel.bandwidth_mode", channel.BANDWIDTH_MODE), ("channel.outage_rule", channel.OUTAGE_RULE),
                   ("strategies.*.kind", strategies.KINDS), ("strategies.*.window_start", policy.WINDOW_START),
                   ("codec scheme (spec's first word)", codec.SCHEMES)]
    return [(key, name, doc) for key, registry in registries for name, doc in registry.table()]
