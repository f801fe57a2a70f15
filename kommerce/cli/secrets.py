"""`kommerce secrets ...`: the SOPS-encrypted secret files committed under secrets/ (GitOps).

Not `kommerce secret` (singular), which acts on secrets held by OpenBao at run time; this group
handles the encrypted files in git: making an age key, encrypting, decrypting for local use,
re-keying, seeding OpenBao's KV store from them, and the check that nothing is in clear.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from kommerce.gitops import sops
from kommerce.paths import REPO_ROOT

_repo_option = click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=REPO_ROOT,
    show_default=True,
    help="Repository root (holds .sops.yaml and secrets/).",
)


def _fail(exc: Exception, code: int = 1) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(code)


@click.group()
def secrets() -> None:
    """SOPS/age-encrypted secret files committed to git (secrets/*.sops.yaml).

    For secrets held by OpenBao at run time see `kommerce secret`. Your age private key stays
    outside the repo in $SOPS_AGE_KEY_FILE (default ~/.config/sops/age/keys.txt).
    """


@secrets.command("keygen")
def keygen_cmd() -> None:
    """Create your age key (0600) if missing and print the public key to share."""
    try:
        info = sops.keygen()
    except sops.SopsError as exc:
        _fail(exc)
    click.echo(
        f"{'created' if info.created else 'existing'} age key: {info.path} (private: never "
        "commit or send it)"
    )
    for recipient in info.recipients:
        click.echo(f"public key: {recipient}")
    click.echo(
        "\nTo get access to secrets/: send the public key to someone who can already decrypt.\n"
        "They add it to the `age:` list of the creation rule in .sops.yaml,\n"
        "run `kommerce secrets updatekeys` (sops updatekeys) and commit both."
    )


@secrets.command("encrypt")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--to",
    "dest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the encrypted file here (secrets/**/NAME.sops.yaml) and leave FILE alone, "
    "so the clear copy can stay outside the repository.",
)
@_repo_option
def encrypt_cmd(file: Path, dest: Path | None, repo: Path) -> None:
    """Encrypt FILE (secrets/**/NAME.sops.yaml) in place for the recipients in .sops.yaml."""
    try:
        target = sops.encrypt(file, repo=repo, dest=dest)
    except sops.SopsError as exc:
        _fail(exc)
    click.echo(f"encrypted {target}")


@secrets.command("decrypt")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the clear files [default: $KOMMERCE_STATE/secrets].",
)
@_repo_option
def decrypt_cmd(out_dir: Path | None, repo: Path) -> None:
    """Decrypt every secrets/**/*.sops.yaml for local use (files 0600, outside git)."""
    try:
        written = sops.decrypt_all(repo=repo, out_dir=out_dir)
    except sops.SopsError as exc:
        _fail(exc)
    for path in written:
        click.echo(f"decrypted {path}")


@secrets.command("updatekeys")
@_repo_option
def updatekeys_cmd(repo: Path) -> None:
    """Re-encrypt every file's data key for the recipients .sops.yaml lists (needs access)."""
    try:
        done = sops.updatekeys(repo=repo)
    except sops.SopsError as exc:
        _fail(exc)
    for rel in done:
        click.echo(f"updated keys of {rel}")


@secrets.command("check")
@_repo_option
def check_cmd(repo: Path) -> None:
    """Fail if anything secret would be committed in clear (no private key needed)."""
    report = sops.check(repo)
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    if report.problems:
        click.echo(
            f"secrets check: {len(report.problems)} problem(s); see docs/secrets-gitops.md",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"secrets check: {report.encrypted_files} encrypted file(s) under secrets/, "
        f"{report.scanned_files} file(s) scanned, nothing secret in clear"
    )


@secrets.command("seed")
@click.option(
    "--file",
    "source",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Encrypted seed file [default: secrets/local/platform.sops.yaml].",
)
@click.option("--mount", default="kv", show_default=True, help="KV v2 mount (enabled if absent).")
@_repo_option
def seed_cmd(source: Path | None, mount: str, repo: Path) -> None:
    """Write the decrypted `kv:` entries of FILE into OpenBao KV v2 (KOMMERCE_VAULT_ADDR/TOKEN)."""
    addr, token = os.environ.get("KOMMERCE_VAULT_ADDR"), os.environ.get("KOMMERCE_VAULT_TOKEN")
    if not addr or not token:
        _fail(
            RuntimeError(
                "KOMMERCE_VAULT_ADDR and KOMMERCE_VAULT_TOKEN are not set: "
                'eval "$(kommerce stack env)" first'
            )
        )
    try:
        source = source or repo / "secrets" / "local" / "platform.sops.yaml"
        entries = sops.kv_entries(sops.decrypt_file(source, repo=repo))
        written = sops.seed_openbao(entries, addr=addr, token=token, mount=mount)
    except sops.SopsError as exc:
        _fail(exc)
    for path in written:
        click.echo(f"wrote {path}")
