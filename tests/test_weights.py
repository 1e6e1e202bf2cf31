"""Weights resolution order, hash verification and safe loading."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest
import torch

from gan_eval import weights
from gan_eval.errors import GanEvalError, WeightsUnavailableError


def test_resolution_order(tmp_path, monkeypatch):
    explicit, env_file = tmp_path / "explicit.pth", tmp_path / "env.pth"
    torch.save({"a": torch.zeros(1)}, explicit)
    torch.save({"a": torch.ones(1)}, env_file)
    monkeypatch.setenv("GAN_EVAL_WEIGHTS", str(env_file))
    assert weights.resolve_inception_weights(str(explicit)).origin == "--weights"
    assert weights.resolve_inception_weights(None).path == env_file
    monkeypatch.delenv("GAN_EVAL_WEIGHTS")
    with pytest.raises(WeightsUnavailableError, match="--weights"):
        weights.resolve_inception_weights(None)
    cached = weights.hub_cache_path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated download")  # wrong hash: must be rejected, not used
    with pytest.raises(GanEvalError, match="corrupt or truncated"):
        weights.resolve_inception_weights(None)


def test_download_verifies_hash_before_saving(tmp_path, monkeypatch):
    body = b"definitely not inception"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("GAN_EVAL_INCEPTION_URL", f"http://127.0.0.1:{server.server_port}/w.pth")
        dest = tmp_path / "w.pth"
        with pytest.raises(GanEvalError, match="nothing was saved"):
            weights.download_inception_weights(dest)
        assert not dest.exists() and not list(tmp_path.iterdir())
    finally:
        server.shutdown()
    assert not hashlib.sha256(body).hexdigest().startswith(weights.INCEPTION_SHA256_PREFIX)


def test_state_dict_loading_never_unpickles(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(GanEvalError, match="cannot read weights"):
        weights.load_state_dict(path)
    assert not marker.exists()


def test_generic_resolution_uses_each_files_own_variable_hash_and_message(tmp_path, monkeypatch):
    body = b"some encoder weights"
    spec = weights.WeightsFile("Encoder X", "encoder-x.pth", "https://example.invalid/encoder-x.pth",
                               hashlib.sha256(body).hexdigest()[:12], "GAN_EVAL_WEIGHTS_ENCODER_X")
    with pytest.raises(WeightsUnavailableError) as caught:
        weights.resolve_weights(spec)
    assert str(caught.value) == (
        f"Encoder X weights not found (offline mode, no download attempted): put encoder-x.pth from "
        f"https://example.invalid/encoder-x.pth at {weights.hub_cache_path(spec)}, or pass --weights PATH "
        f"(or set GAN_EVAL_WEIGHTS_ENCODER_X)")
    cached = weights.hub_cache_path(spec)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(body)
    found = weights.resolve_weights(spec)
    assert (found.origin, found.official, found.sha256) == ("torch hub cache", True, hashlib.sha256(body).hexdigest())
    other = tmp_path / "other.pth"
    other.write_bytes(b"other")
    monkeypatch.setenv("GAN_EVAL_WEIGHTS", str(other))  # Inception's variable is not this encoder's
    assert weights.resolve_weights(spec).path == cached
    monkeypatch.setenv("GAN_EVAL_WEIGHTS_ENCODER_X", str(other))
    assert weights.resolve_weights(spec).origin == "$GAN_EVAL_WEIGHTS_ENCODER_X"
    assert weights.resolve_weights(spec, cached).origin == "--weights"
    cached.write_bytes(body + b"!")  # damaged in the cache: refused, not used
    monkeypatch.delenv("GAN_EVAL_WEIGHTS_ENCODER_X")
    with pytest.raises(GanEvalError, match="corrupt or truncated"):
        weights.resolve_weights(spec)
