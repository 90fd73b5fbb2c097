from django.urls import include, path

from .views import catalog, details, devices, subdevices

app_name = "assets"
urlpatterns = [
    path("devices/", devices.device_list, name="device-list"),
    path("devices/new/", devices.device_create, name="device-create"),
    path("devices/counts/<str:ou_id>/", devices.device_counts, name="device-counts"),
    path("devices/migrate/", include("assets.migration.urls")),
    path("devices/batch/", include("assets.batch.urls")),
    path("devices/export/", include("assets.export.urls")),
    path("devices/<str:asset_id>/", details.device_detail, name="device-detail"),
    path("devices/<str:asset_id>/toggle/", devices.device_toggle, name="device-toggle"),
    path("devices/<str:asset_id>/edit/", devices.device_edit, name="device-edit"),
    path("devices/<str:asset_id>/delete/", devices.device_delete, name="device-delete"),
    path("devices/<str:asset_id>/secret/", details.device_reveal_secret, name="device-secret"),
    path("devices/<str:asset_id>/reset-secret/", details.device_reset_secret, name="device-reset-secret"),
    path("devices/<str:asset_id>/sub-devices/", subdevices.sub_device_tab, name="device-sub-devices"),
    path("devices/<str:asset_id>/sub-devices/candidates/", subdevices.sub_device_candidates,
         name="device-sub-device-candidates"),
    path("devices/<str:asset_id>/sub-devices/add/", subdevices.sub_device_add, name="device-sub-device-add"),
    path("devices/<str:asset_id>/sub-devices/remove/", subdevices.sub_device_remove,
         name="device-sub-device-remove"),
    path("products/", catalog.product_list, name="product-list"),
    path("products/new/", catalog.product_edit, name="product-create"),
    path("products/<str:product_key>/", catalog.product_detail, name="product-detail"),
    path("products/<str:product_key>/edit/", catalog.product_edit, name="product-edit"),
    path("products/<str:product_key>/delete/", catalog.product_delete, name="product-delete"),
    path("models/", catalog.model_list, name="model-list"),
    path("models/new/", catalog.model_edit, name="model-create"),
    path("models/<int:pk>/", catalog.model_detail, name="model-detail"),
    path("models/<int:pk>/edit/", catalog.model_edit, name="model-edit"),
    path("models/<int:pk>/delete/", catalog.model_delete, name="model-delete"),
]
