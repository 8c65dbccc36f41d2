"""The downlink as a planned stage (issue 24): the BS-side link budget, per-layer rates for a coverage target, which
layers each UE decodes and when, the one object-id scheme, the UE training from the model it decoded (its delta
against that model, applied by the BS to its own full-precision model), and end to end: a one-layer lossless
broadcast at a very high SNR is the ideal downlink, and a multi-layer broadcast's records."""
import math
from collections import OrderedDict

import pytest
import torch

from syft_fl import aggregate, codec
from syft_fl.channel import Channel, ChannelConfig, log2_1p_db, pathloss_db
from syft_fl.config import ConfigError, load_config
from syft_fl.downlink import (BroadcastConfig, achievable_rate_bps, downlink_snr_db, layer_end_times_s,
                              layer_rates_bps, layers_decoded, plan_downlink)
from syft_fl.models import build_model
from syft_fl.training import local_train
from syft_fl.transport import RoundTask
from syft_fl.workers import ObjectKey, drop_broadcast, global_id, parse_object_id, tier_id

from .helpers import read_csv, run_into

TWO_LAYERS = BroadcastConfig(spec="uniform:2+6,block=256", coverage=(1.0, 0.5), bandwidth_hz=1e6)


# --- the link budget and the layer rates ----------------------------------------------------------------------------
def test_downlink_snr_is_the_bs_power_over_the_uplinks_path_loss_and_shadowing_and_the_downlink_band():
    channel = Channel(ChannelConfig(fading="none", shadowing_db=0.0), num_ues=3, seed=0)
    config = BroadcastConfig(tx_power_dbm=40.0, bandwidth_hz=20e6)
    for ue in range(3):
        want = 40.0 - pathloss_db(channel.distance_m(ue, 0)) - (-174.0 + 10 * math.log10(20e6))
        assert downlink_snr_db(channel, config, ue, 0) == pytest.approx(want, abs=1e-9)


def test_downlink_fading_is_its_own_seeded_stream_the_same_for_every_query():
    a, b = Channel(ChannelConfig(), num_ues=4, seed=3), Channel(ChannelConfig(), num_ues=4, seed=3)
    snrs = [downlink_snr_db(a, TWO_LAYERS, ue, rnd) for ue in range(4) for rnd in range(3)]
    b.snr_db(2, 1)  # querying the uplink first changes nothing: common random numbers
    assert snrs == [downlink_snr_db(b, TWO_LAYERS, ue, rnd) for ue in range(4) for rnd in range(3)]
    assert len(set(snrs)) == len(snrs)  # a gain per UE and round
    assert downlink_snr_db(Channel(ChannelConfig(), num_ues=4, seed=4), TWO_LAYERS, 0, 0) != snrs[0]


def test_rate_is_shannon_with_a_gap_and_zero_below_the_outage_threshold():
    config = BroadcastConfig(bandwidth_hz=1e6, gap_db=3.0)
    assert achievable_rate_bps(13.0, config, -5.0) == pytest.approx(1e6 * log2_1p_db(10.0))
    assert achievable_rate_bps(-6.0, config, -5.0) == 0.0


def test_coverage_sets_each_layers_rate_at_the_ue_that_completes_its_share():
    snrs = [20.0, 5.0, 12.0, -2.0]
    base, refinement = layer_rates_bps(TWO_LAYERS, snrs, -5.0)
    assert base == achievable_rate_bps(-2.0, TWO_LAYERS, -5.0)  # coverage 1.0: the weakest UE's rate
    assert refinement == achievable_rate_bps(12.0, TWO_LAYERS, -5.0)  # 0.5 of 4: the 2nd best UE
    assert [layers_decoded(achievable_rate_bps(s, TWO_LAYERS, -5.0), (base, refinement)) for s in snrs] == [2, 1, 2, 1]
    # the threshold never falls below the outage threshold: a UE in outage decodes nothing
    floor = layer_rates_bps(TWO_LAYERS, [20.0, -9.0], -5.0)[0]
    assert floor == achievable_rate_bps(-5.0, TWO_LAYERS, -5.0)
    assert layers_decoded(achievable_rate_bps(-9.0, TWO_LAYERS, -5.0), (floor,)) == 0


