"""llama.cpp process-wide setup: where its logs go, safe model loading, and whether a GPU is there.

llama.cpp prints to the terminal by default, and llama-cpp-python hides that by pointing the process's
file descriptors 1 and 2 at /dev/null while it loads. Both would corrupt a running Textual screen (the fd
swap blanks the UI thread's output too). Here llama.cpp's own log goes to a file through
`llama_log_set`, and the fd swap is replaced by a no-op because nothing is left for it to hide.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from pathlib import Path

from companion.errors import ModelError

GGUF_MAGIC = b"GGUF"

_lock = threading.Lock()
_log_fd: int | None = None
_log_path: Path | None = None
_callback = None  # the ctypes callback object; llama.cpp keeps a raw pointer to it, so it must never be freed
_quiet_installed = False
_gpu_offload: bool | None = None


# ---- logs --------------------------------------------------------------------------------------------


def route_llama_logs(log_file: Path) -> Path:
    """Send llama.cpp's (and ggml's) own logging to log_file, appending; never to the terminal.

    Installs one callback per process; calling again only moves where it writes.
    """
    global _log_fd, _log_path
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        if _log_path != log_file:
            new_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            old_fd, _log_fd, _log_path = _log_fd, new_fd, log_file
            if old_fd is not None:
                os.close(old_fd)
    _install_quiet_runtime()
    return log_file


def llama_log_path() -> Path | None:
    """The file llama.cpp logs to, or None when its log is discarded."""
    return _log_path


def _write_log(level: int, text: bytes | None) -> None:
    if not text:
        return
    fd = _log_fd
    if fd is None:
        return  # no log file chosen: llama.cpp's chatter is dropped rather than shown
    with contextlib.suppress(OSError):
        os.write(fd, text)


def _install_quiet_runtime() -> None:
    """Once per process: our log callback, and no fd redirection around llama-cpp-python calls."""
    global _callback, _quiet_installed
    with _lock:
        if _quiet_installed:
            return
        import ctypes

        import llama_cpp

        @llama_cpp.llama_log_callback
        def _on_llama_log(level, text, user_data):  # called from C, on any thread
            # An exception escaping a ctypes callback would be printed to stderr, on top of the UI.
            with contextlib.suppress(BaseException):
                _write_log(level, text)

        _callback = _on_llama_log
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
        _disable_fd_redirection()
        _quiet_installed = True


class _NoRedirect:
    """Stands in for llama_cpp's suppress_stdout_stderr: the logs already go to a file."""

    def __init__(self, disable: bool = True) -> None:
        self.disable = disable

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        return None


def _disable_fd_redirection() -> None:
    import importlib

    for module_name in ("llama_cpp.llama", "llama_cpp._internals", "llama_cpp.llama_chat_format"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, "suppress_stdout_stderr"):
            module.suppress_stdout_stderr = _NoRedirect


# ---- GPU ---------------------------------------------------------------------------------------------


def gpu_offload_supported() -> bool:
    """True when this llama.cpp build can offload layers to a GPU (CUDA, Metal, Vulkan...)."""
    global _gpu_offload
    if _gpu_offload is None:
        import llama_cpp

        try:
            _gpu_offload = bool(llama_cpp.llama_supports_gpu_offload())
        except (AttributeError, OSError):
            _gpu_offload = False
    return _gpu_offload


