"""OpenAPI generation: drf-standardized-errors' schema, plus the errors it cannot infer."""

import re

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.plumbing import force_instance, is_serializer
from drf_spectacular.utils import OpenApiParameter
from drf_standardized_errors.openapi import AutoSchema as StandardErrorsSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from drf_standardized_errors.openapi_utils import (
    InputDataField,
    get_flat_serializer_fields,
    get_serializer_fields_with_error_codes,
)
from rest_framework import serializers
from rest_framework.settings import api_settings

# Our views raise these; the base schema only knows the errors DRF raises itself.
WRITE_METHODS = ("PUT", "PATCH", "DELETE")
# Query parameters checked by the views and the paginator, not by a FilterSet form:
# each answers a malformed value with a 400 of code "invalid" naming it.
VIEW_CHECKED_PARAMETERS = {"cursor", "page_size", "ordering", "format"}


def model_validation_codes(data_field) -> set[str]:
    """Codes the model's own validation (ModelValidationMixin) can add to a request field's errors."""
    from .serializers import PublicRef

    field = data_field.field
    if data_field.name.endswith(api_settings.NON_FIELD_ERRORS_KEY):
        return {"invalid", "unique", "unique_together"}
    codes = set()
    if isinstance(field, PublicRef):
        codes |= {"invalid", "does_not_exist"}
    model = getattr(getattr(getattr(field, "parent", None), "Meta", None), "model", None)
    if model is not None and getattr(field, "source", None):
        try:
            model_field = model._meta.get_field(field.source)
        except FieldDoesNotExist:
            return codes
        codes |= {"invalid", "unique", "null", "blank"}
        codes |= {v.code for v in model_field.validators if getattr(v, "code", None)}
    return codes


class ClientErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ClientErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = ClientErrorSerializer(many=True)  # type: ignore[assignment]  # a field named like Serializer.errors


class AutoSchema(StandardErrorsSchema):
    def _should_add_error_response(self, responses, status_code):
        is_restore = self.method == "POST" and self.path.endswith("/restore/")
        if status_code in ("412", "428"):
            return status_code not in responses and (self.method in WRITE_METHODS or is_restore)
        if status_code == "409":
            return status_code not in responses and self.method == "DELETE"
        return super()._should_add_error_response(responses, status_code)

    def _get_error_response_serializer(self, status_code):
        if status_code in ("409", "412", "428"):
            return ClientErrorResponseSerializer
        return super()._get_error_response_serializer(status_code)

    def _get_extra_validation_errors(self):
        extra = dict(super()._get_extra_validation_errors())
        if self.method == "GET":
            names = {p["name"] for p in self._get_pagination_parameters()}
            names |= {p["name"] for p in self._get_filter_parameters()}
            names |= {p.name for p in self.get_override_parameters() if isinstance(p, OpenApiParameter)}
            for name in VIEW_CHECKED_PARAMETERS & names:
                extra[name] = set(extra.get(name, ())) | {"invalid"}
        return extra

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        # Errors are JSON whatever the success responses are (exports answer errors in JSON).
        if str(status_code)[0] in "45":
            media_types = ["application/json"]
        return super()._get_response_for_code(serializer, status_code, media_types, direction)

    def _query_serializers(self) -> list:
        """Serializers that validate query parameters (``parameters=[SomeSerializer]``)."""
        if self.method != "GET":
            return []
        return [force_instance(p) for p in self.get_override_parameters() if is_serializer(p)]

    def _should_add_validation_error_response(self):
        return super()._should_add_validation_error_response() or bool(self._query_serializers())

    def _query_serializer_fields(self) -> list:
        fields = []
        for serializer in self._query_serializers():
            fields += get_serializer_fields_with_error_codes(get_flat_serializer_fields(serializer))
        return fields

    def _determine_fields_with_error_codes(self):
        fields = list(super()._determine_fields_with_error_codes()) + self._query_serializer_fields()
        if self.method in ("POST", "PUT", "PATCH"):
            for data_field in fields:
                data_field.error_codes |= model_validation_codes(data_field)
            # A nested list or object that is not one at all (null, a number) is reported
            # at the field itself, not at its non_field_errors.
            suffix = f".{api_settings.NON_FIELD_ERRORS_KEY}"
            fields += [
                InputDataField(
                    f.name.removesuffix(suffix), f.field, {"null", "invalid", "not_a_list", "empty"}
                )
                for f in fields
                if f.name.endswith(suffix)
            ]
        return fields


def list_index_attrs(result, generator, request, public):
    """Postprocessing hook: an error's ``attr`` for a list item is ``aliases.2``, not ``aliases.INDEX``.

    drf-standardized-errors lists such attrs with a placeholder; the schema
    then says what responses really hold: a pattern with the index as digits.
    """
    for component in result.get("components", {}).get("schemas", {}).values():
        attr = component.get("properties", {}).get("attr")
        values = (attr or {}).get("enum") or []
        if any(".INDEX" in v for v in values):
            alternatives = "|".join(re.escape(v).replace("INDEX", "[0-9]+") for v in values)
            component["properties"]["attr"] = {
                "type": "string",
                "pattern": f"^(?:{alternatives})$",
                "description": attr.get("description", ""),
            }
    return result
