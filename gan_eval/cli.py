"""The ``gan-eval`` command: parse the options, make one library call, print the result.

- **Shared options are declared once.** :func:`shared_options` builds every command's shared click
  options (``--seed``, ``--device``, ``--batch-size``, ...) from :data:`gan_eval.options.SHARED`, so each
  has the same default and the same help in every command, and hands the command one
  :class:`~gan_eval.options.Options`. :data:`LOCAL_FLAGS` lists the few commands where a shared flag
  means something else on purpose (tests/test_cli_options.py checks both).
- **Choices come from the registries when they are needed** (help shown, value checked), so
  installed plug-ins appear in ``--extractor``, ``--classifier``, ``--metrics`` and ``--attributes``.
- **One error boundary** (:class:`GanEvalApp`): a :class:`~gan_eval.errors.GanEvalError` ends with one
  line ``gan-eval: error: ...`` and its exit code (1; 2 for ``gate`` and ``baseline``); Ctrl-C with 130,
  SIGTERM with 143 (both unwind, so no half-written output or temp file stays); anything else is a bug:
  one line ``gan-eval: internal error: ...`` and exit 3 (``gan-eval --debug`` or ``GAN_EVAL_DEBUG=1``
  shows the traceback).
- **Start-up stays light:** this module imports click, the standard library, ``gan_eval.errors`` and
  ``gan_eval.options`` only; each command imports what it uses, so ``--help``, ``gate`` and ``baseline``
  never load torch.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from gan_eval import __version__
from gan_eval.errors import GanEvalError
from gan_eval.extractors.resize import RESIZE_MODES
from gan_eval.metrics.ppl import SAMPLINGS as PPL_SAMPLINGS
from gan_eval.metrics.ppl import SPACES as PPL_SPACES
from gan_eval.metrics.ppl import SPEC as PPL_SPEC
from gan_eval.options import MIN_BOOTSTRAP, SHARED, Options

# --------------------------------------------------------------------------- registry-backed choices


def extractor_names() -> list[str]:
    """Registered feature extractors, built-ins and plug-ins (listing imports none of them)."""
    from gan_eval.extractors import available_extractors

    return list(available_extractors())


def metric_names() -> list[str]:
    """Registered metrics, built-ins and plug-ins."""
    from gan_eval.metrics import available_metrics

    return list(available_metrics())


def attribute_names() -> list[str]:
    """Registered attribute extractors, built-ins and plug-ins (``classifier`` takes ``:PATH``)."""
    from gan_eval.attributes import available_attribute_extractors

    return [f"{name}:PATH" if name == "classifier" else name for name in available_attribute_extractors()]


class RegistryChoice(click.Choice):
    """A :class:`click.Choice` whose choices are read from a registry each time they are needed.

    Click asks for them only to render ``--help`` and to check a value, so a plug-in installed after
    this module was imported (or registered at run time) is listed and accepted.
    """

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._names = names
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: Any) -> None:  # click.Choice.__init__ assigns; the registry is the source
        pass


class OutputPath(click.Path):
    """A path the command will write: click's own checks (usage errors, exit 2), then, before any work,
    :func:`gan_eval.files.check_output_path` (missing or unwritable folder: one line and ``exit_code``).

    ``folder``: True for an output folder, False for a file, None for either (``sample -o``).
    """

    def __init__(self, folder: bool | None = False, exit_code: int = 1) -> None:
        super().__init__(file_okay=folder is not True, dir_okay=folder is not False)
        self.folder = folder
        self.exit_code = exit_code

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from gan_eval.files import check_output_path

        value = super().convert(value, param, ctx)
        try:
            check_output_path(value, folder=self.folder)
        except GanEvalError as exc:
            exc.exit_code = self.exit_code
            raise
        return value


class LazyHelpOption(click.Option):
    """A click option whose help text is built when help is rendered (e.g. to list a registry's names)."""

    def __init__(self, *args: Any, help_text: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._help_text = help_text

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self._help_text()
        return super().get_help_record(ctx)


# --------------------------------------------------------------------------- shared options, declared once


class SharedOption(click.Option):
    """A click option declared from :data:`~gan_eval.options.SHARED`: its help and default come from the table.

    ``shared_name`` is the :class:`~gan_eval.options.Options` field; ``to_value`` maps the parsed
    value onto it (``--quiet`` -> ``progress=False``).
    """

    def __init__(self, *args: Any, shared_name: str, to_value: Callable[[Any], Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shared_name = shared_name
        self.to_value = to_value or (lambda value: value)


def _quiet_to_progress(quiet: bool) -> bool | None:
    return False if quiet else None


#: How each shared option is spelled on the command line: declarations, click settings, and (when
#: the flag is not the field itself) how its value maps onto the Options field. Defaults and help
#: come from SHARED, never from here.
_CLI_SPELLING: dict[str, tuple[tuple[str, ...], dict[str, Any], Callable[[Any], Any] | None]] = {
    "extractor": (("--extractor",), {"type": RegistryChoice(extractor_names)}, None),
    "weights": (("--weights",), {"type": click.Path(dir_okay=False)}, None),
    "resize": (("--resize",), {"type": click.Choice(RESIZE_MODES)}, None),
    "num_samples": (("--num-samples", "-n"), {"type": click.IntRange(min=2)}, None),
    "num_real": (("--num-real",), {"type": click.IntRange(min=2)}, None),
    "batch_size": (("--batch-size",), {"type": click.IntRange(min=1)}, None),
    "workers": (("--workers",), {"type": click.IntRange(min=0)}, None),
    "device": (("--device",), {"type": str}, None),
    "seed": (("--seed",), {"type": int}, None),
    "ci": (("--ci",), {"type": click.FloatRange(0.5, 1, max_open=True), "metavar": "LEVEL"}, None),
    "bootstrap": (("--bootstrap",), {"type": click.IntRange(min=MIN_BOOTSTRAP)}, None),
    "cache": (("--cache/--no-cache",), {}, None),
    "cache_dir": (("--cache-dir",), {"type": click.Path(file_okay=False)}, None),
    "skip_bad_files": (("--skip-bad-files",), {"is_flag": True}, None),
    "trust_pickle": (("--trust-pickle",), {"is_flag": True}, None),
    "progress": (("--quiet", "-q", "quiet"), {"is_flag": True}, _quiet_to_progress),
}

#: (command path, flag) -> why that command declares its own option under a shared flag. Everything
#: else spelled like a shared option must be the shared declaration (tests/test_cli_options.py).
LOCAL_FLAGS: dict[tuple[str, str], str] = {
    ("stats", "--num-samples"): "reference images to read [default: all], not generated samples",
    ("audit", "--num-samples"): "the audit draws 2000 samples from a generator by default (at least 20), not 10000",
    ("demo", "--num-samples"): "samples per bundled generator, 2000 by default (at least 200)",
    ("train", "--batch-size"): "a recipe hyper-parameter whose default is the recipe's, not the evaluation batch",
}


def shared_flags() -> set[str]:
    """Every long flag a shared option is spelled with (``--seed``, ``--no-cache``, ``--quiet``...)."""
    flags: set[str] = set()
    for decls, _, _ in _CLI_SPELLING.values():
        for decl in decls:
            flags.update(part for part in decl.split("/") if part.startswith("--"))
    return flags


def _param_name(decls: tuple[str, ...]) -> str:
    """The keyword click passes a declaration's value as (``--num-samples`` -> ``num_samples``)."""
    for decl in decls:
        if decl.isidentifier():
            return decl
    flag = next(decl for decl in decls if decl.startswith("--"))
    return flag.split("/")[0][2:].replace("-", "_")


def shared_option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare one shared option; the command gets its value as a plain keyword (see :func:`shared_options`)."""
    info = SHARED[name]
    decls, settings, to_value = _CLI_SPELLING[name]
    # A flag spelled differently from its field (--quiet for progress) starts off; to_value(off) is the table's default.
    default = info.default if to_value is None else False
    show_default = info.default is not None and info.default is not False
    return click.option(*decls, cls=SharedOption, shared_name=name, to_value=to_value, default=default,
                        show_default=show_default, help=info.help, **settings)


def shared_options(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the shared options ``names`` (in the table's order) and pass them as one ``options: Options``.

    ``--quiet`` also hides warnings for the rest of the command (the error boundary restores them).
    """
    unknown = sorted(set(names) - set(SHARED))
    if unknown:
        raise ValueError(f"not shared options: {', '.join(unknown)}")
    ordered = [name for name in SHARED if name in names]
    params = {name: _param_name(_CLI_SPELLING[name][0]) for name in ordered}

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {}
            for name in ordered:
                to_value = _CLI_SPELLING[name][2]
                raw = kwargs.pop(params[name])
                values[name] = to_value(raw) if to_value else raw
            options = Options(**values)
            if options.progress is False:
                warnings.simplefilter("ignore")
            return func(*args, options=options, **kwargs)

        for name in reversed(ordered):
            wrapper = shared_option(name)(wrapper)
        return wrapper

    return decorate


# --------------------------------------------------------------------------- torchrun


def distributed_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command that extracts features sharded over the processes torchrun started.

    With ``WORLD_SIZE`` > 1 in the environment it joins the process group (``nccl`` for a CUDA
    ``--device``, else ``gloo``; see :func:`gan_eval.distributed.init_from_env`), runs the command under
    :func:`gan_eval.distributed.guard` (one rank's failure fails every rank with its message, never a
    hang) and leaves the group at the end. Ranks other than 0 show no progress and no warnings; the
    command prints and writes only where :func:`gan_eval.distributed.is_writer`. Placed under
    :func:`shared_options` (it reads ``--device``); without torchrun it only calls the command.
    """
    @functools.wraps(func)
    def wrapper(*args: Any, options: Options, **kwargs: Any) -> Any:
        from gan_eval import distributed  # light: torch only once a group is joined

        if distributed.env_world_size() <= 1:
            return func(*args, options=options, **kwargs)
        from gan_eval.pipeline import resolve_device

        distributed.init_from_env(resolve_device(options.device))
        try:
            with distributed.guard():
                if not distributed.is_writer():
                    options = options.but(progress=False)
                    warnings.simplefilter("ignore")
                return func(*args, options=options, **kwargs)
        finally:
            distributed.shutdown()

    return wrapper


def is_writer() -> bool:
    """True where results are printed and files written: always, except on torchrun ranks other than 0."""
    from gan_eval.distributed import is_writer as writer

    return writer()


# --------------------------------------------------------------------------- the error boundary


def _one_line_warnings(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                       line: str | None = None) -> None:
    print(f"gan-eval: warning: {_one_line(str(message))}", file=sys.stderr)  # one line, whatever the message


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


DEBUG_ENV = "GAN_EVAL_DEBUG"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt so every ``finally`` runs.

    A KeyboardInterrupt subclass on purpose: code that already cleans up after Ctrl-C (atomic writes
    remove their temp file, training loops stop) does the same for a CI job's or a scheduler's kill.
    """


def debug_requested(flag: bool = False) -> bool:
    """``--debug``, or ``GAN_EVAL_DEBUG`` set to anything but empty, 0, false, no or off."""
    return flag or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _raise_terminated(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: a second must not interrupt the cleanup
    raise Terminated()


@contextlib.contextmanager
def _printable_streams() -> Iterator[None]:
    """Strict stdout and stderr write undecodable file names (surrogate escapes) as ``\\udcff`` instead of failing.

    Names that are not valid UTF-8 reach Python as lone surrogates; a UTF-8 terminal with strict errors
    would turn printing one into a crash at the very end of a run.
    """
    previous = []
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":  # surrogateescape gives the bytes back
            previous.append((stream, stream.errors))
            stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        for stream, errors in previous:
            stream.reconfigure(errors=errors)


class _SigtermRaises:
    """While active (main thread only), SIGTERM raises :class:`Terminated`; the old handler comes back after."""

    def __enter__(self) -> None:
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            try:
                self.previous = signal.signal(signal.SIGTERM, _raise_terminated)
            except (ValueError, OSError):  # no signals here (an embedded interpreter): keep the default
                self.previous = None

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


class GanEvalApp(click.Group):
    """The ``gan-eval`` group, and the one error boundary around every command it runs.

    :class:`~gan_eval.errors.GanEvalError` -> ``gan-eval: error: <message>`` and its ``exit_code``;
    KeyboardInterrupt -> 130 and SIGTERM -> 143 (the handler raises :class:`Terminated`, so atomic
    writes remove their temp file and nothing half-written stays); any other exception is a bug -> one
    line and exit 3. ``--debug`` (or ``GAN_EVAL_DEBUG=1``) adds the traceback. Click's own usage errors
    keep click's handling (exit 2). Warnings print as one ``gan-eval: warning:`` line each; warning
    filters set by a command are undone afterwards.
    """

    def invoke(self, ctx: click.Context) -> Any:
        debug = debug_requested(bool(ctx.params.get("debug")))
        with warnings.catch_warnings(), _SigtermRaises(), _printable_streams():
            warnings.showwarning = _one_line_warnings
            try:
                return super().invoke(ctx)
            except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
                raise
            except GanEvalError as exc:
                if debug:
                    traceback.print_exc()
                click.echo(f"gan-eval: error: {exc}", err=True)
                sys.exit(exc.exit_code)
            except Terminated:
                click.echo("gan-eval: terminated; nothing was written", err=True)
                sys.exit(143)
            except KeyboardInterrupt:
                click.echo("gan-eval: interrupted; nothing was written", err=True)
                sys.exit(130)
            except Exception as exc:  # noqa: BLE001 - the boundary: a bug is reported as one, never as a user error
                if debug:
                    traceback.print_exc()
                hint = "a bug; please report it" if debug else \
                    "a bug; please report it; rerun with --debug for the traceback"
                click.echo(f"gan-eval: internal error: {type(exc).__name__}: {_one_line(str(exc))} ({hint})", err=True)
                sys.exit(3)


@click.group(cls=GanEvalApp, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="gan-eval")
@click.option("--debug", is_flag=True, help="Show the traceback of an error (for a bug report); also GAN_EVAL_DEBUG=1.")
def main(debug: bool) -> None:
    """Evaluate generative image models: FID, IS, KID, precision/recall, density/coverage.

    Offline quick start (bundled generators, MNIST and digit network, no download):

      gan-eval demo

      gan-eval evaluate --gen builtin:dcgan --real builtin:mnist-heldout --extractor digits
    """


# --------------------------------------------------------------------------- evaluate, fid, compare, stats


#: PPL's option defaults, read from its metric record (unset flags leave them to the record).
_PPL_DEFAULTS = {option.name: option.default for option in PPL_SPEC.options}


def _evaluation_inputs(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of ``fid`` and ``evaluate`` that are not shared: the two sides and metric settings."""
    options = [
        click.option("--gen", required=True, help="Generated images: directory, .npz/.npy, builtin:NAME or package.module:function."),
        click.option("--real", default=None, help="Real images (same kinds) or a statistics .npz from `gan-eval stats` "
                     "(needed by every metric but is and ppl)."),
        click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True),
        click.option("--ppl-space", type=click.Choice(PPL_SPACES), default=None,
                     help=f"PPL: latent space, z (slerp) or w (lerp; StyleGAN's mapping network) "
                          f"[default: {_PPL_DEFAULTS['ppl_space']}]."),
        click.option("--ppl-epsilon", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                     help=f"PPL: step along the latent path [default: {_PPL_DEFAULTS['ppl_epsilon']:g}]."),
        click.option("--ppl-sampling", type=click.Choice(PPL_SAMPLINGS), default=None,
                     help=f"PPL: path points, end (t=0) or full (t ~ U(0,1)) [default: {_PPL_DEFAULTS['ppl_sampling']}]."),
        click.option("--ppl-crop", is_flag=True, default=None, help="PPL: StyleGAN's central face crop (FFHQ)."),
        click.option("--ppl-weights", type=click.Path(dir_okay=False), default=None,
                     help="PPL: LPIPS linear-layer weights (torch-fidelity's weights-vgg16-lpips.pth) [default: "
                          "$GAN_EVAL_WEIGHTS_LPIPS, torch hub cache, download]."),
        click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True,
                     help="Shrunk (with a warning) when larger than either side."),
        click.option("--json", "json_path", type=OutputPath(), default=None,
                     help="Also write the metrics and provenance as JSON to this file."),
        click.option("--truncation", type=float, default=None,
                     help="Generator checkpoints: ψ toward the average w, or the truncated-normal threshold (by model)."),
        click.option("--class", "label", type=click.IntRange(min=0), default=None,
                     help="Conditional checkpoints: generate only this class."),
        click.option("--source", default=None, help="Image-to-image checkpoints: the images to translate (DIR, .npz, builtin:...)."),
        click.option("--paired", is_flag=True, help="With --source: the i-th translation's target is the i-th --real image "
                     "(adds L1, PSNR, SSIM)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_EVALUATION_OPTIONS = tuple(SHARED)  # fid and evaluate take every shared option


def _run_evaluation(options: Options, metrics: str, gen: str, real: str | None, kid_subsets: int,
                    kid_subset_size: int, json_path: str | None, truncation: float | None, label: int | None,
                    source: str | None, paired: bool, per_class: bool = False, classifier: str = "digits",
                    per_class_samples: int = 500, **ppl: Any) -> None:
    from gan_eval.metrics import MetricOptions
    from gan_eval.reports import format_result_table

    ppl_options = {name: value for name, value in ppl.items() if value is not None}  # unset: the record's default
    inputs: dict[str, Any] = {"metric_options": MetricOptions(kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                                                              **ppl_options),
                              "truncation": truncation, "label": label, "source": source, "paired": paired}
    if per_class:
        from gan_eval.conditional import evaluate_with_classes

        result = evaluate_with_classes(gen, real, metrics, options, classifier=classifier,
                                       num_per_class=per_class_samples, **inputs)
    else:
        from gan_eval.api import evaluate as run_evaluate

        result = run_evaluate(gen, real, metrics, options, **inputs)
    _emit(format_result_table(result), result, json_path, options)


def _emit(table: str, result: Any, json_path: str | None, options: Options) -> None:
    """Print a result's table and write its JSON (rank 0 only under torchrun)."""
    if not is_writer():
        return
    click.echo(table)
    if json_path:
        result.to_json(json_path)
        if options.progress is not False:
            click.echo(f"wrote {json_path}", err=True)


@main.command()
@_evaluation_inputs
@shared_options(*_EVALUATION_OPTIONS)
@distributed_command
def fid(options: Options, **kwargs: Any) -> None:
    """Fréchet Inception Distance between --gen and --real."""
    _run_evaluation(options, "fid", **kwargs)


@main.command()
@click.option("--metrics", "-m", default="fid,is,kid,pr,dc", show_default=True, cls=LazyHelpOption,
              help_text=lambda: f"Comma-separated, from: {', '.join(metric_names())}.")
@click.option("--per-class", is_flag=True,
              help="Conditional checkpoints: add intra-class FID, conditioning accuracy and class balance (with intervals).")
@click.option("--classifier", default="digits", show_default=True, type=RegistryChoice(extractor_names),
              help="--per-class: extractor whose class logits read the classes (one per class of the model).")
@click.option("--per-class-samples", type=click.IntRange(min=10), default=500, show_default=True,
              help="--per-class: samples generated per class (and as many per class for the balance).")
@_evaluation_inputs
@shared_options(*_EVALUATION_OPTIONS)
@distributed_command
def evaluate(options: Options, metrics: str, **kwargs: Any) -> None:
    """Several metrics from one feature pass per side."""
    _run_evaluation(options, metrics, **kwargs)


@main.command()
@click.option("--gen", "gens", multiple=True, required=True,
              help="Give twice: generator A, then B (checkpoints, builtin:NAME, directories, .npz…).")
@click.option("--real", required=True, help="Real images, scored once and shared by both generators.")
@click.option("--metrics", "-m", default="fid,pr,dc", show_default=True, help="Comma-separated: fid, is, kid, pr, dc.")
@click.option("--json", "json_path", type=OutputPath(), default=None, help="Also write the comparison as JSON.")
@shared_options("extractor", "weights", "resize", "num_samples", "num_real", "batch_size", "workers", "device", "seed", "ci",
                "bootstrap", "cache", "cache_dir", "trust_pickle", "progress")
@distributed_command
def compare(options: Options, gens: tuple[str, ...], real: str, metrics: str, json_path: str | None) -> None:
    """Paired comparison of two generators (--gen A --gen B) on the same reference: B − A with intervals.

    The verdict for B is "better" or "worse" when the interval of the difference excludes 0, else
    "no significant difference". Without --ci the intervals are at 0.95.
    """
    from gan_eval.compare import compare as run_compare
    from gan_eval.reports.table import format_comparison

    if len(gens) != 2:
        raise GanEvalError(f"compare needs exactly two --gen (A and B), got {len(gens)}")
    result = run_compare(gens[0], gens[1], real, metrics, options)
    _emit(format_comparison(result), result, json_path, options)


@main.command()
@click.option("--real", required=True, help="Reference images: directory, .npz/.npy or builtin:NAME.")
@click.option("--output", "-o", required=True, type=OutputPath(), help="Statistics file to write (.npz).")
@click.option("--num-samples", "-n", type=click.IntRange(min=2), default=None, help="Images to use [default: all].")
@click.option("--fid-only", is_flag=True, help="Store only mean/covariance (small file; FID only).")
@shared_options("extractor", "weights", "resize", "batch_size", "workers", "device", "cache", "cache_dir", "skip_bad_files",
                "progress")
@distributed_command
def stats(options: Options, real: str, output: str, num_samples: int | None, fid_only: bool) -> None:
    """Precompute reference statistics once; pass the file as --real later."""
    from gan_eval.api import compute_statistics

    meta = compute_statistics(real, output, options.but(num_samples=num_samples), fid_only=fid_only)
    if not is_writer():
        return
    click.echo(f"wrote {output}: {meta['n']} images, {meta['extractor']} ({meta['feature_dim']} features)"
               f"{', mean/covariance only' if fid_only else ''}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def extractors(as_json: bool) -> None:
    """List the feature extractors --extractor accepts (built-ins and installed plug-ins): feature size,
    input size, weights file and its state (verified / found / mismatch / missing), and its URL.

    Weights are looked for as --weights does: the extractor's environment variable, then the torch hub
    cache ($TORCH_HOME/hub/checkpoints). Plug-ins that declare no facts show "?".
    """
    from gan_eval.extractors.catalog import describe_extractors

    rows = describe_extractors()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("name", "features", "input", "weights", "state", "url")
    table = [header] + [(str(r["name"]), str(r["feature_dim"]), str(r["input_size"]), str(r["weights_file"]),
                         str(r["state"]), " ".join(x for x in (r["url"], r["note"] and f"({r['note']})") if x)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


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
@click.option("--output", "-o", required=True, type=OutputPath(), help="Checkpoint to write (.safetensors).")
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Generator updates.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: the recipe's]")
@shared_option("seed")
@shared_option("device")
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
@shared_option("progress")
def train(recipe: str, data: str, output: str, steps: int, batch_size: int | None, seed: int, device: str,
          resume: str | None, sample_every: int, task: str | None, target: str | None, assignments: tuple[str, ...],
          gen_config: str | None, limit: int | None, labels: str | None, quiet: bool) -> None:
    """Train a reference generator with RECIPE (gan, dcgan, wgan-gp, sngan, cgan, stylegan, stylegan2, pix2pix, cyclegan),
    or an attribute classifier for audits: `train classifier --data DIR --labels labels.csv -o attrs.safetensors`
    (course recipe; --set epochs=3 lr=1e-3 image_size=64 channels=3 hidden_dim=64 val_fraction=0.1)."""
    from gan_eval.generators.training import run_recipe

    outcome = run_recipe(recipe, output, data=data, labels=labels, steps=steps, batch_size=batch_size, seed=seed,
                         device=device, hparams=_parse_assignments(assignments),
                         gen_config=_parse_json_object(gen_config, "--gen-config"), task=task, target=target,
                         resume=resume, sample_every=sample_every, limit=limit, progress=False if quiet else None)
    for line in outcome.report:
        click.echo(line)


@main.command()
@click.option("--gen", required=True, help="Generator checkpoint, builtin:NAME, or package.module:function.")
@click.option("--num", "-n", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--output", "-o", required=True, type=OutputPath(folder=None),
              help="A .png grid, a .npz uint8 array, or a directory of PNG files.")
@click.option("--truncation", type=float, default=None, help="ψ toward the average w, or the truncated-normal threshold.")
@click.option("--class", "label", type=click.IntRange(min=0), default=None, help="Conditional models: this class only.")
@click.option("--source", default=None, help="Image-to-image models: the images to translate.")
@shared_options("device", "seed", "trust_pickle")
def sample(options: Options, gen: str, num: int, output: str, truncation: float | None, label: int | None,
           source: str | None) -> None:
    """Draw images from a generator, reproducibly (same seed, same images)."""
    from gan_eval.api import sample_images
    from gan_eval.reports.images import write_images

    images = sample_images(gen, num, options, truncation=truncation, label=label, source=source)
    click.echo(f"wrote {write_images(images, output)}")


@main.command("import")
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True))
@click.option("--arch", required=True, help="Architecture of the generator in CHECKPOINT (e.g. dcgan, mlp_gan).")
@click.option("--output", "-o", required=True, type=OutputPath(), help="Checkpoint to write (.safetensors).")
@click.option("--config", "config_json", default=None, help="Constructor config as JSON [default: inferred from shapes].")
@click.option("--key", default=None, help='Entry holding the generator state dict [default: "gen" when present].')
def import_checkpoint(checkpoint: str, arch: str, output: str, config_json: str | None, key: str | None) -> None:
    """Convert a course-style {"gen": state_dict} file into a self-describing checkpoint (read with weights_only)."""
    from gan_eval.generators.checkpoint import import_state_dict

    path = import_state_dict(checkpoint, arch, output, _parse_json_object(config_json, "--config"), key)
    click.echo(f"wrote {path}")


@main.command()
@click.option("--output", "-o", default="gan-eval-demo", show_default=True, type=OutputPath(folder=True),
              help="Folder for the JSON results and image grids.")
@click.option("--num-samples", "-n", type=click.IntRange(min=200), default=2000, show_default=True)
@shared_options("progress")
def demo(options: Options, output: str, num_samples: int) -> None:
    """Evaluate the bundled generators against held-out MNIST, offline (digits extractor)."""
    from gan_eval.reports.demo import run_demo

    table, folder = run_demo(output, num_samples=num_samples, progress=options.progress)
    click.echo(table)
    click.echo(f"\nwrote results and sample grids to {folder}/")


@main.command()
@click.option("--gen", required=True, help="Generator checkpoint with truncation (.safetensors, builtin:NAME).")
@click.option("--real", required=True, help="Real images (directory, .npz/.npy, builtin:NAME) or a statistics .npz.")
@click.option("--psi", required=True, help="Comma-separated truncation values; 'none' (or 'off') = no truncation. "
              "w_avg_lerp models: psi toward the average w (1 = none); z_truncnorm models: threshold > 0.")
@click.option("--output", "-o", required=True, type=OutputPath(folder=True), help="Folder to write the report into.")
@click.option("--metrics", "-m", default=None, cls=LazyHelpOption,
              help_text=lambda: "Comma-separated [default: fid,pr,dc, plus is when the extractor has logits]; "
                                f"from: {', '.join(metric_names())}.")
@click.option("--strip", type=click.IntRange(min=0), default=8, show_default=True, help="Sample images shown per psi.")
@shared_options("extractor", "weights", "resize", "num_samples", "num_real", "batch_size", "workers", "device", "seed", "ci",
                "bootstrap", "cache", "cache_dir", "trust_pickle", "progress")
@distributed_command
def sweep(options: Options, gen: str, real: str, psi: str, output: str, metrics: str | None, strip: int) -> None:
    """Truncation sweep: FID, precision/recall, density/coverage (and IS) per psi; CSV, JSON, plot, HTML."""
    from pathlib import Path

    from gan_eval.reports.sweep_report import format_sweep_table, write_sweep
    from gan_eval.sweep import sweep as run_sweep

    if Path(output).exists() and not Path(output).is_dir():
        raise GanEvalError(f"--output {output} exists and is not a folder")
    result = run_sweep(gen, real, psi, metrics, options, strip=strip)
    if not is_writer():
        return
    write_sweep(result, output)
    click.echo(format_sweep_table(result))
    click.echo(f"\nwrote sweep.csv, sweep.json, sweep.png/.svg, strips/ and index.html to {output}/")


@main.command()
@click.option("--gen", required=True, help="Generator: checkpoint, builtin:NAME, directory, .npz, package.module:function.")
@click.option("--real", default=None, help="Real images (same kinds): the reference distribution and joint structure.")
@click.option("--attributes", "-a", default="digits,morphometry", show_default=True, cls=LazyHelpOption,
              help_text=lambda: f"Attribute extractors, comma-separated: {', '.join(attribute_names())}.")
@click.option("--classifier", type=click.Path(dir_okay=False), default=None,
              help="An attribute classifier from `gan-eval train classifier` (added to --attributes).")
@click.option("--target", default=None, help="Latent-walk target score(s), comma-separated (e.g. Male, digit=3, "
              "thickness) [default: the most mis-represented level and the most shifted continuous attribute].")
@click.option("--reference", default="real", show_default=True,
              help="real, uniform, or a JSON file of target proportions {attribute: {level: p}}.")
@click.option("--output", "-o", required=True, type=OutputPath(folder=True), help="Folder for report.html, CSVs, summary.json.")
@click.option("--num-samples", "-n", type=click.IntRange(min=20), default=None,
              help="Generated images [default: all of a finite source, 2000 from a generator].")
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
@click.option("--truncation", type=float, default=None, help="Generator checkpoints: truncation (as for evaluate).")
@click.option("--class", "label", type=click.IntRange(min=0), default=None, help="Conditional checkpoints: this class only.")
@shared_options("num_real", "batch_size", "workers", "device", "seed", "bootstrap", "trust_pickle", "progress")
def audit(options: Options, gen: str, real: str | None, attributes: str, classifier: str | None, target: str | None,
          reference: str, output: str, num_samples: int, walk_images: int, walk_steps: int, walk_step_size: float,
          walk_mode: str, no_walks: bool, threshold_pairs: tuple[str, ...], rules: str | None, fail_on: str | None,
          val_data: str | None, val_labels: str | None, truncation: float | None, label: int | None) -> None:
    """Bias and covariance audit: representation, joint structure, latent walks -> report.html, CSVs, summary.json."""
    from pathlib import Path

    from gan_eval.audit import audit as run_audit

    if Path(output).exists() and not Path(output).is_dir():
        raise GanEvalError(f"--output {output} exists and is not a directory")
    if (val_data is None) != (val_labels is None):
        raise GanEvalError("--val-data and --val-labels go together")
    quiet = options.progress is False
    result = run_audit(gen, real, attributes, options.but(num_samples=num_samples), classifier=classifier, reference=reference,
                       walk_targets=target, walks=not no_walks, walk_images=walk_images, walk_steps=walk_steps,
                       walk_step_size=walk_step_size, walk_mode=walk_mode, thresholds=_parse_assignments(threshold_pairs),
                       rules=rules, truncation=truncation, label=label,
                       validation=(val_data, val_labels) if val_data else None,
                       log=None if quiet else (lambda msg: click.echo(f"audit: {msg}", err=True)))
    from gan_eval.reports.audit_html import write_audit

    folder = write_audit(result, output)
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
    """Where the InceptionV3 weights are, check them, or download them; convert any extractor's file to safetensors."""


@weights.command("path")
@shared_options("weights")
def weights_path(options: Options) -> None:
    """Print the weights file that would be used (exit 1 when there is none)."""
    from gan_eval.weights import resolve_inception_weights

    resolved = resolve_inception_weights(options.weights, allow_download=False)
    click.echo(f"{resolved.path}  ({resolved.origin})")


@weights.command("verify")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def weights_verify(path: str | None) -> None:
    """Check that a weights file (default: the resolved one) is the official Inception file."""
    from gan_eval import weights as weights_mod

    resolved = weights_mod.resolve_inception_weights(path, allow_download=False)
    if resolved.official:
        click.echo(f"OK  {resolved.path}  sha256 {resolved.sha256}")
        return
    click.echo(f"MISMATCH  {resolved.path}  sha256 {resolved.sha256} does not start with "
               f"{weights_mod.INCEPTION_SHA256_PREFIX} (not the official {weights_mod.INCEPTION_FILENAME})", err=True)
    sys.exit(1)


@weights.command("convert")
@click.argument("name", type=RegistryChoice(extractor_names))
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("dest", required=False, type=click.Path(dir_okay=False))
def weights_convert(name: str, src: str, dest: str | None) -> None:
    """Copy extractor NAME's weights file SRC to safetensors (DEST, default: the torch hub cache).

    For files that are not plain state dicts, e.g. OpenAI's CLIP TorchScript archives: their tensors are
    read without running the archive, and the copy records SRC's SHA-256, so results computed with it
    name the official file's hash. Afterwards --extractor NAME finds the copy in the cache by itself.
    """
    from gan_eval.extractors.catalog import convert_extractor_weights

    written = convert_extractor_weights(name, src, dest)
    verdict = {True: "the official file", None: "no published hash to check", False: "not the official file"}
    click.echo(f"wrote {written.path}  (from {src}, sha256 {written.source_sha256}: {verdict[written.official]})")


@weights.command("download")
def weights_download() -> None:
    """Download the official file into the torch hub cache, verifying its SHA-256."""
    from gan_eval import weights as weights_mod

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
@click.option("--junit", "junit_path", type=OutputPath(exit_code=2), default=None,
              help="Write a JUnit XML report (one test case per rule) to this file.")
@click.option("--markdown", "markdown_path", type=OutputPath(exit_code=2), default=None,
              help="Write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY) to this file.")
def gate_command(run: str, baseline_path: str | None, rules_path: str | None, junit_path: str | None,
                 markdown_path: str | None) -> None:
    """Judge RUN.json (from `evaluate --json`) against rules and a baseline.

    Exit code 0: every rule passed (warnings included); 1: a rule failed; 2: the gate could not be
    evaluated (missing file, bad rules, schema mismatch, incompatible provenance, metric missing).
    """
    from gan_eval import gate as gating
    from gan_eval.reports.gate_report import format_table, write_gate_reports

    report = gating.run(run, baseline_path, rules_path)
    write_gate_reports(report, junit_path, markdown_path)  # in every case, so CI shows why
    if report.error is not None:
        raise gating.GateError(report.error) from report.cause
    click.echo(format_table(report))
    sys.exit(report.exit_code)


@main.group()
def baseline() -> None:
    """Baseline result files for `gan-eval gate`."""


@baseline.command("update")
@click.argument("run", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=OutputPath(exit_code=2), help="Baseline file to write.")
@click.option("--force", is_flag=True, help="Replace a baseline even when its provenance is incompatible.")
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
