"""Every write door emits an audit event.

1. Services: every public function of a services module whose first parameter is the actor is
   discovered by inspecting the modules; each is either run here (and must leave its audit event) or
   exempted with the reason it writes nothing. A new service that is neither fails the test.
2. URLs: every route of the console and the API is walked with the resolver; each that accepts a
   write (POST/PUT/PATCH/DELETE) is requested as a writer by the OU matrices' endpoint tables and must
   leave an audit event, or is exempted with its reason. A new writing route that is neither fails.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.urls import get_resolver, resolve
from django.utils import timezone

from accounts.models import AuditEvent, Membership
from tests.assets.api.conftest import spare_model as spare_model  # noqa: F401 - the matrix's fixtures
from tests.assets.api.conftest import spare_product as spare_product  # noqa: F401
from tests.assets.api.test_ou_matrix import ENDPOINTS, attach
from tests.assets.api.test_ou_matrix import device_group as device_group  # noqa: F401 - the world holds a group
from tests.assets.api.test_ou_matrix import fleet_job as fleet_job  # noqa: F401 - and a job
from tests.assets.api.test_ou_matrix import world as world  # noqa: F401 - the matrix's fixture
from tests.assets.console.test_console_matrix import WRITE_PAGES
from tests.assets.console.test_console_matrix import objects as objects  # noqa: F401 - the matrix's fixture
from tests.test_route_matrix import ADMIN_PREFIX, ALL_ROUTES

APPS = ("accounts", "assets", "tracing", "connectivity", "observability", "fleet")
# service modules not named services
SERVICE_MODULES = {"assets.groups", "assets.bulk"}


def service_functions() -> dict[str, Callable[..., Any]]:
    """"module.function" of every public function of a services module taking the actor first (and of
    the names a services module exports, such as connectivity.services' handlers)."""
    found: dict[str, Callable[..., Any]] = {}
    for app in APPS:
        package = importlib.import_module(app)
        names = [app] + [m.name for m in pkgutil.walk_packages(package.__path__, f"{app}.")]
        for name in names:
            if name.rsplit(".", 1)[-1] != "services" and name not in SERVICE_MODULES:
                continue
            module = importlib.import_module(name)
            exported = set(getattr(module, "__all__", ()))
            for fname, function in inspect.getmembers(module, inspect.isfunction):
                if fname.startswith("_") or (function.__module__ != name and fname not in exported):
                    continue
                parameters = list(inspect.signature(function).parameters)
                if parameters and parameters[0] == "actor":
                    found[f"{function.__module__}.{fname}"] = function
    return found


# --- services that write: how to run each, and the action it records --------------------------------

def _migration(w: SimpleNamespace):
    from assets.migration import services

    return services.request_migration(w.writer, [w.device.asset_id], w.globex.ou_id, include_sub_devices=True)


def _code(request) -> str:
    from assets.migration import services

    return services.send_code(request.pk)


def _confirm(w: SimpleNamespace) -> None:
    from assets.migration import services

    request = _migration(w)
    services.confirm_migration(w.writer, request.pk, _code(request))


def _move(w: SimpleNamespace) -> None:
    from assets.migration import services

    request = _migration(w)
    services.move_devices(w.writer, request, now=timezone.now())


def _resend(w: SimpleNamespace) -> None:
    from assets.migration import services

    request = _migration(w)
    _code(request)
    services.resend_code(w.writer, request.pk, now=timezone.now() + timedelta(minutes=2))


def _batch(w: SimpleNamespace):
    from tests.assets.batch.conftest import parse_rows, row_for

    row = row_for(w.product, {"deviceKey": "new-0001", "Device Name": "New", "serial": "SN-N"})
    return parse_rows(w.writer, w.product, "import", [row])


def _apply(w: SimpleNamespace) -> None:
    from assets.batch import services

    services.apply_job(w.writer, _batch(w))


def _run_apply(w: SimpleNamespace) -> None:
    from assets.batch import services
    from assets.models import BatchJob, BatchStatus

    job = _batch(w)
    BatchJob.objects.filter(pk=job.pk).update(status=BatchStatus.APPLYING, progress=0)  # as apply_job leaves it
    services.run_apply(w.writer, job.pk)


def _trace(w: SimpleNamespace):
    from tracing import services

    return services.start_trace(w.writer, w.device, timedelta(minutes=5))


def _invoke(w: SimpleNamespace, name: str, *args: Any) -> None:
    from connectivity import services

    getattr(services, name)(w.writer, w.device, *args, timeout=0.1)


def _assets(service: str, /, *args: Callable[[SimpleNamespace], Any],
            **kwargs: Any) -> Callable[[SimpleNamespace], None]:
    def run(w: SimpleNamespace) -> None:
        from assets import services

        getattr(services, service)(w.writer, *(arg(w) for arg in args), **kwargs)

    return run


def _accounts(service: str, /, *args: Callable[[SimpleNamespace], Any], actor: str = "owner",
              **kwargs: Any) -> Callable[[SimpleNamespace], None]:
    def run(w: SimpleNamespace) -> None:
        from accounts import services

        getattr(services, service)(getattr(w, actor), *(arg(w) for arg in args), **kwargs)

    return run


def _disabled(w: SimpleNamespace):
    from assets import services

    services.disable_device(w.writer, w.device)
    return w.device


def _attached(w: SimpleNamespace):
    from assets import services

    services.add_sub_devices(w.writer, w.gateway, [w.device])
    return w.gateway


def _spare_model(w: SimpleNamespace):
    from assets.models import ThingModel

    return ThingModel.objects.create(ou=w.acme, model_id="spare", name="Spare")


def _spare_product(w: SimpleNamespace):
    from assets.models import Product

    return Product.objects.create(ou=w.acme, name="Spare", model=w.thing_model)


def _group(w: SimpleNamespace) -> Group:
    return Group.objects.get_or_create(name="support")[0]


def _revoke(w: SimpleNamespace) -> None:
    from accounts import services

    services.grant_ou_to_group(w.superuser, _group(w), w.acme, "view_assets")
    services.revoke_ou_from_group(w.superuser, _group(w), w.acme, "view_assets")


def _groups(service: str, /, *args: Callable[[SimpleNamespace], Any],
            **kwargs: Any) -> Callable[[SimpleNamespace], None]:
    def run(w: SimpleNamespace) -> None:
        from assets import groups

        getattr(groups, service)(w.writer, *(arg(w) for arg in args), **kwargs)

    return run


def _static_group(w: SimpleNamespace):
    from assets import groups

    return groups.create_group(w.writer, w.acme, name=f"static {groups.DeviceGroup.objects.count()}")


def _filled_group(w: SimpleNamespace):
    from assets import groups

    group = _static_group(w)
    groups.add_group_devices(w.writer, group, [w.device])
    return group


def _export(w: SimpleNamespace) -> None:
    from assets.export import services

    services.start_job(w.writer, w.acme, source="api", params={}, query="", fmt="csv", total=1)


def _fleet_job(w: SimpleNamespace):
    from fleet import services

    return services.start_job(w.writer, w.acme, action="disable", asset_ids=[w.device.asset_id])


def _alerts(service: str, /, *args: Callable[[SimpleNamespace], Any],
            **kwargs: Any) -> Callable[[SimpleNamespace], None]:
    def run(w: SimpleNamespace) -> None:
        from observability import services

        getattr(services, service)(w.writer, *(arg(w) for arg in args), **kwargs)

    return run


def _bulk(service: str, /, *args: Any, **device_fields: Any) -> Callable[[SimpleNamespace], None]:
    def run(w: SimpleNamespace) -> None:
        from assets import bulk
        from assets.models import Device

        if device_fields:
            Device.objects.filter(pk=w.device.pk).update(**device_fields)
        outcome = getattr(bulk, service)(w.writer, [w.device.pk], *args, job_id="job-doors")
        assert outcome.done == [w.device.pk], outcome

    return run


def _alert(w: SimpleNamespace):
    from tests.observability.alert_world import alerting

    return alerting(w.writer, w.acme, w.device).alert


# "module.function": (run it as a writer/owner, the action its audit event has)
WRITES: dict[str, tuple[Callable[[SimpleNamespace], None], str]] = {
    "accounts.services.create_ou": (_accounts("create_ou", lambda w: "Initech", lambda w: w.viewer,
                                              actor="superuser"), "ou.create"),
    "accounts.services.update_ou": (_accounts("update_ou", lambda w: w.acme, name="Acme 2"), "ou.update"),
    "accounts.services.set_membership": (_accounts("set_membership", lambda w: w.acme, lambda w: w.viewer,
                                                   lambda w: "asset_manager"), "membership.set"),
    "accounts.services.remove_membership": (_accounts(
        "remove_membership", lambda w: Membership.objects.get(ou=w.acme, user=w.viewer)), "membership.remove"),
    "accounts.services.update_user": (_accounts("update_user", lambda w: w.viewer, first_name="Vi"), "user.update"),
    "accounts.services.grant_ou_to_group": (_accounts("grant_ou_to_group", _group, lambda w: w.acme,
                                                      lambda w: "view_assets", actor="superuser"),
                                            "ou_permission.grant"),
    "accounts.services.revoke_ou_from_group": (_revoke, "ou_permission.revoke"),
    "accounts.services.set_time_zone": (_accounts("set_time_zone", lambda w: w.owner, lambda w: "Asia/Shanghai"),
                                        "user.set_time_zone"),
    "assets.services.create_device": (_assets("create_device", lambda w: w.acme, lambda w: w.product,
                                              name="New", attributes={"serial": "S"}), "device.create"),
    "assets.services.update_device": (_assets("update_device", lambda w: w.device, name="Renamed"), "device.update"),
    "assets.services.delete_device": (_assets("delete_device", lambda w: w.device), "device.delete"),
    "assets.services.disable_device": (_assets("disable_device", lambda w: w.device), "device.disable"),
    "assets.services.enable_device": (_assets("enable_device", _disabled), "device.enable"),
    "assets.services.reveal_secret": (_assets("reveal_secret", lambda w: w.device), "device.secret_reveal"),
    "assets.services.reset_secret": (_assets("reset_secret", lambda w: w.device), "device.secret_reset"),
    "assets.services.add_sub_devices": (_assets("add_sub_devices", lambda w: w.gateway, lambda w: [w.device]),
                                        "device.sub_devices_add"),
    "assets.services.remove_sub_devices": (_assets("remove_sub_devices", _attached, lambda w: [w.device]),
                                           "device.sub_devices_remove"),
    "assets.services.create_model": (_assets("create_model", lambda w: w.acme, model_id="m2", name="M2"),
                                     "model.create"),
    "assets.services.update_model": (_assets("update_model", lambda w: w.thing_model, name="Renamed"),
                                     "model.update"),
    "assets.services.delete_model": (_assets("delete_model", _spare_model), "model.delete"),
    "assets.services.create_product": (lambda w: __import__("assets.services").services.create_product(
        w.writer, w.acme, model=w.thing_model, name="P2"), "product.create"),
    "assets.services.update_product": (_assets("update_product", lambda w: w.product, name="Renamed"),
                                       "product.update"),
    "assets.services.delete_product": (_assets("delete_product", _spare_product), "product.delete"),
    "assets.services.share_product": (_assets("share_product", lambda w: w.product, lambda w: w.globex),
                                      "product.share"),
    "assets.services.share_product_to": (_assets("share_product_to", lambda w: w.product, lambda w: w.globex),
                                         "product.share"),
    "assets.migration.services.request_migration": (_migration, "migration.request"),
    "assets.migration.services.resend_code": (_resend, "migration.resend"),
    "assets.migration.services.confirm_migration": (_confirm, "device.migrate_out"),
    "assets.migration.services.move_devices": (_move, "device.migrate_in"),
    "assets.batch.services.start_batch": (_batch, "batch.upload"),
    "assets.batch.services.apply_job": (_apply, "device.batch_import"),
    "assets.batch.services.run_apply": (_run_apply, "device.batch_import"),
    "assets.groups.create_group": (_static_group, "group.create"),
    "assets.groups.update_group": (_groups("update_group", _static_group, name="Renamed"), "group.update"),
    "assets.groups.delete_group": (_groups("delete_group", _static_group), "group.delete"),
    "assets.groups.add_group_devices": (_filled_group, "group.devices_add"),
    "assets.groups.remove_group_devices": (_groups("remove_group_devices", _filled_group, lambda w: [w.device]),
                                           "group.devices_remove"),
    "assets.groups.drop_moved_members": (lambda w: _move(SimpleNamespace(**{**vars(w), "group": _filled_group(w)})),
                                         "group.devices_migrated_out"),
    "assets.bulk.set_enabled": (_bulk("set_enabled", False), "device.disable"),
    "assets.bulk.delete_devices": (_bulk("delete_devices"), "device.delete"),
    "assets.bulk.add_tags": (_bulk("add_tags", {"line": "L1"}), "device.update"),
    "assets.bulk.remove_tags": (_bulk("remove_tags", ["site"], tags={"site": "x"}), "device.update"),
    "assets.bulk.set_attributes": (_bulk("set_attributes", {"serial": "SN-BULK"}), "device.update"),
    "assets.export.services.record_export": (lambda w: __import__("assets.export.services").export.services
                                             .record_export(w.writer, w.acme, "", "csv", 1), "device.export"),
    "assets.export.services.start_job": (_export, "device.export"),
    "observability.services.create_rule": (_alerts("create_rule", lambda w: w.acme, name="Down", kind="offline_for",
                                                   minutes=5, emails=["ops@example.com"]), "alert_rule.create"),
    "observability.services.update_rule": (_alerts("update_rule", lambda w: _alert(w).rule, name="Renamed"),
                                           "alert_rule.update"),
    "observability.services.delete_rule": (_alerts("delete_rule", lambda w: _alert(w).rule), "alert_rule.delete"),
    "observability.services.acknowledge_alert": (_alerts("acknowledge_alert", _alert), "alert.acknowledge"),
    "observability.services.resolve_alert": (_alerts("resolve_alert", _alert), "alert.resolve"),
    "observability.services.reset_webhook_secret": (_alerts("reset_webhook_secret", lambda w: w.acme),
                                                    "alert.webhook_secret_reset"),
    "tracing.services.start_trace": (_trace, "trace.start"),
    "fleet.services.start_job": (_fleet_job, "job.start"),
    "fleet.services.cancel_job": (lambda w: __import__("fleet.services").services.cancel_job(w.writer, _fleet_job(w)),
                                  "job.cancel"),
    "tracing.services.extend_trace": (lambda w: __import__("tracing.services").services.extend_trace(
        w.writer, _trace(w), timedelta(minutes=10)), "trace.extend"),
    "tracing.services.stop_trace": (lambda w: __import__("tracing.services").services.stop_trace(
        w.writer, _trace(w)), "trace.stop"),
    "connectivity.handlers.commands.invoke_service": (lambda w: _invoke(w, "invoke_service", "restart", {"delay": 1}),
                                                      "device.service_invoke"),
    "connectivity.handlers.commands.set_measurepoints": (lambda w: _invoke(w, "set_measurepoints", {"power": 1.0}),
                                                         "device.service_invoke"),
    "connectivity.handlers.commands.get_measurepoints": (lambda w: _invoke(w, "get_measurepoints", ["power"]),
                                                         "device.service_invoke"),
}
# actor-first functions that write nothing a user did: each with the reason
READS = {
    "accounts.services.can_manage_user": "a question: may the actor change this account",
    "accounts.services.require_create_ou": "a permission check",
    "accounts.services.require_manage_members": "a permission check",
    "assets.services.require_write": "a permission check",
    "tracing.services.require_write": "a permission check",
    "assets.migration.services.get_request_for": "reads the actor's own request",
    "assets.groups.check_query": "validates a dynamic group's query",
    "fleet.services.select_devices": "reads the devices a job would act on",
    "assets.migration.services.selected_devices": "reads the devices a move would take",
    # counts a wrong try on the request itself (5 kill it); the move it allows is audited when confirmed
    "assets.migration.services.check_code": "checks a code without using it up",
}


def test_every_actor_first_service_is_classified():
    found = set(service_functions())
    unclassified = sorted(found - set(WRITES) - set(READS))
    gone = sorted((set(WRITES) | set(READS)) - found)
    assert not unclassified and not gone, (
        f"services taking an actor that neither write an audit event here nor are exempted: {unclassified}; "
        f"entries for services that no longer exist: {gone}")
    assert len(found) > 40  # the discovery is not vacuous


@pytest.fixture
def doors(cast, owner, acme, globex, device, gateway, product, thing_model, sms_backend) -> SimpleNamespace:
    from accounts.models import User

    superuser = User.objects.create_superuser("root", "root@example.com", "pw")
    return SimpleNamespace(owner=owner, writer=cast["writer"], viewer=cast["viewer"], outsider=cast["outsider"],
                           superuser=superuser, acme=acme, globex=globex, device=device, gateway=gateway,
                           product=product, thing_model=thing_model)


@pytest.fixture
def sms_backend(settings) -> None:
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(WRITES))
def test_every_writing_service_leaves_its_audit_event(doors, name):
    run, action = WRITES[name]
    before = AuditEvent.objects.filter(action=action).count()
    run(doors)
    assert AuditEvent.objects.filter(action=action).count() > before, f"{name} wrote no {action} event"


