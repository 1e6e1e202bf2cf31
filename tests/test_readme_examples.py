"""The README's gate example passes on the README's own example run (issue 11: it used to fail).

The rules are read from the README itself, so editing either the rules or the example run's numbers
without the other fails here. The run document holds what
``gan-eval evaluate --gen builtin:dcgan --real builtin:mnist-heldout --extractor digits -n 2000
--metrics fid,pr,dc --ci 0.95 --json run.json`` writes (measured values; a rerun takes ~40 s, too long for CI).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from gan_eval import cli

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE_RUN = {
    "schema": "gan-eval/result/1",
    "metrics": {"fid": 3.4660115115638916, "precision": 0.5755, "recall": 0.4706, "density": 0.3476,
                "coverage": 0.1628},
    "ci": {"fid": [3.2126102583784766, 3.6021146924403618], "precision": [0.5298275, 0.6243525],
           "recall": [0.412282, 0.528907], "density": [0.313126, 0.380746], "coverage": [0.147266, 0.175296]},
    "ci_info": {"level": 0.95, "method": "bootstrap", "replicates": 200, "seed": 2020},
    "provenance": {"extractor": "digits", "feature_dim": 128, "n_gen": 2000, "n_real": 5000, "seed": 2020,
                   "weights_sha256": "80bd1a2ddd421854d86ab16a2341bfdb4f7a31bf64a53def5585653ea47dd5b7",
                   "preprocessing": "grey=mean(rgb),antialiased-bilinear-28,x/255"},
}


def _readme_gate_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Quality gates in CI"):]


def test_readme_example_run_is_the_one_the_gate_section_quotes():
    text = README.read_text(encoding="utf-8")
    assert ("--extractor digits -n 2000 \\\n    --metrics fid,pr,dc --ci 0.95 --json run.json" in text)
    section = _readme_gate_section()
    assert "FID 3.47 [3.21, 3.60], precision 0.58 [0.53, 0.62]" in section
    m, ci = EXAMPLE_RUN["metrics"], EXAMPLE_RUN["ci"]
    assert f"FID {m['fid']:.2f} [{ci['fid'][0]:.2f}, {ci['fid'][1]:.2f}]" in section
    assert f"precision {m['precision']:.2f} [{ci['precision'][0]:.2f}, {ci['precision'][1]:.2f}]" in section


def test_readme_gate_rules_pass_on_the_readme_example_run(tmp_path):
    section = _readme_gate_section()
    rules = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    commands = re.search(r"```\n(gan-eval baseline update .*?)```", section, re.S).group(1).splitlines()
    assert commands[0].startswith("gan-eval baseline update run.json -o baseline.json")
    assert commands[1].startswith("gan-eval gate run.json --baseline baseline.json --rules gates.toml")
    (tmp_path / "gates.toml").write_text(rules)
    (tmp_path / "run.json").write_text(json.dumps(EXAMPLE_RUN))
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path) as cwd:
        for name in ("gates.toml", "run.json"):
            (Path(cwd) / name).write_text((tmp_path / name).read_text())
        for command in commands:  # as written, [--force] dropped
            args = command.replace(" [--force]", "").split()[1:]
            result = runner.invoke(cli.main, args)
            assert result.exit_code == 0, (command, result.stdout, result.stderr)
        assert "gate: PASS (3 passed, 0 warned, 0 failed)" in result.stdout
        assert Path(cwd, "report.xml").is_file() and Path(cwd, "summary.md").is_file()