def test_layers_decoded_are_a_prefix_and_arrive_back_to_back():
    assert layers_decoded(5e6, (1e6, 4e6, 9e6)) == 2
    assert layers_decoded(0.5e6, (1e6, 4e6, 9e6)) == 0
    assert layer_end_times_s([1000, 3000], (8e3, 24e3)) == (1.0, 2.0)


def test_plan_says_who_decodes_what_and_when():
    channel = Channel(ChannelConfig(), num_ues=8, seed=0)
    selected = [0, 2, 5, 7]
    got = plan_downlink("broadcast", TWO_LAYERS, channel, 0, selected, [1000, 3000], horizon_s=12.0)
    snrs = {ue: downlink_snr_db(channel, TWO_LAYERS, ue, 0) for ue in selected}
    assert got.rates_bps == layer_rates_bps(TWO_LAYERS, list(snrs.values()), -5.0)
    ends = layer_end_times_s([1000, 3000], got.rates_bps)
    assert sorted(d.layers for d in got.ues.values()) == [1, 1, 2, 2]
    for ue, d in got.ues.items():
        assert d.downlink_s == ends[d.layers - 1] and d.snr_db == snrs[ue]
        assert (d.layers == 2) == (snrs[ue] >= sorted(snrs.values())[2])
    assert got.bytes_on_air == 4000  # each layer once, whoever decodes it


def test_ideal_and_unicast_keep_their_meaning():
    channel = Channel(ChannelConfig(), num_ues=8, seed=0)
    ideal = plan_downlink("ideal", TWO_LAYERS, channel, 1, [1, 3], [5000], horizon_s=12.0)
    assert [(d.layers, d.downlink_s) for d in ideal.ues.values()] == [(1, 0.0), (1, 0.0)] and ideal.bytes_on_air == 5000
    unicast = plan_downlink("channel", TWO_LAYERS, channel, 1, [1, 3], [5000], horizon_s=12.0)
    assert [d.downlink_s for d in unicast.ues.values()] == [channel.transmit_times_s([5000], ue, 1, 2)[0]
                                                           for ue in (1, 3)]
    assert unicast.bytes_on_air == 10000  # one message per UE


@pytest.mark.parametrize("keys, named", [
    (["broadcast.spec=uniform:2+6,block=256"], "broadcast.coverage=[1.0] has 1 entries for the 2 layers"),
    (["broadcast.spec=uniform:2+6", "broadcast.coverage=[0.5,1.0]"], "must be non-increasing"),
    (["broadcast.spec=uniform:2+6", "broadcast.rates_bps=[2e6,1e6]"], "broadcast.rates_bps=[2000000.0, 1000000.0]"),
    (["broadcast.tx_power_dbm=1e6"], "broadcast.tx_power_dbm=1000000.0 must be in [-100, 100]"),
    (["broadcast.spec=uniform:99"], "broadcast.spec="),
    (["downlink=multicast"], "downlink='multicast' is not one of ideal, channel, broadcast"),
])
def test_bad_broadcast_keys_are_one_line_naming_the_key(keys, named):
    with pytest.raises(ConfigError) as err:
        load_config(None, keys)
    assert named in str(err.value) and "\n" not in str(err.value)


# --- the object ids -------------------------------------------------------------------------------------------------
def test_one_object_id_scheme_for_every_layer_and_tier():
    assert global_id(7) == global_id(7, 0) == "global:7"  # the one-message broadcast's id, bytes unchanged
    assert parse_object_id(global_id(7, 2)) == ObjectKey("global", "bs", 7, 2)
    assert parse_object_id(tier_id("ue3", 5, 1)) == ObjectKey("tier", "ue3", 5, 1)
    assert parse_object_id("shard:x") is None and parse_object_id(12345) is None and parse_object_id("global:x") is None
    store = {global_id(3): 0, global_id(3, 1): 1, global_id(4): 2, tier_id("ue0", 3, 0): 3, "shard:x": 4}
    drop_broadcast(store, 3)
    assert sorted(store) == sorted([global_id(4), tier_id("ue0", 3, 0), "shard:x"])


