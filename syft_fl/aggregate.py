"""The BS's update rule over decoded uploads, behind a registry: plain torch on ordered dicts of tensors, no syft.

A state is an ``OrderedDict[str, Tensor]`` in the model's ``state_dict`` order. Each round the BS hands the rule of
the strategy (``aggregation:`` in its config) the accepted uploads (:class:`Upload`: the decoded update, its sample
count and what the codec says of its precision); :func:`combine` asks the rule for the weights, takes the weighted
mean (:func:`weighted_mean`) and lets the rule step the global model, carrying its server state (momentum, Adam
moments: :data:`ServerState`, a named set of states written by the checkpoint) from round to round.

A rule is one :class:`Rule` subclass and one entry in :data:`RULES`; config validation and ``--help`` read the
names from there. Below, ``w`` is the global model, ``Delta`` the weighted mean update (``payload: delta``: the
mean of the uploads; ``payload: model``: the mean model minus ``w``), ``t`` the round (0-based):

``fedavg`` (default)   ``w + server_lr * Delta``, weights ``n_k`` (McMahan et al., 2017). ``server_lr`` is the run's.
``fedavgm``            ``v = server_momentum * v + Delta; w + server_lr * v`` (Hsu et al., 2019; Flower's FedAvgM:
                       ``v`` starts at 0, so round 0 is FedAvg; ``server_momentum = 0`` is FedAvg exactly).
``fedadam``            Reddi et al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2, float tensors:
                       ``m = beta1 m + (1 - beta1) Delta``, ``v = beta2 v + (1 - beta2) Delta^2``,
                       ``w + eta m / (sqrt(v) + tau)``, ``m`` and ``v`` starting at 0 (as Flower's FedOpt).
                       ``bias_correction: true`` scales ``eta`` by ``sqrt(1 - beta2^(t+2)) / (1 - beta1^(t+2))`` as
                       Flower's FedAdam does since 1.5 (its ``server_round + 1``, rounds counted from 1).
``fedyogi``            as fedadam with ``v = v - (1 - beta2) Delta^2 sign(v - Delta^2)``.
``fedadagrad``         as fedadam with ``v = v + Delta^2``.
``precision``          FedAvg's step with weights from the samples and the delivered precision (below).

Defaults of the adaptive rules are Flower's (``eta``, ``beta1``, ``beta2``, ``tau``): fedadam 0.1, 0.9, 0.99, 1e-9;
fedyogi 0.01, 0.9, 0.99, 1e-3; fedadagrad 0.1, 0 (Flower's FedAdagrad has no first moment), -, 1e-9. Integer tensors
(e.g. BatchNorm's ``num_batches_tracked``) always take FedAvg's step ``w + Delta``.

**The precision-weighted average** (``precision``). A tiered upload reaches the BS as a prefix of its tiers, so UE
k's decoded update is ``x_k = d_k + e_k`` with ``d_k`` its true update and ``e_k`` the quantization error of what it
delivered. The codec states a per-element bound ``b_i`` for every prefix (each scheme's docstring); spreading the
error uniformly over its bound gives ``E e_i^2 = b_i^2 / 3`` (exact for deterministic rounding: uniform on
``[-b, b]`` with midpoint reconstruction, on ``[0, b)`` with truncation; an upper bound for stochastic rounding).
Summed over the float elements this is the error power ``E_k`` (:func:`syft_fl.codec.error_power`, from the spec,
the bits delivered and the block scales of its base tier). ``E_k = rho_k R_k``: ``rho_k``, the relative error, is
a number of the spec and the tiers delivered alone (:func:`syft_fl.codec.relative_error`: ``(2^-(B+1))^2 / 3`` for
``uniform`` with B bits delivered and midpoint reconstruction), ``R_k`` the scheme's reference power of this update
(``uniform``: its block scales squared, one per element). A large update is not an imprecise one, so the rule
charges every UE the round's reference power ``R`` (the sample-weighted mean of the ``R_k`` of the lossy uploads):
``q_k = rho_k R`` is the error power UE k's delivered precision costs an update of the round's typical size.

Write the true updates around the population's ``mu``: ``d_k = mu + z_k`` with ``E ||z_k||^2 = D`` (client drift,
the same for every UE), independent of ``e_k``. Then ``x_k = mu + z_k + e_k`` has error power ``D + q_k`` around
``mu``. FedAvg's step is the minimiser of the sample-weighted squared error ``sum_k n_k ||mu - x_k||^2`` (every
training sample counts once); under the model above the sample-weighted Gaussian likelihood
``sum_k n_k ||mu - x_k||^2 / (D + q_k)`` is minimised by::

    mu^ = sum_k w_k x_k,   w_k = (n_k / (D + q_k)) / sum_j (n_j / (D + q_j))

an inverse-variance weighting of FedAvg's weights. When every UE delivers the same precision (every tier of one
spec, or lossless uploads: the ``rho_k``, hence the ``q_k``, are equal) the factor cancels: the weights are
FedAvg's, exactly (the code passes ``n_k`` itself then, so the result is FedAvg's bit for bit). ``D`` is estimated
each round by the method of moments: with FedAvg's weights ``a_k = n_k / N`` and the FedAvg mean ``x^``,
``E sum_k a_k ||x_k - x^||^2 = sum_k a_k (1 - a_k) (D + q_k)``, so ``D = max(0, (S - sum_k a_k (1 - a_k) q_k) /
sum_k a_k (1 - a_k))`` with ``S`` the observed weighted spread. With ``D = 0`` and some lossless UE, the lossy ones
get weight 0 (the limit of the formula). Docs: docs/aggregation.md.

A payload (:class:`Payload`: what a UE uploads, how the BS steps) is registered by name in
``syft_fl.choices.PAYLOADS``.
"""
import abc
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import torch

