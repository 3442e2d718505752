"""llama.cpp runtime: safe loading with clear errors, logs in a file and never on the terminal, GPU detection."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import gguf
import pytest

from companion.engines import runtime
from companion.engines.runtime import (
    check_gguf,
    effective_gpu_layers,
    gpu_offload_supported,
    load_llama,
    route_llama_logs,
)
from companion.errors import ModelError


def _chat(llm, text: str, max_tokens: int = 8) -> str:
    result = llm.create_chat_completion(
        [{"role": "system", "content": "Listen well."}, {"role": "user", "content": text}],
        max_tokens=max_tokens,
        temperature=0.7,
        seed=7,
    )
    return result["choices"][0]["message"]["content"]


def test_tiny_chat_model_loads_and_chats_through_its_template(tiny_chat_model):
    facts = check_gguf(tiny_chat_model)
    assert facts["architecture"] == "llama"
    llm = load_llama(tiny_chat_model, n_ctx=256)
    try:
        assert "<|im_start|>" in llm.metadata["tokenizer.chat_template"]
        reply = _chat(llm, "We keep arguing about chores.")
        assert isinstance(reply, str)
        # The template's special tokens are single control tokens, not spelled out letter by letter.
        assert len(llm.tokenize(b"<|im_start|>", add_bos=False, special=True)) == 1
    finally:
        llm.close()


def test_missing_model_is_a_model_error_naming_the_path(tmp_path):
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ModelError) as caught:
        load_llama(missing)
    assert str(missing) in caught.value.message
    assert caught.value.fix


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"hello, I am plainly text and not a model\n" * 10, "not a GGUF"),
        (b"GGUF\x03\x00", "cut short"),
    ],
    ids=["empty", "not-gguf", "header-cut"],
)
def test_bad_files_are_model_errors_and_the_process_goes_on(tmp_path, tiny_chat_model, content, expected):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    with pytest.raises(ModelError) as caught:
        load_llama(bad)
    assert expected in caught.value.message
    # The same process still loads a good model afterwards.
    llm = load_llama(tiny_chat_model, n_ctx=128)
    llm.close()


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.999])
def test_truncated_model_is_caught_before_llama_cpp_reads_it(tmp_path, tiny_chat_model, fraction):
    data = tiny_chat_model.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelError) as caught:
        load_llama(cut)
    assert "cut short" in caught.value.message or "incomplete" in caught.value.message


def test_a_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelError) as caught:
        load_llama(tmp_path)
    assert "folder" in caught.value.message


def test_a_gguf_llama_cpp_cannot_run_is_a_model_error(tmp_path):
    odd = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(odd), "no-such-architecture")
    writer.add_block_count(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert check_gguf(odd)["architecture"] == "no-such-architecture"
    with pytest.raises(ModelError) as caught:
        load_llama(odd)
    assert "could not load" in caught.value.message


def test_llama_logs_go_to_the_file_and_nothing_reaches_the_terminal(tmp_path, tiny_chat_model, capfd):
    log_file = route_llama_logs(tmp_path / "logs" / "llama.log")
    secret = "my partner said something private about the holidays"
    llm = load_llama(tiny_chat_model, n_ctx=256)
    try:
        _chat(llm, secret)
    finally:
        llm.close()
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""
    logged = log_file.read_text(encoding="utf-8", errors="replace")
    assert "llama" in logged  # llama.cpp's loader describes the model it read
    assert secret not in logged
    assert oct(log_file.stat().st_mode & 0o777) == oct(0o600)


def test_rerouting_moves_the_log_to_the_new_file(tmp_path, tiny_chat_model):
    first = route_llama_logs(tmp_path / "first.log")
    second = route_llama_logs(tmp_path / "second.log")
    size_before = first.stat().st_size
    load_llama(tiny_chat_model, n_ctx=128).close()
    assert first.stat().st_size == size_before
    assert second.stat().st_size > 0
    assert runtime.llama_log_path() == second


def test_terminal_file_descriptors_stay_put_while_a_model_loads(tmp_path, tiny_chat_model, monkeypatch):
    """llama-cpp-python used to point fds 1 and 2 at /dev/null while loading, blanking a running TUI."""
    route_llama_logs(tmp_path / "llama.log")
    terminal = (os.fstat(1).st_ino, os.fstat(2).st_ino)
    seen_during_load: list[tuple[int, int]] = []
    real_write = runtime._write_log

    def record(level, text):
        seen_during_load.append((os.fstat(1).st_ino, os.fstat(2).st_ino))
        real_write(level, text)

    monkeypatch.setattr(runtime, "_write_log", record)
    load_llama(tiny_chat_model, n_ctx=128).close()
    assert seen_during_load, "llama.cpp logged nothing while loading"
    assert set(seen_during_load) == {terminal}


def test_gpu_layers_are_used_only_where_the_build_can_offload(tiny_chat_model):
    if gpu_offload_supported():
        assert effective_gpu_layers(99) == 99
    else:
        assert effective_gpu_layers(99) == 0
    assert effective_gpu_layers(0) == 0
    assert effective_gpu_layers(None) == 0
    llm = load_llama(tiny_chat_model, n_ctx=128, n_gpu_layers=99)
    llm.close()


def test_a_copied_model_loads_from_a_path_with_spaces(tmp_path, tiny_chat_model):
    spaced = tmp_path / "my models" / "tiny chat.gguf"
    spaced.parent.mkdir()
    shutil.copy(tiny_chat_model, spaced)
    llm = load_llama(Path(spaced), n_ctx=128)
    llm.close()
