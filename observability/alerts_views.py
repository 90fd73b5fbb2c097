"""The console's Alerts pages of the current OU: alerts (open / acknowledged / resolved, by rule and device,
Acknowledge and Resolve for writers), alert rules (list, form, delete; writers change them), the OU's webhook
secret (reset and shown once) and the notification log. Every member of the OU reads; writers write."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.errors import DomainError
from assets.models import DeviceGroup, Product
from assets.views.common import can_write, console_view, current_ou, report

from . import services
from .models import Alert, AlertRule, AlertState, Channel, Comparison, Delivery, DeliveryStatus, RuleKind, Scope

PAGE = 100


def _rule_for(request: HttpRequest, pk: int, *, write: bool) -> AlertRule:
    rule = get_object_or_404(AlertRule.objects.visible_to(request.user).select_related("product", "group"), pk=pk)
    if write and not AlertRule.objects.writable_by(request.user).filter(pk=pk).exists():
        raise PermissionDenied
    return rule


@require_GET
@console_view
def alert_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    alerts = Alert.objects.filter(ou=ou).select_related("rule", "device", "acknowledged_by", "resolved_by")
    state = request.GET.get("state", "live")
    if state == "live":
        alerts = alerts.exclude(state=AlertState.RESOLVED)
    elif state in AlertState.values:
        alerts = alerts.filter(state=state)
    else:
        state = "all"
    rule = request.GET.get("rule", "")
    if rule.isdigit() and len(rule) < 18:
        alerts = alerts.filter(rule_id=int(rule))
    device = request.GET.get("device", "").strip()[:64]
    if device:
        alerts = alerts.filter(device__asset_id=device) | alerts.filter(device__device_key=device)
    states = [("live", _("Open and acknowledged")), *AlertState.choices, ("all", _("All"))]
    return render(request, "observability/alerts.html", {
        "ou": ou, "alerts": list(alerts[:PAGE]), "state": state, "states": states, "rule": rule, "device": device,
        "rules": list(AlertRule.objects.filter(ou=ou).only("pk", "name")), "writable": can_write(request),
        "page_size": PAGE})


def _alert_action(request: HttpRequest, pk: int, act: str) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.visible_to(request.user).select_related("rule", "device"), pk=pk)
    if not Alert.objects.writable_by(request.user).filter(pk=pk).exists():
        raise PermissionDenied
    try:
        if act == "acknowledge":
            services.acknowledge_alert(request.user, alert)
            messages.success(request, _("Alert acknowledged."))
        else:
            services.resolve_alert(request.user, alert)
            messages.success(request, _("Alert resolved."))
    except DomainError as error:
        report(request, error)
    return redirect("observability:alerts")


@require_POST
@console_view
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    return _alert_action(request, pk, "acknowledge")


@require_POST
@console_view
def alert_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    return _alert_action(request, pk, "resolve")


@require_GET
@console_view
def rule_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    rules = list(AlertRule.objects.filter(ou=ou).select_related("product", "group"))
    return render(request, "observability/alert_rules.html", {"ou": ou, "rules": rules,
                                                              "writable": can_write(request)})


def _targets(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").replace(";", " ").split() if part]


class AlertRuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    kind = forms.ChoiceField(label=gettext_lazy("Raise an alert when"), choices=RuleKind.choices)
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)
    scope = forms.ChoiceField(label=gettext_lazy("Devices"), choices=Scope.choices)
    product = forms.ModelChoiceField(label=gettext_lazy("Product"), queryset=Product.objects.none(), required=False)
    group = forms.ModelChoiceField(label=gettext_lazy("Group"), queryset=DeviceGroup.objects.none(), required=False)
    query = forms.CharField(label=gettext_lazy("Query"), required=False, max_length=2000)
    minutes = forms.IntegerField(label=gettext_lazy("Minutes"), min_value=0, max_value=services.MAX_MINUTES,
                                 initial=5, help_text=gettext_lazy(
                                     "Offline for this long; a threshold held this long (0: at once); "
                                     "the window of failed logins."))
    identifier = forms.CharField(label=gettext_lazy("Measure point or event identifier"), required=False,
                                 max_length=64)
    comparison = forms.ChoiceField(label=gettext_lazy("Comparison"), required=False,
                                   choices=[("", "—"), *Comparison.choices])
    threshold = forms.FloatField(label=gettext_lazy("Threshold"), required=False)
    count = forms.IntegerField(label=gettext_lazy("More than this many failed logins"), min_value=0,
                               max_value=100_000, initial=5)
    emails = forms.CharField(label=gettext_lazy("E-mail addresses"), required=False, max_length=4000,
                             help_text=gettext_lazy("Separated by spaces or commas."))
    phones = forms.CharField(label=gettext_lazy("SMS numbers"), required=False, max_length=1000,
                             help_text=gettext_lazy("In the +86… form, separated by spaces or commas."))
    webhook_url = forms.CharField(label=gettext_lazy("Webhook URL"), required=False, max_length=500)

    def __init__(self, *args: object, ou: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.in_ou(ou).order_by("name")
        self.fields["group"].queryset = DeviceGroup.objects.filter(ou=ou).order_by("name")

    def service_fields(self) -> dict[str, object]:
        data = dict(self.cleaned_data)
        data["emails"], data["phones"] = _targets(data["emails"]), _targets(data["phones"])
        data["minutes"] = data["minutes"] or 0
        data["count"] = data["count"] or 0
        return data


def _initial(rule: AlertRule) -> dict[str, object]:
    return {"name": rule.name, "kind": rule.kind, "enabled": rule.enabled, "scope": rule.scope,
            "product": rule.product_id, "group": rule.group_id, "query": rule.query, "minutes": rule.minutes,
            "identifier": rule.identifier, "comparison": rule.comparison, "threshold": rule.threshold,
            "count": rule.count, "emails": " ".join(rule.emails), "phones": " ".join(rule.phones),
            "webhook_url": rule.webhook_url}


def _rule_form(request: HttpRequest, rule: AlertRule | None) -> HttpResponse:
    ou = current_ou(request) if rule is None else rule.ou
    if request.method == "POST":
        form = AlertRuleForm(request.POST, ou=ou)
        if form.is_valid():
            fields = form.service_fields()
            try:
                if rule is None:
                    rule = services.create_rule(request.user, ou, **fields)
                else:
                    fields.pop("kind")
                    rule = services.update_rule(request.user, rule, **fields)
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, _("Alert rule %(name)s saved.") % {"name": rule.name})
                return redirect("observability:alert-rules")
    else:
        form = AlertRuleForm(initial=_initial(rule) if rule else None, ou=ou)
    if rule is not None:
        form.fields["kind"].disabled = True
    return render(request, "observability/alert_rule_form.html", {"form": form, "rule": rule},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@console_view
def rule_create(request: HttpRequest) -> HttpResponse:
    if not can_write(request):
        raise PermissionDenied
    return _rule_form(request, None)


@require_http_methods(["GET", "POST"])
@console_view
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _rule_form(request, _rule_for(request, pk, write=True))


@require_http_methods(["GET", "POST"])
@console_view
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _rule_for(request, pk, write=True)
    if request.method == "POST":
        services.delete_rule(request.user, rule)
        messages.success(request, _("Alert rule %(name)s deleted.") % {"name": rule.name})
        return redirect("observability:alert-rules")
    return render(request, "observability/alert_rule_delete.html", {"rule": rule})


@require_POST
@console_view
def webhook_secret_reset(request: HttpRequest, ou_id: str) -> HttpResponse:
    ou = current_ou(request)
    if ou.ou_id != ou_id:
        raise Http404  # another OU's secret is reset from that OU's console
    if not can_write(request):
        raise PermissionDenied
    secret = services.reset_webhook_secret(request.user, ou)
    return render(request, "observability/webhook_secret.html", {"ou": ou, "secret": secret})


@require_GET
@console_view
def delivery_list(request: HttpRequest) -> HttpResponse:
    ou = current_ou(request)
    deliveries = Delivery.objects.filter(ou=ou).select_related("rule", "alert__device")
    status = request.GET.get("status", "")
    if status in DeliveryStatus.values:
        deliveries = deliveries.filter(status=status)
    channel = request.GET.get("channel", "")
    if channel in Channel.values:
        deliveries = deliveries.filter(channel=channel)
    return render(request, "observability/alert_deliveries.html", {
        "ou": ou, "deliveries": list(deliveries[:PAGE]), "status": status, "channel": channel,
        "statuses": DeliveryStatus.choices, "channels": Channel.choices, "page_size": PAGE})
