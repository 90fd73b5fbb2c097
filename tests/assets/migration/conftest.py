"""The migration tests' fixtures live in fixtures.py (the browser test in tests/browser imports them too)."""

from tests.assets.migration.fixtures import (  # noqa: F401 - fixtures
    eager_tasks,
    globex_writer,
    initech,
    sensor_product,
    sms_outbox,
    sub_devices,
)
