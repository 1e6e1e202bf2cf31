"""The ``gan-eval`` command: parses options, calls the :mod:`gan_eval` API, prints results.

Errors the user can fix end with one line on stderr and exit code 1 (never a traceback).
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

import gan_eval
from gan_eval import weights as weights_mod
from gan_eval.errors import GanEvalError
from gan_eval.extractors import available_extractors
from gan_eval.metrics import MetricOptions, available_metrics
from gan_eval.options import DEFAULT_BOOTSTRAP, DEFAULT_EXTRACTOR, DEFAULT_SEED


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"gan-eval: warning: {message}", file=sys.stderr)


def _handle_errors(func: Callable) -> Callable:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warnings.showwarning = _one_line_warnings
        try:
            return func(*args, **kwargs)
        except GanEvalError as exc:
            click.echo(f"gan-eval: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("gan-eval: interrupted; nothing was written", err=True)
            sys.exit(130)

    return wrapper


def _source_options(func: Callable) -> Callable:
    options = [
        click.option("--gen", required=True, help="Generated images: directory, .npz/.npy, builtin:NAME or package.module:function."),
        click.option("--real", required=True, help="Real images (same kinds) or a statistics .npz from `gan-eval stats`."),
        click.option("--extractor", default=DEFAULT_EXTRACTOR, show_default=True,
                     type=click.Choice(available_extractors()), help="Feature extractor; `digits` works offline."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Extractor weights file (else $GAN_EVAL_WEIGHTS, torch hub cache, download)."),
        click.option("--num-samples", "-n", type=click.IntRange(min=2), default=None,
                     help="Generated images to use [default: all of a finite source, 10000 from a generator]."),
        click.option("--num-real", type=click.IntRange(min=2), default=None, help="Cap on real images [default: all]."),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N]."),
        click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                     help="Seeds generator noise, KID subsets and IS splits."),
        click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True),
        click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True,
                     help="Shrunk (with a warning) when larger than either side."),
        click.option("--no-cache", is_flag=True, help="Do not read or write the reference feature cache."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Cache location [default: $GAN_EVAL_CACHE_DIR or ~/.cache/gan-eval]."),
        click.option("--skip-bad-files", is_flag=True, help="Skip unreadable images (their count is reported)."),
        click.option("--trust-pickle", is_flag=True, help="Allow pickle files (they can run code; only for files you trust)."),
        click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
                     help="Also write the metrics and provenance as JSON to this file."),
        click.option("--truncation", type=float, default=None,
                     help="Generator checkpoints: ψ toward the average w, or the truncated-normal threshold (by model)."),
        click.option("--class", "label", type=click.IntRange(min=0), default=None,
                     help="Conditional checkpoints: generate only this class."),
        click.option("--source", default=None, help="Image-to-image checkpoints: the images to translate (DIR, .npz, builtin:...)."),
        click.option("--paired", is_flag=True, help="With --source: the i-th translation's target is the i-th --real image "
                     "(adds L1, PSNR, SSIM)."),
        click.option("--ci", "ci", type=click.FloatRange(0.5, 1, max_open=True), default=None, metavar="LEVEL",
                     help="Add bootstrap confidence intervals at this level (e.g. 0.95), from the same features."),
        click.option("--bootstrap", type=click.IntRange(min=20), default=DEFAULT_BOOTSTRAP,
                     show_default=True, help="Bootstrap resamples for --ci (seeded by --seed)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars and no warnings; only the table."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_evaluation(metrics: str, gen: str, real: str, extractor: str, weights: str | None, num_samples: int | None,
                    num_real: int | None, batch_size: int, device: str, seed: int, kid_subsets: int,
                    kid_subset_size: int, no_cache: bool, cache_dir: str | None, skip_bad_files: bool,
                    trust_pickle: bool, json_path: str | None, quiet: bool, truncation: float | None,
                    label: int | None, source: str | None, paired: bool, ci: float | None = None,
                    bootstrap: int = 200, per_class: bool = False, classifier: str = "digits",
                    per_class_samples: int = 500) -> None:
    if quiet:
        warnings.simplefilter("ignore")
    result = gan_eval.evaluate(
        gen=gen, real=real, metrics=metrics, extractor=extractor, weights=weights, num_samples=num_samples,
        num_real=num_real, batch_size=batch_size, device=device, seed=seed, cache=not no_cache, cache_dir=cache_dir,
        skip_bad_files=skip_bad_files, trust_pickle=trust_pickle,
        options=MetricOptions(kid_subsets=kid_subsets, kid_subset_size=kid_subset_size),
        progress=False if quiet else None, truncation=truncation, label=label, source=source, paired=paired,
        ci=ci, bootstrap=bootstrap,
    )
    if per_class:
        from gan_eval.conditional import per_class as run_per_class

        classes = run_per_class(gen, real, classifier=classifier, extractor=extractor, weights=weights,
                                num_per_class=per_class_samples, num_real=num_real, level=ci or 0.95,
                                bootstrap=bootstrap, batch_size=batch_size, device=device, seed=seed,
                                cache=not no_cache, cache_dir=cache_dir, trust_pickle=trust_pickle,
                                progress=False if quiet else None)
        result.metrics.update(classes.metrics)
        result.ci.update(classes.ci)
        result.ci_info = {**classes.ci_info, **result.ci_info}
        result.provenance["per_class"] = {**classes.provenance["per_class"], "classifier": classes.provenance["classifier"]}
    from gan_eval.reports import format_result_table

    click.echo(format_result_table(result))
    if json_path:
        result.to_json(json_path)
        if not quiet:
            click.echo(f"wrote {json_path}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(gan_eval.__version__, prog_name="gan-eval")
def main() -> None:
    """Evaluate generative image models: FID, IS, KID, precision/recall, density/coverage.

    Offline quick start (bundled generators, MNIST and digit network, no download):

      gan-eval demo

      gan-eval evaluate --gen builtin:dcgan --real builtin:mnist-heldout --extractor digits
    """


@main.command()
@_source_options
@_handle_errors
def fid(**kwargs: Any) -> None:
    """Fréchet Inception Distance between --gen and --real."""
    _run_evaluation("fid", **kwargs)


@main.command()
@click.option("--metrics", "-m", default="fid,is,kid,pr,dc", show_default=True,
              help=f"Comma-separated, from: {', '.join(available_metrics())}.")
@click.option("--per-class", is_flag=True,
              help="Conditional checkpoints: add intra-class FID, conditioning accuracy and class balance (with intervals).")
@click.option("--classifier", default="digits", show_default=True, type=click.Choice(available_extractors()),
              help="--per-class: extractor whose class logits read the classes (one per class of the model).")
@click.option("--per-class-samples", type=click.IntRange(min=10), default=500, show_default=True,
              help="--per-class: samples generated per class (and as many per class for the balance).")
@_source_options
@_handle_errors
def evaluate(metrics: str, **kwargs: Any) -> None:
    """Several metrics from one feature pass per side."""
    _run_evaluation(metrics, **kwargs)


@main.command()
@click.option("--gen", "gens", multiple=True, required=True,
              help="Give twice: generator A, then B (checkpoints, builtin:NAME, directories, .npz…).")
@click.option("--real", required=True, help="Real images, scored once and shared by both generators.")
@click.option("--metrics", "-m", default="fid,pr,dc", show_default=True, help="Comma-separated: fid, is, kid, pr, dc.")
@click.option("--extractor", default=DEFAULT_EXTRACTOR, show_default=True, type=click.Choice(available_extractors()))
@click.option("--weights", type=click.Path(dir_okay=False), default=None, help="Extractor weights file.")
@click.option("--num-samples", "-n", type=click.IntRange(min=2), default=None,
              help="Images per generator [default: all of a finite source, 10000 from a generator].")
@click.option("--num-real", type=click.IntRange(min=2), default=None, help="Cap on real images [default: all].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seeds both generators' noise and the bootstrap.")
@click.option("--ci", "level", type=click.FloatRange(0.5, 1, max_open=True), default=0.95, show_default=True,
              help="Confidence level of the intervals and verdicts.")
@click.option("--bootstrap", type=click.IntRange(min=20), default=DEFAULT_BOOTSTRAP, show_default=True)
@click.option("--no-cache", is_flag=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("--trust-pickle", is_flag=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Also write the comparison as JSON.")
@click.option("--quiet", "-q", is_flag=True)
@_handle_errors
def compare(gens: tuple[str, ...], real: str, metrics: str, extractor: str, weights: str | None,
            num_samples: int | None, num_real: int | None, batch_size: int, device: str, seed: int, level: float,
            bootstrap: int, no_cache: bool, cache_dir: str | None, trust_pickle: bool, json_path: str | None,
            quiet: bool) -> None:
    """Paired comparison of two generators (--gen A --gen B) on the same reference: B − A with intervals.

    The verdict for B is "better" or "worse" when the interval of the difference excludes 0, else
    "no significant difference".
    """
    from gan_eval.compare import compare as run_compare
    from gan_eval.compare import format_comparison

    if len(gens) != 2:
        raise GanEvalError(f"compare needs exactly two --gen (A and B), got {len(gens)}")
    if quiet:
        warnings.simplefilter("ignore")
    result = run_compare(gens[0], gens[1], real, metrics, level=level, bootstrap=bootstrap, extractor=extractor,
                         weights=weights, num_samples=num_samples, num_real=num_real, batch_size=batch_size,
                         device=device, seed=seed, cache=not no_cache, cache_dir=cache_dir, trust_pickle=trust_pickle,
                         progress=False if quiet else None)
    click.echo(format_comparison(result))
    if json_path:
        result.to_json(json_path)
        if not quiet:
            click.echo(f"wrote {json_path}", err=True)


@main.command()
@click.option("--real", required=True, help="Reference images: directory, .npz/.npy or builtin:NAME.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Statistics file to write (.npz).")
@click.option("--extractor", default=DEFAULT_EXTRACTOR, show_default=True, type=click.Choice(available_extractors()))
@click.option("--weights", type=click.Path(dir_okay=False), default=None, help="Extractor weights file.")
@click.option("--num-samples", "-n", type=click.IntRange(min=2), default=None, help="Images to use [default: all].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--fid-only", is_flag=True, help="Store only mean/covariance (small file; FID only).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the feature cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("--skip-bad-files", is_flag=True)
@click.option("--quiet", "-q", is_flag=True)
@_handle_errors
def stats(real: str, output: str, extractor: str, weights: str | None, num_samples: int | None, batch_size: int,
          device: str, fid_only: bool, no_cache: bool, cache_dir: str | None, skip_bad_files: bool, quiet: bool) -> None:
    """Precompute reference statistics once; pass the file as --real later."""
    if quiet:
        warnings.simplefilter("ignore")
    meta = gan_eval.compute_statistics(
        real, output, extractor=extractor, weights=weights, num_samples=num_samples, batch_size=batch_size,
        device=device, fid_only=fid_only, cache=not no_cache, cache_dir=cache_dir, skip_bad_files=skip_bad_files,
        progress=False if quiet else None,
    )
    click.echo(f"wrote {output}: {meta['n']} images, {meta['extractor']} ({meta['feature_dim']} features)"
               f"{', mean/covariance only' if fid_only else ''}")


def _parse_assignments(pairs: tuple[str, ...]) -> dict[str, object]:
    values: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise GanEvalError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def _parse_json_object(text: str | None, flag: str) -> dict[str, object] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GanEvalError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise GanEvalError(f"{flag} must be a JSON object, e.g. '{{\"hidden_dim\": 16}}'")
    return value


@main.command()
@click.argument("recipe")
@click.option("--data", default="builtin:mnist-train", show_default=True,
              help="Training images: builtin:mnist[-train|-heldout] (with labels) or a directory/array.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write (.safetensors).")
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Generator updates.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: the recipe's]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N] (auto picks CUDA when present).")
@click.option("--resume", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Continue from a checkpoint written by `gan-eval train` (needs its .train.pt beside it).")
@click.option("--sample-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Write a sample grid every N steps into OUTPUT_samples/ (0: off).")
@click.option("--task", type=click.Choice(["edges", "thickness"]), default=None,
              help="pix2pix/cyclegan on MNIST: digit↔edge map, or thin↔thick strokes.")
@click.option("--target", default=None, help="pix2pix/cyclegan on your data: target-domain images (sorted like --data).")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Override a hyper-parameter (repeatable).")
@click.option("--gen-config", default=None, help='Generator config overrides as JSON, e.g. \'{"hidden_dim": 16}\'.')
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N training images.")
@click.option("--labels", type=click.Path(dir_okay=False), default=None,
              help="classifier: CSV with a file column and one 0/1 column per attribute (images under --data DIR).")
@click.option("--quiet", "-q", is_flag=True)
@_handle_errors
def train(recipe: str, data: str, output: str, steps: int, batch_size: int | None, seed: int, device: str,
          resume: str | None, sample_every: int, task: str | None, target: str | None, assignments: tuple[str, ...],
          gen_config: str | None, limit: int | None, labels: str | None, quiet: bool) -> None:
    """Train a reference generator with RECIPE (gan, dcgan, wgan-gp, sngan, cgan, stylegan, stylegan2, pix2pix, cyclegan),
    or an attribute classifier for audits: `train classifier --data DIR --labels labels.csv -o attrs.safetensors`
    (course recipe; --set epochs=3 lr=1e-3 image_size=64 channels=3 hidden_dim=64 val_fraction=0.1)."""
    if recipe == "classifier":
        _train_classifier(data, labels, output, batch_size, seed, device, assignments, quiet)
        return
    if labels is not None:
        raise GanEvalError("--labels is only for `gan-eval train classifier`")
    from gan_eval.pipeline import resolve_device
    from gan_eval.generators.training import train as run_training

    path = run_training(recipe, output, data=data, steps=steps, batch_size=batch_size, seed=seed,
                        device=resolve_device(device), hparams=_parse_assignments(assignments),
                        gen_config=_parse_json_object(gen_config, "--gen-config"), task=task, target=target,
                        resume=resume, sample_every=sample_every, limit=limit, progress=False if quiet else None)
    click.echo(f"wrote {path}")


def _train_classifier(data: str, labels: str | None, output: str, batch_size: int | None, seed: int, device: str,
                      assignments: tuple[str, ...], quiet: bool) -> None:
    from gan_eval.attributes.classifier import train_classifier
    from gan_eval.pipeline import resolve_device

    if labels is None or data.startswith("builtin:"):
        raise GanEvalError("train classifier needs --data DIR (images) and --labels labels.csv (0/1 attribute columns)")
    allowed = {"epochs": int, "lr": float, "image_size": int, "channels": int, "hidden_dim": int, "val_fraction": float}
    hparams: dict[str, Any] = {}
    for key, value in _parse_assignments(assignments).items():
        if key not in allowed:
            raise GanEvalError(f"unknown classifier setting {key!r}; valid: {', '.join(allowed)}")
        try:
            hparams[key] = allowed[key](value)
        except (TypeError, ValueError):
            raise GanEvalError(f"--set {key}= expects a number, got {value!r}") from None
    summary = train_classifier(data, labels, output, batch_size=batch_size or 128, seed=seed,
                               device=resolve_device(device), progress=not quiet, **hparams)
    click.echo(f"held-out accuracy per attribute ({summary['n_heldout']} images; majority-class baseline in brackets):")
    for name, v in summary["heldout"].items():
        click.echo(f"  {name:<24} {100 * v['accuracy']:6.2f} %  [{100 * v['majority_baseline']:.2f} %]")
    click.echo(f"wrote {summary['path']}")


@main.command()
@click.option("--gen", required=True, help="Generator checkpoint, builtin:NAME, or package.module:function.")
@click.option("--num", "-n", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", "-o", required=True, type=click.Path(),
              help="A .png grid, a .npz uint8 array, or a directory of PNG files.")
@click.option("--truncation", type=float, default=None, help="ψ toward the average w, or the truncated-normal threshold.")
@click.option("--class", "label", type=click.IntRange(min=0), default=None, help="Conditional models: this class only.")
@click.option("--source", default=None, help="Image-to-image models: the images to translate.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--trust-pickle", is_flag=True)
@_handle_errors
def sample(gen: str, num: int, seed: int, output: str, truncation: float | None, label: int | None,
           source: str | None, device: str, trust_pickle: bool) -> None:
    """Draw images from a generator, reproducibly (same seed, same images)."""
    from gan_eval.reports.images import write_images

    images = gan_eval.sample_images(gen, num, seed=seed, truncation=truncation, label=label, source=source,
                                    device=device, trust_pickle=trust_pickle)
    click.echo(f"wrote {write_images(images, output)}")


@main.command("import")
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True))
@click.option("--arch", required=True, help="Architecture of the generator in CHECKPOINT (e.g. dcgan, mlp_gan).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write (.safetensors).")
@click.option("--config", "config_json", default=None, help="Constructor config as JSON [default: inferred from shapes].")
@click.option("--key", default=None, help='Entry holding the generator state dict [default: "gen" when present].')
@_handle_errors
def import_checkpoint(checkpoint: str, arch: str, output: str, config_json: str | None, key: str | None) -> None:
    """Convert a course-style {"gen": state_dict} file into a self-describing checkpoint (read with weights_only)."""
    from gan_eval.generators.checkpoint import import_state_dict

    path = import_state_dict(checkpoint, arch, output, _parse_json_object(config_json, "--config"), key)
    click.echo(f"wrote {path}")


@main.command()
@click.option("--output", "-o", default="gan-eval-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the JSON results and image grids.")
@click.option("--num-samples", "-n", type=click.IntRange(min=200), default=2000, show_default=True)
@click.option("--quiet", "-q", is_flag=True)
@_handle_errors
def demo(output: str, num_samples: int, quiet: bool) -> None:
    """Evaluate the bundled generators against held-out MNIST, offline (digits extractor)."""
    from gan_eval.reports.demo import run_demo

    if quiet:
        warnings.simplefilter("ignore")
    table, folder = run_demo(output, num_samples=num_samples, progress=False if quiet else None)
    click.echo(table)
    click.echo(f"\nwrote results and sample grids to {folder}/")


@main.command()
@click.option("--gen", required=True, help="Generator checkpoint with truncation (.safetensors, builtin:NAME).")
@click.option("--real", required=True, help="Real images (directory, .npz/.npy, builtin:NAME) or a statistics .npz.")
@click.option("--psi", required=True, help="Comma-separated truncation values; 'none' (or 'off') = no truncation. "
              "w_avg_lerp models: psi toward the average w (1 = none); z_truncnorm models: threshold > 0.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Folder to write the report into.")
@click.option("--metrics", "-m", default=None, help="Comma-separated [default: fid,pr,dc, plus is when the extractor "
              f"has logits]; from: {', '.join(available_metrics())}.")
@click.option("--extractor", default=DEFAULT_EXTRACTOR, show_default=True,
              type=click.Choice(available_extractors()), help="Feature extractor; `digits` works offline.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None, help="Extractor weights file.")
@click.option("--num-samples", "-n", type=click.IntRange(min=2), default=None,
              help="Generated images per psi [default: 10000].")
@click.option("--num-real", type=click.IntRange(min=2), default=None, help="Cap on real images [default: all].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="The same seed for every psi: the same latents, truncated differently.")
@click.option("--strip", type=click.IntRange(min=0), default=8, show_default=True, help="Sample images shown per psi.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the reference feature cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("--trust-pickle", is_flag=True, help="Allow pickle checkpoints (only for files you trust).")
@click.option("--ci", "ci_level", type=click.FloatRange(0.5, 1, max_open=True), default=None, metavar="LEVEL",
              help="Bootstrap confidence intervals per psi at this level (e.g. 0.95), from the same features.")
@click.option("--bootstrap", type=click.IntRange(min=20), default=None,
              help="Bootstrap resamples for --ci [default: evaluate's], seeded by --seed.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars and no warnings; only the table.")
@_handle_errors
def sweep(gen: str, real: str, psi: str, output: str, metrics: str | None, extractor: str, weights: str | None,
          num_samples: int | None, num_real: int | None, batch_size: int, device: str, seed: int, strip: int,
          no_cache: bool, cache_dir: str | None, trust_pickle: bool, ci_level: float | None, bootstrap: int | None,
          quiet: bool) -> None:
    """Truncation sweep: FID, precision/recall, density/coverage (and IS) per psi; CSV, JSON, plot, HTML."""
    from pathlib import Path

    from gan_eval.sweep import sweep as run_sweep
    from gan_eval.reports.sweep_report import format_sweep_table, write_sweep

    if quiet:
        warnings.simplefilter("ignore")
    if Path(output).exists() and not Path(output).is_dir():
        raise GanEvalError(f"--output {output} exists and is not a folder")
    result = run_sweep(gen, real, psi, metrics, extractor=extractor, weights=weights, num_samples=num_samples,
                       num_real=num_real, batch_size=batch_size, device=device, seed=seed, cache=not no_cache,
                       cache_dir=cache_dir, trust_pickle=trust_pickle, progress=False if quiet else None, strip=strip,
                       ci=ci_level, bootstrap=bootstrap)
    write_sweep(result, output)
    click.echo(format_sweep_table(result))
    click.echo(f"\nwrote sweep.csv, sweep.json, sweep.png/.svg, strips/ and index.html to {output}/")


@main.command()
@click.option("--gen", required=True, help="Generator: checkpoint, builtin:NAME, directory, .npz, package.module:function.")
@click.option("--real", default=None, help="Real images (same kinds): the reference distribution and joint structure.")
@click.option("--attributes", "-a", default="digits,morphometry", show_default=True,
              help="Attribute extractors, comma-separated: digits, morphometry, classifier:PATH, plug-ins.")
@click.option("--classifier", type=click.Path(dir_okay=False), default=None,
              help="An attribute classifier from `gan-eval train classifier` (added to --attributes).")
@click.option("--target", default=None, help="Latent-walk target score(s), comma-separated (e.g. Male, digit=3, "
              "thickness) [default: the most mis-represented level and the most shifted continuous attribute].")
@click.option("--reference", default="real", show_default=True,
              help="real, uniform, or a JSON file of target proportions {attribute: {level: p}}.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Folder for report.html, CSVs, summary.json.")
@click.option("--num-samples", "-n", type=click.IntRange(min=20), default=2000, show_default=True, help="Generated images.")
@click.option("--num-real", type=click.IntRange(min=20), default=None, help="Cap on real images [default: all].")
@click.option("--bootstrap", type=click.IntRange(min=20), default=200, show_default=True, help="Bootstrap resamples.")
@click.option("--walk-images", type=click.IntRange(min=4), default=64, show_default=True)
@click.option("--walk-steps", type=click.IntRange(min=1), default=8, show_default=True, help="Steps in each direction.")
@click.option("--walk-step-size", type=click.FloatRange(min=0, min_open=True), default=0.25, show_default=True,
              help="Latent distance per step.")
@click.option("--walk-mode", type=click.Choice(["auto", "gradient", "boundary"]), default="auto", show_default=True)
@click.option("--no-walks", is_flag=True, help="Skip the latent-walk section.")
@click.option("--threshold", "threshold_pairs", multiple=True, metavar="NAME=VALUE",
              help="Override a default threshold (repeatable), e.g. tv_fail=0.2.")
@click.option("--rules", type=click.Path(dir_okay=False), default=None,
              help="`gan-eval gate` rules (TOML, min/max) judged on summary.json's metrics; failures fail the audit.")
@click.option("--fail-on", type=click.Choice(["never", "fail", "warn"]), default=None,
              help="Exit 1 when the verdict is at least this bad [default: fail with --rules, else never].")
@click.option("--val-data", type=click.Path(file_okay=False), default=None,
              help="Labelled real images for measuring extractor error (with --val-labels).")
@click.option("--val-labels", type=click.Path(dir_okay=False), default=None,
              help="CSV: file column + columns named like attributes (0/1, or level names); corrects proportions.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--truncation", type=float, default=None, help="Generator checkpoints: truncation (as for evaluate).")
@click.option("--class", "label", type=click.IntRange(min=0), default=None, help="Conditional checkpoints: this class only.")
@click.option("--trust-pickle", is_flag=True)
@click.option("--quiet", "-q", is_flag=True)
@_handle_errors
def audit(gen: str, real: str | None, attributes: str, classifier: str | None, target: str | None, reference: str,
          output: str, num_samples: int, num_real: int | None, bootstrap: int, walk_images: int, walk_steps: int,
          walk_step_size: float, walk_mode: str, no_walks: bool, threshold_pairs: tuple[str, ...], rules: str | None,
          fail_on: str | None, val_data: str | None, val_labels: str | None, seed: int, batch_size: int, device: str,
          truncation: float | None, label: int | None, trust_pickle: bool, quiet: bool) -> None:
    """Bias and covariance audit: representation, joint structure, latent walks -> report.html, CSVs, summary.json."""
    from pathlib import Path

    from gan_eval.audit import audit as run_audit

    if Path(output).exists() and not Path(output).is_dir():
        raise GanEvalError(f"--output {output} exists and is not a directory")
    if (val_data is None) != (val_labels is None):
        raise GanEvalError("--val-data and --val-labels go together")
    if quiet:
        warnings.simplefilter("ignore")
    result = run_audit(gen, real, attributes, classifier=classifier, reference=reference, num_samples=num_samples,
                       num_real=num_real, seed=seed, batch_size=batch_size, bootstrap=bootstrap, walk_targets=target,
                       walks=not no_walks, walk_images=walk_images, walk_steps=walk_steps,
                       walk_step_size=walk_step_size, walk_mode=walk_mode, thresholds=_parse_assignments(threshold_pairs),
                       rules=rules, device=device, truncation=truncation, label=label, trust_pickle=trust_pickle,
                       validation=(val_data, val_labels) if val_data else None,
                       log=None if quiet else (lambda msg: click.echo(f"audit: {msg}", err=True)))
    folder = result.write(output)
    counts = {s: sum(f["status"] == s for f in result.findings) for s in ("FAIL", "WARN")}
    click.echo(f"verdict: {result.verdict} ({counts['FAIL']} failed, {counts['WARN']} warnings)")
    for f in result.findings[:8]:
        click.echo(f"  {f['status']:<4} {f['message']}")
    click.echo(f"wrote {folder}/report.html, summary.json and CSV tables")
    fail_on = fail_on or ("fail" if rules else "never")
    bad = {"never": (), "fail": ("FAIL",), "warn": ("FAIL", "WARN")}[fail_on]
    if result.verdict in bad:
        sys.exit(1)


@main.group()
def weights() -> None:
    """Where the InceptionV3 weights are, check them, or download them."""


@weights.command("path")
@click.option("--weights", "path", type=click.Path(dir_okay=False), default=None, help="Check this file instead.")
@_handle_errors
def weights_path(path: str | None) -> None:
    """Print the weights file that would be used (exit 1 when there is none)."""
    resolved = weights_mod.resolve_inception_weights(path, allow_download=False)
    click.echo(f"{resolved.path}  ({resolved.origin})")


@weights.command("verify")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@_handle_errors
def weights_verify(path: str | None) -> None:
    """Check that a weights file (default: the resolved one) is the official Inception file."""
    resolved = weights_mod.resolve_inception_weights(path, allow_download=False)
    if resolved.official:
        click.echo(f"OK  {resolved.path}  sha256 {resolved.sha256}")
        return
    click.echo(f"MISMATCH  {resolved.path}  sha256 {resolved.sha256} does not start with "
               f"{weights_mod.INCEPTION_SHA256_PREFIX} (not the official {weights_mod.INCEPTION_FILENAME})", err=True)
    sys.exit(1)


@weights.command("download")
@_handle_errors
def weights_download() -> None:
    """Download the official file into the torch hub cache, verifying its SHA-256."""
    cached = weights_mod.hub_cache_path()
    if cached.is_file():
        resolved = weights_mod.resolve_inception_weights(None, allow_download=False)
        click.echo(f"already present: {resolved.path}  sha256 {resolved.sha256}")
        return
    resolved = weights_mod.download_inception_weights()
    click.echo(f"downloaded {resolved.path}  sha256 {resolved.sha256}")


@main.command("gate")
@click.argument("run", type=click.Path(dir_okay=False))
@click.option("--baseline", "-b", "baseline_path", type=click.Path(dir_okay=False), default=None,
              help="Baseline result JSON (from `gan-eval baseline update`); needed by max_regression rules.")
@click.option("--rules", "-r", "rules_path", type=click.Path(dir_okay=False), default=None,
              help="Rules file (TOML, [[rule]] tables) [default: no metric may get worse than the baseline].")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), default=None,
              help="Write a JUnit XML report (one test case per rule) to this file.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default=None,
              help="Write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY) to this file.")
@_handle_errors
def gate_command(run: str, baseline_path: str | None, rules_path: str | None, junit_path: str | None,
                 markdown_path: str | None) -> None:
    """Judge RUN.json (from `evaluate --json`) against rules and a baseline.

    Exit code 0: every rule passed (warnings included); 1: a rule failed; 2: the gate could not be
    evaluated (missing file, bad rules, schema mismatch, incompatible provenance, metric missing).
    """
    import traceback

    from gan_eval import gate as gating

    try:
        run_doc = gating.load_result(run)
        base_doc = gating.load_result(baseline_path) if baseline_path else None
        rules = gating.load_rules(rules_path) if rules_path else None
        report = gating.run_gate(run_doc, base_doc, rules)
    except GanEvalError as exc:
        report = gating.error_report(str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash must read as "not evaluated" (2), never as a failed rule (1)
        traceback.print_exc()
        report = gating.error_report(f"internal error: {type(exc).__name__}: {exc}")
    if report.error is None:
        click.echo(gating.format_table(report))
    from gan_eval.files import write_text_atomic

    for path, render in ((junit_path, gating.to_junit_xml), (markdown_path, gating.to_markdown)):
        if path:
            try:
                write_text_atomic(path, render(report))
            except OSError as exc:
                raise gating.GateError(f"cannot write {path}: {exc}") from None
    if report.error is not None:
        raise gating.GateError(report.error)
    sys.exit(report.exit_code)


@main.group()
def baseline() -> None:
    """Baseline result files for `gan-eval gate`."""


@baseline.command("update")
@click.argument("run", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Baseline file to write.")
@click.option("--force", is_flag=True, help="Replace a baseline even when its provenance is incompatible.")
@_handle_errors
def baseline_update(run: str, output: str, force: bool) -> None:
    """Make RUN.json the baseline (validated, written atomically, with when/where it came from).

    Refuses (exit 2) to replace a baseline evaluated differently (extractor, weights, N, metric
    options) unless --force.
    """
    from gan_eval.gate import update_baseline

    doc = update_baseline(run, output, force=force)
    click.echo(f"wrote {output}: {len(doc['metrics'])} metrics from {run} ({doc['baseline']['updated']})")


if __name__ == "__main__":
    main()
