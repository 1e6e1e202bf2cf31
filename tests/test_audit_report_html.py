"""The audit report as a user sees it: the CLI writes it, headless Chromium renders it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from audit_toys import BlockAttributes, BlockToy
from gan_eval.reports.audit_html import SECTIONS, render_audit_html, write_audit
from test_cli import run

import gan_eval
from gan_eval.attributes import (
    register_attribute_extractor,
    unregister_attribute_extractor,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # git-ignored
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def cli_audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "out"
    proc = run("audit", "--gen", "builtin:dcgan", "--real", "builtin:mnist-heldout", "-n", "300", "--num-real", "600",
               "--bootstrap", "60", "--walk-images", "12", "--walk-steps", "3", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_cli_writes_report_tables_and_summary(cli_audit):
    out, proc = cli_audit
    assert proc.stdout.startswith("verdict: ") and "wrote" in proc.stdout and "Traceback" not in proc.stderr
    for name in ("report.html", "summary.json", "marginals.csv", "distances.csv", "continuous.csv", "validity.csv",
                 "correlations.csv", "bias_amplification.csv", "walks.csv", "findings.csv"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] in ("PASS", "WARN", "FAIL") and summary["findings"]
    assert all(f["status"] in ("PASS", "WARN", "FAIL", "INFO") for f in summary["findings"])
    marginals = pd.read_csv(out / "marginals.csv")
    assert len(marginals) == 10 and marginals["p_generated"].sum() == pytest.approx(1.0)
    walks = pd.read_csv(out / "walks.csv")
    assert set(walks["mode"]) == {"gradient", "boundary"}  # a digit logit and a morphometric target by default
    html = (out / "report.html").read_text()
    assert "<script" not in html.lower() and not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "http://" not in html and "https://" not in html and "@import" not in html
    srcs = re.findall(r"<img[^>]+src=\"([^\"]+)\"", html)
    assert len(srcs) >= 8 and all(s.startswith("data:image/png;base64,") for s in srcs)


def test_report_renders_in_headless_chromium(cli_audit):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    out, _ = cli_audit
    url = (out / "report.html").as_uri()
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              "--enable-logging=stderr", "--v=0", f"--user-data-dir={out.parent / 'chromium-profile'}"]
    dom = subprocess.run([*common, "--dump-dom", url], check=False, capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in SECTIONS:
        assert f'id="{section}"' in dom.stdout, section
    assert dom.stdout.count("<img") >= 8 and "Latent walks" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "audit_report.png"
    proc = subprocess.run([*common, "--window-size=1280,6000", f"--screenshot={shot}", url], check=False,
                          capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and shot.is_file() and shot.stat().st_size > 50_000, proc.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as img:
        rgb = np.asarray(img.convert("RGB"))
    assert rgb.std() > 20  # not a blank page
    print(f"\naudit report screenshot: {shot}")


def test_user_text_is_escaped(tmp_path):
    class Evil(BlockAttributes):
        def __init__(self) -> None:
            super().__init__()
            self.score_names[0] = "<script>alert(1)</script>"
            self.attributes[0] = type(self.attributes[0])(self.score_names[0], "continuous", unit="<b>u</b>")

    register_attribute_extractor("evil-test")(lambda arg, device: Evil())
    try:
        real = (BlockToy().sample(300, torch.Generator().manual_seed(1)) * 255).round().to(torch.uint8)
        result = gan_eval.audit(BlockToy(), real, "evil-test", num_samples=300, bootstrap=30, walk_images=8,
                                walk_steps=2)
    finally:
        unregister_attribute_extractor("evil-test")
    html = render_audit_html(result)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>u</b>" not in html
    out = write_audit(result, tmp_path / "evil")
    assert (out / "report.html").read_text() == html
