"""Every route of the root URLconf (console, API, admin) is guarded by an OU-matrix test, by name.

The table below classifies each route as it is written in the URLconf (Django's `ResolverMatch.route`).
The test walks `get_resolver()` recursively and compares sets: a route nobody classified (a new
view) or a classification of a route that no longer exists fails, listing them. Then each claim is
checked:

- a guard whose matrix is a table of URLs (the API and console matrices, tracing, batch) builds
  those URLs from placeholders; each route classified under it must be among the routes they
  resolve to;
- any other guard names its test function, which must exist;
- the admin is one explicit rule: every route under `admin/` belongs to `admin.site` and only
  those, guarded by the admin tests (the admin helper's matrix);
- routes that show no OU's data are answered here, for anonymous.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from tests.assets.api.test_ou_matrix import PLACEHOLDER_WORLD, api_urls
from tests.assets.console.test_console_matrix import console_urls


@dataclass(frozen=True)
class Guard:
    """The test(s) that ask a route as each member of the cast: "tests/path.py::test_name"."""

    tests: tuple[str, ...]
    urls: Callable[[], list[str]] | None = field(default=None, compare=False)  # the URLs its table requests


def guard(*tests: str, urls: Callable[[], list[str]] | None = None) -> Guard:
    return Guard(tests, urls)


def _placeholder(**fields: object) -> SimpleNamespace:
    return SimpleNamespace(**fields)


def _console_placeholders() -> dict[str, object]:
    acme = _placeholder(ou_id="o1", name="Acme")
    return {"acme": acme, "device": _placeholder(asset_id="A1", ou=acme), "gateway": _placeholder(asset_id="G1"),
            "product": _placeholder(product_key="P1"), "model": _placeholder(pk=1, model_id="m1"),
            "group": _placeholder(pk=1), "job": _placeholder(public_id="job-0123456789abcdef"),
            "alerting": _placeholder(rule=_placeholder(pk=1), spare_rule=_placeholder(pk=2), alert=_placeholder(pk=1))}


def _tracing_api_urls() -> list[str]:
    from tests.tracing.test_api import endpoints

    return [url for _, url, *_ in endpoints(_placeholder(asset_id="A1"), _placeholder(pk=1))]


def _tracing_console_urls() -> list[str]:
    from tests.tracing.test_console import READS, WRITES, url

    return [url(name, _placeholder(asset_id="A1"), _placeholder(pk=1)) for name in READS + WRITES]


def _batch_urls(module: str) -> Callable[[], list[str]]:
    def urls() -> list[str]:
        matrix = importlib.import_module(module).MATRIX
        world = {"product": _placeholder(product_key="P1"), "device": _placeholder(asset_id="A1"),
                 "job": _placeholder(pk=1), "acme": _placeholder(ou_id="o1")}
        return [url(world) for _, _, url, *_ in matrix]

    return urls


API_MATRIX = guard("tests/assets/api/test_ou_matrix.py::test_ou_matrix",
                   "tests/assets/api/test_ou_matrix.py::test_the_audit_log_matrix",
                   urls=lambda: api_urls(PLACEHOLDER_WORLD))
CONSOLE_MATRIX = guard("tests/assets/console/test_console_matrix.py::test_read_pages",
                       "tests/assets/console/test_console_matrix.py::test_write_pages_refuse_everyone_but_writers",
                       "tests/assets/console/test_console_matrix.py::test_the_outsiders_lists_show_nothing_of_acme",
                       "tests/assets/console/test_console_matrix.py::test_create_pages",
                       "tests/assets/console/test_console_matrix.py::test_nobody_switches_into_an_ou_they_are_not_in",
                       "tests/assets/console/test_console_matrix.py::test_the_audit_log_is_the_ou_admins",
                       urls=lambda: console_urls(_console_placeholders()))
TRACING_API = guard("tests/tracing/test_api.py::test_the_ou_matrix", urls=_tracing_api_urls)
TRACING_CONSOLE = guard("tests/tracing/test_console.py::test_who_may_read",
                        "tests/tracing/test_console.py::test_who_may_not_write", urls=_tracing_console_urls)
BATCH_API = guard("tests/assets/batch/test_api.py::test_every_batch_endpoint_answers_each_role",
                  urls=_batch_urls("tests.assets.batch.test_api"))
BATCH_API_JOB_LIST = guard("tests/assets/batch/test_api.py::test_the_job_list_shows_only_visible_jobs")
BATCH_CONSOLE = guard("tests/assets/batch/test_console.py::test_every_batch_url_answers_each_role",
                      urls=_batch_urls("tests.assets.batch.test_console"))
BATCH_PAGE = guard("tests/assets/batch/test_console.py::test_the_outsider_sees_no_acme_product_or_job_on_its_page")
EXPORT_CONSOLE = guard("tests/assets/export/test_doors.py::test_every_console_export_url_answers_each_role",
                       urls=_batch_urls("tests.assets.export.test_doors"))
EXPORT_API = guard("tests/assets/export/test_doors.py::test_every_api_export_url_answers_each_role",
                   urls=_batch_urls("tests.assets.export.test_doors"))
MIGRATION_API_START = guard("tests/assets/migration/test_api.py::test_only_writers_of_the_source_may_start")
MIGRATION_API_REQUEST = guard(
    "tests/assets/migration/test_api.py::test_only_the_requester_sees_and_confirms_the_request")
MIGRATION_DIALOG = guard("tests/assets/migration/test_console.py::test_only_writers_of_the_source_open_the_dialog")
MIGRATION_DIALOG_STEPS = guard("tests/assets/migration/test_console.py::test_someone_elses_request_is_not_found")
EMQX = guard("tests/connectivity/test_emqx.py::test_the_endpoints_need_the_token_and_are_off_without_one")
RABBITMQ_AUTH = guard(
    "tests/connectivity/rabbitmq/test_auth_endpoints.py::test_the_endpoints_answer_only_the_broker_with_the_secret")
JOB_MIGRATE = guard(
    "tests/fleet/test_migrate_selection.py::test_only_the_current_ou_s_writers_and_never_another_ou_s_devices")
PROFILE = guard("tests/accounts/test_time_zones.py::test_the_profile_page_is_each_users_own")
NO_OU_DATA = guard("tests/test_route_matrix.py::test_routes_without_ou_data_answer_anonymous")
ADMIN = guard("tests/accounts/test_admin.py::test_non_staff_are_sent_to_the_admin_login")
ADMIN_PREFIX = "admin/"

ROUTES: dict[str, Guard] = {
    # sign-in and the API's self-description: no OU's data
    "": NO_OU_DATA,
    "login/": NO_OU_DATA,
    "logout/": NO_OU_DATA,
    "api/": NO_OU_DATA,
    "api/schema/": NO_OU_DATA,
    "api/docs/": NO_OU_DATA,
    "api/(?P<unmatched>.*)$": NO_OU_DATA,  # any other /api/ path: the API's JSON 404
    "i18n/setlang/": NO_OU_DATA,  # the header's language switch: a cookie, then back to `next`
    # the JavaScript translation catalog (gettext() in the static scripts): the same for everyone
    "jsi18n/": NO_OU_DATA,
    # console
    "accounts/switch-ou/": CONSOLE_MATRIX,
    "accounts/profile/": PROFILE,  # the signed-in user's own settings: no OU's data, no other user's
    "devices/": CONSOLE_MATRIX,
    "devices/new/": CONSOLE_MATRIX,
    "devices/counts/<str:ou_id>/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/toggle/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/edit/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/delete/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/secret/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/reset-secret/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/sub-devices/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/sub-devices/candidates/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/sub-devices/add/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/sub-devices/remove/": CONSOLE_MATRIX,
    "groups/": CONSOLE_MATRIX,
    "groups/new/": CONSOLE_MATRIX,
    "groups/check-query/": CONSOLE_MATRIX,
    "groups/add-selection/": CONSOLE_MATRIX,
    "groups/<int:pk>/": CONSOLE_MATRIX,
    "groups/<int:pk>/edit/": CONSOLE_MATRIX,
    "groups/<int:pk>/delete/": CONSOLE_MATRIX,
    "groups/<int:pk>/devices/add/": CONSOLE_MATRIX,
    "groups/<int:pk>/devices/remove/": CONSOLE_MATRIX,
    "jobs/": CONSOLE_MATRIX,
    "jobs/new/": CONSOLE_MATRIX,
    "jobs/new/migrate/": JOB_MIGRATE,  # the job form's selection handed to the Move flow (POST)
    "jobs/<str:public_id>/": CONSOLE_MATRIX,
    "jobs/<str:public_id>/progress/": CONSOLE_MATRIX,
    "jobs/<str:public_id>/cancel/": CONSOLE_MATRIX,
    "jobs/<str:public_id>/export/": CONSOLE_MATRIX,
    "products/": CONSOLE_MATRIX,
    "products/new/": CONSOLE_MATRIX,
    "products/<str:product_key>/": CONSOLE_MATRIX,
    "products/<str:product_key>/edit/": CONSOLE_MATRIX,
    "products/<str:product_key>/delete/": CONSOLE_MATRIX,
    "models/": CONSOLE_MATRIX,
    "models/new/": CONSOLE_MATRIX,
    "models/<int:pk>/": CONSOLE_MATRIX,
    "models/<int:pk>/edit/": CONSOLE_MATRIX,
    "models/<int:pk>/delete/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/services/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/services/<str:identifier>/invoke/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/latest-data/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/connectivity/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/measurepoints/set/": CONSOLE_MATRIX,
    "devices/<str:asset_id>/measurepoints/get/": CONSOLE_MATRIX,
    "device-statuses/": CONSOLE_MATRIX,
    "connectivity/": CONSOLE_MATRIX,  # the current OU's devices online over time, its most flapping devices
    "audit-log/": CONSOLE_MATRIX,  # the current OU's audit log: its admins and owner
    "audit-log/export.<str:fmt>": CONSOLE_MATRIX,
    "alerts/": CONSOLE_MATRIX,
    "alerts/<int:pk>/acknowledge/": CONSOLE_MATRIX,
    "alerts/<int:pk>/resolve/": CONSOLE_MATRIX,
    "alert-rules/": CONSOLE_MATRIX,
    "alert-rules/new/": CONSOLE_MATRIX,
    "alert-rules/<int:pk>/edit/": CONSOLE_MATRIX,
    "alert-rules/<int:pk>/delete/": CONSOLE_MATRIX,
    "alert-rules/webhook-secret/<str:ou_id>/reset/": CONSOLE_MATRIX,
    "alert-deliveries/": CONSOLE_MATRIX,
    "devices/migrate/": MIGRATION_DIALOG,
    "devices/migrate/<int:pk>/": MIGRATION_DIALOG_STEPS,
    "devices/migrate/<int:pk>/resend/": MIGRATION_DIALOG_STEPS,
    "devices/migrate/<int:pk>/code/": MIGRATION_DIALOG_STEPS,
    "devices/migrate/<int:pk>/confirm/": MIGRATION_DIALOG_STEPS,
    "devices/batch/": BATCH_PAGE,
    "devices/batch/template/": BATCH_CONSOLE,
    "devices/batch/devices/": BATCH_CONSOLE,
    "devices/batch/upload/": BATCH_CONSOLE,
    "devices/batch/jobs/<int:pk>/": BATCH_CONSOLE,
    "devices/batch/jobs/<int:pk>/apply/": BATCH_CONSOLE,
    "devices/batch/jobs/<int:pk>/errmsg.txt": BATCH_CONSOLE,
    "devices/export/": EXPORT_CONSOLE,
    "devices/export/jobs/<int:pk>/": EXPORT_CONSOLE,
    "devices/export/jobs/<int:pk>/download/": EXPORT_CONSOLE,
    "devices/<str:asset_id>/tracing/": TRACING_CONSOLE,
    "devices/<str:asset_id>/tracing/start/": TRACING_CONSOLE,
    "devices/<str:asset_id>/tracing/<int:trace_id>/": TRACING_CONSOLE,
    "devices/<str:asset_id>/tracing/<int:trace_id>/extend/": TRACING_CONSOLE,
    "devices/<str:asset_id>/tracing/<int:trace_id>/stop/": TRACING_CONSOLE,
    "devices/<str:asset_id>/tracing/<int:trace_id>/download/": TRACING_CONSOLE,
    # API
    "api/devices/$": API_MATRIX,
    "api/devices/by-key/$": API_MATRIX,
    "api/devices/search/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/disable/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/enable/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/gateway/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/sub-devices/remove/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/reset-secret/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/secret/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/sub-devices/candidates/$": API_MATRIX,
    "api/devices/(?P<assetId>[^/]+)/sub-devices/$": API_MATRIX,
    "api/products/$": API_MATRIX,
    "api/products/(?P<productKey>[^/]+)/$": API_MATRIX,
    "api/models/$": API_MATRIX,
    "api/models/(?P<modelId>[^/]+)/$": API_MATRIX,
    "api/groups/$": API_MATRIX,
    "api/groups/(?P<pk>[0-9]+)/$": API_MATRIX,
    "api/groups/(?P<pk>[0-9]+)/devices/$": API_MATRIX,
    "api/jobs/$": API_MATRIX,
    "api/jobs/(?P<pk>job-[0-9a-f]{16})/$": API_MATRIX,
    "api/jobs/(?P<pk>job-[0-9a-f]{16})/cancel/$": API_MATRIX,
    "api/jobs/(?P<pk>job-[0-9a-f]{16})/executions/$": API_MATRIX,
    "api/jobs/(?P<pk>job-[0-9a-f]{16})/executions/export/$": API_MATRIX,
    "api/devices/<str:asset_id>/services/<str:identifier>/invoke/": API_MATRIX,
    "api/devices/<str:asset_id>/services/invocations/": API_MATRIX,
    "api/devices/<str:asset_id>/latest-data/": API_MATRIX,
    "api/devices/<str:asset_id>/sessions/": API_MATRIX,
    "api/devices/<str:asset_id>/availability/": API_MATRIX,
    "api/connectivity/online/": API_MATRIX,
    "api/connectivity/flapping/": API_MATRIX,
    "api/devices/<str:asset_id>/measurepoints/set/": API_MATRIX,
    "api/devices/<str:asset_id>/measurepoints/get/": API_MATRIX,
    "api/migrations/$": MIGRATION_API_START,
    "api/migrations/(?P<pk>[0-9]+)/$": MIGRATION_API_REQUEST,
    "api/migrations/(?P<pk>[0-9]+)/confirm/$": MIGRATION_API_REQUEST,
    "api/migrations/(?P<pk>[0-9]+)/resend/$": MIGRATION_API_REQUEST,
    "api/batch/template/": BATCH_API,
    "api/batch/jobs/": BATCH_API,  # POST (upload); GET lists: BATCH_API_JOB_LIST below
    "api/batch/jobs/<int:pk>/": BATCH_API,
    "api/batch/jobs/<int:pk>/apply/": BATCH_API,
    "api/batch/jobs/<int:pk>/errmsg.txt": BATCH_API,
    "api/devices/export/": EXPORT_API,
    "api/exports/<int:pk>/": EXPORT_API,
    "api/exports/<int:pk>/download/": EXPORT_API,
    "api/devices/<str:assetId>/traces/": TRACING_API,
    "api/traces/<int:traceId>/": TRACING_API,
    "api/traces/<int:traceId>/extend/": TRACING_API,
    "api/traces/<int:traceId>/stop/": TRACING_API,
    "api/traces/<int:traceId>/logs/": TRACING_API,
    "api/traces/<int:traceId>/logs.jsonl": TRACING_API,
    "api/audit-events/": API_MATRIX,
    "api/audit-events/export/": API_MATRIX,
    "api/alert-rules/$": API_MATRIX,
    "api/alert-rules/webhook-secret/$": API_MATRIX,
    "api/alert-rules/(?P<pk>[0-9]+)/$": API_MATRIX,
    "api/alerts/$": API_MATRIX,
    "api/alerts/(?P<pk>[0-9]+)/$": API_MATRIX,
    "api/alerts/(?P<pk>[0-9]+)/acknowledge/$": API_MATRIX,
    "api/alerts/(?P<pk>[0-9]+)/resolve/$": API_MATRIX,
    "api/alert-deliveries/$": API_MATRIX,
    # called by an EMQX cluster with its shared token, never by people
    "api/emqx/authenticate/": EMQX,
    "api/emqx/authorize/": EMQX,
    "api/emqx/webhook/": EMQX,
    # called by RabbitMQ's HTTP auth backend with the shared secret in the path, never by people
    "api/rabbitmq/auth/<str:secret>/user/": RABBITMQ_AUTH,
    "api/rabbitmq/auth/<str:secret>/vhost/": RABBITMQ_AUTH,
    "api/rabbitmq/auth/<str:secret>/resource/": RABBITMQ_AUTH,
    "api/rabbitmq/auth/<str:secret>/topic/": RABBITMQ_AUTH,
}
# a route asked by more than one test: each of these must exist too
ALSO_GUARDED = {"api/batch/jobs/": BATCH_API_JOB_LIST}


def _join(prefix: str, route: str) -> str:
    # as django.urls.resolvers.URLResolver._join_route: an inner regex's "^" goes
    return prefix + route.removeprefix("^")


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """(route, namespace path) of every URL pattern under `resolver`, recursively."""
    for pattern in resolver.url_patterns:
        route = _join(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern, route, inner)
        else:
            assert isinstance(pattern, URLPattern)
            yield route, namespace


ALL_ROUTES = list(_walk(get_resolver()))


def test_every_route_is_classified():
    routes = {route for route, _ in ALL_ROUTES}
    admin_routes = {route for route in routes if route.startswith(ADMIN_PREFIX)}
    missing = sorted(routes - admin_routes - set(ROUTES))
    gone = sorted(set(ROUTES) - routes)
    assert not missing and not gone, (f"routes without an OU-matrix entry in {__file__}: {missing}; "
                                      f"entries of routes that no longer exist: {gone}")


def test_the_admin_rule_covers_exactly_the_admin_site():
    """Every route under admin/ is admin.site's (whose tests guard it), and admin.site has no other."""
    site_namespace = f"{admin.site.name}:"
    outside = sorted(route for route, ns in ALL_ROUTES
                     if route.startswith(ADMIN_PREFIX) != ns.startswith(site_namespace))
    assert not outside, f"routes breaking the rule 'admin/ is admin.site': {outside}"
    assert sum(route.startswith(ADMIN_PREFIX) for route, _ in ALL_ROUTES) > 50  # the rule is not vacuous


