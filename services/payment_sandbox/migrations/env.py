from kommerce.data.migrations import run_env
from services.payment_sandbox.tables import METADATA

run_env(METADATA)
