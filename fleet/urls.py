from django.urls import path

from . import views

app_name = "fleet"
urlpatterns = [
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/new/", views.job_create, name="job-create"),
    path("jobs/new/migrate/", views.job_migrate, name="job-migrate"),
    path("jobs/<str:public_id>/", views.job_detail, name="job-detail"),
    path("jobs/<str:public_id>/progress/", views.job_progress, name="job-progress"),
    path("jobs/<str:public_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<str:public_id>/export/", views.job_export, name="job-export"),
]
