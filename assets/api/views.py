"""Viewsets of /api/devices/, /api/products/ and /api/models/.

Reads come from `visible_to(user)` querysets; every write goes through assets.services, whose
DomainError/Conflict/AccessDenied become the API's error body (enos_portal.api).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.errors import DomainError
from accounts.permissions import VIEW, ou_ids_with
from enos_portal.api import APIJSONParser

from .. import services
from ..models import Device, Product, ThingModel
from ..query import QueryError, StructuredQueryError, apply_query, context_for, structured
from . import schema  # noqa: F401 - registers the schema extensions
from .access import require_write, visible_ou, writable_ou
from .filters import DeviceFilter, ProductFilter, ThingModelFilter
from .pagination import KeysetPagination
from .serializers import (
    API_FIELD_NAMES,
    AssetIdsSerializer,
    CreatedDeviceSerializer,
    CreatedProductSerializer,
    DeviceCreateSerializer,
    DeviceSearchSerializer,
    DeviceSerializer,
    DeviceUpdateSerializer,
    ErrorSerializer,
    ProductCreateSerializer,
    ProductSerializer,
    ProductUpdateSerializer,
    QueryErrorSerializer,
    SubDeviceChangeSerializer,
    ThingModelCreateSerializer,
    ThingModelSerializer,
    ThingModelUpdateSerializer,
    TripleSerializer,
)

ERRORS = {status.HTTP_400_BAD_REQUEST: ErrorSerializer, status.HTTP_403_FORBIDDEN: ErrorSerializer,
          status.HTTP_404_NOT_FOUND: ErrorSerializer, status.HTTP_409_CONFLICT: ErrorSerializer}


NON_EMPTY = {"type": "string", "minLength": 1}


def responses(ok: Any, code: int = status.HTTP_200_OK) -> dict:
    return {code: ok, **ERRORS}


def list_responses(serializer_class: type) -> dict:
    """A list's page, or 400 for a filter, pageSize or cursor it cannot use."""
    return {status.HTTP_200_OK: serializer_class(many=True), status.HTTP_400_BAD_REQUEST: ErrorSerializer}


def validated(serializer_class: type, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def merge(stored: dict, patch: dict) -> dict:
    """JSON merge patch, one level deep: given keys replace, null removes."""
    merged = {**stored, **patch}
    return {key: value for key, value in merged.items() if value is not None}


class APIViewSet(viewsets.GenericViewSet):
    # bodies are JSON: attributes, tags and thing model definitions nest, which a form cannot carry
    parser_classes = [APIJSONParser]
    pagination_class = KeysetPagination
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, QueryError):
            return Response(query_error_body(exc), status=status.HTTP_400_BAD_REQUEST)
        # services name fields as the models do (device_key); clients know them as the API does
        if isinstance(exc, DomainError) and exc.details:
            exc.details = {API_FIELD_NAMES.get(key, key): value for key, value in exc.details.items()}
        return super().handle_exception(exc)


# --- devices ------------------------------------------------------------------------------------

def query_error_body(error: QueryError) -> dict[str, Any]:
    """The API's error body, with where the query went wrong: position (1-based column) and token."""
    if isinstance(error, StructuredQueryError):
        return {"code": "invalid_query", "message": error.message, "details": {"where": [error.message]},
                "pointer": error.pointer}
    return {"code": "invalid_query", "message": error.message, "details": {"query": [error.message]},
            "position": error.column, "token": error.token}


QUERY_PARAMETER = OpenApiParameter(
    "query", OpenApiTypes.STR, description=(
        "A device query (ANDed with the other filters). Terms: bare words or \"quoted text\" (name or deviceKey "
        "contains, or the assetId); name:, key:, assetId: (contains); status:online|offline|inactive|disabled; "
        "product:<productKey or name>; model:<modelId>; type:device|gateway|sub_device; gateway:<deviceKey or "
        "assetId>; tag:key, tag:key=value, tag:key in (a, b); attr:<identifier> =, !=, <, <=, >, >= <value> "
        "(typed by the model: numbers, text, true/false, dates); activated, last_online, last_offline with <, <=, "
        ">, >= and 7d / 24h / 30m (that long ago) or 2026-12-01 or an ISO datetime; has:sub_devices; "
        "group:<name> or group:\"a name\" (a device group; with `ou`, that OU's). "
        "Combine with AND, OR, NOT (NOT binds tightest, then AND, then OR; terms side by side are ANDed) and "
        "parentheses. A bad query answers 400 with `message`, `position` (1-based column) and `token`."),
    examples=[
        OpenApiExample("Offline devices of a site with a large capacity, not seen for a week",
                       value="status:offline AND tag:site=suzhou AND attr:capacity>=500 AND last_online<7d"),
        OpenApiExample("Gateways with sub-devices, or anything tagged for two lines",
                       value="(type:gateway has:sub_devices) OR tag:line in (a, b)"),
        OpenApiExample("Text search that excludes disabled devices", value='"pump north" NOT status:disabled'),
    ],
)

