"""SOPS + age for the secrets that live in git, and the check that nothing secret is in clear.

GitOps wants every piece of desired state in the repository, secrets included, but a secret in
git is public to everyone who ever clones it. So anything secret that is committed is a
SOPS-encrypted YAML file under `secrets/`, encrypted for the age recipients that `.sops.yaml`
lists; the age private keys never enter the repository (each engineer keeps theirs in
`$SOPS_AGE_KEY_FILE`, default `~/.config/sops/age/keys.txt`). The pinned `sops` and `age-keygen`
binaries come from the tool cache (`kommerce tools install sops age`).

`check` reads only the structure of files and their SOPS metadata, never a private key, so CI
and `make check` enforce the rule on machines that cannot decrypt anything. It is stricter than
the `unencrypted_regex` in `.sops.yaml`: sops leaves a key matching that regex in clear at any
depth, the check allows clear values only under the top-level Kubernetes header keys.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kommerce.paths import REPO_ROOT, state_dir
from kommerce.tools.catalog import tool_path

SECRETS_DIR = "secrets"
SOPS_CONFIG = ".sops.yaml"
SUFFIX = ".sops.yaml"
# Files under secrets/ that are documentation, not secrets.
DOC_FILES = frozenset({"README.md"})
# Top-level keys that may stay readable: the Kubernetes header of a Secret-shaped file. Keep in
# step with `unencrypted_regex` in .sops.yaml.
CLEAR_KEYS = frozenset({"apiVersion", "kind", "metadata", "type"})
ENCRYPTED = re.compile(r"^ENC\[AES256_GCM,data:[^,]*,iv:[^,]+,tag:[^,]+,type:\w+\]$")
AGE_SECRET_KEY = re.compile(rb"AGE-SECRET-KEY-1[0-9A-Z]{58}")
AGE_RECIPIENT = re.compile(r"\bage1[0-9a-z]{58}\b")
TEMPLATED = "KOMMERCE_TEMPLATED"
# Directories never worth reading when the tree is not a git checkout (a copied tree in tests).
SKIP_DIRS = frozenset(
    {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".state"}
)
MAX_SCAN_BYTES = 2 * 1024 * 1024


class SopsError(RuntimeError):
    """Something the user has to fix; the message says what and how."""


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class CheckReport:
    problems: tuple[Problem, ...]
    encrypted_files: int
    scanned_files: int


@dataclass(frozen=True)
class KeyInfo:
    path: Path
    recipients: tuple[str, ...]
    created: bool


@dataclass(frozen=True)
class CreationRule:
    path_regex: str
    age: tuple[str, ...]

    def matches(self, rel: str) -> bool:
        return not self.path_regex or re.search(self.path_regex, rel) is not None


# --- locations and binaries ------------------------------------------------------------------


def age_key_file() -> Path:
    """The age identities file: `$SOPS_AGE_KEY_FILE`, else where sops itself looks by default."""
    override = os.environ.get("SOPS_AGE_KEY_FILE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "sops" / "age" / "keys.txt"


def default_out_dir() -> Path:
    """Where decrypted copies go for local use: outside the repository, in the state dir."""
    return state_dir() / "secrets"


def _binary(name: str) -> Path:
    path = tool_path(name)
    if not path.exists():
        raise SopsError(f"{name} is not installed at {path}: run `kommerce tools install sops age`")
    return path


def _run(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _sops_env(key_file: Path) -> dict[str, str]:
    return {**os.environ, "SOPS_AGE_KEY_FILE": str(key_file)}


# --- keys ------------------------------------------------------------------------------------


def public_keys(key_file: Path) -> tuple[str, ...]:
    """The age recipients (public keys) of the identities in `key_file`."""
    out = _run([str(_binary("age-keygen")), "-y", str(key_file)])
    if out.returncode != 0:
        raise SopsError(f"cannot read the age key file {key_file}: {out.stderr.strip()}")
    return tuple(AGE_RECIPIENT.findall(out.stdout))


def keygen(*, key_file: Path | None = None) -> KeyInfo:
    """Create an age identity at `key_file` (0600) unless one is there; return its recipients."""
    path = key_file or age_key_file()
    if path.exists():
        return KeyInfo(path=path, recipients=public_keys(path), created=False)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    out = subprocess.run(
        [str(_binary("age-keygen")), "-o", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        umask=0o077,
    )
    if out.returncode != 0:
        raise SopsError(f"age-keygen could not write {path}: {out.stderr.strip()}")
    path.chmod(0o600)
    return KeyInfo(path=path, recipients=public_keys(path), created=True)


# --- .sops.yaml ------------------------------------------------------------------------------


def _split_recipients(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(sorted(str(item).strip() for item in items if str(item).strip()))


def load_rules(repo: Path = REPO_ROOT) -> list[CreationRule]:
    """The creation rules of `<repo>/.sops.yaml`, in order (sops uses the first that matches)."""
    config = repo / SOPS_CONFIG
    try:
        data = yaml.safe_load(config.read_text())
    except FileNotFoundError as exc:
        raise SopsError(f"{config} is missing: it names who may decrypt secrets/") from exc
    rules = (data or {}).get("creation_rules") or []
    return [
        CreationRule(path_regex=str(r.get("path_regex") or ""), age=_split_recipients(r.get("age")))
        for r in rules
        if isinstance(r, dict)
    ]


def rule_for(rel: str, rules: Sequence[CreationRule]) -> CreationRule | None:
    return next((rule for rule in rules if rule.matches(rel)), None)


def _relative(path: Path, repo: Path) -> str:
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError as exc:
        raise SopsError(f"{path} is not inside the repository {repo}") from exc


# --- encrypt / decrypt -----------------------------------------------------------------------


def encrypted_files(repo: Path = REPO_ROOT) -> list[Path]:
    return sorted((repo / SECRETS_DIR).rglob(f"*{SUFFIX}"))


def recipients_of(path: Path) -> tuple[str, ...]:
    """The age recipients an encrypted file was encrypted for (from its clear SOPS metadata)."""
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError:
        return ()
    found = {
        str(entry.get("recipient"))
        for doc in docs
        if isinstance(doc, dict) and isinstance(doc.get("sops"), dict)
        for entry in doc["sops"].get("age") or []
        if isinstance(entry, dict)
    }
    return tuple(sorted(found))


def encrypt(path: Path, *, repo: Path = REPO_ROOT, dest: Path | None = None) -> Path:
    """Encrypt `path` in place, or (with `dest`) the clear `path` from anywhere into `dest`,
    for the recipients of the creation rule that matches the target. Returns the target."""
    target = dest or path
    rel = _relative(target, repo)
    rule = rule_for(rel, load_rules(repo))
    if rule is None or not rule.age:
        raise SopsError(
            f"{rel} matches no creation rule with age recipients in {SOPS_CONFIG}: "
            f"put it under {SECRETS_DIR}/ and name it *{SUFFIX}"
        )
    if dest is not None and dest.exists():
        raise SopsError(f"{rel} exists; edit it with `sops edit {rel}` instead")
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        raise SopsError(f"{path} is not valid YAML: {exc}") from exc
    if any(isinstance(d, dict) and "sops" in d for d in docs):
        raise SopsError(f"{path} is already SOPS-encrypted; edit it with `sops edit {path}`")
    where = ["--in-place", rel]
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        where = ["--filename-override", rel, "--output", rel, str(path.resolve())]
    out = _run(
        [str(_binary("sops")), "--config", str(repo / SOPS_CONFIG), "encrypt", *where], cwd=repo
    )
    if out.returncode != 0:
        raise SopsError(f"sops could not encrypt {rel} (exit {out.returncode}): {out.stderr}")
    problems = check_sops_file(target, rel=rel, rules=[rule])
    if problems:
        raise SopsError("encrypted, but: " + "; ".join(p.message for p in problems))
    return target


def _decrypt_error(path: Path, rel: str, key_file: Path, stderr: str) -> SopsError:
    wanted = recipients_of(path)
    try:
        mine = public_keys(key_file) if key_file.exists() else ()
    except SopsError:
        mine = ()
    tail = "\n".join(stderr.strip().splitlines()[-6:])
    if set(mine) & set(wanted):
        return SopsError(f"sops could not decrypt {rel} with {key_file}:\n{tail}")
    return SopsError(
        f"cannot decrypt {rel}: no key in {key_file} "
        f"({', '.join(mine) or 'no age identity there'}) is among its recipients "
        f"({', '.join(wanted) or 'none recorded'}).\n"
        "Fix: `kommerce secrets keygen` prints your public key; send it to someone who can "
        f"already decrypt, who adds it to {SOPS_CONFIG} and runs `kommerce secrets updatekeys`. "
        "Or point SOPS_AGE_KEY_FILE at the key file that holds one of those keys.\n"
        f"sops said:\n{tail}"
    )


def _require_key(key_file: Path) -> None:
    if not key_file.exists() and not os.environ.get("SOPS_AGE_KEY"):
        raise SopsError(
            f"no age key at {key_file} (SOPS_AGE_KEY_FILE): run `kommerce secrets keygen`, then "
            f"ask someone with access to add your public key to {SOPS_CONFIG} and run "
            "`kommerce secrets updatekeys`"
        )


def decrypt_file(path: Path, *, key_file: Path | None = None, repo: Path = REPO_ROOT) -> str:
    """The clear text of one encrypted file (kept in memory, never written)."""
    key_file = key_file or age_key_file()
    _require_key(key_file)
    rel = _relative(path, repo)
    out = _run(
        [str(_binary("sops")), "decrypt", "--input-type", "yaml", "--output-type", "yaml", rel],
        cwd=repo,
        env=_sops_env(key_file),
    )
    if out.returncode != 0:
        raise _decrypt_error(path, rel, key_file, out.stderr)
    return out.stdout


def _git_ignored(path: Path, repo: Path) -> bool:
    out = _run(["git", "-C", str(repo), "check-ignore", "-q", "--no-index", str(path)])
    return out.returncode == 0


def _guard_out_dir(out_dir: Path, repo: Path) -> None:
    """Decrypted files must never be committable: outside the repo, or in a git-ignored dir."""
    try:
        out_dir.resolve().relative_to(repo.resolve())
    except ValueError:
        return
    if not _git_ignored(out_dir.resolve() / "probe.yaml", repo):
        raise SopsError(
            f"refusing to write decrypted secrets to {out_dir}: it is inside the repository and "
            "not git-ignored (the default, $KOMMERCE_STATE/secrets, is outside it)"
        )


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)
    path.chmod(0o600)


def decrypt_all(
    *, repo: Path = REPO_ROOT, out_dir: Path | None = None, key_file: Path | None = None
) -> list[Path]:
    """Decrypt every secrets/**/*.sops.yaml to `<out_dir>/<same path>.yaml`, files 0600."""
    out_dir = out_dir or default_out_dir()
    key_file = key_file or age_key_file()
    _require_key(key_file)
    _guard_out_dir(out_dir, repo)
    sources = encrypted_files(repo)
    if not sources:
        raise SopsError(f"no *{SUFFIX} files under {repo / SECRETS_DIR}")
    clear = {src: decrypt_file(src, key_file=key_file, repo=repo) for src in sources}
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    written = []
    for src, text in clear.items():
        rel = src.relative_to(repo / SECRETS_DIR).as_posix()
        dest = out_dir / (rel[: -len(SUFFIX)] + ".yaml")
        _write_private(dest, text)
        written.append(dest)
    return written


def updatekeys(*, repo: Path = REPO_ROOT, key_file: Path | None = None) -> list[str]:
    """Re-encrypt each file's data key for the recipients .sops.yaml lists now."""
    key_file = key_file or age_key_file()
    _require_key(key_file)
    done = []
    for src in encrypted_files(repo):
        rel = _relative(src, repo)
        out = _run(
            [str(_binary("sops")), "--config", str(repo / SOPS_CONFIG), "updatekeys", "-y", rel],
            cwd=repo,
            env=_sops_env(key_file),
        )
        if out.returncode != 0:
            raise _decrypt_error(src, rel, key_file, out.stderr)
        done.append(rel)
    return done


