from kommerce.data.migrations import run_env
from services.search.tables import METADATA

run_env(METADATA)
