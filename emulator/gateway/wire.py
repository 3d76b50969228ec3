"""Wire-format helpers shared by every request model: scalar coercion and PARAM_ILLEGAL wording."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
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
    return data


def validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise param_illegal_from(exc) from exc
    except RecursionError as exc:
        raise ParamIllegal("body", "nests too deeply") from exc
