"""Console routes of export (included from assets/urls.py at devices/export/, in the assets namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.export, name="device-export"),
    path("jobs/<int:pk>/", views.job_detail, name="export-job"),
    path("jobs/<int:pk>/download/", views.job_download, name="export-download"),
]
