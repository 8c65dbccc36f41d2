"""Local training's data augmentation: torchvision's RandomCrop(28, padding=4) + RandomHorizontalFlip, seeded."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl.models import build_model
from syft_fl.training import CROP_PADDING, crop_flip, local_train
from tests.examples import examples


@settings(max_examples=examples(60), deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**32))
def test_each_crop_is_a_window_of_the_padded_sample_possibly_mirrored(n, c, h, w, seed):
    gen = torch.Generator()
    gen.manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen)
    fill = [float(-1 - ch) for ch in range(c)]  # distinct from N(0, 1) draws only in where they sit
    out = crop_flip(x, gen, fill)
    assert out.shape == x.shape
    pad = CROP_PADDING
    padded = torch.tensor(fill).view(1, c, 1, 1).repeat(n, 1, h + 2 * pad, w + 2 * pad)
    padded[:, :, pad:pad + h, pad:pad + w] = x
    for i in range(n):
        windows = [padded[i, :, top:top + h, left:left + w] for top in range(2 * pad + 1)
                   for left in range(2 * pad + 1)]
        assert any(torch.equal(out[i], wdw) or torch.equal(out[i], wdw.flip(2)) for wdw in windows)


def test_crop_flip_is_seeded_and_draws_every_offset_and_both_orientations():
    x = torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28).repeat(400, 1, 1, 1)
    first, again = (crop_flip(x, torch.Generator().manual_seed(7), [-5.0]) for _ in range(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, crop_flip(x, torch.Generator().manual_seed(8), [-5.0]))
    # The top-left pixel of a crop tells its offset and orientation; 400 draws cover the 81 x 2 cases mostly.
    corner = {(float(s[0, 0, 0]), float(s[0, 0, 27])) for s in first}
    assert len(corner) > 60
    # Near the centre a crop never reaches the padding: pixel values fall to the right only in mirrored crops.
    flipped = sum(float(s[0, 14, 13]) > float(s[0, 14, 14]) for s in first)
    assert 0.4 < flipped / 400 < 0.6
    assert torch.equal(x[0], torch.arange(28 * 28, dtype=torch.float32).view(1, 28, 28)), "input left as it was"
    with pytest.raises(ValueError, match="fill has 2 values for 1 channels"):
        crop_flip(x, torch.Generator(), [0.0, 0.0])


def test_local_training_with_augmentation_is_deterministic_and_differs_from_plain():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 28, 28, generator=gen), torch.randint(0, 10, (64,), generator=gen)

    def trained(augment):
        model = build_model("cnn16x32", seed=1)
        local_train(model, x, y, epochs=1, batch_size=32, lr=0.05, seed=3, momentum=0.9, augment=augment,
                    fill=(-1.0,))
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(trained("crop_flip"), trained("crop_flip"))
    assert not torch.equal(trained("crop_flip"), trained("none"))
    with pytest.raises(ValueError, match="augment='rotate'"):
        trained("rotate")
