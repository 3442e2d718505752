"""Reflection: statement -> safety screen -> retrieval -> prompt -> model (or built-in reflector) -> checked reflection."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from companion.config import DEFAULT_REGION, MAX_STATEMENT_CHARS
from companion.errors import CompanionError, InputError
from companion.listen.output_checks import early_failure
from companion.listen.prompts import build_listener_messages, build_reflection_messages
from companion.logs import get_logger
from companion.text import ANSI_ESCAPE, drop_format_chars

log = get_logger("reflect")

GUIDANCE_SECTIONS = 3
MODEL_MAX_TOKENS = 160
MODEL_TEMPERATURE = 0.6
# The listener's first draft is its most likely answer; a second draft, when the first fails, samples anew.
LISTENER_TEMPERATURES = (0.0, 0.7)
LISTENER_MAX_TOKENS = 96


@dataclass
class Reflection:
    """One answer to what the partner said; the CLI's --json is exactly `to_json()`."""

    reflection: str
    alternatives: list[str] = field(default_factory=list)
    feelings: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    citations: list[dict[str, str]] = field(default_factory=list)
    engine: str = "builtin"  # "listener" (our tuned model), "llama" (another GGUF) or "builtin"
    model: dict[str, Any] | None = None  # what answered: name, engine, size and licence (None: built-in)
    safety: dict[str, Any] | None = None
    notice: str | None = None
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.pop("cancelled")
        return payload


def clean_statement(statement: str | None) -> str:
    """The statement as text we can work with: escapes and control characters removed, or a clear InputError."""
    if statement is None:
        statement = ""
    if not isinstance(statement, str):
        raise InputError("The statement is not text.", fix='companion reflect "what your partner said"')
    text = ANSI_ESCAPE.sub("", statement)
    # Keep line breaks and tabs as spaces; every other control or format character goes.
    text = "".join(
        " " if ch in "\t\r\n\v\f" else ch
        for ch in text
        if ch in "\t\r\n\v\f" or unicodedata.category(ch) not in ("Cc", "Cs", "Co")
    )
    text = drop_format_chars(text.replace("\ufffd", ""))  # bidi overrides and zero-width marks too
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise InputError(
            "The statement is empty: there is nothing to reflect.",
            fix='companion reflect "what your partner said" (or pipe it in with -)',
        )
    if len(text) > MAX_STATEMENT_CHARS:
        raise InputError(
            f"The statement is {len(text):,} characters long; the limit is {MAX_STATEMENT_CHARS:,}.",
            kept="Nothing was stored.",
            fix="reflect one part at a time: paste the few sentences that matter most",
        )
    return text


def _citation(hit: Any) -> dict[str, str]:
    section = getattr(hit, "section", hit)
    heading_path = getattr(section, "heading_path", None) or ()
    # A document titled like its first heading would read "Making time › Making time".
    parts = [part for i, part in enumerate(heading_path) if i == 0 or part != heading_path[i - 1]]
    name = " › ".join(parts) if parts else str(getattr(section, "heading", ""))
    return {"section": name, "source": str(getattr(section, "source", ""))}


def _is_factory(value) -> bool:
    return callable(value) and not any(
        hasattr(value, name) for name in ("search", "stream", "find_categories", "review")
    )


class _BuiltOnFirstUse:
    """An engine part given as the object itself or as a zero-argument factory, built the first time it is read."""

    def __set_name__(self, owner, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, engine, owner=None):
        if engine is None:
            return self
        value = getattr(engine, self.slot)
        if _is_factory(value):
            value = value()
            setattr(engine, self.slot, value)
        return value

    def __set__(self, engine, value) -> None:
        setattr(engine, self.slot, value)


