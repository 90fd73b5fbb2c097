"""API routes of batch (included from enos_portal/api_urls.py under /api/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("batch/template/", api.TemplateView.as_view(), name="api-batch-template"),
    path("batch/jobs/", api.JobListView.as_view(), name="api-batch-jobs"),
    path("batch/jobs/<int:pk>/", api.JobView.as_view(), name="api-batch-job"),
    path("batch/jobs/<int:pk>/apply/", api.ApplyView.as_view(), name="api-batch-apply"),
    path("batch/jobs/<int:pk>/errmsg.txt", api.ErrmsgView.as_view(), name="api-batch-errmsg"),
]
