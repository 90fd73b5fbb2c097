"""API routes of connectivity (included from enos_portal/api_urls.py, under /api/)."""

from django.urls import path

from . import api, api_history, api_ou_view
from .transports import emqx
from .transports.rabbitmq import auth as rabbitmq_auth

urlpatterns = [
    path("devices/<str:asset_id>/services/<str:identifier>/invoke/", api.InvokeServiceView.as_view(),
         name="api-device-service-invoke"),
    path("devices/<str:asset_id>/services/invocations/", api.CommandListView.as_view(),
         name="api-device-service-invocations"),
    path("devices/<str:asset_id>/measurepoints/set/", api.SetMeasurepointsView.as_view(),
         name="api-device-measurepoints-set"),
    path("devices/<str:asset_id>/measurepoints/get/", api.GetMeasurepointsView.as_view(),
         name="api-device-measurepoints-get"),
    path("devices/<str:asset_id>/latest-data/", api.LatestDataView.as_view(), name="api-device-latest-data"),
    path("devices/<str:asset_id>/sessions/", api_history.DeviceSessionsView.as_view(), name="api-device-sessions"),
    path("devices/<str:asset_id>/availability/", api_history.DeviceAvailabilityView.as_view(),
         name="api-device-availability"),
    path("connectivity/online/", api_ou_view.OnlineDevicesView.as_view(), name="api-connectivity-online"),
    path("connectivity/flapping/", api_ou_view.FlappingDevicesView.as_view(), name="api-connectivity-flapping"),
    # called by an EMQX cluster, not by people: bearer token EMQX_WEBHOOK_TOKEN
    path("emqx/authenticate/", emqx.authenticate, name="emqx-authenticate"),
    path("emqx/authorize/", emqx.authorize, name="emqx-authorize"),
    path("emqx/webhook/", emqx.webhook, name="emqx-webhook"),
    path("rabbitmq/auth/<str:secret>/user/", rabbitmq_auth.user, name="rabbitmq-auth-user"),
    path("rabbitmq/auth/<str:secret>/vhost/", rabbitmq_auth.vhost, name="rabbitmq-auth-vhost"),
    path("rabbitmq/auth/<str:secret>/resource/", rabbitmq_auth.resource, name="rabbitmq-auth-resource"),
    path("rabbitmq/auth/<str:secret>/topic/", rabbitmq_auth.topic, name="rabbitmq-auth-topic"),
]
