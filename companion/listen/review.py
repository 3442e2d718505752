"""Reviews a model's draft reflection: the text checks, then meaning checks a small model needs.

The text checks (output_checks) catch advice, reassurance, talk about the text, invented names and numbers,
loops and garbage. Two more need models: the draft must stay on the partner's topic (MiniLM similarity between
the statement and the draft, threshold chosen on training/listener/dev.jsonl by scripts/eval_listener.py), and the
coach must not be sure it is something other than a reflection (advice, a question, reassurance).
"""

from __future__ import annotations

import re

import numpy as np

from companion.listen.output_checks import CheckResult, check_reflection

# Chosen on the dev split (scripts/eval_listener.py --choose-thresholds); see the README's listener table.
DRIFT_THRESHOLD = 0.18
# The coach vetoes a draft only when it is this sure that it is not a reflection.
COACH_VETO = 0.80
_CHECK_TAIL = re.compile(r"\s*[^.!?]*\?\s*$")


def _without_check(text: str) -> str:
    """The reflection without its closing question (the check says nothing about the topic or the move)."""
    return _CHECK_TAIL.sub("", text).strip() or text


class DraftReview:
    """`review(draft, statement)` -> CheckResult; embedder and coach are optional (the text checks always run)."""

    def __init__(
        self,
        embedder=None,
        coach=None,
        *,
        drift_threshold: float = DRIFT_THRESHOLD,
        coach_veto: float = COACH_VETO,
    ) -> None:
        self.embedder = embedder
        self.coach = coach
        self.drift_threshold = drift_threshold
        self.coach_veto = coach_veto

    def similarity(self, draft: str, statement: str) -> float:
        """Cosine between the statement and the draft without its closing check."""
        vectors = self.embedder.embed([statement, _without_check(draft)])
        return float(np.dot(vectors[0], vectors[1]))

    def review(self, draft: str, statement: str) -> CheckResult:
        verdict = check_reflection(draft, statement)
        if not verdict.ok:
            return verdict
        reasons: list[str] = []
        if self.embedder is not None:
            similarity = self.similarity(verdict.text, statement)
            if similarity < self.drift_threshold:
                reasons.append(f"drift: off the partner's topic (similarity {similarity:.2f})")
        if self.coach is not None:
            result = self.coach.assess(_without_check(verdict.text), context=statement)
            if result.label != "reflection" and result.confidence >= self.coach_veto:
                reasons.append(f"coach: reads as {result.label}, not a reflection")
        if reasons:
            return CheckResult(False, tuple(reasons), verdict.text)
        return verdict