@extend_schema_view(
    list=extend_schema(summary="Search devices", description="Newest first; all OUs you can see unless `ou`. "
                       "`query` takes the device query language; the other filters are its shorthands.",
                       parameters=[QUERY_PARAMETER],
                       responses={status.HTTP_200_OK: DeviceSerializer(many=True),
                                  status.HTTP_400_BAD_REQUEST: QueryErrorSerializer}),
    retrieve=extend_schema(summary="Get a device by assetId", responses=responses(DeviceSerializer)),
)
class DeviceViewSet(APIViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilter
    lookup_field = "asset_id"
    lookup_url_kwarg = "assetId"

    def get_queryset(self) -> QuerySet[Device]:
        # everything a row shows, in the one query: the count per page does not grow with its size
        return Device.objects.visible_to(self.request.user).select_related("product", "ou", "gateway")

    def get_object(self, *, write: bool = False) -> Device:
        queryset = self.get_queryset().select_related("product__model") if write else self.get_queryset()
        device = get_object_or_404(queryset, asset_id=self.kwargs["assetId"])
        if write:
            require_write(self.request.user, device.ou_id)
        return device

    def paginated(self, queryset: QuerySet[Device]) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(DeviceSerializer(page, many=True).data)

    def named_devices(self, data: Any) -> list[Device]:
        asset_ids = list(dict.fromkeys(validated(AssetIdsSerializer, data)["assetIds"]))
        found = {d.asset_id: d for d in self.get_queryset().filter(asset_id__in=asset_ids)}
        missing = [asset_id for asset_id in asset_ids if asset_id not in found]
        if missing:
            raise ValidationError({"assetIds": [_("Unknown assetId: %(ids)s.") % {"ids": ", ".join(missing[:10])}]})
        return [found[asset_id] for asset_id in asset_ids]

    @extend_schema(summary="Create a device", request=DeviceCreateSerializer,
                   responses=responses(CreatedDeviceSerializer, status.HTTP_201_CREATED),
                   description="deviceKey is generated when omitted; the answer carries the whole triple.")
    def create(self, request: Request) -> Response:
        ou = writable_ou(request.user, request.data)
        fields = validated(DeviceCreateSerializer, request.data)
        fields.pop("ou_id")
        product_key = fields.pop("product_key")
        product = Product.objects.visible_to(request.user).select_related("model").filter(
            product_key=product_key).first()
        if product is None:
            raise ValidationError({"productKey": [_("Unknown productKey %(product)s.") % {"product": product_key}]})
        device = services.create_device(request.user, ou, product, **fields)
        return Response(CreatedDeviceSerializer(device).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a device", request=DeviceUpdateSerializer, responses=responses(DeviceSerializer),
                   description="attributes and tags merge into the stored ones; a null value removes a key.")
    def partial_update(self, request: Request, assetId: str) -> Response:
        device = self.get_object(write=True)
        changes = validated(DeviceUpdateSerializer, request.data)
        for field in ("attributes", "tags"):
            if field in changes:
                changes[field] = merge(getattr(device, field), changes[field])
        if changes:
            device = services.update_device(request.user, device, **changes)
        return Response(DeviceSerializer(device).data)

    @extend_schema(summary="Delete a device", responses=responses(None, status.HTTP_204_NO_CONTENT))
    def destroy(self, request: Request, assetId: str) -> Response:
        services.delete_device(request.user, self.get_object(write=True))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Get a device by productKey and deviceKey", responses=responses(DeviceSerializer),
                   parameters=[OpenApiParameter("productKey", NON_EMPTY, required=True),
                               OpenApiParameter("deviceKey", NON_EMPTY, required=True)])
    @action(detail=False, methods=["get"], url_path="by-key", pagination_class=None, filter_backends=[])
    def by_key(self, request: Request) -> Response:
        keys = {name: request.query_params.get(name) for name in ("productKey", "deviceKey")}
        missing = {name: [_("This parameter is required.")] for name, value in keys.items() if not value}
        if missing:
            raise ValidationError(missing)
        device = get_object_or_404(self.get_queryset(), product__product_key=keys["productKey"],
                                   device_key=keys["deviceKey"])
        return Response(DeviceSerializer(device).data)

    @extend_schema(summary="Enable a device", request=None, responses=responses(DeviceSerializer))
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, assetId: str) -> Response:
        device = services.enable_device(request.user, self.get_object(write=True))
        return Response(DeviceSerializer(device).data)

    @extend_schema(summary="Disable a device", request=None, responses=responses(DeviceSerializer),
                   description="Its live session is closed and its next logins are refused (code 723).")
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, assetId: str) -> Response:
        device = services.disable_device(request.user, self.get_object(write=True))
        return Response(DeviceSerializer(device).data)

    @extend_schema(summary="Reveal the device triple", responses=responses(TripleSerializer),
                   description="Needs write access; every reveal is written to the audit log.")
    @action(detail=True, methods=["get"])
    def secret(self, request: Request, assetId: str) -> Response:
        device = self.get_object(write=True)
        return Response(TripleSerializer.of(device, services.reveal_secret(request.user, device)))

    @extend_schema(summary="Give the device a new secret", request=None, responses=responses(TripleSerializer),
                   description="Live sessions must log in again with the new triple.")
    @action(detail=True, methods=["post"], url_path="reset-secret")
    def reset_secret(self, request: Request, assetId: str) -> Response:
        device = self.get_object(write=True)
        return Response(TripleSerializer.of(device, services.reset_secret(request.user, device)))

    @extend_schema(
        summary="Search devices with a structured query",
        description="The device query as a JSON tree (`where`), compiled by the same code as the text `query` "
                    "of the device list; newest first, paged as the list is (`pageSize`, `cursor` in the URL: "
                    "POST the same body to the `next` link). A bad tree answers 400 with `message` and `pointer`, "
                    "the JSON pointer (RFC 6901) of the node at fault, e.g. `/where/and/1/value`.",
        request=DeviceSearchSerializer,
        parameters=[OpenApiParameter("pageSize", OpenApiTypes.INT, description="Devices per page (default 20)."),
                    OpenApiParameter("cursor", OpenApiTypes.STR, description="The page: from a `next` link.")],
        responses={status.HTTP_200_OK: DeviceSerializer(many=True),
                   status.HTTP_400_BAD_REQUEST: QueryErrorSerializer,
                   status.HTTP_401_UNAUTHORIZED: ErrorSerializer},
    )
    @action(detail=False, methods=["post"], url_path="search")
    def search(self, request: Request) -> Response:
        data = validated(DeviceSearchSerializer, request.data)
        devices = self.get_queryset()
        context = context_for(devices, request.user)
        if data.get("ou"):
            ou = visible_ou(request.user, data["ou"], "ou")
            devices = devices.filter(ou=ou)
            context.group_ou = ou.pk  # group:<name> is then a group of that OU
        try:
            tree = structured.build(data["where"], context)
        except StructuredQueryError as error:
            error.pointer = f"/where{error.pointer}"
            raise
        return self.paginated_unfiltered(apply_query(devices, tree, context))

    def paginated_unfiltered(self, queryset: QuerySet[Device]) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeviceSerializer(page, many=True).data)

    @extend_schema(summary="A gateway's sub-devices", responses=responses(DeviceSerializer(many=True)))
    @action(detail=True, methods=["get"], url_path="sub-devices")
    def sub_devices(self, request: Request, assetId: str) -> Response:
        return self.paginated(self.get_queryset().filter(gateway=self.get_object()))

    @extend_schema(summary="Add sub-devices to a gateway", request=AssetIdsSerializer,
                   responses=responses(SubDeviceChangeSerializer),
                   description="Only Device-type devices of the gateway's OU that belong to no gateway.")
    @sub_devices.mapping.post
    def add_sub_devices(self, request: Request, assetId: str) -> Response:
        return self._change_sub_devices(request, services.add_sub_devices)

    @extend_schema(summary="Remove sub-devices from a gateway", responses=responses(SubDeviceChangeSerializer),
                   parameters=[OpenApiParameter("assetIds", {"type": "array", "items": NON_EMPTY, "minItems": 1},
                                                required=True, description="Repeat for each sub-device.")],
                   description="The devices are named in the query (`?assetIds=a&assetIds=b`): a DELETE body "
                               "is dropped by many clients and proxies. POST …/sub-devices/remove/ takes a body.")
    @sub_devices.mapping.delete
    def delete_sub_devices(self, request: Request, assetId: str) -> Response:
        if request.query_params.getlist("assetIds"):
            return self._change_sub_devices(request, services.remove_sub_devices,
                                            {"assetIds": request.query_params.getlist("assetIds")})
        return self._change_sub_devices(request, services.remove_sub_devices)  # a body, as before

    @extend_schema(summary="Remove sub-devices from a gateway (for clients that cannot send a DELETE body)",
                   request=AssetIdsSerializer, responses=responses(SubDeviceChangeSerializer))
    @action(detail=True, methods=["post"], url_path="sub-devices/remove")
    def remove_sub_devices(self, request: Request, assetId: str) -> Response:
        return self._change_sub_devices(request, services.remove_sub_devices)

    def _change_sub_devices(self, request: Request, change: Callable[[Any, Device, list[Device]], int],
                            named: Any = None) -> Response:
        """Add or remove (`change`) the devices the body (or `named`) names; the answer says which and how many."""
        gateway = self.get_object(write=True)
        devices = self.named_devices(request.data if named is None else named)
        count = change(request.user, gateway, devices)
        return Response({"gatewayAssetId": gateway.asset_id, "assetIds": [d.asset_id for d in devices],
                         "count": count})

    @extend_schema(summary="Devices that could become this gateway's sub-devices",
                   responses=responses(DeviceSerializer(many=True)))
    @action(detail=True, methods=["get"], url_path="sub-devices/candidates")
    def sub_device_candidates(self, request: Request, assetId: str) -> Response:
        gateway = self.get_object()
        if not gateway.product.is_gateway or gateway.gateway_id is not None:
            raise DomainError(_("%(name)s is not a gateway: only Gateway devices have sub-devices.")
                              % {"name": gateway.name},
                              code="not_a_gateway")
        return self.paginated(services.sub_device_candidates(gateway).select_related("product", "ou", "gateway"))

    @extend_schema(summary="A sub-device's gateway", responses=responses(DeviceSerializer))
    @action(detail=True, methods=["get"], filter_backends=[])
    def gateway(self, request: Request, assetId: str) -> Response:
        device = self.get_object()
        if device.gateway_id is None:
            raise NotFound(_("Device %(device)s has no gateway.") % {"device": device.device_key}, code="no_gateway")
        return Response(DeviceSerializer(get_object_or_404(self.get_queryset(), pk=device.gateway_id)).data)


