"""The shared version stamp: it moves only when the change commits, and every process sees it move."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import CacheHandler, caches
from django.db import transaction

from enos_portal import version_stamp
from enos_portal.version_stamp import VersionStamp
from tracing.conf import cache_alias


class Rollback(Exception):
    pass


@pytest.fixture
def stamp() -> Iterator[VersionStamp]:
    stamp = VersionStamp("tests:version-stamp", cache_alias)
    caches[cache_alias()].delete(stamp.key())
    yield stamp
    caches[cache_alias()].delete(stamp.key())


def another_process(monkeypatch) -> None:
    """From here on the stamp is read as a process that holds nothing would: its own cache clients."""
    monkeypatch.setattr(version_stamp, "caches", CacheHandler())


def test_the_first_read_creates_the_stamp_and_later_reads_keep_it(stamp):
    first = stamp.read()
    assert first and stamp.read() == first


def test_a_second_process_reads_the_stamp_the_first_one_created(monkeypatch, stamp):
    mine = stamp.read()
    another_process(monkeypatch)
    assert stamp.read() == mine


@pytest.mark.django_db(transaction=True)
def test_the_stamp_moves_when_the_transaction_commits_not_before(stamp):
    before = stamp.read()
    with transaction.atomic():
        stamp.publish_on_commit()
        assert stamp.read() == before  # other processes must not reload a change they cannot read yet
    assert stamp.read() != before


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_the_stamp_alone(stamp):
    before = stamp.read()
    with pytest.raises(Rollback), transaction.atomic():
        stamp.publish_on_commit()
        raise Rollback
    assert stamp.read() == before


def test_another_process_with_a_stale_copy_sees_the_new_stamp(monkeypatch, stamp):
    held_here = stamp.read()
    stamp.publish()
    another_process(monkeypatch)
    published = stamp.read()
    assert published != held_here  # its copy, valid while the stamp was held_here, must be reloaded
    assert stamp.read() == published  # and stays valid until the next change


@pytest.mark.django_db(transaction=True)
def test_a_cache_outage_is_logged_and_does_not_fail_the_commit(monkeypatch, caplog, stamp):
    def unreachable(*args, **kwargs) -> None:
        raise ConnectionError("cache down")

    before = stamp.read()
    monkeypatch.setattr(caches[cache_alias()], "set", unreachable)
    with transaction.atomic():
        stamp.publish_on_commit()
    assert "Could not publish the version stamp tests:version-stamp" in caplog.text
    assert stamp.read() == before