# --- URLs ---------------------------------------------------------------------------------------

WRITE_METHODS = {"post", "put", "patch", "delete"}


def route_writes(callback: Any) -> bool:
    """Whether a view accepts a write method: a viewset's actions, a class view's handlers, or the methods a
    function view's require_http_methods (require_GET, require_POST …) allows; undecorated: any method."""
    actions = getattr(callback, "actions", None)
    if actions is not None:
        return bool(WRITE_METHODS & set(actions))
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is not None:
        return any(hasattr(view_class, method) for method in WRITE_METHODS)
    function = callback
    while function is not None:
        for name, cell in zip(function.__code__.co_freevars, function.__closure__ or (), strict=True):
            if name == "request_method_list":
                return bool(WRITE_METHODS & {method.lower() for method in cell.cell_contents})
        function = getattr(function, "__wrapped__", None)
    return True


# routes that take a write but record none, each with its reason (everything else that writes is requested below)
QUIET_WRITES = {
    "login/": "signs in (the axes log keeps failures)",
    "logout/": "signs out",
    "i18n/setlang/": "a language cookie",
    "accounts/switch-ou/": "the session's current OU",
    "jsi18n/": "read-only (answers GET)",
    "api/(?P<unmatched>.*)$": "the API's JSON 404 for any method",
    "api/devices/search/$": "a structured device search: POST for its JSON body, reads only",
    "api/emqx/authenticate/": "a broker's question about a device (logins are traced, not audited)",
    "api/emqx/authorize/": "a broker's question about a topic",
    "api/emqx/webhook/": "a broker's report of a session (connection history)",
    "api/rabbitmq/auth/<str:secret>/user/": "a broker's question about a device (logins are traced, not audited)",
    "api/rabbitmq/auth/<str:secret>/vhost/": "a broker's question about a virtual host",
    "api/rabbitmq/auth/<str:secret>/resource/": "a broker's question about a queue or exchange",
    "api/rabbitmq/auth/<str:secret>/topic/": "a broker's question about a topic (refusals are traced)",
    "accounts/profile/": "through set_time_zone, audited (tested with the services)",
    "": "a redirect to the device list, whatever the method",
    # form pages: a valid form goes to the service, whose event the service test above proves
    "devices/new/": "the form of create_device",
    "devices/<str:asset_id>/edit/": "the form of update_device",
    "products/new/": "the form of create_product",
    "products/<str:product_key>/edit/": "the form of update_product",
    "models/new/": "the form of create_model",
    "models/<int:pk>/edit/": "the form of update_model",
    "groups/new/": "the form of create_group",
    "groups/<int:pk>/edit/": "the form of update_group",
    "groups/add-selection/": "the form of add_group_devices (or create_group with the selection)",
    "jobs/new/": "the form of start_job",
    "jobs/new/migrate/": "reads the selection and shows the Move flow's first step (its Get Code is audited)",
    "alert-rules/new/": "the form of create_rule",
    "alert-rules/<int:pk>/edit/": "the form of update_rule",
    # pages whose views only read, whatever the method (no require_http_methods on them)
    "devices/": "the device table",
    "devices/<str:asset_id>/": "a device's details",
    "devices/<str:asset_id>/sub-devices/": "a gateway's sub-devices tab",
    "devices/<str:asset_id>/sub-devices/candidates/": "the devices a gateway could take",
    "devices/<str:asset_id>/services/": "a device's services tab",
    "products/": "the product list",
    "products/<str:product_key>/": "a product's details",
    "models/": "the model list",
    "models/<int:pk>/": "a model's details",
}
# console writes the matrix posts without a body (it asks who may, not what happens): the bodies that make them act
CONSOLE_BODIES: dict[str, Callable[[dict], dict]] = {
    "assets:device-sub-device-add": lambda o: {"asset_ids": [o["device"].asset_id]},
    "assets:device-sub-device-remove": lambda o: {"asset_ids": [o["device"].asset_id]},
    "connectivity:device-measurepoints-set": lambda o: {"measurepoint-set-power": "1.5"},
    "assets:group-devices-add": lambda o: {"devices": o["device"].device_key},
    "assets:group-devices-remove": lambda o: {"devices": o["device"].device_key},
}
# and the confirmation pages of deletes, which the matrix only opens (GET)
CONSOLE_DELETES = [("assets:device-delete", lambda o: [o["device"].asset_id]),
                   ("assets:product-delete", lambda o: [o["spare_product"].product_key]),
                   ("assets:model-delete", lambda o: [o["spare_model"].pk]),
                   ("assets:group-delete", lambda o: [o["group"].pk]),
                   ("observability:alert-rule-delete", lambda o: [o["alerting"].spare_rule.pk])]
