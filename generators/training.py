"""Training recipes (losses, optimisers, schedules) over registered architectures, and the loop.

A recipe is separate from the architecture: WGAN-GP and SNGAN are recipes over the DCGAN
generator. Hyper-parameters default to the GANs course's and are overridable; unknown names are an
error. The loop is deterministic for a seed on CPU, shows a progress bar, writes sample grids
periodically, and can resume from a checkpoint plus its ``.train.pt`` state (tensors only, read
with ``weights_only=True``).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from tqdm import tqdm

from gan_eval.files import atomic_path
from gan_eval.errors import GanEvalError
from gan_eval.generators.data import ImageData, load_images, load_pairs
from gan_eval.generators.registry import ArchSpec, get_arch

DATA_KINDS = ("images", "labelled", "paired", "unpaired")


class Recipe(ABC):
    """One training recipe. Subclasses set the class attributes and implement ``build`` and ``train_step``.

    ``self.generator`` is built from the registered ``arch`` before ``build`` is called; ``build``
    creates discriminators/critics and optimisers and stores them in ``self.nets`` / ``self.opts``
    (dicts), which is what checkpoints and resume save.
    """

    name: ClassVar[str]
    arch: ClassVar[str]
    data_kind: ClassVar[str] = "images"
    defaults: ClassVar[dict[str, Any]] = {}
    gen_defaults: ClassVar[dict[str, Any]] = {}  # generator config the recipe implies (e.g. cgan's classes)

    def __init__(self, gen_config: dict[str, Any] | None = None, hparams: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu") -> None:
        hparams = dict(hparams or {})
        unknown = sorted(set(hparams) - set(self.defaults))
        if unknown:
            raise GanEvalError(f"recipe {self.name}: unknown hyper-parameter(s) {', '.join(unknown)}; "
                               f"valid: {', '.join(sorted(self.defaults))}")
        self.hp: dict[str, Any] = {**self.defaults, **hparams}
        self.device = torch.device(device)
        self.spec: ArchSpec = get_arch(self.arch)
        self.gen_config: dict[str, Any] = dataclasses.asdict(self.spec.make_config({**self.gen_defaults, **(gen_config or {})}))
        self.generator = self.spec.build(self.gen_config).to(self.device)
        self.nets: dict[str, torch.nn.Module] = {"generator": self.generator}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.build()

    @property
    def value_range(self) -> tuple[float, float]:
        return tuple(self.generator.output_range)  # type: ignore[return-value]

    @abstractmethod
    def build(self) -> None:
        """Create discriminators and optimisers (into ``self.nets`` and ``self.opts``)."""

    @abstractmethod
    def train_step(self, batch: dict[str, torch.Tensor], rng: torch.Generator) -> dict[str, float]:
        """One optimisation step on ``batch`` (``images``, and ``labels`` / ``targets`` by data kind)."""

    def sample_grid(self, rng: torch.Generator, n: int = 64, batch: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Images for a progress grid, in ``value_range`` (override for image-to-image recipes)."""
        from gan_eval.generators.model import GeneratorHandle

        handle = GeneratorHandle(self.generator, self.spec, self.gen_config)
        try:
            if self.spec.kind == "image2image":
                assert batch is not None
                with torch.no_grad():
                    return torch.cat([batch["images"][:n], handle.module(batch["images"][:n])], dim=0)
            if self.spec.kind == "conditional":
                labels = torch.arange(n) % max(handle.num_classes, 1)
                return handle.sample(n, rng, labels=labels)
            return handle.sample(n, rng)
        finally:
            self.generator.train()

    def training_state(self) -> dict[str, Any]:
        return {"nets": {k: v.state_dict() for k, v in self.nets.items()},
                "opts": {k: v.state_dict() for k, v in self.opts.items()}}

    def load_training_state(self, state: dict[str, Any]) -> None:
        for key, net in self.nets.items():
            net.load_state_dict(state["nets"][key])
        for key, opt in self.opts.items():
            opt.load_state_dict(state["opts"][key])


