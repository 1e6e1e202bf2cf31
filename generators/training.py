"""Training recipes (losses, optimisers, schedules) over registered architectures, and the loop.

A recipe is separate from the architecture: WGAN-GP and SNGAN are recipes over the DCGAN
generator. Hyper-parameters default to the GANs course's and are overridable; unknown names are an
error. The loop is deterministic for a seed on CPU, shows a progress bar (in a log, a line every
10 s), writes sample grids periodically, and can resume from a checkpoint plus its ``.train.pt``
state (tensors only, read with ``weights_only=True``).

Every recipe, the generator recipes (:class:`Recipe` subclasses) and the attribute classifier
(``generators/recipes/classifier.py``) alike, is registered in :data:`RECIPES` and run the same way:
:func:`run_recipe` builds one :class:`TrainingRequest` from what the user asked for and hands it to the
recipe's ``run`` class method, which returns a :class:`TrainingOutcome` (what was written, and the lines
to show). ``gan-eval train`` is that one call.
"""

from __future__ import annotations

import dataclasses
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

import torch
from gan_eval.generators.data import ImageData, load_images, load_pairs
from gan_eval.generators.registry import ArchSpec, get_arch, load_plugins
from tqdm import tqdm

from gan_eval.errors import GanEvalError
from gan_eval.files import atomic_path
from gan_eval.registry import Registry

DATA_KINDS = ("images", "labelled", "paired", "unpaired")


@dataclass(frozen=True)
class TrainingRequest:
    """What the user asked ``gan-eval train`` for: one object, so every recipe takes the same input.

    ``hparams`` are the ``--set KEY=VALUE`` overrides (values already JSON-decoded where they parse);
    each recipe checks them against its own ``defaults``. ``device`` is ``auto``, ``cpu``, ``cuda[:N]``
    or a ``torch.device``. ``progress`` None shows progress on a terminal only. Fields a recipe has no
    use for are ignored by it, except ``labels``, which only the classifier takes.
    """

    output: str | Path
    data: str = "builtin:mnist-train"
    steps: int = 1000
    batch_size: int | None = None
    seed: int = 0
    device: str | torch.device = "cpu"
    hparams: dict[str, Any] = field(default_factory=dict)
    gen_config: dict[str, Any] | None = None
    task: str | None = None
    target: str | None = None
    resume: str | Path | None = None
    sample_every: int = 0
    limit: int | None = None
    labels: str | Path | None = None
    progress: bool | None = None


@dataclass
class TrainingOutcome:
    """What a recipe wrote (``path``), the lines to show the user, and any recipe-specific ``summary``."""

    path: Path
    report: list[str]
    summary: dict[str, Any] = field(default_factory=dict)


class TrainingRecipe(Protocol):
    """What :data:`RECIPES` holds: a name, the hyper-parameters ``--set`` may change, and ``run``."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]

    @classmethod
    def run(cls, request: TrainingRequest) -> TrainingOutcome: ...


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

    @classmethod
    def run(cls, request: TrainingRequest) -> TrainingOutcome:
        """Train this generator recipe as ``request`` says (see :func:`train`)."""
        from gan_eval.pipeline import resolve_device

        if request.labels is not None:
            raise GanEvalError("--labels is only for `gan-eval train classifier`")
        path = train(cls.name, request.output, data=request.data, steps=request.steps, batch_size=request.batch_size,
                     seed=request.seed, device=resolve_device(request.device), hparams=request.hparams,
                     gen_config=request.gen_config, task=request.task, target=request.target, resume=request.resume,
                     sample_every=request.sample_every, limit=request.limit, progress=request.progress)
        return TrainingOutcome(path, [f"wrote {path}"])


def _check_recipe(name: str, cls: Any) -> None:
    if not isinstance(cls, type) or not callable(getattr(cls, "run", None)) or not isinstance(getattr(cls, "defaults", None), dict):
        raise TypeError(f"recipe {name!r} must be a class with a `defaults` dict and a `run(request)` class method")
    if issubclass(cls, Recipe) and cls.data_kind not in DATA_KINDS:
        raise ValueError(f"recipe {name}: data_kind must be one of {DATA_KINDS}")


#: Every training recipe by name (built-ins in :mod:`gan_eval.generators.recipes`; plug-ins register
#: theirs from their ``gan_eval.generators`` ``register()`` function).
RECIPES: Registry[type[TrainingRecipe]] = Registry("recipe", builtins="gan_eval.generators.recipes",
                                                   validate=_check_recipe)


def register_recipe(cls: type[Any]) -> type[Any]:
    """Class decorator adding a recipe under ``cls.name`` (lower-case letters, digits, '-', '_', '.')."""
    RECIPES.load_builtins()  # so a plug-in can never take a built-in's name first
    RECIPES.register(getattr(cls, "name", None), cls)
    return cls


def available_recipes() -> list[str]:
    """Built-in recipes and those registered by installed generator plug-ins."""
    load_plugins()
    return RECIPES.names()


def get_recipe(name: str) -> type[Any]:
    """The recipe class registered as ``name`` (an unknown name is a GanEvalError listing the known ones)."""
    if name not in RECIPES:
        load_plugins()  # a generator plug-in's register() may add recipes
    return RECIPES.get(name)


def run_recipe(name: str, output: str | Path, **request: Any) -> TrainingOutcome:
    """Train recipe ``name`` into ``output``; ``request`` holds the other :class:`TrainingRequest` fields.

    The one library call behind ``gan-eval train``: the recipe checks its own settings and data.
    """
    return get_recipe(name).run(TrainingRequest(output=output, **request))


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
    if not issubclass(recipe_cls, Recipe):
        raise GanEvalError(f"recipe {recipe_name!r} does not train a generator; run it with run_recipe "
                           f"(`gan-eval train {recipe_name}`)")
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
    from gan_eval.pipeline import progress_lines

    lines = progress_lines(steps, f"train {recipe_name}", progress, unit="steps")  # a log: a line every 10 s
    show = (sys.stderr.isatty() if progress is None else progress) and lines is None
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
            if lines is not None:
                lines.update(1)
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
