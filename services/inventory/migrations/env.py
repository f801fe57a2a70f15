from kommerce.data.migrations import run_env
from services.inventory.tables import METADATA

run_env(METADATA)
