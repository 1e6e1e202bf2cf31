"""The ``gan-eval`` command: parses options, calls the :mod:`gan_eval` API, prints results.

Errors the user can fix end with one line on stderr and exit code 1 (never a traceback).
"""

from __future__ import annotations

import functools
import sys
import warnings
from typing import Any, Callable

import click

import gan_eval
from gan_eval import weights as weights_mod
from gan_eval.errors import GanEvalError
from gan_eval.extractors import available_extractors
from gan_eval.metrics import MetricOptions, available_metrics


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
        click.option("--extractor", default=gan_eval.api.DEFAULT_EXTRACTOR, show_default=True,
                     type=click.Choice(available_extractors()), help="Feature extractor; `digits` works offline."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Extractor weights file (else $GAN_EVAL_WEIGHTS, torch hub cache, download)."),
        click.option("--num-samples", "-n", type=click.IntRange(min=2), default=None,
                     help="Generated images to use [default: all of a finite source, 10000 from a generator]."),
        click.option("--num-real", type=click.IntRange(min=2), default=None, help="Cap on real images [default: all]."),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N]."),
        click.option("--seed", type=int, default=gan_eval.api.DEFAULT_SEED, show_default=True,
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
        click.option("--quiet", "-q", is_flag=True, help="No progress bars and no warnings; only the table."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_evaluation(metrics: str, gen: str, real: str, extractor: str, weights: str | None, num_samples: int | None,
                    num_real: int | None, batch_size: int, device: str, seed: int, kid_subsets: int,
                    kid_subset_size: int, no_cache: bool, cache_dir: str | None, skip_bad_files: bool,
                    trust_pickle: bool, json_path: str | None, quiet: bool) -> None:
    if quiet:
        warnings.simplefilter("ignore")
    result = gan_eval.evaluate(
        gen=gen, real=real, metrics=metrics, extractor=extractor, weights=weights, num_samples=num_samples,
        num_real=num_real, batch_size=batch_size, device=device, seed=seed, cache=not no_cache, cache_dir=cache_dir,
        skip_bad_files=skip_bad_files, trust_pickle=trust_pickle,
        options=MetricOptions(kid_subsets=kid_subsets, kid_subset_size=kid_subset_size),
        progress=False if quiet else None,
    )
    from reports import format_result_table

    click.echo(format_result_table(result))
    if json_path:
        result.to_json(json_path)
        if not quiet:
            click.echo(f"wrote {json_path}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(gan_eval.__version__, prog_name="gan-eval")
def main() -> None:
    """Evaluate generative image models: FID, IS, KID, precision/recall, density/coverage.

    Offline quick start (bundled MNIST and digit network, no download):

      gan-eval evaluate --gen builtin:mnist-train --real builtin:mnist-heldout --extractor digits
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
@_source_options
@_handle_errors
def evaluate(metrics: str, **kwargs: Any) -> None:
    """Several metrics from one feature pass per side."""
    _run_evaluation(metrics, **kwargs)


@main.command()
@click.option("--real", required=True, help="Reference images: directory, .npz/.npy or builtin:NAME.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Statistics file to write (.npz).")
@click.option("--extractor", default=gan_eval.api.DEFAULT_EXTRACTOR, show_default=True, type=click.Choice(available_extractors()))
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


if __name__ == "__main__":
    main()
