"""`{% latest_values device as latest %}`: the details page shows latest data without its view knowing;
`|session_duration`: the length of a connection record; `{% timeline_bands timeline %}`: its SVG bands."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from assets.models import Device

from ..queries import latest_values as latest_values_of
from ..timeline import Timeline

register = template.Library()


@register.simple_tag
def latest_values(device: Device) -> dict:
    return latest_values_of(device)


@register.filter
def session_duration(value: dt.timedelta | None) -> str:
    """A session's length, to the second below a minute, to the minute below a day ("2 d 3 h 4 min")."""
    if value is None:
        return ""
    seconds = max(int(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if not days and not hours and not minutes:
        return _("%(seconds)d s") % {"seconds": secs}
    parts = []
    if days:
        parts.append(_("%(days)d d") % {"days": days})
    if hours:
        parts.append(_("%(hours)d h") % {"hours": hours})
    if minutes and not days:
        parts.append(_("%(minutes)d min") % {"minutes": minutes})
    return " ".join(parts)


@register.simple_tag
def timeline_bands(timeline: Timeline) -> str:
    """The online bands of a timeline as SVG rects, each titled with its times in the current time zone.

    Built here rather than in a template loop: a day of a flapping device has hundreds of bands, and a
    template's per-variable rendering would cost more than reading them did.
    """
    def moment(value: dt.datetime) -> str:
        return localtime(value).strftime("%Y-%m-%d %H:%M:%S")

    return format_html_join(
        "", '<rect class="online-band" x="{}" y="4" width="{}" height="32"><title>{} – {}</title></rect>',
        ((repr(band.x), repr(band.width), moment(band.start), moment(band.end)) for band in timeline.bands))
