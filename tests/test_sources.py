"""Image sources: kinds, conversions, and clear errors on bad input (nothing half-written)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_digits
from PIL import Image

import gan_eval
from gan_eval.errors import GanEvalError
from gan_eval.sources import (
    ArraySource,
    DirectorySource,
    SourceOptions,
    open_source,
    to_uint8,
)


def _collect(source, n=None, batch=16):
    n = source.resolve_num_samples(n)
    return torch.cat(list(source.iter_batches(n, batch, seed=0)))


def test_directory_is_recursive_sorted_and_converts_modes(tmp_path):
    write_digits(tmp_path / "a", "train", 3, mode="L")
    write_digits(tmp_path / "b" / "deeper", "train", 2, mode="RGBA")
    (tmp_path / "notes.txt").write_text("not an image")
    source = DirectorySource(tmp_path)
    assert [f.rel for f in source.files][:2] == ["a/0000.png", "a/0001.png"]
    images = _collect(source)
    assert images.shape == (5, 3, 28, 28) and images.dtype == torch.uint8
    assert torch.equal(images[:, 0], images[:, 2])  # grey repeated to RGB
    assert source.conversions == {"L->RGB": 3, "RGBA->RGB": 2}


def test_mixed_sizes_keep_native_resolution_per_image(tmp_path):
    Image.new("RGB", (10, 12), (255, 0, 0)).save(tmp_path / "0.png")
    Image.new("RGB", (20, 20), (0, 255, 0)).save(tmp_path / "1.png")
    Image.new("RGB", (20, 20), (0, 0, 255)).save(tmp_path / "2.png")
    batches = list(DirectorySource(tmp_path).iter_batches(3, 64, 0))
    assert [tuple(b.shape) for b in batches] == [(1, 3, 12, 10), (2, 3, 20, 20)]


def test_arrays_in_nhwc_and_nchw_give_the_same_images(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 9, 9, 3), dtype=np.uint8)
    np.savez(tmp_path / "nhwc.npz", images=images)
    np.save(tmp_path / "nchw.npy", images.transpose(0, 3, 1, 2))
    a = _collect(open_source(str(tmp_path / "nhwc.npz")))
    b = _collect(open_source(str(tmp_path / "nchw.npy")))
    assert torch.equal(a, b) and torch.equal(a, torch.from_numpy(images).permute(0, 3, 1, 2))


def test_builtin_mnist_splits():
    assert open_source("builtin:mnist").length == 10_000
    train, held = open_source("builtin:mnist-train"), open_source("builtin:mnist-heldout")
    assert train.length == held.length == 5_000 and train.content_hash() != held.content_hash()
    with pytest.raises(GanEvalError, match="unknown builtin"):
        open_source("builtin:cifar10")


def test_generator_function_spec_is_seeded_and_quantised():
    source = open_source("toy_generators:resample_digits")
    first = torch.cat(list(source.iter_batches(10, 4, seed=5)))
    again = torch.cat(list(source.iter_batches(10, 4, seed=5)))
    other = torch.cat(list(source.iter_batches(10, 4, seed=6)))
    assert first.shape == (10, 3, 28, 28) and torch.equal(first, again) and not torch.equal(first, other)
    assert source.resolve_num_samples(None) == 10_000  # documented default for endless sources


def test_float_to_uint8_rounds_and_rejects_nan():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    assert to_uint8(x, (-1, 1))[0, 0].flatten().tolist() == [0, 128, 255, 255]
    with pytest.raises(GanEvalError, match="NaN or infinite"):
        _collect(open_source("toy_generators:nan_generator"), 4)
    with pytest.raises(GanEvalError, match="value range"):
        to_uint8(torch.zeros(1, 3, 2, 2), None)


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "contains no images"),
])
def test_missing_or_empty_directory(tmp_path, make, message):
    with pytest.raises(GanEvalError, match=message):
        open_source(str(make(tmp_path)))


def test_corrupt_image_is_named_or_skipped(tmp_path):
    write_digits(tmp_path, "train", 4)
    (tmp_path / "0002.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(GanEvalError, match="0002.png.*--skip-bad-files"):
        _collect(open_source(str(tmp_path)))
    source = open_source(str(tmp_path), SourceOptions(skip_bad_files=True))
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        images = _collect(source)
    assert images.shape[0] == 3 and source.skipped_files == ["0002.png"]


def test_too_few_images_and_too_many_requested(tmp_path):
    write_digits(tmp_path / "one", "train", 1)
    with pytest.raises(GanEvalError, match="at least 2"):
        open_source(str(tmp_path / "one")).resolve_num_samples(None)
    with pytest.raises(GanEvalError, match="larger than"):
        open_source("builtin:mnist-train").resolve_num_samples(6000)


def test_bad_channel_counts_and_dtypes(tmp_path):
    with pytest.raises(GanEvalError, match="channels"):
        ArraySource(np.zeros((4, 2, 8, 8), np.uint8), "two-channel array")
    np.save(tmp_path / "float.npy", np.zeros((4, 8, 8, 3), np.float32))
    with pytest.raises(GanEvalError, match="uint8"):
        open_source(str(tmp_path / "float.npy"))


def test_pickle_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    payload = tmp_path / "model.pkl"
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(GanEvalError, match="pickle"):
        open_source(str(payload))
    assert not marker.exists()


def test_in_memory_tensors_and_loaders_evaluate_like_arrays():
    images = torch.from_numpy(gan_eval.mnist.load_mnist("heldout")[0][:150].copy())
    as_float = images.float() / 127.5 - 1  # what a training loop has in hand
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(as_float[:, None]), batch_size=10)
    a = gan_eval.evaluate(images[:, None], "builtin:mnist-train", ["fid"], extractor="digits", num_real=200, cache=False)
    b = gan_eval.evaluate(loader, "builtin:mnist-train", ["fid"], extractor="digits", num_real=200,
                          value_range=(-1, 1), cache=False)
    assert a["fid"] == pytest.approx(b["fid"], rel=1e-6)


# --- the source-resolver registry and how generator checkpoints reach it ---------------------------

from fake_plugins import fake_plugin  # noqa: E402,F401  (fixture)

from gan_eval.sources import (  # noqa: E402
    SOURCE_RESOLVERS,
    GeneratorSource,
    OpenedGenerator,
    TranslatedSource,
    open_generator,
    register_source_resolver,
    sample_batches,
    source_resolvers,
)


class ClassFilled:
    """A conditional toy: every image is filled with its class index (uint8), so labels are visible."""

    num_classes = 10
    label = None
    output_range = (0.0, 255.0)

    def sample(self, n, generator, labels=None):
        if labels is None:
            labels = torch.randint(0, self.num_classes, (n,), generator=generator)
        return labels.to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def test_checkpoint_resolver_comes_from_the_generators_entry_point():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="gan_eval.generators") if e.name == "builtin"]
    assert ep.value == "gan_eval.generators.plugin:register"
    order = [name for name, _ in source_resolvers()]
    assert order == ["objects", "mnist", "checkpoint", "path", "function"]  # by priority
    source = open_source("builtin:dcgan")
    assert isinstance(source, GeneratorSource) and source.description == "dcgan dcgan.safetensors"
    opened = open_generator("builtin:dcgan")
    assert opened.path.name == "dcgan.safetensors" and opened.path.is_file()
    assert open_generator("builtin:mnist-train") is None  # images, not a generator
    with pytest.raises(GanEvalError, match=r"unknown builtin 'cifar10'; available: builtin:mnist, .*builtin:dcgan"):
        open_source("builtin:cifar10")


def test_core_reaches_generators_only_when_a_checkpoint_is_opened():
    import json
    import subprocess
    import sys

    code = ("import sys, json\n"
            "import gan_eval.sources, gan_eval.models, gan_eval.sweep, gan_eval.audit.walks, gan_eval.audit.core\n"
            "upper = lambda: sorted(m for m in sys.modules if m.startswith(('gan_eval.generators', 'gan_eval.reports')))\n"
            "before = upper()\n"
            "gan_eval.sources.open_source('builtin:dcgan')\n"
            "print(json.dumps([before, upper()]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    before, after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before == []
    assert "gan_eval.generators.plugin" in after and not [m for m in after if m.startswith("gan_eval.reports")]


def test_resolvers_follow_the_registry_rules_and_priority():
    model = ClassFilled()

    def toy(spec, options):
        return OpenedGenerator(model, "class-filled toy") if spec == "builtin:class-filled" else None

    register_source_resolver("test/class-filled", toy, priority=5, builtin_names=lambda: ["class-filled"])
    try:
        assert [n for n, _ in source_resolvers()][:2] == ["objects", "test/class-filled"]
        source = open_source("builtin:class-filled")
        assert isinstance(source, GeneratorSource) and source.model is model
        with pytest.raises(GanEvalError, match="builtin:class-filled"):
            open_source("builtin:nope")  # every resolver's builtins are listed
        with pytest.raises(ValueError, match="already registered"):
            register_source_resolver("test/class-filled", toy)
    finally:
        SOURCE_RESOLVERS.unregister("test/class-filled")
    with pytest.raises(ValueError, match="invalid source name"):
        register_source_resolver("Class Filled", toy)
    with pytest.raises(GanEvalError, match="unknown builtin 'class-filled'"):
        open_source("builtin:class-filled")


def test_a_third_party_resolver_arrives_through_the_entry_point(fake_plugin):
    from gan_eval.generators.registry import ARCHITECTURES

    source_resolvers()  # our own plug-in loaded first, so the fixture's cleanup leaves it alone
    fake_plugin("blobsource", {"gan_eval.generators": {"blobsource": "blobsource_plugin:register"}},
                {"blobsource_plugin": """
        import torch
        from gan_eval.sources import ArraySource, register_source_resolver

        def resolve(spec, options):
            if spec == "blob:4":
                return ArraySource(torch.full((4, 1, 3, 3), 7, dtype=torch.uint8), "four blobs")
            return None

        def register():
            register_source_resolver("blobsource/blob", resolve)
    """}, [SOURCE_RESOLVERS, ARCHITECTURES])  # both read this group: both forget the plug-in afterwards
    source = open_source("blob:4")
    assert source.description == "four blobs" and _collect(source).unique().tolist() == [7]
    assert "checkpoint" in SOURCE_RESOLVERS.names()


def test_image_to_image_checkpoints_are_wrapped_by_the_core(tmp_path):
    import dataclasses

    from gan_eval.generators.checkpoint import save_generator
    from gan_eval.generators.registry import get_arch

    def tiny(arch):
        spec = get_arch(arch)
        config = dataclasses.asdict(spec.make_config(spec.tiny))
        return save_generator(tmp_path / f"{arch}.safetensors", arch, spec.build(config), config, source="test")

    pix2pix, dcgan = tiny("pix2pix_unet"), tiny("dcgan")
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "inputs.npy", images)
    with pytest.raises(GanEvalError, match="image-to-image model: pass --source DIR"):
        open_source(str(pix2pix))
    opened = open_generator(str(pix2pix))  # no --source needed to get at the model itself
    assert opened.model.kind == "image2image" and opened.path == pix2pix
    translated = open_source(str(pix2pix), SourceOptions(translate=str(tmp_path / "inputs.npy")))
    assert isinstance(translated, TranslatedSource) and _collect(translated).shape[0] == 3
    with pytest.raises(GanEvalError, match="--source is only for image-to-image models; dcgan.safetensors is unconditional"):
        open_source(str(dcgan), SourceOptions(translate=str(tmp_path / "inputs.npy")))


def test_one_sampling_loop_for_sources_and_classes():
    model = ClassFilled()
    fixed = torch.cat(list(sample_batches(model, 10, 4, seed=0, label=3)))
    assert fixed.shape == (10, 3, 2, 2) and fixed.unique().tolist() == [3]
    mixed = torch.cat(list(sample_batches(model, 40, 16, seed=0)))
    again = _collect(GeneratorSource(model, "toy"), 40, batch=16)
    assert torch.equal(mixed, again) and len(mixed.unique()) > 3  # the source is the same loop
    with pytest.raises(GanEvalError, match="must return a tensor of 4 images"):
        list(sample_batches(type("Short", (), {"sample": lambda self, n, g: torch.zeros(1, 1, 2, 2)})(), 4, 4, 0))