from .registry import Registry

State = "OrderedDict[str, torch.Tensor]"
#: A rule's memory between rounds: named states (e.g. ``{"m": ..., "v": ...}``), each shaped as the model.
ServerState = Dict[str, "OrderedDict[str, torch.Tensor]"]


def is_finite(state: Mapping[str, torch.Tensor]) -> bool:
    """True when every floating-point entry of every tensor is finite (no NaN, no +-Inf)."""
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def weighted_mean(states: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> State:
    """sum_k w_k s_k / sum_k w_k, tensor by tensor, in float32 (float64 accumulation).

    Integer tensors (e.g. BatchNorm's ``num_batches_tracked``) are averaged and rounded to the nearest integer.
    Raises ValueError for no states, a length mismatch, a non-positive total weight or mismatched keys.
    """
    if not states:
        raise ValueError("weighted_mean of no states")
    if len(states) != len(weights):
        raise ValueError(f"{len(states)} states but {len(weights)} weights")
    total = float(sum(weights))
    if not total > 0:
        raise ValueError(f"total weight {total} is not > 0")
    keys = list(states[0])
    for state in states[1:]:
        if list(state) != keys:
            raise ValueError("states have different keys")
    out = OrderedDict()
    for key in keys:
        acc = torch.zeros(states[0][key].shape, dtype=torch.float64)
        for state, weight in zip(states, weights):
            acc.add_(state[key].to(torch.float64), alpha=float(weight) / total)
        like = states[0][key]
        out[key] = acc.round().to(like.dtype) if not like.is_floating_point() else acc.to(like.dtype)
    return out


def apply_update(global_state: Mapping[str, torch.Tensor], mean_delta: Mapping[str, torch.Tensor],
                 server_lr: float = 1.0) -> State:
    """The next global model for ``payload: delta``: w + server_lr * mean_delta (integer tensors: w + delta)."""
    out = OrderedDict()
    for key, w in global_state.items():
        delta = mean_delta[key].to(w.dtype)
        out[key] = w + server_lr * delta if w.is_floating_point() else w + delta
    return out


def step_towards(global_state: Mapping[str, torch.Tensor], mean_model: Mapping[str, torch.Tensor],
                 server_lr: float = 1.0) -> State:
    """The next global model for ``payload: model``: w + server_lr * (mean_model - w); server_lr=1 is FedAvg."""
    delta = OrderedDict((k, mean_model[k].to(w.dtype) - w) for k, w in global_state.items())
    return apply_update(global_state, delta, server_lr)


def difference(local: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]) -> State:
    """local - reference, tensor by tensor: the update a UE uploads with ``payload: delta``."""
    return OrderedDict((k, local[k] - reference[k]) for k in reference)


class Payload(NamedTuple):
    """What a UE uploads (``upload(local, global)``) and how the BS steps (``step(global, mean, server_lr)``)."""

    upload: Callable[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]]
    step: Callable[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor], float], State]


