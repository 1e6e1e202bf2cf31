"""The generator registry, plug-in discovery, and the checkpoint metadata contract."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from fake_plugins import fake_plugin  # noqa: F401  (fixture)
from gan_eval.generators import registry
from gan_eval.generators.checkpoint import load_generator, read_metadata, save_generator

from gan_eval.errors import GanEvalError


@dataclasses.dataclass
class _Cfg:
    z_dim: int = 4


class _Plugin(torch.nn.Module):
    """A plug-in generator: 4-d noise to a 1×2×2 image in [0, 1]."""

    num_classes = 0
    out_shape = (1, 2, 2)
    output_range = (0.0, 1.0)

    def __init__(self, z_dim: int = 4) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.linear = torch.nn.Linear(z_dim, 4)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(z)).view(-1, 1, 2, 2)


def test_names_duplicates_and_kinds_are_validated():
    with pytest.raises(ValueError, match="invalid generator arch name"):
        registry.register_arch("Bad Name", version=1, config_cls=_Cfg, kind="unconditional")
    with pytest.raises(ValueError, match="invalid kind"):
        registry.register_arch("ok_name", version=1, config_cls=_Cfg, kind="video")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_arch("dcgan", version=1, config_cls=_Cfg, kind="unconditional")(_Plugin)
    assert {"mlp_gan", "dcgan", "cond_dcgan", "stylegan", "stylegan2", "pix2pix_unet", "cyclegan_resnet"} <= set(
        registry.available_archs())


def test_unknown_config_keys_are_an_error():
    with pytest.raises(GanEvalError, match="unknown config key.*hiden_dim"):
        registry.get_arch("dcgan").make_config({"hiden_dim": 3})


def test_entry_point_plugin_is_discovered_and_round_trips(fake_plugin, tmp_path):
    fake_plugin("myplugin", {"gan_eval.generators": {"myplugin": "myplugin_arch:register"}}, {"myplugin_arch": """
        import dataclasses
        import torch
        from gan_eval.generators.registry import register_arch

        @dataclasses.dataclass
        class Cfg:
            z_dim: int = 4

        class Plugin(torch.nn.Module):
            num_classes = 0
            out_shape = (1, 2, 2)
            output_range = (0.0, 1.0)

            def __init__(self, z_dim=4):
                super().__init__()
                self.z_dim = z_dim
                self.linear = torch.nn.Linear(z_dim, 4)

            def forward(self, z):
                return torch.sigmoid(self.linear(z)).view(-1, 1, 2, 2)

        def register():
            register_arch("myplugin/tiny", version=1, config_cls=Cfg, kind="unconditional")(Plugin)
    """}, [registry.ARCHITECTURES])
    spec = registry.get_arch("myplugin/tiny")
    module = spec.build({"z_dim": 4})
    path = save_generator(tmp_path / "plugin.safetensors", "myplugin/tiny", module, {"z_dim": 4})
    handle = load_generator(path)
    g = lambda: torch.Generator().manual_seed(1)
    assert torch.equal(handle.sample(3, g()), module.eval()(torch.randn(3, 4, generator=g())))
    assert read_metadata(path)["io"]["output_range"] == [0.0, 1.0]


def test_metadata_contract_is_enforced(tmp_path):
    from safetensors.torch import load_file, save_file

    module = registry.get_arch("dcgan").build({"hidden_dim": 4, "z_dim": 8})
    path = save_generator(tmp_path / "g.safetensors", "dcgan", module, {"hidden_dim": 4, "z_dim": 8})
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in read_metadata(path).items()}
    tensors = load_file(str(path))

    io = json.loads(meta["io"])
    del io["output_range"]
    save_file(tensors, str(tmp_path / "no_range.safetensors"), metadata={**meta, "io": json.dumps(io)})
    with pytest.raises(GanEvalError, match="output_range"):
        load_generator(tmp_path / "no_range.safetensors")
    save_file(tensors, str(tmp_path / "unknown.safetensors"), metadata={**meta, "arch": "nope"})
    with pytest.raises(GanEvalError, match="unknown generator architecture 'nope'"):
        load_generator(tmp_path / "unknown.safetensors")
    save_file(tensors, str(tmp_path / "wrong.safetensors"), metadata={**meta, "config": json.dumps({"hidden_dim": 8, "z_dim": 8})})
    with pytest.raises(GanEvalError, match=r"(?s)file has \[8, 16, 3, 3\], config builds \[8, 32, 3, 3\].*tensors look like.*\"hidden_dim\": 4"):
        load_generator(tmp_path / "wrong.safetensors")


@pytest.mark.parametrize("arch, value, message", [
    ("dcgan", 0.0, "threshold must be > 0"),
    ("dcgan", float("nan"), "threshold must be > 0"),
    ("stylegan", float("inf"), "finite"),
    ("pix2pix_unet", 0.5, "does not support truncation"),
])
def test_invalid_truncation_is_refused(arch, value, message):
    from gan_eval.generators.model import GeneratorHandle

    spec = registry.get_arch(arch)
    with pytest.raises(GanEvalError, match=message):
        GeneratorHandle(spec.build(spec.tiny), spec, spec.tiny, truncation=value)
