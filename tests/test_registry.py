"""The one registry helper and every registry built on it: names, unknown names, lazy entries, plug-ins.

Plug-ins are published as real (fake) installed distributions (``tests/fake_plugins.py``), so these
tests go through ``importlib.metadata`` exactly as a pip-installed plug-in would.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from fake_plugins import fake_plugin  # noqa: F401  (fixture)
from gan_eval.generators.registry import (
    ARCHITECTURES,
    available_archs,
    get_arch,
    register_arch,
)
from gan_eval.generators.training import (
    RECIPES,
    available_recipes,
    get_recipe,
    register_recipe,
    run_recipe,
    train,
)

from gan_eval.attributes import (
    ATTRIBUTES,
    available_attribute_extractors,
    create_attribute_extractor,
    register_attribute_extractor,
)
from gan_eval.errors import GanEvalError
from gan_eval.extractors import (
    EXTRACTORS,
    available_extractors,
    create_extractor,
    register_extractor,
)
from gan_eval.registry import Registry, check_name

# --- the helper ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Upper", "has space", "", "-leading", "a/b/c", "a/", "/b", "ünï", 3, None])
def test_bad_names_are_refused(name):
    reg = Registry("widget")
    with pytest.raises(ValueError, match="invalid widget name"):
        reg.register(name, object())
    with pytest.raises(ValueError, match="invalid widget name"):
        reg.register(name)  # the decorator form checks the name before anything is decorated


@pytest.mark.parametrize("name", ["a", "inception-v3-compat", "wgan-gp", "mlp_gan", "v1.2", "mypkg/my-gan"])
def test_good_names_are_accepted(name):
    assert check_name("widget", name) == name
    reg = Registry("widget")
    reg.register(name, 1)
    assert reg.get(name) == 1 and reg.names() == [name]


def test_duplicates_are_refused_unless_replaced():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a", 2)
    reg.register("a", 2, replace=True)
    assert reg.get("a") == 2
    reg.unregister("a")
    assert "a" not in reg


def test_unknown_name_is_a_user_error_listing_the_known_ones():
    reg = Registry("widget")
    reg.register("beta", 1)
    reg.register("alpha", 2)
    with pytest.raises(GanEvalError, match=r"^unknown widget 'gamma'; known: alpha, beta$"):
        reg.get("gamma")
    with pytest.raises(GanEvalError, match=r"unknown widget 'x'; known: none"):
        Registry("widget").get("x")


def test_lazy_entry_is_imported_on_first_use_only(tmp_path, monkeypatch):
    (tmp_path / "lazy_widget_mod.py").write_text("LOADED = True\ndef make():\n    return 'made'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    reg = Registry("widget", validate=lambda name, entry: seen.append((name, entry)))
    reg.register("lazy", "lazy_widget_mod:make")
    assert reg.names() == ["lazy"] and "lazy" in reg
    assert "lazy_widget_mod" not in sys.modules and seen == []  # listing imports nothing, validates nothing
    make = reg.get("lazy")
    assert "lazy_widget_mod" in sys.modules and make() == "made"
    assert seen == [("lazy", make)]  # a lazy entry is validated when it is resolved
    sys.modules.pop("lazy_widget_mod")
    with pytest.raises(ValueError, match="package.module:attribute"):
        reg.register("bad", "no_colon_here")


def test_builtins_module_is_imported_on_first_lookup(tmp_path, monkeypatch):
    (tmp_path / "widget_builtins_mod.py").write_text(
        "from test_registry import BUILTINS_TARGET\nBUILTINS_TARGET[0].register('builtin-one', 1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", builtins="widget_builtins_mod")
    BUILTINS_TARGET[:] = [reg]
    assert "widget_builtins_mod" not in sys.modules
    assert reg.names() == ["builtin-one"] and reg.get("builtin-one") == 1
    sys.modules.pop("widget_builtins_mod")


BUILTINS_TARGET: list[Registry] = []


# --- the converted registries: names and unknown names ----------------------------------------------


def test_extractor_registry():
    with pytest.raises(ValueError, match="invalid extractor name"):
        register_extractor("Inception V3")
    with pytest.raises(ValueError, match="already registered"):
        register_extractor("digits")(lambda weights, device: None)
    with pytest.raises(TypeError, match="not callable"):
        register_extractor("not-callable-test")(42)
    assert {"digits", "inception-v3-compat"} <= set(available_extractors())
    with pytest.raises(GanEvalError, match=r"unknown extractor 'nope'; known: .*digits.*inception-v3-compat"):
        create_extractor("nope")
    assert create_extractor("digits").feature_dim == 128


def test_attribute_registry():
    with pytest.raises(ValueError, match="invalid attribute extractor name"):
        register_attribute_extractor("Bad:Name")
    with pytest.raises(ValueError, match="already registered"):
        register_attribute_extractor("morphometry")(lambda arg, device: None)
    assert {"classifier", "digits", "morphometry"} <= set(available_attribute_extractors())
    with pytest.raises(GanEvalError, match=r"unknown attribute extractor 'nope'; known: classifier, digits, morphometry"):
        create_attribute_extractor("nope")
    assert create_attribute_extractor("morphometry").score_names[0] == "thickness"


def test_architecture_registry():
    @dataclasses.dataclass
    class Cfg:
        z_dim: int = 4

    with pytest.raises(ValueError, match="invalid generator arch name"):
        register_arch("DCGAN", version=1, config_cls=Cfg, kind="unconditional")
    with pytest.raises(GanEvalError, match=r"unknown generator architecture 'nope'; known: .*cond_dcgan.*dcgan"):
        get_arch("nope")
    assert {"dcgan", "stylegan2", "pix2pix_unet"} <= set(available_archs())


def test_recipe_registry():
    class BadName:
        name = "Bad Recipe"
        defaults: dict = {}

        @classmethod
        def run(cls, request):
            return None

    class NoRun:
        name = "no-run-test"
        defaults: dict = {}

    with pytest.raises(ValueError, match="invalid recipe name"):
        register_recipe(BadName)
    with pytest.raises(TypeError, match="run"):
        register_recipe(NoRun)
    with pytest.raises(ValueError, match="already registered"):
        register_recipe(type("Dup", (BadName,), {"name": "dcgan"}))
    assert {"gan", "dcgan", "wgan-gp", "cyclegan", "classifier"} <= set(available_recipes())
    with pytest.raises(GanEvalError, match=r"unknown recipe 'nope'; known: .*classifier.*dcgan"):
        get_recipe("nope")


# --- start-up: listing names is cheap ---------------------------------------------------------------


@pytest.mark.parametrize("module, call, names", [
    ("gan_eval.extractors", "available_extractors", ["clip-vit-b-32", "clip-vit-l-14", "digits", "dinov2-vit-b-14",
                                                      "dinov2-vit-l-14", "dinov2-vit-s-14", "inception-v3-compat",
                                                      "vgg16"]),
    ("gan_eval.attributes", "available_attribute_extractors", ["classifier", "digits", "morphometry"]),
])
def test_listing_names_imports_no_torch(module, call, names):
    code = (f"import sys, {module} as m; names = m.{call}(); "
            f"assert 'torch' not in sys.modules, sorted(k for k in sys.modules if k.startswith('torch'))[:5]; "
            f"assert not any(k.startswith('{module}.') and k.split('.')[-1] not in ('base', 'resize', 'catalog') for k in sys.modules), "
            f"[k for k in sys.modules if k.startswith('{module}.')]; print(','.join(names))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().split(",")[: len(names)] == names


def test_built_in_extractor_is_imported_when_built():
    code = ("import sys, gan_eval.extractors as e; e.available_extractors(); "
            "assert 'gan_eval.extractors.digits' not in sys.modules; e.create_extractor('digits'); "
            "assert 'gan_eval.extractors.digits' in sys.modules and 'gan_eval.extractors.inception' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# --- plug-ins in each group --------------------------------------------------------------------------

EXTRACTOR_PLUGIN = """
    import torch
    from gan_eval.extractors import FeatureExtractor

    class MeanColour(FeatureExtractor):
        name = "fakeplug-mean"
        feature_dim = 3
        preprocessing = "mean rgb"

        def extract(self, images):
            return {"features": images.float().mean(dim=(2, 3))}

    def create(weights=None, device=torch.device("cpu")):
        return MeanColour(device)
