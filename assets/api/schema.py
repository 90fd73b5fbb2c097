"""What drf-spectacular cannot infer about the API's serializers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension


class StrictInputExtension(OpenApiSerializerExtension):
    """StrictInput bodies refuse fields they do not know: the schema says so (additionalProperties: false)."""

    target_class = "assets.api.serializers.StrictInput"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}
