"""Each stage of the BS's round alone (plan, receive, merge and aggregate, record) with a fake channel, compute and
transport: rates and training times are chosen by hand, so every arrival and every status is known in advance."""
import math
from collections import OrderedDict
from types import SimpleNamespace

import pytest
import torch

from syft_fl import codec
from syft_fl.bs_round import RoundDone, RoundInFlight, StrategyState, merge_and_aggregate, plan, receive, record
from syft_fl.channel import TierAir, upload_time_s
from syft_fl.config import Config, StrategyConfig
from syft_fl.downlink import BroadcastConfig, plan_downlink
from syft_fl.policy import RoundRules
from syft_fl.preflight import deadline_warning
from syft_fl.transport import UploadReport

TIER_BYTES = 1000  # every tier message, predicted and sent
IDEAL = plan_downlink("ideal", BroadcastConfig(), None, 0, [0, 1, 2, 3], [TIER_BYTES], horizon_s=math.inf)


class FakeChannel:
    """A fixed rate per UE [bit/s] for every round and tier; no geometry, no fading."""

    def __init__(self, rates):
        self.rates = rates

    def estimated_rate_bps(self, ue, rnd, n_active=1, *, csi_error_db=0.0):
        return self.rates[ue]

    def rate_bps(self, ue, rnd, tier=0, n_active=1):
        return self.rates[ue]

    def transmit_times_s(self, tier_bytes, ue, rnd, n_active=1):
        return [upload_time_s(b, self.rates[ue]) for b in tier_bytes]

    def distance_m(self, ue, rnd):
        return 100.0

    def snr_db(self, ue, rnd, tier=0, n_active=1):
        return 20.0

    def uploads_air(self, uploads, rnd, n_active, *, horizon_s=math.inf):
        """Each upload's tiers at the UE's fixed rate, one block each (no fading in time)."""
        return [[TierAir(tx_s=t, snr_min_db=20.0, snr_max_db=20.0, blocks=1)
                 for t in self.transmit_times_s(sizes, ue, rnd, n_active)] for ue, _, sizes in uploads]


class FakeCompute:
    """A fixed local-training time per UE [s] and 0.5 J of computation."""

    def __init__(self, times):
        self.times = times

    def train_time_s(self, ue, n_samples, epochs, rnd=None):
        return self.times[ue]

    def compute_energy_j(self, ue, n_samples, epochs, rnd=None):
        return 0.5


class FakeTransport:
    """Hands the BS the tiers it was given per UE and remembers what was discarded."""

    def __init__(self, tiers):
        self.tiers, self.discarded = tiers, []

    def take_tiers(self, ue, rnd, count):
        return self.tiers[ue][:count]

    def discard_tiers(self, ue, rnd, sent):
        self.discarded.append((ue, sent))


def fake_fed(rates, times, transport=None, **config):
    """Four UEs, UE k holding 10 (k + 1) samples; the run's deadline 10 s, window 2 s."""
    cfg = Config(num_ues=4, ues_per_round=4, deadline_s=10.0, increment_window_s=2.0, **config)
    return SimpleNamespace(config=cfg, channel=FakeChannel(rates), compute=FakeCompute(times), transport=transport,
                           n_samples=lambda ue: 10 * (ue + 1),
                           shards=[(torch.zeros(10 * (k + 1)), None) for k in range(4)],
                           predicted_tier_bytes=lambda spec: [TIER_BYTES] * spec.num_tiers)


TIERED = StrategyConfig(upload="tiered", spec="uniform:2+2+4")
# 8 kbit/s: one 1000-byte tier a second; 2 kbit/s: one every 4 s; UE 2 is in outage
RATES = {0: 8e3, 1: 8e3, 2: 0.0, 3: 2e3}
TIMES = {0: 1.0, 1: 11.0, 2: 1.0, 3: 1.0}


def report(ue, tiers=3):
    return UploadReport(n_samples=10 * (ue + 1), train_loss=0.5, tier_bytes=(TIER_BYTES,) * tiers,
                        payload_bytes=(900,) * tiers)


def test_plan_trains_only_the_ues_that_can_make_the_strategys_own_deadline():
    fed = fake_fed(RATES, TIMES)
    rules = fed.config.rules_for(TIERED)
    plans = plan(fed, TIERED, rules, 0, [0, 1, 2, 3], IDEAL)
    assert [p.trains for p in plans] == [True, False, False, True]  # UE 1 trains 11 s > 10 s; UE 2 in outage
    assert all(p.spec.text == "uniform:2+2+4" and p.num_tiers == 3 for p in plans)
    assert [p.upload_start_s for p in plans] == [1.0, 11.0, 1.0, 1.0] and plans[3].rate_bps == 2e3
    assert [p.n_samples for p in plans] == [10, 20, 30, 40] and all(p.faults.training == "" for p in plans)

    later = StrategyConfig(upload="tiered", spec="uniform:2+2+4", deadline_s=12.0)
    assert fed.config.rules_for(later).deadline_s == 12.0  # its own deadline, not the run's
    assert [p.trains for p in plan(fed, later, fed.config.rules_for(later), 0, [0, 1, 2, 3], IDEAL)] == [
        True, True, False, True]


