"""Property-based tests (Hypothesis) of the text hygiene, the journal's text round trip and the config loader.

Strings are drawn from every Unicode category plus a pool of what a hostile paste holds (escape sequences, C1
controls, bidi overrides, zero-width and tag characters, lone surrogates), so the rare cases come up often."""

from __future__ import annotations

import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.config import Settings
from companion.errors import InputError
from companion.listen.reflect import clean_statement
from companion.listen.reflector import clean_statement as clean_for_analysis
from companion.text import printable

NASTY = [
    "\x1b",
    "\x1b[2J",
    "\x1b]0;PWNED\x07",
    "\x1b]8;;http://x\x1b\\",
    "\x1bP1$r\x1b\\",
    "\x1bc",
    "\x1b(B",
    "\x07",
    "\x00",
    "\r",
    "\x7f",
    "\x85",
    "\x9b31m",
    "\x9d0;t\x9c",
    "\u202e",
    "\u202a",
    "\u2066",
    "\u2069",
    "\u200b",
    "\u200d",
    "\u200c",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\U000e0041",
    "\U000e007f",
    "\ud800",
    "\udfff",
    "\n",
    "\t",
    " ",
    "\u2028",
    "\ufffd",
    "👨",
    "👩",
    "é",
    "e\u0301",
    "ی",
    "क्",
    "a",
    "Z",
    "[",
    "]",
    "0",
    ";",
]
hostile_text = st.lists(st.one_of(st.characters(), st.sampled_from(NASTY)), max_size=30).map("".join)
JOINERS = "\u200c\u200d"
# database=None: no .hypothesis folder in the checkout; every run draws afresh.
FAST = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _visible(ch: str) -> bool:
    return not ch.isspace() and unicodedata.category(ch)[0] not in "CZ"


def assert_no_controls_or_format(text: str, *, allowed: str = "\n\t") -> None:
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if ch in allowed:
            continue
        assert category not in ("Cc", "Cs"), f"control U+{ord(ch):04X} at {i} in {text!r}"
        if category == "Cf":
            # A joiner may stay, but only between two visible characters (an emoji sequence, an Indic word).
            assert (
                ch in JOINERS and 0 < i < len(text) - 1 and _visible(text[i - 1]) and _visible(text[i + 1])
            ), f"format character U+{ord(ch):04X} at {i} in {text!r}"


# ---- clean_statement ------------------------------------------------------------------------------------------


@FAST
@given(hostile_text)
def test_clean_statement_is_idempotent_clean_and_never_longer(raw):
    try:
        cleaned = clean_statement(raw)
    except InputError:
        return  # an empty (or all-control) statement: refused with a message, the only way it may fail
    assert cleaned and len(cleaned) <= len(raw)
    assert clean_statement(cleaned) == cleaned
    assert_no_controls_or_format(cleaned, allowed="")
    assert "\x1b" not in cleaned and not any(unicodedata.category(ch) == "Co" for ch in cleaned)


@FAST
@given(hostile_text)
def test_the_analysis_cleaner_never_raises_and_leaves_no_controls(raw):
    cleaned = clean_for_analysis(raw)
    assert_no_controls_or_format(cleaned, allowed="")
    assert clean_for_analysis(cleaned) == cleaned


def test_every_format_character_of_this_python_is_dropped_between_letters():
    """Hypothesis rarely draws a given one of them; this walks all of them once (joiners stay between letters)."""
    for code in range(0x110000):
        ch = chr(code)
        if unicodedata.category(ch) == "Cf" and ch not in JOINERS:
            assert printable(f"a{ch}b") == "ab", f"U+{code:04X}"
            assert clean_statement(f"a{ch}b") == "ab", f"U+{code:04X}"


# ---- the terminal sanitiser -------------------------------------------------------------------------------------


@FAST
@given(hostile_text)
def test_printable_leaves_no_escape_or_control_and_is_idempotent(raw):
    shown = printable(raw)
    assert "\x1b" not in shown and len(shown) <= len(raw)
    assert_no_controls_or_format(shown)
    assert printable(shown) == shown


