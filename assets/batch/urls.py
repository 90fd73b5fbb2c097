"""Console routes of batch (included from assets/urls.py at devices/batch/, in the assets namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.batch_page, name="batch"),
    path("template/", views.template_download, name="batch-template"),
    path("devices/", views.device_options, name="batch-device-options"),
    path("upload/", views.upload, name="batch-upload"),
    path("jobs/<int:pk>/", views.job_detail, name="batch-job"),
    path("jobs/<int:pk>/apply/", views.job_apply, name="batch-apply"),
    path("jobs/<int:pk>/errmsg.txt", views.job_errmsg, name="batch-errmsg"),
]