"""


def test_extractor_plugin_is_listed_without_import_and_works(fake_plugin):
    fake_plugin("fakeplug-ext", {"gan_eval.extractors": {"fakeplug-mean": "fakeplug_ext_mod:create"}},
                {"fakeplug_ext_mod": EXTRACTOR_PLUGIN}, [EXTRACTORS])
    assert "fakeplug-mean" in available_extractors() and "fakeplug_ext_mod" not in sys.modules
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    images[1, 0] = 255
    features = create_extractor("fakeplug-mean")(images)["features"]
    assert features.tolist() == [[0.0, 0.0, 0.0], [255.0, 0.0, 0.0]]


def test_metric_group_plugin_is_listed_and_works(fake_plugin):
    """A bare registry on the ``gan_eval.metrics`` group; the metrics' own registry lists the plug-in too
    (what a metric record must hold is tested with the metrics)."""
    from gan_eval.metrics import METRICS

    metrics = Registry("metric", group="gan_eval.metrics")
    metrics.register("fid", "gan_eval.metrics.fid:frechet_distance")
    fake_plugin("fakeplug-metric", {"gan_eval.metrics": {"fakeplug-l1": "fakeplug_metric_mod:mean_l1"}},
                {"fakeplug_metric_mod": "def mean_l1(a, b):\n    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)\n"},
                [metrics, METRICS])
    assert metrics.names() == ["fakeplug-l1", "fid"] and "fakeplug_metric_mod" not in sys.modules
    assert "fakeplug-l1" in METRICS.names() and "fid" in METRICS.names()
    assert metrics.get("fakeplug-l1")([1, 2, 3], [1, 4, 0]) == pytest.approx(5 / 3)


ATTRIBUTE_PLUGIN = """
    import torch
    from gan_eval.attributes import AttributeExtractor, AttributeSpec, register_attribute_extractor

    class Brightness(AttributeExtractor):
        name = "fakeplug-bright"

        def __init__(self):
            super().__init__()
            self.attributes = [AttributeSpec("brightness", "continuous", unit="1")]
            self.score_names = ["brightness"]

        def score_images(self, images):
            return images.mean(dim=(1, 2, 3))[:, None]

    def register():
        register_attribute_extractor("fakeplug-bright")(lambda arg, device: Brightness())