# the matrices' write requests, by route: the console's WRITE_PAGES posts and the API's write endpoints
# the other routes that write are batch, migration and tracing: their services are tested above
OTHER_MATRICES = ("devices/migrate/", "devices/batch/", "api/migrations/", "api/batch/", "tracing/", "api/traces/",
                  "/traces/")


def write_requests(world: SimpleNamespace, objects: dict) -> list[tuple[str, str, dict]]:
    from django.urls import reverse

    objects = {**objects, "spare_product": world.spare_product, "spare_model": world.spare_model}
    console = [(method, reverse(name, args=args(objects)), CONSOLE_BODIES.get(name, lambda o: {})(objects))
               for name, args, method in WRITE_PAGES if method != "get"]
    console += [("post", reverse(name, args=args(objects)), {}) for name, args in CONSOLE_DELETES]
    api = [(e.method, e.url(world), e.body(world)) for e in ENDPOINTS if e.write and e.method != "get"]
    return console + api


def test_every_route_that_writes_is_requested_or_quiet(world, objects):
    requested = {resolve(url.partition("?")[0]).route for _, url, _ in write_requests(world, objects)}
    unknown = []
    for route, _namespace in ALL_ROUTES:
        if route.startswith(ADMIN_PREFIX) or route in QUIET_WRITES or route in requested:
            continue
        if any(part in route for part in OTHER_MATRICES):
            continue
        if route_writes(resolve_route(route)):
            unknown.append(route)
    assert not unknown, f"routes that may take a write but are neither requested here nor quiet: {unknown}"