@pytest.mark.parametrize("window_start, ue3_tiers, length_s", [("deadline", 2, 12.0), ("base_arrival", 1, 7.0)])
def test_receive_applies_the_rules_to_the_channels_air_times(window_start, ue3_tiers, length_s):
    fed = fake_fed(RATES, TIMES)
    rules = RoundRules(deadline_s=10.0, increment_window_s=2.0, window_start=window_start)
    plans = [p for p in plan(fed, TIERED, rules, 0, [0, 1, 2, 3], IDEAL) if p.ue in (0, 3)]
    got = receive(fed, rules, 0, plans, {0: report(0), 3: report(3)})
    # UE 0: tiers arrive at 2, 3, 4 s, all by the deadline; UE 3: at 5, 9, 13 s
    assert got.heard[0].reception.arrivals_s == (2.0, 3.0, 4.0) and got.heard[0].reception.tiers_used == 3
    assert got.heard[3].reception.arrivals_s == (5.0, 9.0, 13.0) and got.heard[3].tx_s == (4.0, 4.0, 4.0)
    assert got.heard[3].reception.tiers_used == ue3_tiers  # window ends at 10 + 2, or at 5 + 2
    assert got.round_length_s == length_s
    assert not got.heard[0].missed and not got.heard[3].missed  # perfect CSI: the BS expected exactly this


def full_round(fed, tiers):
    """plan -> receive with kind full (one tier each) for UEs 0 and 3, the transport holding ``tiers``."""
    full = StrategyConfig(upload="full", spec="full")
    rules = fed.config.rules_for(full)
    plans = [p for p in plan(fed, full, rules, 0, [0, 1, 2, 3], IDEAL) if p.ue in (0, 3)]
    reports = {ue: report(ue, tiers=1) for ue in (0, 3)}
    return rules, plans, reports, receive(fed, rules, 0, plans, reports)


def test_merge_and_aggregate_weights_by_samples_and_rejects_what_fails_the_codec():
    zero = OrderedDict(w=torch.zeros(4))
    encoded = {ue: codec.encode_tiers(OrderedDict(w=torch.full((4,), float(v))), "full") for ue, v in ((0, 1), (3, 3))}
    fed = fake_fed(RATES, TIMES, transport=FakeTransport(encoded))
    rules, plans, reports, reception = full_round(fed, encoded)
    merged = merge_and_aggregate(fed, 0, plans, reports, reception, zero)
    assert merged.statuses == {0: "full", 3: "full"} and merged.tiers_merged == {0: 1, 3: 1}
    assert merged.global_state["w"].tolist() == pytest.approx([2.6] * 4)  # (10 x 1 + 40 x 3) / 50
    assert sorted(fed.transport.discarded) == [(0, 1), (3, 1)]

    fed.transport = FakeTransport({0: encoded[0], 3: [b"not a tier"]})
    merged = merge_and_aggregate(fed, 0, plans, reports, reception, zero)
    assert merged.statuses == {0: "full", 3: "rejected"} and merged.reasons[3] == "no tier passed the codec's checks"
    assert merged.global_state["w"].tolist() == [1.0] * 4


def test_record_advances_the_clock_and_writes_one_row_per_tier_and_idle_ue():
    zero = OrderedDict(w=torch.zeros(4))
    encoded = {ue: codec.encode_tiers(OrderedDict(w=torch.ones(4)), "full") for ue in (0, 3)}
    fed = fake_fed(RATES, TIMES, transport=FakeTransport(encoded))
    rules, plans, reports, reception = full_round(fed, encoded)
    merged = merge_and_aggregate(fed, 0, plans, reports, reception, zero)
    flight = RoundInFlight(rnd=0, rules=rules, plans=plans, tasks=[], handle=None, downlink_bytes=123)
    state = StrategyState(name="s", global_state=merged.global_state)
    row, uplinks = record(fed, state, RoundDone(flight=flight, reports=reports, reception=reception, merge=merged),
                          (0.5, 1.25))
    assert (row.round, row.n_selected, row.n_full, row.test_acc, row.test_loss) == (0, 2, 2, 0.5, 1.25)
    assert row.round_length_s == reception.round_length_s == 5.0 and state.sim_time_s == 5.0  # UE 3's tier at 5 s
    assert row.uplink_bytes == state.uplink_bytes == 2 * TIER_BYTES and state.downlink_bytes == 123
    assert [(u.ue, u.status) for u in uplinks] == [(0, "full"), (1, "not_selected"), (2, "not_selected"), (3, "full")]
    assert uplinks[0].energy_j > 0.5 and uplinks[1].energy_j == 0.0  # computation + transmission; nothing
    assert state.history == [row]


def test_the_pre_run_warning_reads_each_strategys_own_deadline():
    fed = fake_fed(RATES, {0: 11.0, 1: 11.0, 2: 11.0, 3: 11.0})  # nobody trains within 10 s
    assert deadline_warning(fed).startswith("no UE can meet deadline_s=10 s")
    late = {"late": StrategyConfig(upload="tiered", spec="uniform:2+2+4", deadline_s=12.0)}
    fed.config = Config(num_ues=4, ues_per_round=4, deadline_s=10.0, strategies=late)
    assert deadline_warning(fed) is None  # its own 12 s deadline is met by everyone
    both = {**late, "plain": TIERED}
    fed.config = Config(num_ues=4, ues_per_round=4, deadline_s=10.0, strategies=both)
    assert deadline_warning(fed).startswith("strategies plain: no UE can meet deadline_s=10 s")
