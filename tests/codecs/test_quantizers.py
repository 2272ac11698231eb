import torch

from sastnet.codecs.quantizers import (
    FiniteScalarQuantizer,
    ResidualVectorQuantizer,
    VectorQuantizer,
)


def _clustered(n=256, dim=8, centres=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(centres, dim, generator=gen) * 3
    idx = torch.randint(centres, (n,), generator=gen)
    x = means[idx] + 0.1 * torch.randn(n, dim, generator=gen)
    return x.T.reshape(dim, 4, n // 4).permute(1, 0, 2).contiguous()  # (B=4, D, F)


def test_vq_uses_more_than_one_code_after_a_few_updates():
    vq = VectorQuantizer(8, 32).train()
    z = _clustered()
    for _ in range(5):
        q = vq(z)
    assert len(torch.unique(q.codes)) > 1
    assert q.codes.shape == (4, 1, z.shape[-1])


def test_vq_dead_codes_are_reseeded():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 64, decay=0.5).train()
    z = _clustered(centres=8)
    for _ in range(20):
        vq(z)
    # codes no latent picks decay below the threshold and are re-seeded near the data
    dist = torch.cdist(vq.embed, z.permute(0, 2, 1).reshape(-1, 8)).min(1).values
    assert (dist < 1.0).float().mean() > 0.5


def test_vq_straight_through_gradient_reaches_the_encoder():
    torch.manual_seed(0)
    encoder = torch.nn.Conv1d(8, 8, 1)
    vq = VectorQuantizer(8, 16).train()
    q = vq(encoder(_clustered()))
    (q.z_q.pow(2).sum() + q.loss).backward()
    assert encoder.weight.grad is not None and encoder.weight.grad.abs().sum() > 0


def test_vq_lookup_matches_forward_in_eval():
    vq = VectorQuantizer(8, 16).train()
    z = _clustered()
    vq(z)
    vq.eval()
    q = vq(z)
    torch.testing.assert_close(vq.lookup(q.codes), q.z_q)


def test_rvq_codes_and_residual_refinement():
    torch.manual_seed(0)
    z = _clustered(centres=40)
    rvq = ResidualVectorQuantizer(8, 16, 3).train()
    for _ in range(10):
        rvq(z)
    rvq.eval()
    q = rvq(z)
    assert q.codes.shape == (4, 3, z.shape[-1])
    assert rvq.bits == 12
    torch.testing.assert_close(rvq.lookup(q.codes), q.z_q)
    one_level = ((rvq.first_level(q.codes) - z) ** 2).mean()
    all_levels = ((q.z_q - z) ** 2).mean()
    assert all_levels < one_level
    for k in range(3):
        assert len(torch.unique(q.codes[:, k])) > 1


def test_rvq_straight_through_gradient_reaches_the_encoder():
    encoder = torch.nn.Conv1d(8, 8, 1)
    rvq = ResidualVectorQuantizer(8, 16, 2).train()
    q = rvq(encoder(_clustered()))
    q.z_q.sum().backward()
    assert encoder.weight.grad.abs().sum() > 0


def test_fsq_codes_in_range_use_several_levels_and_round_trip():
    torch.manual_seed(0)
    fsq = FiniteScalarQuantizer(8, (8, 5, 3))
    z = _clustered(centres=30)
    q = fsq(z)
    assert q.codes.shape == (4, 1, z.shape[-1])
    assert int(q.codes.min()) >= 0 and int(q.codes.max()) < fsq.codebook_size == 120
    assert len(torch.unique(q.codes)) > 1
    torch.testing.assert_close(fsq.lookup(q.codes), q.z_q)


def test_fsq_even_levels_hit_every_level():
    fsq = FiniteScalarQuantizer(1, (4,))
    with torch.no_grad():
        fsq.proj_in.weight.fill_(1.0)
        fsq.proj_in.bias.zero_()
    z = torch.linspace(-6, 6, 200).view(1, 1, -1)
    assert sorted(torch.unique(fsq(z).codes).tolist()) == [0, 1, 2, 3]


def test_fsq_straight_through_gradient_reaches_the_encoder():
    encoder = torch.nn.Conv1d(8, 8, 1)
    fsq = FiniteScalarQuantizer(8, (5, 5))
    q = fsq(encoder(_clustered()))
    q.z_q.sum().backward()
    assert encoder.weight.grad.abs().sum() > 0