# --- the policy check ------------------------------------------------------------------------


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{where}[{index}]")
    elif value is not None and value != "":  # sops leaves null and "" as they are
        yield where, value


def _clear_paths(doc: Mapping[str, Any], keys: Sequence[str] | None = None) -> list[str]:
    """Key paths (never values) of leaves that are not SOPS ciphertext."""
    selected = keys if keys is not None else [k for k in doc if k != "sops" and k not in CLEAR_KEYS]
    return [
        where
        for key in selected
        if key in doc
        for where, leaf in _leaves(doc[key], str(key))
        if not (isinstance(leaf, str) and ENCRYPTED.match(leaf))
    ]


def _summarise(paths: Sequence[str]) -> str:
    more = f" and {len(paths) - 5} more" if len(paths) > 5 else ""
    return ", ".join(paths[:5]) + more


def check_sops_file(path: Path, *, rel: str, rules: Sequence[CreationRule]) -> list[Problem]:
    """A file under secrets/ must be SOPS-encrypted for exactly the recipients .sops.yaml names."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [Problem(rel, f"not readable as YAML, so not a SOPS file: {exc}")]
    if not docs:
        return [Problem(rel, "empty: nothing encrypted")]
    problems = []
    for doc in docs:
        if not isinstance(doc, dict) or not isinstance(doc.get("sops"), dict):
            problems.append(
                Problem(rel, f"not SOPS-encrypted: run `kommerce secrets encrypt {rel}`")
            )
            continue
        meta = doc["sops"]
        if not (isinstance(meta.get("mac"), str) and ENCRYPTED.match(meta["mac"])):
            problems.append(Problem(rel, "SOPS metadata has no MAC: re-encrypt it"))
        clear = _clear_paths(doc)
        if clear:
            problems.append(Problem(rel, f"values in clear under: {_summarise(clear)}"))
        if not [k for k in doc if k != "sops" and k not in CLEAR_KEYS]:
            problems.append(Problem(rel, "holds no encrypted values"))
    if problems:
        return problems
    found = recipients_of(path)
    rule = rule_for(rel, rules)
    if not found:
        problems.append(Problem(rel, "not encrypted for any age recipient"))
    elif rule is None:
        problems.append(Problem(rel, f"matches no creation rule in {SOPS_CONFIG}"))
    elif set(found) != set(rule.age):
        missing = sorted(set(rule.age) - set(found))
        extra = sorted(set(found) - set(rule.age))
        detail = "; ".join(
            part
            for part in (
                f"not yet encrypted for {', '.join(missing)}" if missing else "",
                f"still encrypted for {', '.join(extra)} (not in {SOPS_CONFIG})" if extra else "",
            )
            if part
        )
        problems.append(
            Problem(
                rel,
                f"recipients differ from {SOPS_CONFIG}: {detail}; run "
                "`kommerce secrets updatekeys` (and rotate the data key after a removal)",
            )
        )
    return problems


def _untemplate(text: str) -> str:
    """A Helm template as YAML: directive-only lines dropped, expressions made a placeholder."""
    lines = [ln for ln in text.splitlines() if not re.fullmatch(r"\s*\{\{.*\}\}\s*", ln)]
    return re.sub(r"\{\{.*?\}\}", TEMPLATED, "\n".join(lines))


def _is_helm_template(rel: str) -> bool:
    parts = rel.split("/")
    return parts[0] == "charts" and "templates" in parts[:-1]


def _is_test_fixture(rel: str) -> bool:
    parts = rel.split("/")
    return parts[0] == "tests" and "fixtures" in parts[:-1]


def check_manifest(path: Path, *, rel: str) -> list[Problem]:
    """A core Kubernetes Secret outside secrets/ may carry data only if SOPS-encrypted (or, in a
    Helm template, only templated values that the chart's user supplies at install time)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return []
    if "Secret" not in text:
        return []
    templated = _is_helm_template(rel)
    try:
        docs = list(yaml.safe_load_all(_untemplate(text) if templated else text))
    except yaml.YAMLError as exc:
        if templated:
            return []  # `helm lint` judges templates; nothing literal could be read here
        return [
            Problem(rel, f"mentions a Secret but is not valid YAML, so cannot be checked: {exc}")
        ]
    problems = []
    for doc in docs:
        if not (isinstance(doc, dict) and doc.get("kind") == "Secret"):
            continue
        if doc.get("apiVersion") != "v1":
            continue  # kommerce.io/v1alpha1 Secret names OpenBao paths, it holds no values
        name = (doc.get("metadata") or {}).get("name", "?")
        keys = [k for k in ("data", "stringData") if doc.get(k)]
        if "sops" in doc:
            clear = _clear_paths(doc, keys)
        else:
            clear = [
                where
                for key in keys
                for where, leaf in _leaves(doc[key], key)
                if not (templated and TEMPLATED in str(leaf))
            ]
        if clear:
            problems.append(
                Problem(
                    rel,
                    f"Secret {name} holds values in clear under {_summarise(clear)}: "
                    f"move it to {SECRETS_DIR}/<name>{SUFFIX} and run "
                    "`kommerce secrets encrypt` on it",
                )
            )
    return problems


def _committable_files(repo: Path) -> list[str]:
    """Tracked files plus untracked ones git would let you add; every file off a git checkout."""
    out = _run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    )
    if out.returncode == 0:
        return sorted({f for f in out.stdout.split("\0") if f and (repo / f).is_file()})
    found = []
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        found += [(Path(root) / f).relative_to(repo).as_posix() for f in files]
    return sorted(found)