"""


def test_attribute_plugin_register_hook_is_listed_and_works(fake_plugin):
    fake_plugin("fakeplug-attr", {"gan_eval.attributes": {"fakeplug-bright": "fakeplug_attr_mod:register"}},
                {"fakeplug_attr_mod": ATTRIBUTE_PLUGIN}, [ATTRIBUTES])
    assert "fakeplug-bright" in available_attribute_extractors() and "fakeplug_attr_mod" not in sys.modules
    ex = create_attribute_extractor("fakeplug-bright")
    images = torch.full((3, 3, 2, 2), 51, dtype=torch.uint8)
    assert np.allclose(ex.measure(images)[:, 0], 0.2)


GENERATOR_PLUGIN = """
    import dataclasses
    from pathlib import Path
    import torch
    from gan_eval.generators.registry import register_arch
    from gan_eval.generators.training import TrainingOutcome, register_recipe

    @dataclasses.dataclass
    class Cfg:
        z_dim: int = 3

    class Flat(torch.nn.Module):
        '''A plug-in generator: noise to a 1x1x3 image.'''
        num_classes = 0
        out_shape = (1, 1, 3)
        output_range = (-1.0, 1.0)

        def __init__(self, z_dim=3):
            super().__init__()
            self.z_dim = z_dim

        def forward(self, z):
            return torch.tanh(z).view(-1, 1, 1, 3)

    class Copy:
        name = "fakeplug-copy"
        defaults = {"times": 1}

        @classmethod
        def run(cls, request):
            Path(request.output).write_text(request.data * request.hparams.get("times", 1))
            return TrainingOutcome(Path(request.output), [f"copied {request.data}"])

    def register():
        register_arch("fakeplug/flat", version=1, config_cls=Cfg, kind="unconditional")(Flat)
        register_recipe(Copy)
