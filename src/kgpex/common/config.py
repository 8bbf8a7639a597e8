"""The config checked against workflow/schemas/config.schema.yaml, with the schema's defaults filled
in; also the schema validator that the sample sheets use."""

from __future__ import annotations

import functools
from pathlib import Path

import jsonschema
import yaml

from kgpex.common.errors import KgpexError

SCHEMAS = Path(__file__).resolve().parents[3] / "workflow" / "schemas"


@functools.lru_cache(maxsize=None)
def _load_schema(name: str) -> dict:
    # Cached: a sheet is checked row by row, and MAGE's runs sheet has 779 rows.
    with open(SCHEMAS / name) as fh:
        return yaml.safe_load(fh)


@functools.lru_cache(maxsize=None)
def _validator(name: str, set_default: bool):
    schema = _load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    if set_default:
        cls = _with_defaults(cls)
    return cls(schema)


def _with_defaults(validator_class):
    """A validator that fills in each property's `default` before checking it (jsonschema FAQ)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value):
    import copy

    return copy.deepcopy(value)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate(instance: dict, schema_name: str, label: str, set_default: bool = False) -> dict:
    """Check ``instance`` against a schema in workflow/schemas; raise one line on the first error."""
    validator = _validator(schema_name, set_default)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        raise KgpexError(f"{label}: field '{_where(err)}': {err.message}")
    return instance


def validate_config(config: dict, label: str = "config") -> dict:
    """Validate the config, filling in defaults in place."""
    return validate(config, "config.schema.yaml", label, set_default=True)
