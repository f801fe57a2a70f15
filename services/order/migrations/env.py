from kommerce.data.migrations import run_env
from services.order.tables import METADATA

run_env(METADATA)