def physical_cores() -> int:
    """CPU cores this process may run on, counting hyper-threads of one core once.

    llama-cpp-python's default decode threads are half the logical CPUs, which on a 2-core machine without
    hyper-threading is one thread: the listener decoded 60 tokens/s so and 85 with both cores."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
            cores.add((package, core))
        except OSError:
            cores.add(("cpu", str(cpu)))  # no topology (not Linux, a container): each CPU counts
    return max(1, len(cores))


def effective_gpu_layers(requested: int | None) -> int:
    """The n_gpu_layers to pass: what was asked for where a GPU can take it, else 0."""
    if not requested:
        return 0
    return int(requested) if gpu_offload_supported() else 0


# ---- checking and loading GGUF files -------------------------------------------------------------------

# GGUF metadata value types (gguf spec): fixed sizes, 8 = string, 9 = array.
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_DEFAULT_ALIGNMENT = 32


class _Truncated(Exception):
    pass


class _HeaderReader:
    """Reads the GGUF header from a file without loading tensor data."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def read(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise _Truncated
        return data

    def u32(self) -> int:
        return struct.unpack("<I", self.read(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.read(8))[0]

    def string(self, limit: int = 1 << 24) -> bytes:
        length = self.u64()
        if length > limit:
            raise ValueError(f"a metadata string claims {length} bytes")
        return self.read(length)

    def skip(self, size: int) -> None:
        if size:
            self.handle.seek(size, os.SEEK_CUR)

    def value(self, vtype: int):
        if vtype in _SCALAR_SIZES:
            raw = self.read(_SCALAR_SIZES[vtype])
            return raw
        if vtype == _GGUF_STRING:
            return self.string()
        if vtype == _GGUF_ARRAY:
            item_type = self.u32()
            count = self.u64()
            if item_type in _SCALAR_SIZES:
                self.skip(_SCALAR_SIZES[item_type] * count)
            elif item_type == _GGUF_STRING:
                for _ in range(count):
                    self.skip(self.u64())
            else:
                raise ValueError(f"unsupported array item type {item_type}")
            return None
        raise ValueError(f"unknown metadata value type {vtype}")


def check_gguf(path: Path, *, what: str = "model") -> dict[str, object]:
    """Raise ModelError unless path is a complete GGUF file; return a few header facts.

    Reads the header and tensor table only (fast even for multi-GB files) and checks that every tensor's
    data lies inside the file, so a truncated download is caught before llama.cpp sees it.
    """
    path = Path(path)
    fix = f"give a GGUF {what} file, or run `companion models list` to see what is installed"
    if not path.exists():
        raise ModelError(f"The {what} file {path} does not exist.", fix=fix)
    if path.is_dir():
        raise ModelError(f"The {what} path {path} is a folder, not a GGUF file.", fix=fix)
    try:
        size = path.stat().st_size
        if size == 0:
            raise ModelError(
                f"The {what} file {path} is empty.", fix=f"delete it and download or prepare it again; {fix}"
            )
        with open(path, "rb") as handle:
            magic = handle.read(4)
            if magic != GGUF_MAGIC:
                raise ModelError(f"{path} is not a GGUF file (it does not start with 'GGUF').", fix=fix)
            facts = _walk_header(_HeaderReader(handle), size)
    except ModelError:
        raise
    except _Truncated:
        raise ModelError(
            f"The {what} file {path} is cut short: it ends inside its header.",
            fix="delete it and download or prepare it again (companion models pull NAME / prepare-embedder)",
        ) from None
    except PermissionError:
        raise ModelError(
            f"The {what} file {path} cannot be read (permission denied).", fix=f"chmod u+r {path}"
        ) from None
    except (OSError, ValueError, struct.error, OverflowError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"The {what} file {path} is damaged ({exc}).", fix="delete it and download or prepare it again"
        ) from None
    if facts["data_end"] > size:
        raise ModelError(
            f"The {what} file {path} is incomplete: {size:,} bytes of the {facts['data_end']:,} its header promises.",
            fix="delete it and download or prepare it again (companion models pull NAME / prepare-embedder)",
        )
    return facts


def _walk_header(reader: _HeaderReader, file_size: int) -> dict[str, object]:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    version = reader.u32()
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors = reader.u64()
    n_kv = reader.u64()
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ValueError("implausible header counts")
    alignment = _DEFAULT_ALIGNMENT
    architecture = None
    licence = None
    for _ in range(n_kv):
        key = reader.string(limit=65536).decode("utf-8")
        vtype = reader.u32()
        raw = reader.value(vtype)
        if key == "general.alignment" and raw is not None and vtype == 4:
            alignment = struct.unpack("<I", raw)[0] or _DEFAULT_ALIGNMENT
        elif key == "general.architecture" and isinstance(raw, bytes) and vtype == _GGUF_STRING:
            architecture = raw.decode("utf-8", errors="replace")
        elif key == "general.license" and isinstance(raw, bytes) and vtype == _GGUF_STRING:
            licence = raw.decode("utf-8", errors="replace")
    data_extent = 0
    for _ in range(n_tensors):
        reader.string(limit=65536)
        n_dims = reader.u32()
        if n_dims > 8:
            raise ValueError(f"a tensor claims {n_dims} dimensions")
        dims = [reader.u64() for _ in range(n_dims)]
        ggml_type = reader.u32()
        offset = reader.u64()
        try:
            block_size, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        except (ValueError, KeyError):
            raise ValueError(f"unknown tensor type {ggml_type}") from None
        elements = 1
        for dim in dims:
            elements *= dim
        nbytes = elements // block_size * type_size
        data_extent = max(data_extent, offset + nbytes)
    header_end = reader.handle.tell()
    data_start = (header_end + alignment - 1) // alignment * alignment
    return {
        "version": version,
        "architecture": architecture,
        "licence": licence,
        "tensors": n_tensors,
        "data_end": data_start + data_extent if n_tensors else header_end,
    }


def load_llama(path: Path, *, what: str = "model", **kwargs):
    """Load a llama_cpp.Llama after checking the file; every failure is a ModelError, never a crash.

    n_gpu_layers is dropped where the build has no GPU offload. Logs go to the file chosen with
    route_llama_logs (or are discarded if none was chosen), never to the terminal.
    """
    path = Path(path)
    check_gguf(path, what=what)
    _install_quiet_runtime()
    import llama_cpp

    kwargs["n_gpu_layers"] = effective_gpu_layers(kwargs.get("n_gpu_layers", 0))
    kwargs["verbose"] = False
    adapter = kwargs.pop("adapter_path", None)
    if adapter is not None:
        check_gguf(Path(adapter), what="adapter")
        kwargs["lora_path"] = str(adapter)
    try:
        return llama_cpp.Llama(model_path=str(path), **kwargs)
    except (ValueError, RuntimeError, OSError, AssertionError) as exc:
        where = f" Details are in {_log_path}." if _log_path else ""
        raise ModelError(
            f"llama.cpp could not load the {what} {path.name} ({exc}).{where}",
            fix="check that it is a GGUF model llama.cpp supports; `companion models list` shows the tested ones",
        ) from None
