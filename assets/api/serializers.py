"""API shapes in EnOS's camelCase.

Output serializers read models. Input serializers only check types and shapes, their validated
data keyed by model field names (through `source`); the rules themselves (deviceKey format,
tags, attribute types) live in the service functions, which every door shares.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import AssetType, DataFormat, Device, DeviceStatus, Product, ProductType, ThingModel

# service and model field names → the API's, to re-key the per-field details of a DomainError
API_FIELD_NAMES = {
    "device_key": "deviceKey",
    "device_secret": "deviceSecret",
    "product_key": "productKey",
    "product": "productKey",
    "product_type": "productType",
    "data_format": "dataFormat",
    "dynamic_activation": "dynamicActivation",
    "model_id": "modelId",
    "model": "modelId",
    "devices": "assetIds",
    "__all__": "non_field_errors",
}


class StrictInput(serializers.Serializer):
    """Refuses fields it does not know: a PATCH of `deviceKey` must not look like a success."""

    def validate(self, attrs: dict) -> dict:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("This field cannot be set here.")] for name in unknown})
        return attrs


# --- devices ------------------------------------------------------------------------------------

class DeviceSerializer(serializers.ModelSerializer):
    """A device as lists and details show it: never its secret."""

    assetId = serializers.CharField(source="asset_id", read_only=True)
    ouId = serializers.CharField(source="ou.ou_id", read_only=True)
    productKey = serializers.CharField(source="product.product_key", read_only=True)
    productName = serializers.CharField(source="product.name", read_only=True)
    productType = serializers.ChoiceField(source="product.product_type", choices=ProductType.choices,
                                          read_only=True)
    deviceKey = serializers.CharField(source="device_key", read_only=True)
    status = serializers.ChoiceField(choices=DeviceStatus.choices, read_only=True)
    assetType = serializers.ChoiceField(source="asset_type", choices=AssetType.choices, read_only=True)
    gatewayAssetId = serializers.CharField(source="gateway.asset_id", read_only=True, allow_null=True,
                                           default=None)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    activatedAt = serializers.DateTimeField(source="activated_at", read_only=True, allow_null=True)
    lastOnlineAt = serializers.DateTimeField(source="last_online_at", read_only=True, allow_null=True)
    lastOfflineAt = serializers.DateTimeField(source="last_offline_at", read_only=True, allow_null=True)
    attributes = serializers.DictField(read_only=True)
    tags = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Device
        fields = ["assetId", "ouId", "productKey", "productName", "productType", "deviceKey", "name",
                  "description", "timezone", "status", "assetType", "gatewayAssetId", "attributes", "tags",
                  "createdAt", "updatedAt", "activatedAt", "lastOnlineAt", "lastOfflineAt"]
        read_only_fields = fields


class CreatedDeviceSerializer(DeviceSerializer):
    """The answer to a create: the device and its whole triple, shown once to its creator."""

    deviceSecret = serializers.CharField(source="device_secret", read_only=True)

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "deviceSecret"]
        read_only_fields = fields


class TripleSerializer(serializers.Serializer):
    assetId = serializers.CharField()
    productKey = serializers.CharField()
    deviceKey = serializers.CharField()
    deviceSecret = serializers.CharField()

    @staticmethod
    def of(device: Device, secret: str) -> dict[str, str]:
        return {"assetId": device.asset_id, "productKey": device.product.product_key,
                "deviceKey": device.device_key, "deviceSecret": secret}


@extend_schema_field({"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{4,64}$"})
class DeviceKeyField(serializers.CharField):
    """The schema states the deviceKey rule; the service checks it, so its message joins the other fields'."""


class DeviceUpdateSerializer(StrictInput):
    """PATCH body. `attributes` and `tags` merge into the stored ones; a null value removes a key."""

    name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    timezone = serializers.CharField(required=False, help_text="+08:00 or an IANA name")
    attributes = serializers.DictField(required=False, child=serializers.JSONField(allow_null=True))
    tags = serializers.DictField(required=False, child=serializers.JSONField(allow_null=True))


class DeviceCreateSerializer(DeviceUpdateSerializer):
    ouId = serializers.CharField(source="ou_id", min_length=1, help_text="The OU the device belongs to.")
    productKey = serializers.CharField(source="product_key", min_length=1)
    deviceKey = DeviceKeyField(source="device_key", required=False,
                               help_text="4 to 64 letters, digits or - _ . : ; generated when omitted.")
    name = serializers.CharField(allow_blank=True, trim_whitespace=False)


class AssetIdsSerializer(StrictInput):
    assetIds = serializers.ListField(child=serializers.CharField(min_length=1), allow_empty=False, max_length=1000)


class SubDeviceChangeSerializer(serializers.Serializer):
    gatewayAssetId = serializers.CharField()
    assetIds = serializers.ListField(child=serializers.CharField())
    count = serializers.IntegerField()


# --- products and thing models -------------------------------------------------------------------

class SharedFlagMixin(serializers.Serializer):
    """`shared` is true when the requester sees the object only because it was shared to their OU."""

    shared = serializers.SerializerMethodField()

    def get_shared(self, obj: Product | ThingModel) -> bool:
        own_ou_id = self.context.get("ou_id")  # lists narrowed with ?ou=: relative to that OU
        if own_ou_id:
            return obj.ou.ou_id != own_ou_id
        own = self.context.get("own_ou_pks")  # None: a superuser owns everything
        return own is not None and obj.ou_id not in own


