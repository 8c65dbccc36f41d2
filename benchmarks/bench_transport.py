#!/usr/bin/env python
"""Wall time of one federated round, transport: websocket (UE processes on loopback) vs virtual, same config.

Both federations are built in this process from the same config (the websocket one with `launch_local`), and
rounds alternate between them so that both see the same machine state; round 0 warms up and is not counted;
medians are reported. The websocket UEs train one after the other (the round loop asks them in turn), so the
difference is the transport's cost: serializing, hex framing, loopback and the extra processes. The benchmark
also checks that both transports produced the same round and uplink rows (results do not depend on the
transport), and times fetching 1e6 floats from a UE with and without websocket-client's pure-Python UTF-8 check.

Prints `name value unit` lines; the last line is `ratio <value>` (websocket / virtual).
"""
import argparse
import binascii
import dataclasses
import os
import statistics
import sys
import time
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import syft as sy  # noqa: E402
import torch  # noqa: E402
import websocket  # noqa: E402
from syft.messaging.message import ObjectMessage, ObjectRequestMessage  # noqa: E402

from syft_fl.config import load_config  # noqa: E402
from syft_fl.bs_round import StrategyState, run_round  # noqa: E402
from syft_fl.federation import build_federation  # noqa: E402
from syft_fl.records import fmt  # noqa: E402


def settings(model, num_ues):
    return [f"num_ues={num_ues}", f"ues_per_round={num_ues}", "local_epochs=1", "partition=iid", f"model={model}",
            f"train_size={400 * num_ues}", "deadline_s=1000", "increment_window_s=100"]


def utf8_fetch_s(client, floats, skip):
    """Seconds to get ``floats`` float32s back from the UE behind ``client`` over a fresh connection whose
    UTF-8 check of received text frames is skipped (``skip``) or done (websocket-client's default)."""
    tensor = torch.arange(floats, dtype=torch.float32)
    tensor.id = "bench:floats"
    saved = client.ws
    client.ws = websocket.create_connection(client.url, timeout=120, skip_utf8_validation=skip)
    try:
        client.exchange(sy.serde.serialize(ObjectMessage(tensor), worker=client))
        request = sy.serde.serialize(ObjectRequestMessage("bench:floats", None, ""), worker=client)
        started = time.perf_counter()
        text = str(binascii.hexlify(request))
        client.ws.send(text)
        reply = client.ws.recv()
        back = sy.serde.deserialize(binascii.unhexlify(reply[2:-1]), worker=client)
        elapsed = time.perf_counter() - started
    finally:
        client.ws.close()
        client.ws = saved
    assert torch.equal(back, tensor)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per transport (after one warm-up)")
    parser.add_argument("--model", default="cnn", help="model of the round (cnn, 2nn)")
    parser.add_argument("--num-ues", type=int, default=10, help="UEs, all selected every round, 400 digits each")
    parser.add_argument("--strategy", default="tiered", help="configured strategy whose round is timed")
    args = parser.parse_args()

    base = settings(args.model, args.num_ues)
    configs = {
        "virtual": load_config(None, base, strategies=[args.strategy]),
        "websocket": load_config(None, base + ["transport=websocket", f"launch_local={args.num_ues}"],
                                 strategies=[args.strategy]),
    }
    print(f"torch_threads {torch.get_num_threads()} threads")
    feds, states, times, rows = {}, {}, {name: [] for name in configs}, {name: [] for name in configs}
    try:
        for name, config in configs.items():
            started = time.perf_counter()
            feds[name] = build_federation(config)
            if name == "websocket":
                print(f"websocket_startup {time.perf_counter() - started:.3f} s")
            states[name] = StrategyState(name=args.strategy, global_state=OrderedDict(feds[name].initial_state))
        strategy = configs["virtual"].strategies[args.strategy]
        for rnd in range(args.rounds + 1):
            for name in configs:
                started = time.perf_counter()
                row, uplinks = run_round(feds[name], strategy, states[name], rnd)
                if rnd:
                    times[name].append(time.perf_counter() - started)
                rows[name].append([[fmt(v) for v in dataclasses.astuple(r)] for r in [row] + uplinks])  # as in the CSVs
        ws = feds["websocket"].transport
        sent, received = ws.wire_bytes()
        n_rounds = args.rounds + 1
        print(f"websocket_wire_sent_per_round {sent / n_rounds / 1e6:.3f} MB")
        print(f"websocket_wire_received_per_round {received / n_rounds / 1e6:.3f} MB")
        print(f"uplink_metered_per_round {states['websocket'].uplink_bytes / n_rounds / 1e6:.3f} MB")
        print(f"rows_identical {int(rows['virtual'] == rows['websocket'])} bool")
        client = ws.clients[0]
        print(f"fetch_1e6_floats_utf8_check {utf8_fetch_s(client, 10 ** 6, skip=False):.3f} s")
        print(f"fetch_1e6_floats_no_utf8_check {utf8_fetch_s(client, 10 ** 6, skip=True):.3f} s")
    finally:
        for fed in feds.values():
            fed.transport.close()
    virtual, websocket_s = statistics.median(times["virtual"]), statistics.median(times["websocket"])
    print(f"virtual_round {virtual:.3f} s")
    print(f"websocket_round {websocket_s:.3f} s")
    print(f"ratio {websocket_s / virtual:.3f}")


if __name__ == "__main__":
    main()
