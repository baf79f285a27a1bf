"""nbgrader's CheckCellMetadata, with its JSON-schema validator compiled once per process.

nbgrader's validator calls ``jsonschema.validate(metadata, schema)`` for every cell, which checks the schema
itself and builds a new validator each time: about a tenth of a second of CPU per small notebook, run twice
per autograde (sanitizing and autograding) for the same fixed schema. This class validates the same
metadata against the same schema (nbgrader's own file, read by nbgrader's own validator) and raises the same
errors (``jsonschema.exceptions.best_match``, as ``jsonschema.validate`` does); only the checked-once schema
and the built-once validator are new. tests/test_grading_shortcuts.py checks that it refuses what nbgrader's
refuses.
"""

from __future__ import annotations

import traceback

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheckCellMetadata


_VALIDATORS: dict = {}  # nbgrader schema version -> its compiled validator


def _schema_validator(version: int, schema: dict):
    if version not in _VALIDATORS:
        cls = validator_for(schema)
        cls.check_schema(schema)  # once, as jsonschema.validate does on every call
        _VALIDATORS[version] = cls(schema)
    return _VALIDATORS[version]


class _SchemaCheckedOnce(BaseMetadataValidator):
    """nbgrader's schema step (BaseMetadataValidator.validate_cell) with the validator built once. It sits
    between nbgrader's MetadataValidatorV3 and its base, so V3's own checks run around it as before."""

    def validate_cell(self, cell) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            return super().validate_cell(cell)  # nbgrader's own path (and its version errors)
        error = best_match(_schema_validator(self.schema_version, self.schema).iter_errors(meta))
        if error is not None:
            raise error


class CachedMetadataValidator(MetadataValidator, _SchemaCheckedOnce):
    pass


class CheckCellMetadata(NbgraderCheckCellMetadata):
    """A drop-in for ``nbgrader.preprocessors.CheckCellMetadata`` (same checks, same log and error)."""

    def preprocess(self, nb, resources):
        try:
            CachedMetadataValidator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg)
        return nb, resources
