"""Shared fixtures: a temporary COMPANION_HOME, the tiny real GGUF models, and a guard against the network."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY_DIR = ROOT / "models" / "tiny"
SHARED = ROOT.parent / "shared"
ARTICLE = SHARED / "guidance" / "emotional-intimacy-article.txt"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(sock: socket.socket, address) -> bool:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if not _is_loopback(self, address):
        raise RuntimeError(f"test tried to connect outside loopback: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_loopback(self, address):
        raise RuntimeError(f"test tried to connect outside loopback: {address!r}")
    return _real_connect_ex(self, address)


def _install_network_guard() -> None:
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex


# Installed when the test session loads, and again before every test in case a library put the real one back.
_install_network_guard()


@pytest.fixture(autouse=True)
def no_network_outside_loopback():
    """Any connection outside loopback fails the test that made it, for the whole session."""
    _install_network_guard()
    yield


@pytest.fixture(autouse=True)
def companion_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty data folder; nothing touches the real one."""
    home = tmp_path / "companion-home"
    monkeypatch.setenv("COMPANION_HOME", str(home))
    for var in ("COMPANION_MODEL", "COMPANION_EMBED_MODEL", "COMPANION_PASSPHRASE", "COMPANION_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The listener (a real 135M model) answers only in the tests about it (the `listener_on` fixture).
    monkeypatch.setenv("COMPANION_LISTENER", "off")
    return home


@pytest.fixture
def listener_on(monkeypatch) -> None:
    monkeypatch.delenv("COMPANION_LISTENER", raising=False)


def _require(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(f"{path} is missing: run scripts/setup (it writes the test models)")
    return path


@pytest.fixture(scope="session")
def tiny_chat_model() -> Path:
    return _require(TINY_DIR / "tiny-chat.gguf")


@pytest.fixture(scope="session")
def tiny_embed_model() -> Path:
    return _require(TINY_DIR / "tiny-embed.gguf")


@pytest.fixture(scope="session")
def minilm_model() -> Path:
    return _require(ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf")


@pytest.fixture(scope="session")
def tiny_embedder(tiny_embed_model):
    """One tiny real Embedder for the modules that only read vectors from it (one thread: the model is tiny)."""
    from companion.guidance.embed import Embedder

    with Embedder(tiny_embed_model, n_threads=1) as real:
        yield real


@pytest.fixture(scope="session")
def minilm_embedder(minilm_model):
    """One real MiniLM Embedder shared by the modules that only read vectors from it."""
    from companion.guidance.embed import Embedder

    with Embedder(minilm_model) as real:
        yield real


@pytest.fixture(scope="session")
def search_model(minilm_model) -> Path:
    """The copy of MiniLM tuned for retrieval, which guidance search runs once setup merged it."""
    from companion.engines.tuned import find_tuned_encoder

    path = find_tuned_encoder("retrieval", [minilm_model.parent])
    if path is None:
        pytest.fail("the retrieval-tuned encoder is not merged: run scripts/setup")
    return path


@pytest.fixture(scope="session")
def search_embedder(search_model):
    """One real Embedder on the retrieval-tuned MiniLM, for the tests of what search finds."""
    from companion.guidance.embed import Embedder

    with Embedder(search_model) as real:
        yield real


@pytest.fixture(scope="session")
def shared_article() -> Path:
    return _require(ARTICLE)


@pytest.fixture(scope="session")
def bundled_sections():
    """The bundled guidance, split into sections, as a fresh install reads it."""
    from companion.config import Settings
    from companion.guidance.knowledge import KnowledgeBase

    return KnowledgeBase(Settings(home=Path("/nonexistent-home"))).sections()


@pytest.fixture(scope="session")
def tiny_guidance_index(tmp_path_factory, tiny_embed_model) -> Path:
    """The bundled guidance indexed once with the tiny embedder; tests copy it so their refresh is a no-op."""
    from companion.config import Settings
    from companion.services import Services

    home = tmp_path_factory.mktemp("tiny-guidance-index")
    services = Services(Settings(home=home, embed_model=tiny_embed_model), use_model=False)
    assert services.index is not None
    services.close()
    return home / "index"
