"""Wire-format helpers shared by every request model: scalar coercion and PARAM_ILLEGAL wording."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel

from ..errors import ParamIllegal


def _scalar_to_str(value: Any) -> Any:
    # Spec §9 U12: numbers are accepted and read as their string form (the Python SDK
    # examples send paymentRequestId and amounts as JSON numbers).
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


WireStr = Annotated[str, BeforeValidator(_scalar_to_str)]


@dataclass(frozen=True, slots=True)
class Rules:
    """Validation choices the settings make (issue #12); passed as pydantic's validation context."""

    lenient_request_ids: bool = False
    lenient_datetimes: bool = False


STRICT = Rules()
# "Special characters are not supported" (spec §3.2, §3.7 paymentRequestId / refundRequestId).
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]+")
# ISO 8601 date and time with seconds and an offset (Z, +hh:mm or +hhmm), as the docs' samples.
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _rules(info: ValidationInfo) -> Rules:
    return info.context if isinstance(info.context, Rules) else STRICT


def _request_id(value: str, info: ValidationInfo) -> str:
    if not _rules(info).lenient_request_ids and not _REQUEST_ID.fullmatch(value):
        raise ValueError("may contain only ASCII letters, digits, - and _")
    return value


def _datetime(value: str, info: ValidationInfo) -> str:
    if _rules(info).lenient_datetimes:
        return value
    return check_datetime(value)


def check_datetime(value: str) -> str:
    """An ISO 8601 date-time with offset, or ValueError saying so (the docs' "invalid date")."""
    if not _DATETIME.fullmatch(value):
        raise ValueError("must be an ISO 8601 date-time with offset, like 2026-11-26T10:00:00+08:00")
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("is not a valid date-time") from exc
    return value


# paymentRequestId, refundRequestId: non-empty, at most 64, the charset above.
RequestId = Annotated[WireStr, Field(min_length=1, max_length=64), AfterValidator(_request_id)]
# A Datetime field that is only recorded (storeTerminalRequestTime ...): lenient_datetimes skips it.
WireDatetime = Annotated[WireStr, Field(max_length=64), AfterValidator(_datetime)]


class WireModel(BaseModel):
    """camelCase on the wire, unknown fields ignored (like the gateway's parsers)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=False
    )


_PROBLEMS = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a JSON array",
    "literal_error": "has an unsupported value",
    "enum": "has an unsupported value",
    "string_pattern_mismatch": "has an invalid format",
}


def param_illegal_from(exc: ValidationError) -> ParamIllegal:
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    kind = err["type"]
    if kind == "string_too_long":
        problem = f"exceeds {err.get('ctx', {}).get('max_length')} characters"
    elif kind == "value_error":
        problem = str(err["msg"]).removeprefix("Value error, ")
    else:
        problem = _PROBLEMS.get(kind, "is invalid")
    return ParamIllegal(field, problem)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or PARAM_ILLEGAL saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParamIllegal("body", "is not valid UTF-8") from exc
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise ParamIllegal("body", "nests too deeply") from exc
    except ValueError as exc:
        raise ParamIllegal("body", "is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ParamIllegal("body", "must be a JSON object")
    try:
        where = _control_character_at(data, "")
    except RecursionError as exc:
        raise ParamIllegal("body", "nests too deeply") from exc
    if where is not None:
        # A NUL also breaks PostgreSQL text columns: refused on every database alike.
        raise ParamIllegal(where or "body", "must not contain control characters")
    return data


def _control_character_at(value: Any, path: str) -> str | None:
    """The dotted path of the first string (value or key) holding a control character."""
    if isinstance(value, str):
        return path if _CONTROL.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if _CONTROL.search(str(key)):
                return path or "body"
            if (found := _control_character_at(item, here)) is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _control_character_at(item, f"{path}.{i}" if path else str(i))) is not None:
                return found
    return None


def validate_body(model: type[BaseModel], raw: bytes, rules: Rules = STRICT) -> BaseModel:
    """The request model straight from the received bytes, or PARAM_ILLEGAL naming the field.

    A body without a backslash escape or a DEL cannot hold a control character (JSON refuses
    raw ones in strings), so pydantic parses and validates it in one pass. Anything it refuses
    goes the long way (``parse_body`` then ``validate``), which words the answer exactly.
    """
    if b"\\" not in raw and b"\x7f" not in raw:
        try:
            return model.model_validate_json(raw, context=rules)
        except (ValidationError, RecursionError):
            pass
    return validate(model, parse_body(raw), rules)


def validate(model: type[BaseModel], data: dict[str, Any], rules: Rules = STRICT) -> BaseModel:
    try:
        return model.model_validate(data, context=rules)
    except ValidationError as exc:
        raise param_illegal_from(exc) from exc
    except RecursionError as exc:
        raise ParamIllegal("body", "nests too deeply") from exc