class ReflectionEngine:
    """Answers what a partner said the way a skilled listener would; the CLI and the TUI both call `.reflect`."""

    retriever = _BuiltOnFirstUse()
    chat_model = _BuiltOnFirstUse()
    semantic_safety = _BuiltOnFirstUse()
    review = _BuiltOnFirstUse()

    def __init__(
        self,
        retriever=None,
        chat_model=None,
        region: str = DEFAULT_REGION,
        builtin=None,
        *,
        stop_early: bool = True,
        semantic_safety=None,
        review=None,
    ) -> None:
        """retriever and chat_model may also be zero-argument factories (Services passes its accessors), so a
        crisis gets its safety message without waiting for a model to load. semantic_safety (a
        safety_semantic.SemanticScreen, or a factory for one, or None for the rules alone) screens what the rules
        did not flag; it is built only then, so a crisis the rules catch never waits for the embedder."""
        self.retriever = retriever
        self.chat_model = chat_model
        self.semantic_safety = semantic_safety
        if review is None:
            from companion.listen.review import DraftReview

            review = DraftReview()  # the text checks alone; Services adds the embedder and the coach
        # Every model draft passes this review (or a factory for it, built at the first draft) before it is shown.
        self.review = review
        self.region = region
        # Stop a draft as soon as its first words show it cannot pass (benchmarks turn this off).
        self.stop_early = stop_early
        if builtin is None:
            from companion.listen.reflector import BuiltinReflector

            builtin = BuiltinReflector()
        self.builtin = builtin

    def reflect(
        self,
        statement: str,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        *,
        on_discard: Callable[[str], None] | None = None,
    ) -> Reflection:
        """Reflect one statement. `on_token` gets model text as it streams; `on_discard(reason)` says that the
        streamed draft failed the checks and will be replaced; `cancel` stops the model between tokens."""
        text = clean_statement(statement)

        from companion.safety.screen import screen

        # Logs "safety message shown", nothing else; the semantic layer is built only if the rules find nothing.
        assessment = screen(text, region=self.region, semantic=lambda: self.semantic_safety)
        if assessment is not None and assessment.level == "crisis":
            return Reflection(
                reflection=assessment.message,
                engine="builtin",
                safety=assessment.as_dict(),
            )
        result = self._reflect_screened(text, on_token, cancel, on_discard)
        if assessment is not None:
            # A check-in: the reflection stands, with the note and resources under it.
            result.safety = assessment.as_dict()
        return result

    def _reflect_screened(self, text: str, on_token, cancel, on_discard) -> Reflection:
        """The reflection itself, for a statement the safety screen let through."""

        notices: list[str] = []
        hits = self._search(text, notices)
        tip = hits[0] if hits else None
        citations = [_citation(hit) for hit in hits]
        # The lexicon analysis runs after the model has streamed, so it never delays the first token.
        analysed: list[Any] = []

        def analysis():
            if not analysed:
                analysed.append(self.builtin.reflect(text, tip))
            return analysed[0]

        def base() -> dict[str, Any]:
            return {
                "feelings": list(analysis().feelings),
                "needs": list(analysis().needs),
                "citations": citations,
            }

        def builtin_answer(notice: str | None) -> Reflection:
            builtin = analysis()
            if notice:
                notices.append(notice)
            return Reflection(
                reflection=builtin.reflection,
                alternatives=list(builtin.alternatives),
                engine="builtin",
                notice=" ".join(notices) or None,
                **base(),
            )

        if self.chat_model is None:
            return builtin_answer(None)

        cancel = cancel or threading.Event()
        engine = getattr(self.chat_model, "engine", "llama")
        model = self.chat_model.describe() if hasattr(self.chat_model, "describe") else None
        reasons: tuple[str, ...] = ()
        for attempt in range(2):
            try:
                draft, early_reason = self._model_draft(
                    text,
                    hits,
                    firmer=attempt > 0,
                    listener=engine == "listener",
                    on_token=on_token,
                    cancel=cancel,
                )
            except CompanionError as exc:
                log.warning("model failed, built-in reflector answers: %s", type(exc).__name__)
                return builtin_answer(
                    f"The model could not answer ({exc.message}); the built-in reflector answered."
                )
            if cancel.is_set():
                log.info("reflection cancelled")
                return Reflection(
                    reflection=draft.strip(),
                    engine=engine,
                    model=model,
                    notice="Stopped.",
                    cancelled=True,
                    **base(),
                )
            verdict = self.review.review(draft, text)
            if early_reason:
                reasons = (early_reason,)
            elif verdict.ok:
                builtin = analysis()
                alternatives = [builtin.reflection, *builtin.alternatives][:2]
                return Reflection(
                    reflection=verdict.text,
                    alternatives=alternatives,
                    engine=engine,
                    model=model,
                    notice=" ".join(notices) or None,
                    **base(),
                )
            else:
                reasons = verdict.reasons
            # Log only the kind of failure, never the text.
            log.info(
                "model draft rejected (attempt %d): %s",
                attempt + 1,
                "; ".join(r.split(":")[0] for r in reasons),
            )
            if on_discard is not None:
                on_discard(reasons[0])
        return builtin_answer(
            f"The model's answer did not pass the checks ({reasons[0] if reasons else 'no answer'}); "
            "the built-in reflector answered instead."
        )

    # ---- steps ----------------------------------------------------------------------------------
    def _search(self, text: str, notices: list[str]) -> list[Any]:
        if self.retriever is None:
            return []
        try:
            results = self.retriever.search(text, k=GUIDANCE_SECTIONS)
        except CompanionError as exc:
            log.warning("guidance search failed: %s", type(exc).__name__)
            notices.append(f"The guidance could not be searched ({exc.message}).")
            return []
        if getattr(results, "notice", None):
            notices.append(results.notice)
        return list(results)

    def _model_draft(
        self, text: str, hits: list[Any], *, firmer: bool, listener: bool, on_token, cancel
    ) -> tuple[str, str | None]:
        """Stream one model answer; stop early when the first words already show it cannot pass."""
        if listener:
            # Trained without the guidance in its prompt (scripts/eval_listener.py measured both ways).
            messages = build_listener_messages(text)
            options = {"max_tokens": LISTENER_MAX_TOKENS, "temperature": LISTENER_TEMPERATURES[int(firmer)]}
        else:
            messages = build_reflection_messages(text, hits, firmer=firmer)
            options = {"max_tokens": MODEL_MAX_TOKENS, "temperature": MODEL_TEMPERATURE}
        pieces: list[str] = []
        stream = self.chat_model.stream(messages, cancel=cancel, **options)
        try:
            for piece in stream:
                pieces.append(piece)
                if on_token is not None:
                    on_token(piece)
                reason = early_failure("".join(pieces)) if self.stop_early else None
                if reason:
                    return "".join(pieces), reason
        finally:
            stream.close()
        return "".join(pieces), None
