"""Groups over the query tests' fleet (tests/assets/query/conftest.py): Acme's look-alike devices in Globex."""

from tests.assets.migration.fixtures import eager_tasks, sms_outbox  # noqa: F401 - a migration test here
from tests.assets.query.conftest import fleet  # noqa: F401 - the same fleet