class ProductSerializer(SharedFlagMixin, serializers.ModelSerializer):
    productKey = serializers.CharField(source="product_key", read_only=True)
    ouId = serializers.CharField(source="ou.ou_id", read_only=True)
    productType = serializers.ChoiceField(source="product_type", choices=ProductType.choices, read_only=True)
    dataFormat = serializers.ChoiceField(source="data_format", choices=DataFormat.choices, read_only=True)
    modelId = serializers.CharField(source="model.model_id", read_only=True)
    dynamicActivation = serializers.BooleanField(source="dynamic_activation", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Product
        fields = ["productKey", "ouId", "name", "description", "productType", "dataFormat", "modelId",
                  "dynamicActivation", "shared", "createdAt", "updatedAt"]
        read_only_fields = fields


class CreatedProductSerializer(ProductSerializer):
    productSecret = serializers.CharField(source="product_secret", read_only=True)

    class Meta(ProductSerializer.Meta):
        fields = [*ProductSerializer.Meta.fields, "productSecret"]
        read_only_fields = fields


class ProductUpdateSerializer(StrictInput):
    name = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    productType = serializers.ChoiceField(source="product_type", choices=ProductType.choices, required=False)
    dataFormat = serializers.ChoiceField(source="data_format", choices=DataFormat.choices, required=False)
    modelId = serializers.CharField(source="model_id", required=False)
    dynamicActivation = serializers.BooleanField(source="dynamic_activation", required=False)


class ProductCreateSerializer(ProductUpdateSerializer):
    ouId = serializers.CharField(source="ou_id", min_length=1)
    name = serializers.CharField(allow_blank=True)
    modelId = serializers.CharField(source="model_id", min_length=1)


class ThingModelSerializer(SharedFlagMixin, serializers.ModelSerializer):
    modelId = serializers.CharField(source="model_id", read_only=True)
    ouId = serializers.CharField(source="ou.ou_id", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    attributes = serializers.ListField(child=serializers.DictField(), read_only=True)
    measurepoints = serializers.ListField(child=serializers.DictField(), read_only=True)
    services = serializers.ListField(child=serializers.DictField(), read_only=True)
    events = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = ThingModel
        fields = ["modelId", "ouId", "name", "description", "attributes", "measurepoints", "services", "events",
                  "shared", "createdAt", "updatedAt"]
        read_only_fields = fields


class ThingModelUpdateSerializer(StrictInput):
    name = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    attributes = serializers.ListField(child=serializers.DictField(), required=False)
    measurepoints = serializers.ListField(child=serializers.DictField(), required=False)
    services = serializers.ListField(child=serializers.DictField(), required=False)
    events = serializers.ListField(child=serializers.DictField(), required=False)


class ThingModelCreateSerializer(ThingModelUpdateSerializer):
    ouId = serializers.CharField(source="ou_id", min_length=1)
    modelId = serializers.CharField(source="model_id", min_length=1, max_length=64)
    name = serializers.CharField(allow_blank=True)



QUERY_NODE_SCHEMA = {
    "type": "object",
    "description": (
        "A query node. Combinations: {\"and\": [node, ...]}, {\"or\": [node, ...]}, {\"not\": node}. Leaves: "
        "{\"text\": \"words\"} (name or deviceKey contains, or the assetId); {\"field\": \"name\"|\"key\"|"
        "\"asset_id\", \"op\": \"contains\", \"value\": ...}; {\"field\": \"status\"|\"product\"|\"model\"|"
        "\"type\"|\"gateway\"|\"group\"|\"has\", \"op\": \"=\", \"value\": ...}; {\"field\": "
        "\"activated\"|\"last_online\"|\"last_offline\", \"op\": \"<\"|\"<=\"|\">\"|\">=\", \"value\": "
        "\"7d\"|\"2026-12-01\"|ISO datetime}; {\"tag\": key} (has it), {\"tag\": key, \"op\": \"=\", \"value\": "
        "v}, {\"tag\": key, \"op\": \"in\", \"value\": [v, ...]}; {\"attr\": identifier, \"op\": \"=\"|\"!=\"|"
        "\"<\"|\"<=\"|\">\"|\">=\", \"value\": v} (typed by the device models). The same language as the "
        "text `query`, compiled by the same code."),
    "additionalProperties": True,
    "example": {"and": [{"field": "status", "op": "=", "value": "offline"},
                        {"tag": "site", "op": "=", "value": "suzhou"},
                        {"attr": "capacity", "op": ">=", "value": 500},
                        {"not": {"field": "last_online", "op": ">=", "value": "7d"}}]},
}


@extend_schema_field(QUERY_NODE_SCHEMA)
class QueryNodeField(serializers.JSONField):
    pass


class DeviceSearchSerializer(StrictInput):
    """POST /api/devices/search/: a structured query, optionally in one OU; the page is chosen in the URL."""

    where = QueryNodeField(help_text="The query tree; {} matches every device you can see.")
    ou = serializers.CharField(required=False, min_length=1, max_length=64,
                               help_text="ouId of one OU; by default every OU you can see.")


class ErrorSerializer(serializers.Serializer):
    """Every refusal: a stable code, a sentence for people, and messages per field."""

    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class QueryErrorSerializer(ErrorSerializer):
    """A refused list request; for a bad `query`, where it went wrong."""

    position = serializers.IntegerField(required=False, help_text="1-based column of the bad token in `query`.")
    token = serializers.CharField(required=False, help_text="The text at that column.")
    pointer = serializers.CharField(required=False, help_text="For a bad `where`: the JSON pointer (RFC 6901) "
                                    "of the node at fault, e.g. /and/1/value.")
