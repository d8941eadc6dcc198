"""lib.engines.local.weights: packaged model files found without importing their packages."""

import sys

import pytest

from lib.engines.local import weights


@pytest.fixture
def package(tmp_path, monkeypatch):
    """An importable package `imgmend_weights_probe` whose __init__ would fail if it were run."""
    root = tmp_path / "imgmend_weights_probe"
    root.mkdir()
    (root / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (root / "model.onnx").write_bytes(b"onnx")
    monkeypatch.syspath_prepend(str(tmp_path))
    return root


def test_the_background_weights_are_installed():
    found = weights.path(weights.BACKGROUND)
    assert found.endswith("u2net.onnx")
    with open(found, "rb") as f:
        assert len(f.read(16)) == 16  # a real file, not an empty placeholder


def test_a_packaged_file_is_found_without_running_its_package(package):
    assert weights.path(("imgmend_weights_probe", "model.onnx")) == str(package / "model.onnx")
    assert weights.present(("imgmend_weights_probe", "model.onnx"))
    assert "imgmend_weights_probe" not in sys.modules


@pytest.mark.parametrize(
    "model, says",
    [
        (("imgmend_weights_probe", "other.onnx"), "other.onnx is not in the imgmend_weights_probe package"),
        (("imgmend_no_such_package", "model.onnx"), "the imgmend_no_such_package package is not installed"),
    ],
)
def test_a_missing_file_or_package_is_named(package, model, says):
    with pytest.raises(FileNotFoundError, match=says):
        weights.path(model)
    assert not weights.present(model)