@pytest.mark.parametrize("guard_test", sorted({test for g in [*ROUTES.values(), *ALSO_GUARDED.values(), ADMIN]
                                               for test in g.tests}))
def test_every_guard_exists(guard_test: str):
    path, _, name = guard_test.partition("::")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert callable(getattr(module, name, None)), f"{guard_test} is not a test"


@pytest.mark.parametrize("matrix", sorted({g for g in ROUTES.values() if g.urls is not None}, key=lambda g: g.tests),
                         ids=lambda g: g.tests[0].split("::")[0])
def test_each_matrix_requests_the_routes_classified_under_it(matrix: Guard):
    asked = {resolve(url.partition("?")[0]).route for url in matrix.urls()}
    claimed = {route for route, g in ROUTES.items() if g == matrix}
    assert not claimed - asked, f"classified under {matrix.tests[0]} but not requested by it: {sorted(claimed - asked)}"


# --- the routes without OU data --------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url", "expected"), [
    ("get", "/", 302), ("get", "/login/", 200), ("post", "/logout/", 302),
    ("get", "/api/", 401),
    # the API's description is public, like any API's docs: it names routes, not objects
    ("get", "/api/schema/", 200), ("get", "/api/docs/", 200),
    ("get", "/api/no-such-thing/", 404), ("post", "/api/devices.json", 404),
    ("post", "/i18n/setlang/", 302),  # no `next`: back to where the browser came from, or /
    ("get", "/jsi18n/", 200),
])
def test_routes_without_ou_data_answer_anonymous(client, method, url, expected):
    assert ROUTES[resolve(url).route] == NO_OU_DATA
    response = getattr(client, method)(url)
    assert response.status_code == expected
    if url == "/":
        assert response["Location"] == reverse("assets:device-list")  # which itself wants a login
