from kommerce.data.migrations import run_env
from services.user.tables import METADATA

run_env(METADATA)
