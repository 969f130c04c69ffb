"""OpenAPI generation: drf-standardized-errors' schema, plus the errors it cannot infer."""

from drf_standardized_errors.openapi import AutoSchema as StandardErrorsSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import serializers

# Our views raise these; the base schema only knows the errors DRF raises itself.
WRITE_METHODS = ("PUT", "PATCH", "DELETE")


class ClientErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ClientErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = ClientErrorSerializer(many=True)


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
