"""FieldError: one validation violation, with the field path in Kubernetes' notation."""

from __future__ import annotations

from dataclasses import dataclass

# Kubernetes field.ErrorType names, as printed by field.Error.Error().
REQUIRED = "Required"
INVALID = "Invalid"
FORBIDDEN = "Forbidden"
NOT_SUPPORTED = "NotSupported"
DUPLICATE = "Duplicate"
NOT_FOUND = "NotFound"
TOO_LONG = "TooLong"

_PREFIX = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    FORBIDDEN: "Forbidden",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    NOT_FOUND: "Not found",
    TOO_LONG: "Too long",
}


@dataclass(frozen=True)
class FieldError:
    """A single violation.

    ``path`` is the field path (``spec.updateStrategy.rollingUpdate.maxUnavailable``,
    ``spec.containers[0].name``); ``message`` is OpenKruise's / Kubernetes' wording;
    ``type`` is the Kubernetes error type (Invalid, Required, Forbidden, ...).
    """

    path: str
    message: str
    type: str = INVALID

    def __str__(self) -> str:
        # Same shape as Kubernetes' field.Error.Error() minus the offending value.
        prefix = _PREFIX.get(self.type, self.type)
        if self.message and self.message != prefix:
            return f"{self.path}: {prefix}: {self.message}"
        return f"{self.path}: {prefix}"


def aggregate(errors: list[FieldError]) -> str:
    """Render a list like Kubernetes' ErrorList.ToAggregate().Error()."""
    if len(errors) == 1:
        return str(errors[0])
    return "[" + ", ".join(str(e) for e in errors) + "]"