# --- the UE trains from what it decoded; the BS applies the delta to its own model -----------------------------------
def global_state(seed=1):
    return OrderedDict((k, v.detach().clone()) for k, v in build_model("2nn", seed=seed).state_dict().items())


def task(ue, layers, payload="delta"):
    return RoundTask(round=0, ue=ue, model="2nn", epochs=1, batch_size=16, lr=0.1, train_seed=7, spec="full",
                     codec_seed=3, payload=payload, downlink_layers=layers)


@pytest.mark.e2e
def test_a_ue_below_a_layers_threshold_trains_from_the_coarser_model(virtual_transport, tiny_shards):
    """UE 0 decodes the base only, UE 1 both layers: each trains from the model its layers decode to, and its delta
    (lossless upload) is its trained model minus that model; the BS then steps its own full-precision model."""
    g = global_state()
    transport = virtual_transport(3)
    transport.place_data(tiny_shards)
    messages = transport.encode_broadcast(g, 0, "uniform:2+6,block=256")
    layers = codec.encode_tiers(g, "uniform:2+6,block=256")
    transport.deliver_broadcast(messages, 0, {0: 1, 1: 2})
    reports = transport.dispatch([task(0, 1), task(1, 2)])
    assert all(r.error == "" and r.crash == "" for r in reports)
    uploads = []
    for ue, k in ((0, 1), (1, 2)):
        decoded = codec.decode_tiers(layers[:k])
        model = build_model("2nn")
        model.load_state_dict(decoded)
        x, y = tiny_shards[ue]
        local_train(model, x, y, epochs=1, batch_size=16, lr=0.1, seed=7)
        want = OrderedDict((n, v.detach() - decoded[n]) for n, v in model.state_dict().items())
        got = codec.decode_tiers(transport.take_tiers(ue, 0, 1))
        assert all(torch.equal(got[n], want[n]) for n in want), f"ue{ue}: delta against its decoded model"
        uploads.append(aggregate.Upload(ue=ue, n_samples=60, state=got, tiers_merged=1))
    coarse, fine = (codec.decode_tiers(layers[:k]) for k in (1, 2))
    assert max(float((coarse[n] - g[n]).abs().max()) for n in g) > max(float((fine[n] - g[n]).abs().max()) for n in g)
    assert not any(transport.ues[u]._objects.get(global_id(0, j)) is not None for u in (0, 1) for j in (0, 1))
    how = aggregate.Step(payload="delta", server_lr=1.0, rnd=0)
    new, _ = aggregate.combine(aggregate.build("fedavg"), g, {}, uploads, how)
    for n in g:  # the BS's full-precision model plus the mean delta, not a decoded model plus it
        assert torch.allclose(new[n], g[n] + (uploads[0].state[n] + uploads[1].state[n]) / 2, atol=1e-7)


@pytest.mark.e2e
def test_a_ue_without_a_planned_layer_fails_as_data(virtual_transport, tiny_shards):
    transport = virtual_transport(3)
    transport.place_data(tiny_shards)
    transport.deliver_broadcast(transport.encode_broadcast(global_state(), 0, "uniform:2+6"), 0, {2: 1})
    (report,) = transport.dispatch([task(2, 2)])
    assert "no broadcast of 2 layers" in report.crash


# --- end to end -----------------------------------------------------------------------------------------------------
TINY = ["rounds=2", "num_ues=4", "ues_per_round=3", "model=2nn", "train_size=400", "test_size=200", "partition=iid",
        "batch_size=20"]
# the BS's strongest link budget: every UE's downlink SNR is over 100 dB on a terahertz of band
LOSSLESS = ["downlink=broadcast", "broadcast.spec=full", "broadcast.coverage=[1.0]", "broadcast.tx_power_dbm=100",
            "broadcast.bandwidth_hz=1e12"]
