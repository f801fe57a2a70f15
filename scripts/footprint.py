"""Print the resident memory of the running local stack and cluster (for docs and closing notes).

Usage: .venv/bin/python scripts/footprint.py   (honours KOMMERCE_STATE and KOMMERCE_PORT_OFFSET)
"""

from __future__ import annotations

from kommerce.cluster.control_plane import components
from kommerce.runtime.orchestrate import status
from kommerce.stack.servers import servers


def main() -> None:
    total = 0
    for group, every in (("stack", servers()), ("cluster", components())):
        subtotal = 0
        for row in status(every):
            if row.pid:
                print(f"{group:<8} {row.name:<24} {row.rss_kib / 1024:8.1f} MiB")
                subtotal += row.rss_kib
        print(f"{group:<8} {'total':<24} {subtotal / 1024:8.1f} MiB")
        total += subtotal
    print(f"{'all':<8} {'total':<24} {total / 1024:8.1f} MiB")


if __name__ == "__main__":
    main()