_RECIPES: dict[str, type[Recipe]] = {}


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator adding a recipe under ``cls.name`` (lower-case, '-' allowed)."""
    if not re.match(r"^[a-z][a-z0-9\-]*$", getattr(cls, "name", "")):
        raise ValueError(f"invalid recipe name {getattr(cls, 'name', None)!r}")
    if cls.name in _RECIPES:
        raise ValueError(f"recipe {cls.name!r} is already registered")
    if cls.data_kind not in DATA_KINDS:
        raise ValueError(f"recipe {cls.name}: data_kind must be one of {DATA_KINDS}")
    _RECIPES[cls.name] = cls
    return cls


def available_recipes() -> list[str]:
    import gan_eval.generators.recipes  # noqa: F401  (registers built-in recipes)

    return sorted(_RECIPES)


def get_recipe(name: str) -> type[Recipe]:
    available = available_recipes()
    if name not in _RECIPES:
        raise GanEvalError(f"unknown recipe {name!r}; available: {', '.join(available)}")
    return _RECIPES[name]


def load_training_data(recipe: Recipe, data: str, task: str | None = None, target: str | None = None,
                       limit: int | None = None) -> ImageData:
    out_shape = tuple(recipe.generator.out_shape)
    channels, size = out_shape[0], out_shape[-1]
    if recipe.data_kind in ("paired", "unpaired"):
        return load_pairs(data, task, recipe.value_range, paired=recipe.data_kind == "paired", target_spec=target,
                          limit=limit, size=size, channels=channels)
    images = load_images(data, recipe.value_range, channels=channels, limit=limit, size=size)
    if recipe.data_kind == "labelled" and images.labels is None:
        raise GanEvalError(f"recipe {recipe.name} needs class labels: use builtin:mnist data")
    return images


def _batches(data: ImageData, batch_size: int, rng: torch.Generator):
    """Endless shuffled mini-batches (a new permutation each epoch, drawn from ``rng``)."""
    n = len(data)
    while True:
        order = torch.randperm(n, generator=rng)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            batch = {"images": data.images[idx]}
            if data.labels is not None:
                batch["labels"] = data.labels[idx]
            if data.targets is not None:
                batch["targets"] = data.targets[idx]
            yield batch


def save_grid(images: torch.Tensor, value_range: tuple[float, float], path: str | Path, nrow: int = 8) -> Path:
    """Save images in ``value_range`` as one PNG grid, atomically."""
    from torchvision.utils import save_image

    lo, hi = value_range
    grid = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    with atomic_path(path, suffix=".png") as tmp:
        save_image(grid, str(tmp), nrow=nrow, format="png")
    return Path(path)


def train(
    recipe_name: str,
    output: str | Path,
    data: str = "builtin:mnist-train",
    steps: int = 1000,
    batch_size: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    hparams: dict[str, Any] | None = None,
    gen_config: dict[str, Any] | None = None,
    task: str | None = None,
    target: str | None = None,
    resume: str | Path | None = None,
    sample_every: int = 0,
    limit: int | None = None,
    progress: bool | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> Path:
    """Train ``recipe_name`` for ``steps`` steps and write a generator checkpoint to ``output``."""
    from gan_eval.generators.checkpoint import load_generator, save_generator

    output = Path(output)
    if output.suffix != ".safetensors":
        raise GanEvalError(f"the output checkpoint must end in .safetensors (got {output.name})")
    if steps < 1:
        raise GanEvalError("--steps must be at least 1")
    torch.manual_seed(seed)
    recipe_cls = get_recipe(recipe_name)
    start_step = 0
    if resume is not None:
        handle = load_generator(resume)
        training = handle.meta.get("training", {})
        if training.get("recipe") != recipe_name:
            raise GanEvalError(f"{resume} was trained with recipe {training.get('recipe')!r}, not {recipe_name!r}")
        gen_config = handle.config
        hparams = {**training.get("hparams", {}), **(hparams or {})}
        start_step = int(training.get("steps", 0))
    recipe = recipe_cls(gen_config, hparams, device)
    if resume is not None:
        state_path = Path(resume).with_suffix(".train.pt")
        if not state_path.is_file():
            raise GanEvalError(f"cannot resume: {state_path} (discriminator and optimiser state) is missing")
        recipe.load_training_state(torch.load(state_path, map_location=device, weights_only=True))
    batch_size = batch_size or int(recipe.hp.get("batch_size", 128))
    recipe.hp["batch_size"] = batch_size
    dataset = load_training_data(recipe, data, task, target, limit)
    if len(dataset) < batch_size:
        raise GanEvalError(f"{data} has {len(dataset)} training images, fewer than the batch size {batch_size}")
    # A resumed run continues with a fresh batch order (seeded by seed + steps done), so it is
    # reproducible but not bit-identical to an uninterrupted run of the same total length.
    rng = torch.Generator().manual_seed(seed + start_step)
    grid_rng_seed = seed + 12345
    batches = _batches(dataset, batch_size, rng)
    grid_dir = output.with_name(output.stem + "_samples")
    show = sys.stderr.isatty() if progress is None else progress
    recipe.generator.train()
    losses: dict[str, float] = {}
    first_batch = None
    with tqdm(total=steps, disable=not show, desc=f"train {recipe_name}", unit="step", file=sys.stderr) as bar:
        for step in range(start_step + 1, start_step + steps + 1):
            batch = {k: v.to(recipe.device) for k, v in next(batches).items()}
            first_batch = first_batch or batch
            losses = recipe.train_step(batch, rng)
            for key, value in losses.items():
                if value != value or value in (float("inf"), float("-inf")):
                    raise GanEvalError(f"training diverged at step {step}: {key} = {value}")
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
            bar.update(1)
            if on_step is not None:
                on_step(step, losses)
            if sample_every and (step % sample_every == 0 or step == start_step + 1):
                grid = recipe.sample_grid(torch.Generator().manual_seed(grid_rng_seed), batch=first_batch)
                save_grid(grid, recipe.value_range, grid_dir / f"step_{step:06d}.png")
    recipe.generator.eval()
    training = {"recipe": recipe_name, "hparams": recipe.hp, "steps": start_step + steps, "batch_size": batch_size,
                "seed": seed, "data": data, "task": task, "final_losses": losses}
    save_generator(output, recipe.arch, recipe.generator, recipe.gen_config, training)
    with atomic_path(output.with_suffix(".train.pt"), suffix=".pt") as tmp:
        torch.save(recipe.training_state(), tmp)
    return output