def _holds_age_private_key(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_SCAN_BYTES:
            return False
        return AGE_SECRET_KEY.search(path.read_bytes()) is not None
    except OSError:
        return False


def check(repo: Path = REPO_ROOT) -> CheckReport:
    """Everything that would be committed: secrets/ encrypted, no clear Secret, no age key."""
    problems: list[Problem] = []
    try:
        rules = load_rules(repo)
    except SopsError as exc:
        rules = []
        problems.append(Problem(SOPS_CONFIG, str(exc)))
    encrypted = 0
    files = _committable_files(repo)
    for rel in files:
        path = repo / rel
        if _holds_age_private_key(path):
            problems.append(
                Problem(
                    rel,
                    "contains an age private key (AGE-SECRET-KEY-1...): remove it and "
                    "treat the key as leaked (new key, `sops updatekeys`, `sops rotate`)",
                )
            )
        if rel.startswith(f"{SECRETS_DIR}/"):
            if path.name in DOC_FILES:
                continue
            if not rel.endswith(SUFFIX):
                problems.append(
                    Problem(rel, f"only SOPS-encrypted *{SUFFIX} files belong under {SECRETS_DIR}/")
                )
                continue
            encrypted += 1
            problems += check_sops_file(path, rel=rel, rules=rules)
        elif rel.endswith((".yaml", ".yml")) and not _is_test_fixture(rel):
            problems += check_manifest(path, rel=rel)
    return CheckReport(
        problems=tuple(problems), encrypted_files=encrypted, scanned_files=len(files)
    )


# --- OpenBao seed ----------------------------------------------------------------------------


def kv_entries(clear_text: str) -> dict[str, dict[str, Any]]:
    """The `kv:` map of a decrypted seed file: KV v2 path -> the secret's key/value pairs."""
    doc = yaml.safe_load(clear_text) or {}
    entries = doc.get("kv") if isinstance(doc, dict) else None
    if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
        raise SopsError("a seed file needs a top-level `kv:` map of path -> {key: value}")
    return {str(path): dict(values) for path, values in entries.items()}


def seed_openbao(
    entries: Mapping[str, Mapping[str, Any]], *, addr: str, token: str, mount: str = "kv"
) -> list[str]:
    """Write each entry to OpenBao's KV v2 engine at `<mount>/<path>`, enabling it if absent."""
    import hvac
    import requests

    client = hvac.Client(url=addr, token=token, timeout=10)
    written = []
    try:
        if not client.is_authenticated():
            raise SopsError(f"OpenBao at {addr} refused the token (KOMMERCE_VAULT_TOKEN)")
        mounts = client.sys.list_mounted_secrets_engines()
        if f"{mount}/" not in mounts.get("data", mounts):
            client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
        for path, values in entries.items():
            client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=dict(values), mount_point=mount
            )
            written.append(f"{mount}/{path}")
    except (hvac.exceptions.VaultError, requests.RequestException) as exc:
        raise SopsError(f"OpenBao at {addr}: {exc} (is the stack up? `kommerce stack up`)") from exc
    return written
