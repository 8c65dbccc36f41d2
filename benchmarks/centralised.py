"""Full Fashion-MNIST: load time and memory, and the centralised accuracy of the FedAvg CNN (the ceiling).

Load: ``data.load_dataset("fashion_mnist")`` (the four IDX .gz files, Debian's folder unless ``--data-root``) timed
once, with the process's peak resident memory before and after, and as a ratio to the floor of the same work
(reading and gunzipping the four files, no parsing or normalization), timed in the same process.

Accuracy: the ``cnn`` model (McMahan et al. 2017, 1,663,370 parameters) trained centrally on all 60,000 training
images with ``training.local_train`` (SGD, ``--lr``, ``--momentum``, batches of ``--batch-size``, seeded batch order),
evaluated on the 10,000 test images after each epoch; the wall time of each epoch. One ``name value unit`` line per
figure.

    .venv/bin/python benchmarks/centralised.py [--epochs 2] [--seed 0] [--lr 0.01] [--momentum 0.9]
"""
import argparse
import gzip
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from syft_fl import data  # noqa: E402
from syft_fl.idx import IDX_FILES, find_idx  # noqa: E402
from syft_fl.models import build_model  # noqa: E402
from syft_fl.rng import derive_seed  # noqa: E402
from syft_fl.training import evaluate, local_train  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far [MB] (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=None, help="folder of the IDX files (default: Debian's)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    import torch  # noqa: F401 - imported before the first memory reading, so it is not counted as the load's

    print(f"rss_before_load {peak_rss_mb():.0f} MB")
    start = time.perf_counter()
    dataset = data.load_dataset("fashion_mnist", data_root=args.data_root)
    load_s = time.perf_counter() - start
    print(f"load_time {load_s:.2f} s")
    print(f"rss_after_load {peak_rss_mb():.0f} MB")
    tensor_mb = sum(t.numel() * t.element_size() for t in (dataset.x_train, dataset.y_train, dataset.x_test,
                                                           dataset.y_test)) / 2 ** 20
    print(f"dataset_tensors {tensor_mb:.0f} MB")
    folder = data.idx_folder("fashion_mnist", args.data_root)
    start = time.perf_counter()
    for base in IDX_FILES.values():
        with open(find_idx(folder, base), "rb") as fh:
            gzip.decompress(fh.read())
    gunzip_s = time.perf_counter() - start
    print(f"gunzip_only_time {gunzip_s:.2f} s")
    print(f"load_over_gunzip {load_s / gunzip_s:.2f} ratio")

    print(f"seed {args.seed} -")
    print(f"train_samples {len(dataset.y_train)} samples")
    model = build_model("cnn", seed=derive_seed(args.seed, "init"))
    total_s = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        loss = local_train(model, dataset.x_train, dataset.y_train, epochs=1, batch_size=args.batch_size, lr=args.lr,
                           momentum=args.momentum, seed=derive_seed(args.seed, "central", epoch))
        train_s = time.perf_counter() - start
        total_s += train_s
        accuracy, test_loss = evaluate(model, dataset.x_test, dataset.y_test)
        print(f"epoch_{epoch}_train_loss {loss:.4f} nats")
        print(f"epoch_{epoch}_test_accuracy {accuracy:.4f} fraction")
        print(f"epoch_{epoch}_train_time {train_s:.1f} s")
        print(f"epoch_{epoch}_per_200_samples {train_s / len(dataset.y_train) * 200:.3f} s")
    print(f"epochs {args.epochs} epochs")
    print(f"accuracy {accuracy:.4f} fraction")
    print(f"wall_time {total_s:.1f} s")
    print(f"peak_rss {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
