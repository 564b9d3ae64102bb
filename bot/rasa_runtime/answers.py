"""Checking the action server's answers once per process, not once per answer.

Rasa 3.6 checks every answer of the action server against a fixed JSON Schema
with ``jsonschema.validate``, which first checks the schema itself against
the JSON Schema specification and builds a new validator: about half of the
CPU of a turn (``bench/turn_profile.py``). :func:`install` builds the
validator once; a valid answer passes at once, an invalid one still goes
through Rasa's own check, so it fails with the same error as before.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def install() -> None:
    """Replace ``RemoteAction._validate_action_result`` with a check by a validator built once (idempotent)."""
    from jsonschema import validators
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction._validate_action_result, "validator", None) is not None:
        return
    schema = RemoteAction.action_response_format_spec()
    checker = validators.validator_for(schema)
    checker.check_schema(schema)
    validator = checker(schema)
    rasa_check = RemoteAction._validate_action_result

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        return True if validator.is_valid(result) else bool(rasa_check(self, result))

    _validate_action_result.validator = validator  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result
    logger.debug("action server answers are checked by a validator built once")
