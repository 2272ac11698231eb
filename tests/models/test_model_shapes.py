"""Every variant x task builds, runs forward in train and eval mode and has the right shapes."""

import pytest
import torch

from sastnet.models import VARIANTS, build_model, model_config

TASK_CLASSES = {"vq": 4, "aux": 4, "dec": 3, "bin": 2}
SAMPLES = 16_000  # 1 s keeps the tiny models fast: 48 W2V2 / log-mel frames = 3 x 4 patches
BATCH = 2


def _inputs(cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    wave = torch.randn(BATCH, SAMPLES, generator=g) * 0.1
    whisper = torch.randn(BATCH, 128, cfg.fusion.whisper_dim, generator=g)
    return wave, whisper


@pytest.mark.parametrize("task", list(TASK_CLASSES))
@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_shapes_train_and_eval(variant, task):
    torch.manual_seed(0)
    cfg = model_config(variant, task, "tiny", num_samples=SAMPLES)
    model = build_model(cfg)
    n_cls = TASK_CLASSES[task]
    assert cfg.num_classes == n_cls
    assert model.needs_whisper == (variant in ("whisper_m_mae", "sastnet", "sastnet_pretrained"))
    if model.mae is not None:
        expected = 1 if variant == "s_mae" else n_cls
        assert len(model.mae.decoders) == expected
    wave, whisper = _inputs(cfg)
    labels = torch.arange(BATCH) % n_cls
    out = model.train()(wave, whisper, labels=labels)
    assert out.logits.shape == (BATCH, n_cls)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert "ce" in out.terms
    if model.mae is not None:
        assert {"recon", "awl_p0", "awl_p1"} <= set(out.terms)
    out.loss.backward()
    # DDP without find_unused_parameters needs every parameter in every training step
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    model.eval()
    with torch.no_grad():
        first = model(wave, whisper)
        second = model(wave, whisper)
    assert first.loss is None and first.terms == {}
    assert first.logits.shape == (BATCH, n_cls)
    assert torch.equal(first.logits, second.logits), "eval forward must be deterministic"


def test_whisper_is_required_and_checked():
    cfg = model_config("sastnet", "dec", "tiny", num_samples=SAMPLES)
    model = build_model(cfg).eval()
    wave, _ = _inputs(cfg)
    with pytest.raises(ValueError, match="needs Whisper"):
        model(wave)
    with pytest.raises(ValueError, match="whisper_dim"):
        model(wave, torch.randn(BATCH, 128, 768))


def test_short_clip_is_a_clear_error():
    model = build_model(model_config("w2v2_m_mae", "bin", "tiny", num_samples=SAMPLES)).eval()
    with pytest.raises(ValueError, match="num_samples"):
        model(torch.randn(1, SAMPLES // 2))


def test_unknown_variant_and_override():
    with pytest.raises(ValueError, match="allowed"):
        model_config("sastnet2", "aux")
    with pytest.raises(ValueError, match="not a sub-config"):
        model_config("sastnet", "aux", "tiny", bogus={"a": 1})
    cfg = model_config("sastnet", "aux", "tiny", mae={"depth": 1})
    assert cfg.mae.depth == 1 and cfg.mae.embed_dim == 64


def test_any_number_of_classes():
    cfg = model_config("sastnet", "aux", "tiny", num_samples=SAMPLES, num_classes=7)
    assert cfg.num_classes == 7 and cfg.loss.class_weights == ()
    model = build_model(cfg)
    assert len(model.mae.decoders) == 7
    wave, whisper = _inputs(cfg)
    out = model(wave, whisper, labels=torch.tensor([0, 6]))
    assert out.logits.shape == (BATCH, 7) and torch.isfinite(out.loss)


def test_config_round_trips_through_dict():
    import json

    from sastnet.models import ModelConfig
    cfg = model_config("sastnet", "vq", "paper")
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_feedback_residual_is_on_in_the_tiny_size_and_off_in_the_papers():
    # tiny: chosen on dev (docs/training.md); paper: the release's feedback
    assert model_config("sastnet", "aux", "tiny").mae.feedback_residual
    assert not model_config("sastnet", "aux", "paper").mae.feedback_residual
    off = model_config("sastnet", "aux", "tiny", mae={"feedback_residual": False})
    assert not off.mae.feedback_residual and off.mae.norm_pix_loss  # only that field changes


def test_mae_back_end_is_a_mean_linear_head_in_the_tiny_size_and_aasist_in_the_papers():
    from sastnet.models.aasist import AASIST
    from sastnet.models.config import ModelConfig
    from sastnet.models.network import MeanLinearHead

    tiny = build_model(model_config("sastnet", "aux", "tiny", num_samples=SAMPLES))
    assert isinstance(tiny.backend, MeanLinearHead) and tiny.backend.out.out_features == 4
    baseline = build_model(model_config("w2v2_aasist", "aux", "tiny", num_samples=SAMPLES))
    assert isinstance(baseline.backend, AASIST)  # the baseline keeps AASIST in every size
    back = model_config("m_mae", "aux", "tiny", num_samples=SAMPLES, mae_backend="aasist")
    assert isinstance(build_model(back).backend, AASIST)
    assert model_config("sastnet", "aux", "paper").mae_backend == "aasist"
    # a checkpoint config written before the field existed rebuilds the AASIST it was trained with
    old = model_config("sastnet", "aux", "tiny").to_dict()
    del old["mae_backend"]
    assert ModelConfig.from_dict(old).mae_backend == "aasist"
    with pytest.raises(ValueError, match="mae_backend"):
        model_config("sastnet", "aux", "tiny", mae_backend="mlp")


def test_the_mean_linear_head_fits_what_a_token_mean_separates():
    """Two classes that differ only by a small shift of the tokens' mean (+0.3 on half the
    features, -0.3 on the rest), under per-token noise 3x larger: the head must separate them."""
    from sastnet.models.network import MeanLinearHead

    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 2
    shift = 0.3 * torch.tensor([1.0] * 4 + [-1.0] * 4)
    tokens = torch.randn(64, 16, 8, generator=gen) + labels[:, None, None].float() * shift
    head = MeanLinearHead(8, 2)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(head(tokens), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (head(tokens).argmax(-1) == labels).float().mean() > 0.9


def test_paper_geometry_on_meta_device():
    """82,200 samples -> 256 XLS-R frames -> a 256 x 128 image of 16 x 8 patches."""
    cfg = model_config("sastnet", "aux", "paper")
    with torch.device("meta"):
        model = build_model(cfg, load_weights=False)
    assert model.frontend.num_frames == 256
    assert model.mae.grid == (16, 8)
    assert len(model.mae.decoders) == 4
    assert model.backend.out.in_features == 160


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_paper_size_forward_on_meta_device(variant):
    """Paper sizes end to end (82,200 samples, Whisper-small width), shapes only: no memory."""
    cfg = model_config(variant, "aux", "paper")
    with torch.device("meta"):
        model = build_model(cfg, load_weights=False)
        wave, whisper = torch.randn(2, 82_200), torch.randn(2, 128, 768)
        out = model.train()(wave, whisper, labels=torch.tensor([0, 3]))
        assert out.logits.shape == (2, 4) and out.loss.shape == ()
        assert model.eval()(wave, whisper).logits.shape == (2, 4)


def test_mixed_precision_forward_backward():
    """bf16 autocast (what a GPU run uses) keeps dtypes consistent through masking/scatter."""
    torch.manual_seed(0)
    cfg = model_config("sastnet", "aux", "tiny", num_samples=SAMPLES)
    model = build_model(cfg)
    wave, whisper = _inputs(cfg)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(wave, whisper, labels=torch.tensor([0, 3]))
    out.loss.backward()
    assert torch.isfinite(out.loss)
