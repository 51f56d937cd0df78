import pytest
import torch

from scenarios.domains import domain_transform, parse_domain


@pytest.fixture
def batch():
    return torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def test_identity_is_none():
    assert domain_transform("identity") is None


def test_right_angle_rotation_is_exact(batch):
    assert torch.equal(domain_transform("rot:90")(batch), torch.rot90(batch, 1, dims=(2, 3)))
    assert torch.equal(domain_transform("rot:360")(batch), batch)


def test_arbitrary_rotation_approximates_and_keeps_shape(batch):
    out = domain_transform("rot:45")(batch)
    assert out.shape == batch.shape and not torch.allclose(out, batch)
    near90 = domain_transform("rot:89.999")(batch)
    assert torch.allclose(near90, torch.rot90(batch, 1, dims=(2, 3)), atol=1e-3)


def test_permutation_is_a_fixed_permutation(batch):
    f = domain_transform("perm:3")
    out = f(batch)
    assert torch.equal(out, f(batch))
    assert torch.equal(out.reshape(6, -1).sort(1).values, batch.reshape(6, -1).sort(1).values)
    assert not torch.equal(out, domain_transform("perm:4")(batch))


def test_noise_is_deterministic_with_the_requested_std():
    x = torch.zeros(200, 1, 8, 8)
    f = domain_transform("noise:0.3")
    out = f(x)
    assert torch.equal(out, f(x))
    assert out.std().item() == pytest.approx(0.3, rel=0.05)
    assert not torch.equal(out, domain_transform("noise:0.30")(x + 0))  # name is part of the seed


def test_shift_scale_and_composition(batch):
    shifted = domain_transform("shift:2:5")(batch)
    delta = shifted - batch
    assert torch.allclose(delta[0], delta[1]) and delta.std().item() > 1.0
    assert torch.allclose(domain_transform("scale:0.5")(batch), batch * 0.5)
    both = domain_transform("rot:90+scale:2")(batch)
    assert torch.allclose(both, torch.rot90(batch, 1, dims=(2, 3)) * 2)


def test_vector_inputs_reject_rotation_but_take_the_rest():
    v = torch.ones(4, 16)
    with pytest.raises(ValueError, match="rotation needs image batches"):
        domain_transform("rot:90")(v)
    assert domain_transform("perm:1+noise:0.1+shift:1")(v).shape == v.shape


@pytest.mark.parametrize("name, text", [
    ("twist:3", "unknown kind"), ("rot", "write rot:VALUE"), ("perm:x", "not a int"),
    ("noise:-1", "noise std must be >= 0"), ("identity:3", "takes no argument"),
    ("", "non-empty"), ("rot:nan", "not finite"), ("shift:1:2:3", "shift:SCALE"),
])
def test_malformed_names_raise(name, text):
    with pytest.raises(ValueError, match=text):
        parse_domain(name)