"""


def test_generator_plugin_registers_architectures_and_recipes(fake_plugin, tmp_path):
    fake_plugin("fakeplug-gen", {"gan_eval.generators": {"fakeplug": "fakeplug_gen_mod:register"}},
                {"fakeplug_gen_mod": GENERATOR_PLUGIN}, [ARCHITECTURES, RECIPES])
    assert "fakeplug/flat" in available_archs()
    spec = get_arch("fakeplug/flat")
    assert spec.kind == "unconditional" and spec.description.startswith("A plug-in generator")
    assert spec.build().forward(torch.zeros(2, 3)).shape == (2, 1, 1, 3)
    assert "fakeplug-copy" in available_recipes()
    outcome = run_recipe("fakeplug-copy", tmp_path / "out.txt", data="ab", hparams={"times": 2})
    assert outcome.report == ["copied ab"] and (tmp_path / "out.txt").read_text() == "abab"


def test_generator_plugin_names_are_found_on_first_lookup(fake_plugin):
    """An architecture's name need not be its entry point's: an unknown name loads every plug-in."""
    fake_plugin("fakeplug-gen2", {"gan_eval.generators": {"other-name": "fakeplug_gen2_mod:register"}},
                {"fakeplug_gen2_mod": GENERATOR_PLUGIN.replace("fakeplug/flat", "fakeplug2/flat")
                 .replace("fakeplug-copy", "fakeplug2-copy")}, [ARCHITECTURES, RECIPES])
    assert get_arch("fakeplug2/flat").name == "fakeplug2/flat"
    assert get_recipe("fakeplug2-copy").defaults == {"times": 1}


def test_a_hook_shared_by_registries_of_one_group_runs_once(fake_plugin):
    counter = []
    sys.modules[__name__].HOOK_CALLS = counter
    first, second = Registry("thing", group="fakeplug.shared"), Registry("other", group="fakeplug.shared")
    fake_plugin("fakeplug-shared", {"fakeplug.shared": {"hook": "fakeplug_shared_mod:register"}},
                {"fakeplug_shared_mod": "import test_registry\ndef register():\n    test_registry.HOOK_CALLS.append(1)\n"},
                [first, second])
    first.load_all()
    second.load_all()
    assert counter == [1]


BROKEN = "raise ImportError('fakeplug needs a library that is not installed')\n"


def test_failing_plugin_is_a_warning_and_builtins_keep_working(fake_plugin):
    fake_plugin("fakeplug-broken", {
        "gan_eval.extractors": {"fakeplug-broken": "fakeplug_broken_ext:create"},
        "gan_eval.attributes": {"fakeplug-broken": "fakeplug_broken_attr:register"},
        "gan_eval.generators": {"fakeplug-broken": "fakeplug_broken_gen:register"},
    }, {"fakeplug_broken_ext": BROKEN, "fakeplug_broken_attr": BROKEN, "fakeplug_broken_gen": BROKEN},
        [EXTRACTORS, ATTRIBUTES, ARCHITECTURES, RECIPES])
    assert "fakeplug-broken" in available_extractors()  # listed from its entry point, not yet imported
    with pytest.warns(UserWarning, match=r"extractor plug-in 'fakeplug-broken' \(fakeplug_broken_ext:create\) "
                                         r"failed to load.*not installed"):
        with pytest.raises(GanEvalError, match="unknown extractor 'fakeplug-broken'"):
            create_extractor("fakeplug-broken")
    assert "fakeplug-broken" not in available_extractors()
    assert create_extractor("digits").name == "digits"

    with pytest.warns(UserWarning, match="attribute extractor plug-in 'fakeplug-broken'"):
        attrs = create_attribute_extractor("morphometry")  # an unrelated name does not load it ...
        available_attribute_extractors()
        with pytest.raises(GanEvalError, match="unknown attribute extractor 'fakeplug-broken'"):
            create_attribute_extractor("fakeplug-broken")  # ... asking for it does, once
    assert attrs.name == "morphometry"

    with pytest.warns(UserWarning, match="generator architecture plug-in 'fakeplug-broken'"):
        archs = available_archs()
    assert "dcgan" in archs and "fakeplug-broken" not in archs
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the failure is reported once, not on every lookup
        assert get_arch("dcgan").name == "dcgan"
        with pytest.raises(GanEvalError):
            get_arch("fakeplug-broken")


# --- the classifier as a recipe ----------------------------------------------------------------------


def test_classifier_is_a_recipe_with_the_course_settings(tmp_path):
    recipe = get_recipe("classifier")
    assert recipe.defaults == {"epochs": 3, "lr": 1e-3, "image_size": 64, "channels": 3, "hidden_dim": 64,
                               "val_fraction": 0.1}
    out = tmp_path / "attrs.safetensors"
    with pytest.raises(GanEvalError, match=r"needs --data DIR \(images\) and --labels labels.csv"):
        run_recipe("classifier", out)  # the default data is builtin:mnist-train, which has no labels CSV
    with pytest.raises(GanEvalError, match=r"^unknown classifier setting 'epoch'; valid: epochs, lr, image_size, "
                                           r"channels, hidden_dim, val_fraction$"):
        run_recipe("classifier", out, data=str(tmp_path), labels=tmp_path / "labels.csv", hparams={"epoch": 3})
    with pytest.raises(GanEvalError, match=r"--set lr= expects a number, got 'fast'"):
        run_recipe("classifier", out, data=str(tmp_path), labels=tmp_path / "labels.csv", hparams={"lr": "fast"})
    assert recipe.settings({"epochs": 2.0, "lr": 1}) == {"epochs": 2, "lr": 1.0}
    with pytest.raises(GanEvalError, match="does not train a generator"):
        train("classifier", out)
    with pytest.raises(GanEvalError, match="--labels is only for `gan-eval train classifier`"):
        run_recipe("dcgan", tmp_path / "g.safetensors", labels="labels.csv")
    assert not out.exists()


def test_train_classifier_cli_errors_name_the_valid_settings(tmp_path):
    from click.testing import CliRunner

    from gan_eval.cli import main

    result = CliRunner().invoke(main, ["train", "classifier", "--data", str(tmp_path), "--labels",
                                       str(tmp_path / "labels.csv"), "-o", str(tmp_path / "a.safetensors"),
                                       "--set", "epochz=3"])
    assert result.exit_code == 1
    assert "unknown classifier setting 'epochz'; valid: epochs, lr, image_size, channels, hidden_dim, val_fraction" in result.output
