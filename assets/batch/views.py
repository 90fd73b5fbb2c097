"""The console's "Batch Import and Update": choose operation and product, download a template, upload it,
read the result, apply it, export the invalid records; and the list of earlier jobs.

Access goes through one helper per object (`_product_for`, `_job_for`): what the user cannot see in
the current OU is a 404, what they can see but not change is a 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.errors import DomainError
from accounts.permissions import CHANGE, can

from ..models import BatchJob, BatchOperation, BatchStatus, Device, Product
from ..queries import search_devices
from ..views.common import can_write, console_view, current_ou
from . import services
from .columns import template_filename
from .template import XLSX_CONTENT_TYPE, build_template

DEVICE_CHOICES = 50  # the "from an existing device" picker shows this many; typing narrows it
JOB_LIST = 20
EMPTY, FROM_DEVICE = "empty", "device"


def _product_for(request: HttpRequest, product_key: str) -> Product:
    """A product the current OU works with (its own or shared to it) that the user can see."""
    if not product_key:
        raise Http404(_("Choose a product."))
    return get_object_or_404(
        Product.objects.visible_to(request.user).in_ou(current_ou(request)).select_related("model"),
        product_key=product_key)


def _job_for(request: HttpRequest, pk: int, *, write: bool = False) -> BatchJob:
    # errmsg.txt can run to megabytes: only its own view reads it
    job = get_object_or_404(BatchJob.objects.visible_to(request.user).select_related("product", "ou")
                            .defer("problems"), pk=pk)
    if write and not can(request.user, CHANGE, job.ou_id):
        raise PermissionDenied(_("You have read access only: write access to Asset Management is needed."))
    return job


def _page(request: HttpRequest, status: int = 200) -> TemplateResponse:
    ou = current_ou(request)
    source = request.POST if request.method == "POST" else request.GET
    products = list(Product.objects.visible_to(request.user).in_ou(ou).order_by("name", "pk"))
    chosen = source.get("product") or (products[0].product_key if products else "")
    jobs = (BatchJob.objects.visible_to(request.user).filter(ou=ou).defer("problems")
            .select_related("product", "requested_by")[:JOB_LIST])
    return TemplateResponse(request, "assets/batch/batch.html", {
        "products": products, "chosen_product": chosen, "jobs": jobs, "writable": can_write(request),
        "operation": source.get("operation") or BatchOperation.IMPORT, "operations": BatchOperation.choices,
        "template_kind": source.get("template") or EMPTY,
    }, status=status)


@console_view
@require_GET
def batch_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@console_view
@require_GET
def template_download(request: HttpRequest) -> HttpResponse:
    """Template_<productKey>.xlsx, empty or with an existing device's values in its first row."""
    product = _product_for(request, request.GET.get("product", ""))
    sample = None
    if request.GET.get("template") == FROM_DEVICE:
        asset_id = request.GET.get("device", "")
        if not asset_id:
            messages.error(request, _("Choose the device whose values fill the template."))
            return _page(request, status=400)
        sample = get_object_or_404(Device.objects.visible_to(request.user), asset_id=asset_id, product=product,
                                   ou=current_ou(request))
    response = HttpResponse(build_template(product, sample=sample), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{template_filename(product)}"'
    return response


@console_view
@require_GET
def device_options(request: HttpRequest) -> HttpResponse:
    """The device picker's options: this product's devices in the current OU, narrowed by a search."""
    product = _product_for(request, request.GET.get("product", ""))
    devices = search_devices(Device.objects.visible_to(request.user).filter(ou=current_ou(request), product=product),
                             request.GET.get("q", ""))
    rows = list(devices.order_by("name", "pk").only("asset_id", "name", "device_key")[:DEVICE_CHOICES + 1])
    return TemplateResponse(request, "assets/batch/_device_options.html", {
        "devices": rows[:DEVICE_CHOICES], "truncated": len(rows) > DEVICE_CHOICES})


@console_view
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    if not can_write(request):
        raise PermissionDenied(_("You have read access only: write access to Asset Management is needed."))
    product = _product_for(request, request.POST.get("product", ""))
    file = request.FILES.get("file")
    if file is None:
        messages.error(request, _("Choose the filled template (.xlsx) to upload."))
        return _page(request, status=400)
    try:
        job = services.start_batch(request.user, current_ou(request), product, request.POST.get("operation", ""),
                                   file)
    except DomainError as error:
        messages.error(request, error.message)
        return _page(request, status=400)
    return redirect("assets:batch-job", pk=job.pk)


@console_view
@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for(request, pk)
    context = {"job": job, "writable": can(request.user, CHANGE, job.ou_id),
               "running": job.status in (BatchStatus.PARSING, BatchStatus.APPLYING)}
    if request.htmx and request.htmx.target == "job-status":
        return TemplateResponse(request, "assets/batch/_job_status.html", context)
    return TemplateResponse(request, "assets/batch/job.html", context)


@console_view
@require_POST
def job_apply(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for(request, pk, write=True)
    try:
        job = services.apply_job(request.user, job)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if job.status == BatchStatus.APPLIED:
            count = job.applied_rows
            if job.operation == BatchOperation.IMPORT:
                done = ngettext("%(count)d device imported.", "%(count)d devices imported.", count)
            else:
                done = ngettext("%(count)d device updated.", "%(count)d devices updated.", count)
            messages.success(request, done % {"count": count})
    return redirect("assets:batch-job", pk=pk)


@console_view
@require_GET
def job_errmsg(request: HttpRequest, pk: int) -> HttpResponse:
    """Export Invalid Records: errmsg.txt, one line per problem."""
    job = _job_for(request, pk)
    response = HttpResponse(services.errmsg_text(job), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="errmsg.txt"'
    return response