# --- products and thing models -------------------------------------------------------------------

class SharedViewSet(APIViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Products and models: listed with their owner OU's and the shares to the user's OUs."""

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if getattr(self, "swagger_fake_view", False):
            return context
        context["own_ou_pks"] = ou_ids_with(self.request.user, VIEW)
        if self.action == "list":
            context["ou_id"] = self.request.query_params.get("ou")
        return context

    def answer(self, obj: Product | ThingModel, serializer_class: type | None = None,
               code: int = status.HTTP_200_OK) -> Response:
        serializer = (serializer_class or self.get_serializer_class())(obj, context=self.get_serializer_context())
        return Response(serializer.data, status=code)

    def model_in(self, ou: Any, model_id: str) -> ThingModel:
        """A model usable by `ou`'s products: its own first, else one shared to it."""
        matches = sorted(ThingModel.objects.in_ou(ou).filter(model_id=model_id), key=lambda m: m.ou_id != ou.pk)
        if not matches:
            raise ValidationError({"modelId": [_("Unknown modelId %(model)s in OU %(ou)s.")
                                              % {"model": model_id, "ou": ou.ou_id}]})
        return matches[0]


@extend_schema_view(
    list=extend_schema(summary="List products", description="Own and shared (`shared: true`, read-only).",
                       responses=list_responses(ProductSerializer)),
    retrieve=extend_schema(summary="Get a product", responses=responses(ProductSerializer)),
)
class ProductViewSet(SharedViewSet):
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    lookup_field = "product_key"
    lookup_url_kwarg = "productKey"

    def get_queryset(self) -> QuerySet[Product]:
        return Product.objects.visible_to(self.request.user).select_related("ou", "model")

    def get_object(self, *, write: bool = False) -> Product:
        product = get_object_or_404(self.get_queryset(), product_key=self.kwargs["productKey"])
        if write:
            require_write(self.request.user, product.ou_id,
                          _("Product %(product)s") % {"product": product.product_key})
        return product

    @extend_schema(summary="Create a product", request=ProductCreateSerializer,
                   responses=responses(CreatedProductSerializer, status.HTTP_201_CREATED))
    def create(self, request: Request) -> Response:
        ou = writable_ou(request.user, request.data)
        fields = validated(ProductCreateSerializer, request.data)
        fields.pop("ou_id")
        model = self.model_in(ou, fields.pop("model_id"))
        product = services.create_product(request.user, ou, model=model, **fields)
        return self.answer(product, CreatedProductSerializer, status.HTTP_201_CREATED)

    @extend_schema(summary="Change a product", request=ProductUpdateSerializer,
                   responses=responses(ProductSerializer))
    def partial_update(self, request: Request, productKey: str) -> Response:
        product = self.get_object(write=True)
        changes = validated(ProductUpdateSerializer, request.data)
        if "model_id" in changes:
            changes["model"] = self.model_in(product.ou, changes.pop("model_id"))
        if changes:
            product = services.update_product(request.user, product, **changes)
        return self.answer(product)

    @extend_schema(summary="Delete a product", responses=responses(None, status.HTTP_204_NO_CONTENT),
                   description="Refused (409) while any device, in any OU, uses it.")
    def destroy(self, request: Request, productKey: str) -> Response:
        services.delete_product(request.user, self.get_object(write=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


OU_PARAMETER = OpenApiParameter(
    "ou", OpenApiTypes.STR, description="ouId: when the same modelId exists in several of your OUs, which one."
)


@extend_schema_view(
    list=extend_schema(summary="List thing models", description="Own and shared (`shared: true`, read-only).",
                       responses=list_responses(ThingModelSerializer)),
    retrieve=extend_schema(summary="Get a thing model", parameters=[OU_PARAMETER],
                           responses=responses(ThingModelSerializer)),
)
class ThingModelViewSet(SharedViewSet):
    serializer_class = ThingModelSerializer
    filterset_class = ThingModelFilter
    lookup_field = "model_id"
    lookup_url_kwarg = "modelId"

    def get_queryset(self) -> QuerySet[ThingModel]:
        return ThingModel.objects.visible_to(self.request.user).select_related("ou")

    def get_object(self, *, write: bool = False) -> ThingModel:
        # a modelId is unique within its OU only: `?ou=` picks one, else the user's own OU's wins
        model_id = self.kwargs["modelId"]
        queryset = self.get_queryset().filter(model_id=model_id)
        ou_id = self.request.query_params.get("ou")
        own = ou_ids_with(self.request.user, VIEW)
        if ou_id is not None:
            ou = visible_ou(self.request.user, ou_id, "ou")
            queryset, own = queryset.in_ou(ou), frozenset({ou.pk})
        matches = list(queryset[:20])
        if len(matches) > 1 and own is not None:
            matches = [m for m in matches if m.ou_id in own] or matches
        if not matches:
            raise NotFound()
        if len(matches) > 1:
            raise DomainError(f'Model ID "{model_id}" exists in several of your OUs: add ?ou=<ouId> to choose one.',
                              code="ambiguous", field="ou")
        model = matches[0]
        if write:
            require_write(self.request.user, model.ou_id, _("Model %(model)s") % {"model": model.model_id})
        return model

    @extend_schema(summary="Create a thing model", request=ThingModelCreateSerializer,
                   responses=responses(ThingModelSerializer, status.HTTP_201_CREATED))
    def create(self, request: Request) -> Response:
        ou = writable_ou(request.user, request.data)
        fields = validated(ThingModelCreateSerializer, request.data)
        fields.pop("ou_id")
        return self.answer(services.create_model(request.user, ou, **fields), code=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a thing model", parameters=[OU_PARAMETER], request=ThingModelUpdateSerializer,
                   responses=responses(ThingModelSerializer))
    def partial_update(self, request: Request, modelId: str) -> Response:
        model = self.get_object(write=True)
        changes = validated(ThingModelUpdateSerializer, request.data)
        if changes:
            model = services.update_model(request.user, model, **changes)
        return self.answer(model)

    @extend_schema(summary="Delete a thing model", parameters=[OU_PARAMETER],
                   responses=responses(None, status.HTTP_204_NO_CONTENT),
                   description="Refused (409) while a product uses it.")
    def destroy(self, request: Request, modelId: str) -> Response:
        services.delete_model(request.user, self.get_object(write=True))
        return Response(status=status.HTTP_204_NO_CONTENT)