plain_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs")) | st.sampled_from("\n\t"), max_size=80
)


@FAST
@given(plain_text)
def test_printable_text_comes_back_unchanged(text):
    assert printable(text) == text


# ---- the journal's text round trip ------------------------------------------------------------------------------

_JOURNALS: dict[str, object] = {}


def _journal(kind: str):
    """One plain and one encrypted journal for all examples (a cheap scrypt cost: the round trip is the point)."""
    if kind not in _JOURNALS:
        from companion.store.crypto import KdfParams
        from companion.store.journal import Journal

        folder = Path(tempfile.mkdtemp(prefix=f"journal-{kind}-"))
        journal = Journal(folder / "journal.sqlite3")
        if kind == "encrypted":
            journal.enable_encryption("correct horse battery", KdfParams.fresh(n=2**12))
        _JOURNALS[kind] = journal
    return _JOURNALS[kind]


@pytest.fixture(scope="module", autouse=True)
def _close_journals():
    yield
    for journal in _JOURNALS.values():
        journal.close()


@pytest.mark.parametrize("kind", ["plain", "encrypted"])
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=hostile_text)
def test_any_clean_statement_is_stored_and_read_back_unchanged(kind, raw):
    try:
        text = clean_statement(raw)
    except InputError:
        return
    journal = _journal(kind)
    session = journal.start_session("reflect")
    journal.add_turn(session, "partner", text)
    assert [turn.text for turn in journal.get_session(session).turns] == [text]


# ---- the config loader -------------------------------------------------------------------------------------------

KNOWN_KEYS = [
    "chat_model",
    "server_model",
    "embed_model",
    "listener",
    "region",
    "n_gpu_layers",
    "n_threads",
    "theme",
]
toml_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    hostile_text,
    st.floats(allow_nan=False, allow_infinity=False),
)
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
toml_keys = st.one_of(
    st.sampled_from(KNOWN_KEYS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,12}", fullmatch=True)
)


def toml_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(item) for item in value) + "]"
    # A basic string: every character outside plain printable ASCII written as an escape TOML accepts.
    escaped = "".join(
        ch
        if 0x20 <= ord(ch) < 0x7F and ch not in '"\\'
        else ("\\" + ch if ch in '"\\' else f"\\U{ord(ch):08X}" if not 0xD800 <= ord(ch) <= 0xDFFF else "")
        for ch in value
    )
    return f'"{escaped}"'


_CONFIG_HOME = Path(tempfile.mkdtemp(prefix="config-home-"))


def assert_valid(loaded: Settings) -> None:
    assert isinstance(loaded.n_gpu_layers, int) and not isinstance(loaded.n_gpu_layers, bool)
    assert loaded.n_threads is None or (isinstance(loaded.n_threads, int) and loaded.n_threads >= 1)
    assert isinstance(loaded.use_listener, bool)
    assert isinstance(loaded.region, str) and loaded.region
    assert isinstance(loaded.theme, str) and loaded.theme
    assert loaded.chat_model is None or isinstance(loaded.chat_model, Path)
    assert loaded.chat_model_name is None or isinstance(loaded.chat_model_name, str)
    assert loaded.embed_model is None or isinstance(loaded.embed_model, Path)
    assert all(isinstance(line, str) and "\n" not in line for line in loaded.config_warnings)


@FAST
@given(st.dictionaries(toml_keys, toml_values, max_size=6))
def test_any_toml_document_loads_into_valid_settings(document):
    text = "".join(f"{key} = {toml_literal(value)}\n" for key, value in document.items())
    (_CONFIG_HOME / "config.toml").write_text(text, encoding="utf-8")
    loaded = Settings.load(_CONFIG_HOME)
    assert_valid(loaded)
    unknown = [key for key in document if key not in KNOWN_KEYS]
    assert len(loaded.config_warnings) >= len(unknown)


@FAST
@given(st.binary(max_size=200) | hostile_text.map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_any_bytes_as_config_load_into_valid_settings(raw):
    (_CONFIG_HOME / "config.toml").write_bytes(raw)
    assert_valid(Settings.load(_CONFIG_HOME))
