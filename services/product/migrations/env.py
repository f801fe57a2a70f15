from kommerce.data.migrations import run_env
from services.product.tables import METADATA

run_env(METADATA)
