"""Real loaders on small files written in the real on-disk formats."""


import numpy as np
import pytest

from fedsim.data.cifar import CifarSource
from fedsim.data.idx import IdxImageSource, read_idx
from fedsim.data.omniglot import OmniglotSource
from fedsim.errors import ConfigError, DataError
from fedsim.experiment import get_experiment
from tests.cli.invoke import run_fedsim
from tests.conftest import compose
from tests.data.writers import cifar_like, mnist_like, omniglot_like


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_sources_read_torchvision_layout(tmp_path, gz, name, folder):
    arrays = mnist_like(tmp_path, folder, gz=gz)
    ds = IdxImageSource(root=str(tmp_path), dataset=name).load()
    assert ds.x_train.shape == (40, 1, 28, 28) and ds.x_test.shape == (20, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    np.testing.assert_allclose(ds.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"],
                               atol=1e-3)
    assert ds.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10


def test_idx_rejects_garbage_and_truncation(tmp_path):
    bad = tmp_path / "x"
    bad.write_bytes(b"\x12\x34\x08\x01hello")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(bad)
    bad.write_bytes(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + b"\x00" * 10)
    with pytest.raises(DataError, match="truncated"):
        read_idx(bad)


def test_missing_files_name_data_root_and_what_to_put_where(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.root: not set"):
        IdxImageSource(root=None).load()
    with pytest.raises(DataError, match=r"^data\.root: directory '.*nowhere' does not exist"):
        IdxImageSource(root=str(tmp_path / "nowhere")).load()
    with pytest.raises(DataError, match=r"MNIST/raw/ with train-images-idx3-ubyte"):
        IdxImageSource(root=str(tmp_path)).load()
    with pytest.raises(DataError, match="cifar-10-batches-py/ with data_batch_1"):
        CifarSource(root=str(tmp_path)).load()
    with pytest.raises(DataError, match="omniglot-py/images_background"):
        OmniglotSource(root=str(tmp_path)).load()


def test_cifar10_pickle_batches(tmp_path):
    written = cifar_like(tmp_path)
    ds = CifarSource(root=str(tmp_path), dataset="cifar10").load()
    assert ds.x_train.shape == (100, 3, 32, 32) and ds.x_test.shape == (20, 3, 32, 32)
    np.testing.assert_allclose(ds.x_train[0].reshape(-1) * 255,
                               written["data_batch_1"]["data"][0], atol=1e-3)
    assert ds.y_train[:3].tolist() == [0, 1, 2] and ds.num_classes == 10


@pytest.mark.parametrize("label, classes", [("fine", 100), ("coarse", 20)])
def test_cifar100_fine_and_coarse(tmp_path, label, classes):
    written = cifar_like(tmp_path, hundred=True)
    ds = CifarSource(root=str(tmp_path), dataset="cifar100", label=label).load()
    assert ds.num_classes == classes
    assert ds.y_test.tolist() == written["test"][f"{label}_labels"]


def test_omniglot_png_folders(tmp_path):
    omniglot_like(tmp_path, alphabets=2, chars=3, drawings=4)
    ds = OmniglotSource(root=str(tmp_path), image_size=20, test_fraction=0.25).load()
    assert ds.num_classes == 6 and ds.input_shape == (1, 20, 20)
    assert len(ds.y_train) == 18 and len(ds.y_test) == 6
    assert sorted(np.bincount(ds.y_test).tolist()) == [1] * 6
    assert 0.0 <= ds.x_train.mean() < 0.3, "inverted: strokes (10% of pixels) are 1"
    small = OmniglotSource(root=str(tmp_path), max_classes=4, image_size=105, invert=False).load()
    assert small.num_classes == 4 and small.x_train.shape[1:] == (1, 105, 105)
    assert small.x_train.mean() > 0.7


@pytest.mark.parametrize(
    "group, writer, extra",
    [
        ("mnist", lambda p: mnist_like(p, "MNIST", n_train=60, n_test=30), []),
        ("fashion_mnist", lambda p: mnist_like(p, "FashionMNIST", n_train=60, n_test=30, gz=True),
         []),
        ("cifar10", cifar_like, []),
        ("cifar100", lambda p: cifar_like(p, hundred=True, per_batch=200),
         ["scenario.classes_per_task=20"]),
        ("omniglot", lambda p: omniglot_like(p, alphabets=2, chars=5, drawings=8), []),
    ],
)
def test_config_groups_build_a_plan_on_local_files(tmp_path, group, writer, extra):
    writer(tmp_path)
    cfg = compose(f"data={group}", f"data.root={tmp_path}", "scenario.num_clients=2",
                  "scenario.num_tasks=2", *extra, f"output.root={tmp_path / 'runs'}")
    exp = get_experiment(cfg)
    assert exp.data.name == group
    assert exp.plan.num_clients == 2 and len(exp.plan.tasks) == 2
    slot = exp.plan.streams[0].slots[0]
    assert len(slot.train_idx) > 0
    model = exp.make_model()
    import torch
    out = model(torch.from_numpy(exp.data.x_train[slot.train_idx]))
    assert out.shape == (len(slot.train_idx), exp.data.num_classes)


def test_cli_missing_root_is_one_line_exit_2(tmp_path):
    res = run_fedsim("describe", "data=mnist", f"data.root={tmp_path / 'missing'}", cwd=tmp_path)
    assert res.returncode == 2
    lines = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()]
    assert len(lines) == 1 and "data.root" in lines[0] and "MNIST/raw/" in lines[0], lines


def test_cifar_batch_with_a_code_payload_is_refused_without_running(tmp_path):
    import pickle

    from fedsim.errors import DataError
    from tests.payload import Payload

    cifar_like(tmp_path)
    marker = tmp_path / "ran"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    evil = {"data": Payload(marker), "labels": [0]}
    batch.write_bytes(pickle.dumps(evil, protocol=2))
    pickle.loads(batch.read_bytes())  # a plain unpickler runs it: the test can fail
    assert marker.exists()
    marker.unlink()
    with pytest.raises(DataError, match=r"data_batch_1.*refusing to load '(io|builtins)\.open'"):
        CifarSource(root=str(tmp_path), dataset="cifar10").load()
    assert not marker.exists()
