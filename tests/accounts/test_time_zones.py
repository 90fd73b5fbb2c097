"""Times in the user's time zone: the profile setting beats the browser's (the `tz` cookie), which beats
UTC; a page names the zone of every time it shows; the profile page is each user's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.errors import AccessDenied, DomainError
from accounts.models import AuditEvent, User
from accounts.services import set_time_zone
from accounts.time_zones import COOKIE_NAME, grouped_time_zones, zone_for
from assets.models import Device
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 12, 5, 15, 25, 7, 123456, tzinfo=UTC)
PROFILE = reverse("accounts:profile")


def zone_of_page(client, **cookies: str) -> tuple[str, str]:
    """The zone and its source a console page was rendered in (base.html tells portal/times.js)."""
    for name, value in cookies.items():
        client.cookies[name] = value
    page = client.get(PROFILE).content.decode()
    assert page.count("data-time-zone=") == 1
    zone = page.split('data-time-zone="')[1].split('"')[0]
    source = page.split('data-time-zone-source="')[1].split('"')[0]
    return zone, source


# --- which zone ------------------------------------------------------------------------------------

def test_the_profile_setting_beats_the_browser_cookie(writer):
    set_time_zone(writer, writer, "America/New_York")
    assert zone_of_page(client_for(writer), tz="Asia/Shanghai") == ("America/New_York", "profile")


def test_without_a_setting_the_browser_cookie_decides(writer):
    assert zone_of_page(client_for(writer), tz="Asia/Shanghai") == ("Asia/Shanghai", "browser")


@pytest.mark.parametrize("cookie", ["Mars/Olympus_Mons", "../../etc/passwd", "", "Asia/Shanghai" + "x" * 100,
                                    "%E2%80%AE", "UTC'><script>"])
def test_a_bad_cookie_is_ignored_and_the_page_is_in_utc(writer, cookie):
    assert zone_of_page(client_for(writer), tz=cookie) == ("UTC", "default")


def test_a_url_encoded_cookie_is_understood(writer):
    assert zone_of_page(client_for(writer), tz="America%2FArgentina%2FBuenos_Aires")[0] == \
        "America/Argentina/Buenos_Aires"


def test_anonymous_pages_follow_the_cookie():
    assert zone_for(None, {COOKIE_NAME: "Europe/Paris"}).name == "Europe/Paris"
    page = client_for(None)
    page.cookies[COOKIE_NAME] = "Europe/Paris"
    assert 'data-time-zone="Europe/Paris"' in page.get(reverse("login")).content.decode()


def test_the_zone_ends_with_the_request(writer):
    client_for(writer).get(PROFILE, headers={"Cookie": f"{COOKIE_NAME}=Asia/Tokyo"})
    assert timezone.get_current_timezone_name() == "UTC"


# --- rendering -------------------------------------------------------------------------------------

def render(source: str, zone: str, **context) -> str:
    with timezone.override(zone):
        return Template(source).render(Context(context))


def test_a_time_renders_in_the_active_zone_with_the_zone_named():
    shanghai = render("{{ when|local_time }}", "Asia/Shanghai", when=MOMENT)
    assert shanghai == ('<time datetime="2026-12-05T15:25:07.123Z" title="Asia/Shanghai (UTC+08:00)" '
                        'data-time-format="datetime">2026-12-05 23:25:07 Asia/Shanghai</time>')
    new_york = render("{{ when|local_time }}", "America/New_York", when=MOMENT)
    assert new_york == ('<time datetime="2026-12-05T15:25:07.123Z" title="America/New_York (UTC-05:00)" '
                        'data-time-format="datetime">2026-12-05 10:25:07 America/New_York</time>')


def test_summer_time_shows_its_own_offset():
    july = MOMENT.replace(month=7)
    assert "America/New_York (UTC-04:00)" in render("{{ when|local_time }}", "America/New_York", when=july)


def test_table_and_log_cells_leave_the_zone_to_their_header():
    table = render('{{ when|local_time:"table" }} {% zone_name %}', "Asia/Kolkata", when=MOMENT)
    assert ">2026-12-05 20:55:07</time>" in table and 'title="Asia/Kolkata (UTC+05:30)"' in table
    assert table.endswith('<span class="zone-name">(Asia/Kolkata)</span>')
    log = render('{{ when|local_time:"log" }}', "UTC", when=MOMENT)
    assert ">2026-12-05 15:25:07.123</time>" in log and 'title="UTC (UTC+00:00)"' in log
    clock = render('{{ when|local_time:"time" }}', "Asia/Shanghai", when=MOMENT)
    assert ">23:25:07 Asia/Shanghai</time>" in clock


def test_no_time_renders_nothing_so_a_default_shows():
    assert render('{{ when|local_time|default:"—" }}', "Asia/Shanghai", when=None) == "—"


def test_the_device_pages_show_times_in_the_users_zone(writer, device, gateway):
    Device.objects.filter(pk=device.pk).update(activated_at=MOMENT, last_online_at=MOMENT, gateway=gateway)
    set_time_zone(writer, writer, "Asia/Shanghai")
    client = client_for(writer)
    details = client.get(reverse("assets:device-detail", args=[device.asset_id])).content.decode()
    assert ">2026-12-05 23:25:07 Asia/Shanghai</time>" in details
    listing = client.get(reverse("assets:device-list")).content.decode()
    assert ">2026-12-05 23:25:07</time>" in listing and '<span class="zone-name">(Asia/Shanghai)</span>' in listing
    sub_devices = client.get(reverse("assets:device-sub-devices", args=[gateway.asset_id])).content.decode()
    assert ">2026-12-05 23:25:07</time>" in sub_devices and "(Asia/Shanghai)</span>" in sub_devices
    set_time_zone(writer, writer, "America/New_York")
    details = client.get(reverse("assets:device-detail", args=[device.asset_id])).content.decode()
    assert ">2026-12-05 10:25:07 America/New_York</time>" in details


# --- the setting -----------------------------------------------------------------------------------

def test_setting_the_zone_is_audited(writer):
    set_time_zone(writer, writer, "Asia/Shanghai")
    writer.refresh_from_db()
    assert writer.time_zone == "Asia/Shanghai"
    event = AuditEvent.objects.get(action="user.set_time_zone")
    assert (event.actor, event.before, event.after) == (writer, {"time_zone": ""}, {"time_zone": "Asia/Shanghai"})
    set_time_zone(writer, writer, "Asia/Shanghai")  # no change: nothing to record
    set_time_zone(writer, writer, "")
    assert AuditEvent.objects.filter(action="user.set_time_zone").count() == 2
    assert User.objects.get(pk=writer.pk).time_zone == ""


def test_an_unknown_zone_is_refused(writer):
    with pytest.raises(DomainError, match="is not a time zone") as refused:
        set_time_zone(writer, writer, "Mars/Olympus_Mons")
    assert refused.value.field == "time_zone"
    assert User.objects.get(pk=writer.pk).time_zone == ""
    assert not AuditEvent.objects.filter(action="user.set_time_zone").exists()


@pytest.mark.parametrize("actor", ["owner", "superuser", "system"])
def test_nobody_sets_another_users_zone(writer, owner, acme, actor):
    acting = {"owner": owner, "system": SYSTEM,
              "superuser": User.objects.create_superuser("root", password="x")}[actor]
    with pytest.raises(AccessDenied):
        set_time_zone(acting, writer, "Asia/Shanghai")
    assert User.objects.get(pk=writer.pk).time_zone == ""


def test_the_zone_list_is_grouped_by_region():
    groups = dict(grouped_time_zones())
    assert ("Asia/Shanghai", "Shanghai") in groups["Asia"]
    assert ("America/Argentina/Buenos_Aires", "Argentina/Buenos Aires") in groups["America"]
    assert list(groups)[-1] == "Other" and ("UTC", "UTC") in groups["Other"]


# --- the profile page ------------------------------------------------------------------------------

def test_the_profile_page_is_each_users_own(cast):
    """GET and POST: each signed-in user sees and changes their own profile; anonymous is sent to log in."""
    for who in ("writer", "viewer", "outsider"):
        client = client_for(cast[who])
        page = client.get(PROFILE)
        assert page.status_code == 200 and 'name="time_zone"' in page.content.decode()
        assert client.post(PROFILE, {"time_zone": "Asia/Tokyo"}).status_code == 302
        assert User.objects.get(pk=cast[who].pk).time_zone == "Asia/Tokyo"
    assert client_for(cast["writer"]).put(PROFILE).status_code == 405
    anonymous = client_for(None)
    for response in (anonymous.get(PROFILE), anonymous.post(PROFILE, {"time_zone": "UTC"})):
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_profile_page_offers_every_zone_and_the_browsers(writer):
    client = client_for(writer)
    client.cookies[COOKIE_NAME] = "Europe/Paris"
    page = client.get(PROFILE).content.decode()
    assert '<option value="" selected>Browser default (currently: Europe/Paris)</option>' in page
    assert '<optgroup label="Asia">' in page and '<option value="Asia/Shanghai">Shanghai</option>' in page
    assert 'href="/accounts/profile/"' in page and 'id="profile-link"' in page


def test_saving_the_profile_says_so_and_the_page_follows(writer):
    client = client_for(writer)
    response = client.post(PROFILE, {"time_zone": "America/New_York"}, follow=True)
    page = response.content.decode()
    assert "Your profile is saved." in page
    assert '<option value="America/New_York" selected>New York</option>' in page
    assert "Times are shown in America/New_York, as set here." in page
    assert AuditEvent.objects.filter(action="user.set_time_zone", actor=writer).count() == 1


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "x" * 1000, "Asia/Shanghai\x00"])
def test_an_unknown_zone_gets_a_clear_error_not_a_500(writer, zone):
    response = client_for(writer).post(PROFILE, {"time_zone": zone})
    assert response.status_code == 400
    assert "is not a time zone. Choose one from the list." in response.content.decode()
    assert User.objects.get(pk=writer.pk).time_zone == ""


def test_the_audit_log_in_the_admin_names_the_readers_zone(writer):
    support = User.objects.create_superuser("support", password="x", time_zone="Asia/Shanghai")
    set_time_zone(writer, writer, "Europe/Paris")
    AuditEvent.objects.filter(action="user.set_time_zone").update(created_at=MOMENT)
    client = client_for(support)
    listing = client.get(reverse("admin:accounts_auditevent_changelist")).content.decode()
    assert ">2026-12-05 23:25:07 Asia/Shanghai</time>" in listing
    event = AuditEvent.objects.get(action="user.set_time_zone")
    detail = client.get(reverse("admin:accounts_auditevent_change", args=[event.pk])).content.decode()
    assert ">2026-12-05 23:25:07 Asia/Shanghai</time>" in detail


def test_the_api_stays_in_utc_whatever_the_users_zone(writer, device):
    Device.objects.filter(pk=device.pk).update(last_online_at=MOMENT)
    set_time_zone(writer, writer, "Asia/Shanghai")
    client = client_for(writer)  # a browser's session on the API (Swagger UI's "Try it out")
    client.cookies[COOKIE_NAME] = "Asia/Tokyo"
    body = client.get(f"/api/devices/{device.asset_id}/").json()
    assert body["lastOnlineAt"] == "2026-12-05T15:25:07.123456Z"
