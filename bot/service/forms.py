"""The approve modal's answers: inputs, comment and (high risk) the Ref code, validated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from bot.models import Approval

FORM_COMMENT: Final = "comment"
FORM_CODE: Final = "code"
MAX_COMMENT_CHARS: Final = 3000


@dataclass(frozen=True)
class ApproveForm:
    """What an approver submitted in the approve modal, validated."""

    inputs: dict[str, Any]
    comment: str | None


def read_approve_form(
    approval: Approval, raw: dict[str, str | None]
) -> tuple[ApproveForm | None, dict[str, str]]:
    """Validate the approve modal: (the form, {}) or (None, errors by field name).

    ``raw`` maps input names (plus ``comment`` and ``code``) to what was typed or picked.
    """
    errors: dict[str, str] = {}
    inputs: dict[str, Any] = {}
    for field in approval.spec.inputs:
        value, error = field.validate(raw.get(field.name))
        if error:
            errors[field.name] = error
        elif value is not None:
            inputs[field.name] = value
    if approval.spec.risk == "high":
        typed = (raw.get(FORM_CODE) or "").strip().upper()
        if typed != approval.short_code:
            errors[FORM_CODE] = f"Type {approval.short_code} to confirm."
    comment = (raw.get(FORM_COMMENT) or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        errors[FORM_COMMENT] = f"At most {MAX_COMMENT_CHARS} characters."
    if errors:
        return None, errors
    return ApproveForm(inputs, comment), {}