def _whole_model(local: Mapping[str, torch.Tensor],
                 reference: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    return local


DELTA = Payload(upload=difference, step=apply_update)  # ``payload: delta``
MODEL = Payload(upload=_whole_model, step=step_towards)  # ``payload: model``


@dataclass(frozen=True)
class Upload:
    """One UE's accepted upload as the BS decoded it: ``state`` (the merged tier prefix), ``n_samples`` (its
    training samples), ``tiers_merged``; ``error_power`` (the codec's bound-based mean squared quantization error,
    summed over float elements, :func:`syft_fl.codec.error_power`) and ``relative_error`` (the same per unit of the
    scheme's reference power, a number of the spec and the tiers merged, :func:`syft_fl.codec.relative_error`);
    both None when the rule did not ask for them."""

    ue: int
    n_samples: int
    state: "OrderedDict[str, torch.Tensor]"
    tiers_merged: int
    error_power: Optional[float] = None
    relative_error: Optional[float] = None


@dataclass(frozen=True)
class Step:
    """What the BS's step needs besides the mean: the payload kind, the run's ``server_lr`` and the round."""

    payload: str = "delta"
    server_lr: float = 1.0
    rnd: int = 0


class Rule(abc.ABC):
    """One aggregation rule: the weights of the uploads and the server's step. ``name`` is its ``aggregation:``
    value; ``params`` maps each config key it reads to its default; ``state_names`` names its server state."""

    name: str = ""
    params: Dict[str, object] = {}
    state_names: Tuple[str, ...] = ()
    needs_error_power: bool = False

    def __init__(self, **given: Optional[float]) -> None:
        """Keyword parameters from :attr:`params` (None = the default); ValueError naming one it does not take."""
        for key, value in given.items():
            if value is not None and key not in self.params:
                raise ValueError(f"{key}={value!r} does not apply to aggregation {self.name} "
                                 f"(it takes {', '.join(self.params) or 'no parameter'})")
        for key, default in self.params.items():
            value = given.get(key)
            setattr(self, key, default if value is None else value)
        self.check()

    def check(self) -> None:
        """Raise ValueError (one line naming the key and value) for parameters out of range."""

    def weights(self, uploads: Sequence[Upload]) -> List[float]:
        """The weight of each upload in the mean: its samples (FedAvg)."""
        return [u.n_samples for u in uploads]

    def step(self, global_state: State, mean: State, server_state: ServerState,
             how: Step) -> Tuple[State, ServerState]:
        """The next global model from the weighted ``mean`` (FedAvg's), and the next server state."""
        payload = DELTA if how.payload == "delta" else MODEL
        return payload.step(global_state, mean, how.server_lr), server_state

    def check_state(self, server_state: Mapping[str, Mapping[str, torch.Tensor]],
                    global_state: Mapping[str, torch.Tensor]) -> None:
        """ValueError if ``server_state`` (e.g. read from a checkpoint) is not one this rule wrote for this model."""
        names = sorted(server_state)
        if any(n not in self.state_names for n in names) or (names and len(names) != len(self.state_names)):
            raise ValueError(f"server state {names} is not aggregation {self.name}'s ({list(self.state_names)})")
        floats = [k for k, w in global_state.items() if w.is_floating_point()]
        for name, state in server_state.items():
            if list(state) != floats or any(state[k].shape != global_state[k].shape for k in floats):
                raise ValueError(f"server state {name!r} does not match the model's float tensors")


def _delta(global_state: State, mean: State, payload: str) -> State:
    """The pseudo-gradient's opposite: the mean update (``payload: model``: mean model minus ``w``)."""
    if payload == "delta":
        return OrderedDict((k, mean[k].to(w.dtype)) for k, w in global_state.items())
    return OrderedDict((k, mean[k].to(w.dtype) - w) for k, w in global_state.items())


def _check_unit(name: str, value: float, *, low_open: bool = False) -> None:
    ok = math.isfinite(value) and (0.0 < value < 1.0 if low_open else 0.0 <= value < 1.0)
    if not ok:
        raise ValueError(f"{name}={value!r} must be in {'(0' if low_open else '[0'}, 1)")


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be finite and > 0")


class FedAvg(Rule):
    """w + server_lr * Delta, weights n_k (module docstring)."""

    name = "fedavg"


class FedAvgM(Rule):
    """Server momentum: v = server_momentum * v + Delta; w + server_lr * v (module docstring)."""

    name = "fedavgm"
    params = {"server_momentum": 0.9}
    state_names = ("momentum",)

    def check(self) -> None:
        _check_unit("server_momentum", self.server_momentum)

    def step(self, global_state: State, mean: State, server_state: ServerState,
             how: Step) -> Tuple[State, ServerState]:
        delta = _delta(global_state, mean, how.payload)
        old = server_state.get("momentum")
        velocity = OrderedDict()
        for k, w in global_state.items():
            if w.is_floating_point():
                velocity[k] = delta[k] if old is None else self.server_momentum * old[k] + delta[k]
        step = OrderedDict((k, velocity.get(k, d)) for k, d in delta.items())
        return apply_update(global_state, step, how.server_lr), {"momentum": velocity}


class _Adaptive(Rule):
    """Reddi et al.'s Algorithm 2 (module docstring); subclasses give the second-moment update."""

    state_names = ("m", "v")

    def check(self) -> None:
        _check_positive("eta", self.eta)
        _check_unit("beta1", self.beta1)
        if "beta2" in self.params:
            _check_unit("beta2", self.beta2, low_open=True)
        _check_positive("tau", self.tau)

    def second_moment(self, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def learning_rate(self, rnd: int) -> float:
        return self.eta

    def step(self, global_state: State, mean: State, server_state: ServerState,
             how: Step) -> Tuple[State, ServerState]:
        delta = _delta(global_state, mean, how.payload)
        m_old, v_old = server_state.get("m"), server_state.get("v")
        m, v, out = OrderedDict(), OrderedDict(), OrderedDict()
        eta = self.learning_rate(how.rnd)
        for k, w in global_state.items():
            if not w.is_floating_point():
                out[k] = w + delta[k]
                continue
            d = delta[k]
            m[k] = (1.0 - self.beta1) * d if m_old is None else self.beta1 * m_old[k] + (1.0 - self.beta1) * d
            v[k] = self.second_moment(torch.zeros_like(d) if v_old is None else v_old[k], d)
            out[k] = w + eta * m[k] / (v[k].sqrt() + self.tau)
        return out, {"m": m, "v": v}


class FedAdam(_Adaptive):
    name = "fedadam"
    params = {"eta": 0.1, "beta1": 0.9, "beta2": 0.99, "tau": 1e-9, "bias_correction": False}

    def check(self) -> None:
        super().check()
        if not isinstance(self.bias_correction, bool):
            raise ValueError(f"bias_correction={self.bias_correction!r} is not true/false")

    def second_moment(self, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return self.beta2 * v + (1.0 - self.beta2) * delta * delta

    def learning_rate(self, rnd: int) -> float:
        if not self.bias_correction:
            return self.eta
        t = rnd + 2  # Flower's server_round + 1, its rounds counted from 1
        return self.eta * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)


class FedYogi(_Adaptive):
    name = "fedyogi"
    params = {"eta": 0.01, "beta1": 0.9, "beta2": 0.99, "tau": 1e-3}

    def second_moment(self, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        square = delta * delta
        return v - (1.0 - self.beta2) * square * torch.sign(v - square)


class FedAdagrad(_Adaptive):
    name = "fedadagrad"
    params = {"eta": 0.1, "beta1": 0.0, "tau": 1e-9}

    def second_moment(self, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return v + delta * delta


class Precision(Rule):
    """FedAvg's step, each upload weighted by its samples over its error power around the mean (module
    docstring)."""

    name = "precision"
    needs_error_power = True

    def weights(self, uploads: Sequence[Upload]) -> List[float]:
        noise = noise_powers(uploads)
        return precision_weights([u.n_samples for u in uploads], noise, drift_power(uploads, noise))


def noise_powers(uploads: Sequence[Upload]) -> List[float]:
    """q_k = rho_k * R: each upload's relative error times the round's reference power R, the FedAvg-weighted mean
    of R_k = error_power_k / rho_k over the uploads with rho_k > 0 (module docstring). All 0 if none is lossy."""
    for u in uploads:
        for name in ("error_power", "relative_error"):
            value = getattr(u, name)
            if value is None or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"ue {u.ue}: {name}={value!r} must be finite and >= 0")
    lossy = [u for u in uploads if u.relative_error > 0]
    if not lossy:
        return [0.0 for _ in uploads]
    reference = sum(u.n_samples * (u.error_power / u.relative_error) for u in lossy) / sum(u.n_samples for u in lossy)
    return [u.relative_error * reference for u in uploads]


def drift_power(uploads: Sequence[Upload], noise: Sequence[float]) -> float:
    """The method-of-moments estimate of the client drift power D (module docstring) given each upload's noise
    power ``noise``, >= 0; 0 for one upload."""
    total = float(sum(u.n_samples for u in uploads))
    a = [u.n_samples / total for u in uploads]
    spread_weight = sum(x * (1.0 - x) for x in a)
    if spread_weight <= 0:
        return 0.0
    mean = weighted_mean([u.state for u in uploads], [u.n_samples for u in uploads])
    floats = [k for k, t in mean.items() if t.is_floating_point()]
    spread = sum(x * sum(float(((u.state[k].to(torch.float64) - mean[k].to(torch.float64)) ** 2).sum())
                         for k in floats) for x, u in zip(a, uploads))
    expected = sum(x * (1.0 - x) * q for x, q in zip(a, noise))
    return max(0.0, (spread - expected) / spread_weight)


def precision_weights(n_samples: Sequence[float], error_powers: Sequence[float], drift: float) -> List[float]:
    """``n_k / (drift + q_k)`` up to a common factor: ``n_k (drift + q_min) / (drift + q_k)``, so a UE at the least
    error power keeps exactly ``n_k`` (all equal: FedAvg's weights, bit for bit). ``drift`` and the error powers are
    >= 0; with ``drift + q_min == 0`` the UEs above ``q_min`` get 0."""
    if any(q is None or not (math.isfinite(q) and q >= 0) for q in error_powers):
        raise ValueError(f"error powers must be finite and >= 0, got {list(error_powers)}")
    if not (math.isfinite(drift) and drift >= 0):
        raise ValueError(f"drift={drift!r} must be finite and >= 0")
    least = min(error_powers)
    return [n if q == least else n * (drift + least) / (drift + q) for n, q in zip(n_samples, error_powers)]


#: Every aggregation rule, by name (the order ``--help`` lists them in): one class and one line a rule.
RULES = Registry("aggregation")
RULES.add("fedavg", FedAvg, doc="w + server_lr x the sample-weighted mean update (McMahan et al. 2017)")
RULES.add("fedavgm", FedAvgM, doc="server momentum: v = server_momentum v + Delta; w + server_lr v (Hsu et al. 2019)")
RULES.add("fedadam", FedAdam, doc="Adam on the server (Reddi et al. 2021, Algorithm 2): eta, beta1, beta2, tau")
RULES.add("fedyogi", FedYogi, doc="Yogi on the server (Reddi et al. 2021): eta, beta1, beta2, tau")
RULES.add("fedadagrad", FedAdagrad, doc="Adagrad on the server (Reddi et al. 2021): eta, tau")
RULES.add("precision", Precision, doc="FedAvg's step, weights n_k / (drift + the delivered quantization error power)")
#: Every parameter key some rule takes.
PARAMS = tuple(dict.fromkeys(k for rule in RULES.values() for k in rule.params))


def build(name: str, **params: Optional[float]) -> Rule:
    """The rule called ``name`` with ``params`` (None = its default); ValueError naming the bad value."""
    if name not in RULES:
        raise ValueError(f"aggregation={name!r} is not one of {', '.join(RULES)}")
    return RULES[name](**params)


def from_params(name: str, params: Mapping[str, object]) -> Rule:
    """The rule called ``name`` with its parameters read from a strategy's plain data (``config.to_dict``): null
    and false values are the defaults."""
    return build(name, **{k: None if params[k] is False else params[k] for k in PARAMS if k in params})


def combine(rule: Rule, global_state: State, server_state: ServerState, uploads: Sequence[Upload],
            how: Step) -> Tuple[State, ServerState]:
    """The BS's update: ``rule``'s weighted mean of ``uploads`` and its step; no upload leaves everything as is."""
    if not uploads:
        return global_state, server_state
    mean = weighted_mean([u.state for u in uploads], rule.weights(uploads))
    return rule.step(global_state, mean, server_state, how)
