from kommerce.data.migrations import run_env
from services.payment.tables import METADATA

run_env(METADATA)