def resolve_route(route: str) -> Any:
    for pattern_route, callback in _callbacks():
        if pattern_route == route:
            return callback
    return None


def _callbacks() -> list[tuple[str, Any]]:
    from django.urls import URLPattern, URLResolver

    found: list[tuple[str, Any]] = []

    def walk(resolver: URLResolver, prefix: str) -> None:
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern).removeprefix("^")
            if isinstance(pattern, URLResolver):
                walk(pattern, route)
            elif isinstance(pattern, URLPattern):
                found.append((route, pattern.callback))

    walk(get_resolver(), "")
    return found


@pytest.mark.django_db
def test_every_write_request_of_the_matrices_leaves_an_audit_event(world, objects):
    from tests.assets.api.helpers import api_client_for
    from tests.conftest import client_for

    missing = []
    for method, url, body in write_requests(world, objects):
        setup = next((e.setup for e in ENDPOINTS if e.url(world) == url and e.method == method), None)
        if setup is not None:
            setup(world)
        if url.endswith("/sub-devices/remove/") and not url.startswith("/api/"):
            attach(world)
        client = (api_client_for if url.startswith("/api/") else client_for)(world.cast["writer"])
        before = AuditEvent.objects.count()
        response = getattr(client, method)(url, body or None)
        if response.status_code < 400 and AuditEvent.objects.count() == before:
            missing.append(f"{method.upper()} {url}")
        elif response.status_code >= 400:
            missing.append(f"{method.upper()} {url} answered {response.status_code}")
        restore(world)
    assert not missing, f"writes that left no audit event: {missing}"


def restore(world: SimpleNamespace) -> None:
    """Each request finds the world as the matrix builds it (a deleted device comes back)."""
    from assets.models import Device, DeviceGroupMember

    for obj in (world.spare_model, world.spare_product, world.device, world.group, world.alerting.rule,
                world.alerting.alert):
        if not type(obj).objects.filter(pk=obj.pk).exists():
            obj.save(force_insert=True)
    DeviceGroupMember.objects.get_or_create(group=world.group, device=world.device)
    Device.objects.filter(pk=world.device.pk).update(enabled=True, gateway=None)