TIME_COLUMNS = {"sim_time_s", "round_length_s", "downlink_s", "arrival_s", "sim_s_to_target"}


@pytest.mark.e2e
def test_one_lossless_layer_at_a_very_high_snr_is_the_ideal_downlink(tmp_path):
    """Same bytes to every UE, so the same models, uploads, accuracies and byte counts, byte for byte; the clock
    differs only by the broadcast's air time (under a microsecond), added before each upload."""
    config = lambda *extra: load_config(None, TINY + list(extra), strategies=["full", "tiered"])  # noqa: E731
    ideal = run_into(tmp_path / "ideal", config())
    lossless = run_into(tmp_path / "lossless", config(*LOSSLESS))
    r_ideal, r_lossless = read_csv(tmp_path / "ideal" / "rounds.csv"), read_csv(tmp_path / "lossless" / "rounds.csv")
    assert [{k: v for k, v in r.items() if k not in TIME_COLUMNS} for r in r_lossless] == \
        [{k: v for k, v in r.items() if k not in TIME_COLUMNS} for r in r_ideal]
    u_ideal = read_csv(tmp_path / "ideal" / "uplinks.csv")
    u_lossless = read_csv(tmp_path / "lossless" / "uplinks.csv")
    assert [{k: v for k, v in u.items() if k not in TIME_COLUMNS | {"downlink_layers"}} for u in u_lossless] == \
        [{k: v for k, v in u.items() if k not in TIME_COLUMNS} for u in u_ideal]
    selected = [u for u in u_lossless if u["status"] != "not_selected"]
    assert {u["downlink_layers"] for u in selected} == {"1"}
    for a, b in zip(u_ideal, u_lossless):
        if a["status"] != "not_selected" and b["arrival_s"] != "inf":
            assert 0 < float(b["downlink_s"]) < 1e-6
            assert float(b["arrival_s"]) - float(a["arrival_s"]) == pytest.approx(float(b["downlink_s"]), abs=1e-8)
    for name in ("full", "tiered"):
        a, b = ideal["strategies"][name], lossless["strategies"][name]
        assert (a["final_acc"], a["uplink_bytes"], a["downlink_bytes"]) == \
            (b["final_acc"], b["uplink_bytes"], b["downlink_bytes"])


@pytest.mark.e2e
def test_a_two_layer_broadcast_records_who_decoded_what(tmp_path):
    extra = ["downlink=broadcast", "broadcast.spec=uniform:2+6,block=256", "broadcast.coverage=[1.0,0.3]",
             "broadcast.bandwidth_hz=1e5", "deadline_s=30"]
    summary = run_into(tmp_path / "run", load_config(None, TINY + extra, strategies=["full"]))
    uplinks = [u for u in read_csv(tmp_path / "run" / "uplinks.csv") if u["status"] != "not_selected"]
    for rnd in ("0", "1"):
        rows = [u for u in uplinks if u["round"] == rnd]
        assert sorted(u["downlink_layers"] for u in rows) == ["1", "1", "2"]  # 0.3 of 3 UEs: the best one
        base_s = {float(u["downlink_s"]) for u in rows if u["downlink_layers"] == "1"}
        both_s = {float(u["downlink_s"]) for u in rows if u["downlink_layers"] == "2"}
        assert len(base_s) == 1 and both_s.pop() > base_s.pop() > 0.0  # everyone holds the base at the same moment
    rounds = read_csv(tmp_path / "run" / "rounds.csv")
    sizes = [int(r["downlink_bytes"]) for r in rounds]  # cumulative: both layers once per round
    layer_bytes = codec.tier_sizes("uniform:2+6,block=256", global_state())
    assert 0 < sizes[0] - sum(layer_bytes) < 2000 and 0 < sizes[1] - sizes[0] - sum(layer_bytes) < 2000
    assert summary["strategies"]["full"]["downlink_bytes"] == int(rounds[1]["downlink_bytes"])
