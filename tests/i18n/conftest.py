"""The language tests reuse the migration fixtures (the SMS outbox, in-process tasks) and the batch
upload folder."""

from tests.assets.batch.conftest import batch_upload_dir  # noqa: F401 - fixtures
from tests.assets.migration.fixtures import eager_tasks, sms_outbox  # noqa: F401
