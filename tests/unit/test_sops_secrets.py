"""Secrets in git are SOPS/age-encrypted; `kommerce secrets` encrypts, decrypts and checks them.

These run the real pinned `sops` and `age-keygen` from the tool cache (local tools, no server),
with an ephemeral age key in tmp_path: the developer's own key is never read.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from kommerce.cli.main import cli
from kommerce.gitops import sops
from kommerce.tools.catalog import load_catalog, tool_path
from tests.helpers import REPO, kommerce

pytestmark = pytest.mark.unit

PASSWORD = "hunter2-" + "x" * 12
API_KEY = "sk_test_" + "q" * 24
CLEAR: dict[str, str | int] = {"password": PASSWORD, "api_key": API_KEY, "port": 2525}
SAMPLE = f"""apiVersion: v1
kind: Secret
metadata:
  name: payment
type: Opaque
stringData:
  password: {PASSWORD}
  api_key: {API_KEY}
  port: {CLEAR["port"]}
"""


@pytest.fixture(scope="module")
def tools_installed() -> None:
    for binary in ("sops", "age-keygen"):
        if not tool_path(binary).exists():
            pytest.skip(f"{binary} is not installed: run `kommerce tools install sops age`")


def _config(repo: Path, *recipients: str) -> None:
    lines = [
        "creation_rules:",
        "  - path_regex: (^|/)secrets/.+\\.sops\\.yaml$",
        "    unencrypted_regex: ^(apiVersion|kind|metadata|type)$",
        "    age:",
        *[f"      - {r}" for r in recipients],
        "",
    ]
    (repo / ".sops.yaml").write_text("\n".join(lines))


@pytest.fixture
def key(tmp_path: Path, tools_installed: None) -> sops.KeyInfo:
    return sops.keygen(key_file=tmp_path / "keys" / "keys.txt")


@pytest.fixture
def repo(tmp_path: Path, key: sops.KeyInfo) -> Path:
    root = tmp_path / "repo"
    (root / "secrets").mkdir(parents=True)
    _config(root, *key.recipients)
    return root


@pytest.fixture
def env(tmp_path: Path, key: sops.KeyInfo) -> dict[str, str]:
    return {
        "SOPS_AGE_KEY_FILE": str(key.path),
        "KOMMERCE_STATE": str(tmp_path / "state"),
        "SOPS_AGE_KEY": "",
    }


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def encrypted_sample(repo: Path, tmp_path: Path, name: str = "app.sops.yaml") -> Path:
    clear = tmp_path / "clear.yaml"
    clear.write_text(SAMPLE)
    dest = repo / "secrets" / name
    result = run("secrets", "encrypt", str(clear), "--to", str(dest), "--repo", str(repo))
    assert result.exit_code == 0, result.output
    return dest


# --- tools ------------------------------------------------------------------------------------


def test_sops_and_age_are_pinned_go_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KOMMERCE_TOOLS", str(tmp_path))
    catalog = load_catalog()
    assert catalog["sops"].kind == catalog["age"].kind == "go"
    assert catalog["sops"].module == "github.com/getsops/sops/v3"
    assert catalog["age"].packages == ("cmd/age", "cmd/age-keygen")
    age_home = tmp_path / "age" / catalog["age"].version / "bin"
    assert tool_path("age-keygen") == age_home / "age-keygen"
    assert tool_path("age") == age_home / "age"
    assert tool_path("sops") == tmp_path / "sops" / catalog["sops"].version / "bin" / "sops"


# --- keys -------------------------------------------------------------------------------------


def test_keygen_creates_a_private_key_once(tmp_path: Path, tools_installed: None) -> None:
    key_file = tmp_path / "cfg" / "sops" / "age" / "keys.txt"
    first = run("secrets", "keygen", env={"SOPS_AGE_KEY_FILE": str(key_file)})
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = sops.public_keys(key_file)
    assert len(public) == 1
    assert f"public key: {public[0]}" in first.output
    assert "updatekeys" in first.output
    assert "AGE-SECRET-KEY" not in first.output
    again = run("secrets", "keygen", env={"SOPS_AGE_KEY_FILE": str(key_file)})
    assert again.exit_code == 0
    assert "existing age key" in again.output
    assert sops.public_keys(key_file) == public


def test_default_key_file_is_where_sops_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/cfg")
    assert sops.age_key_file() == Path("/cfg/sops/age/keys.txt")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert sops.age_key_file() == Path.home() / ".config" / "sops" / "age" / "keys.txt"
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", "/k/keys.txt")
    assert sops.age_key_file() == Path("/k/keys.txt")


# --- encrypt / decrypt ------------------------------------------------------------------------


def test_encrypted_file_holds_no_clear_value(repo: Path, tmp_path: Path, key: sops.KeyInfo) -> None:
    dest = encrypted_sample(repo, tmp_path)
    text = dest.read_text()
    for value in CLEAR.values():
        assert str(value) not in text
    doc = yaml.safe_load(text)
    assert doc["kind"] == "Secret"  # the header stays readable
    assert doc["metadata"] == {"name": "payment"}
    assert all(v.startswith("ENC[AES256_GCM,") for v in doc["stringData"].values())
    assert doc["sops"]["mac"].startswith("ENC[")
    assert [a["recipient"] for a in doc["sops"]["age"]] == list(key.recipients)
    assert sops.check(repo).problems == ()


def test_encrypt_in_place_and_refuses_twice(repo: Path) -> None:
    target = repo / "secrets" / "inplace.sops.yaml"
    target.write_text(SAMPLE)
    first = run("secrets", "encrypt", str(target), "--repo", str(repo))
    assert first.exit_code == 0, first.output
    assert PASSWORD not in target.read_text()
    again = run("secrets", "encrypt", str(target), "--repo", str(repo))
    assert again.exit_code == 1
    assert "already SOPS-encrypted" in again.output


def test_encrypt_refuses_a_file_outside_the_rules(repo: Path) -> None:
    stray = repo / "config.yaml"
    stray.write_text(SAMPLE)
    result = run("secrets", "encrypt", str(stray), "--repo", str(repo))
    assert result.exit_code == 1
    assert "matches no creation rule" in result.output
    assert stray.read_text() == SAMPLE


def test_decrypt_cli_gives_the_values_back(repo: Path, tmp_path: Path, env: dict[str, str]) -> None:
    encrypted_sample(repo, tmp_path, name="nested/app.sops.yaml")
    result = kommerce("secrets", "decrypt", "--repo", str(repo), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    out = Path(env["KOMMERCE_STATE"]) / "secrets" / "nested" / "app.yaml"
    assert str(out) in result.stdout
    assert yaml.safe_load(out.read_text())["stringData"] == CLEAR
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700


def test_decrypt_with_another_key_fails_clearly(
    repo: Path, tmp_path: Path, env: dict[str, str], key: sops.KeyInfo
) -> None:
    encrypted_sample(repo, tmp_path)
    stranger = sops.keygen(key_file=tmp_path / "stranger.txt")
    out = tmp_path / "out"
    result = run(
        "secrets",
        "decrypt",
        "--repo",
        str(repo),
        "--out",
        str(out),
        env={**env, "SOPS_AGE_KEY_FILE": str(stranger.path)},
    )
    assert result.exit_code == 1
    assert str(stranger.path) in result.output
    assert stranger.recipients[0] in result.output
    assert key.recipients[0] in result.output  # who it is encrypted for
    assert "kommerce secrets updatekeys" in result.output
    assert not out.exists()


def test_decrypt_without_a_key_names_the_file_and_the_fix(
    repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    encrypted_sample(repo, tmp_path)
    missing = tmp_path / "nowhere" / "keys.txt"
    result = run(
        "secrets",
        "decrypt",
        "--repo",
        str(repo),
        env={**env, "SOPS_AGE_KEY_FILE": str(missing)},
    )
    assert result.exit_code == 1
    assert f"no age key at {missing}" in result.output
    assert "kommerce secrets keygen" in result.output


def test_decrypt_refuses_a_committable_directory(
    repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    encrypted_sample(repo, tmp_path)
    result = run("secrets", "decrypt", "--repo", str(repo), "--out", str(repo / "clear"), env=env)
    assert result.exit_code == 1
    assert "not git-ignored" in result.output
    assert not (repo / "clear").exists()


def test_updatekeys_adds_a_new_recipient(
    repo: Path, tmp_path: Path, env: dict[str, str], key: sops.KeyInfo
) -> None:
    dest = encrypted_sample(repo, tmp_path)
    newcomer = sops.keygen(key_file=tmp_path / "newcomer.txt")
    _config(repo, *key.recipients, *newcomer.recipients)
    stale = sops.check(repo).problems
    assert len(stale) == 1
    assert "not yet encrypted for " + newcomer.recipients[0] in stale[0].message
    result = run("secrets", "updatekeys", "--repo", str(repo), env=env)
    assert result.exit_code == 0, result.output
    assert sops.check(repo).problems == ()
    clear = sops.decrypt_file(dest, key_file=newcomer.path, repo=repo)
    assert yaml.safe_load(clear)["stringData"] == CLEAR


# --- check ------------------------------------------------------------------------------------


def test_check_passes_on_the_repository_without_any_key(tmp_path: Path) -> None:
    result = run("secrets", "check", env={"SOPS_AGE_KEY_FILE": str(tmp_path / "none.txt")})
    assert result.exit_code == 0, result.output
    assert "nothing secret in clear" in result.output


def test_committed_secrets_are_encrypted() -> None:
    files = sops.encrypted_files(REPO)
    assert REPO / "secrets" / "local" / "platform.sops.yaml" in files
    rules = sops.load_rules(REPO)
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        assert sops.check_sops_file(path, rel=rel, rules=rules) == []
        text = path.read_text()
        assert "sk_test_" not in text
        assert "whsec_" not in text
        assert yaml.safe_load(text)["sops"]["age"]


def test_repo_rules_leave_only_the_kubernetes_header_clear() -> None:
    config = yaml.safe_load((REPO / ".sops.yaml").read_text())
    (rule,) = config["creation_rules"]
    clear = re.compile(rule["unencrypted_regex"])
    assert {k for k in (*sops.CLEAR_KEYS, "data", "stringData", "kv") if clear.search(k)} == set(
        sops.CLEAR_KEYS
    )
    assert "encrypted_regex" not in rule
    assert re.search(rule["path_regex"], "secrets/local/platform.sops.yaml")
    assert not re.search(rule["path_regex"], "manifests/base/secret.yaml")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The files git would commit, copied (no .git: the check walks the tree instead)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    copy = tmp_path / "copy"
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / rel)
    return copy


def test_check_fails_on_a_planted_clear_secret(repo_copy: Path) -> None:
    assert sops.check(repo_copy).problems == ()
    leak = repo_copy / "manifests" / "base" / "leak.yaml"
    leak.write_text(SAMPLE.replace("name: payment", "name: leaky"))
    result = run("secrets", "check", "--repo", str(repo_copy))
    assert result.exit_code == 1
    assert "manifests/base/leak.yaml: Secret leaky holds values in clear" in result.output
    assert "stringData.password" in result.output
    assert PASSWORD not in result.output  # names keys, never values


def test_check_fails_on_clear_files_under_secrets(repo_copy: Path) -> None:
    (repo_copy / "secrets" / "notes.yaml").write_text("token: abc\n")
    (repo_copy / "secrets" / "plain.sops.yaml").write_text(SAMPLE)
    messages = [str(p) for p in sops.check(repo_copy).problems]
    assert any(m.startswith("secrets/notes.yaml: only SOPS-encrypted") for m in messages)
    assert any(m.startswith("secrets/plain.sops.yaml: not SOPS-encrypted") for m in messages)


def test_check_fails_on_a_value_added_in_clear(repo_copy: Path) -> None:
    committed = repo_copy / "secrets" / "local" / "platform.sops.yaml"
    doc = yaml.safe_load(committed.read_text())
    doc["kv"]["kommerce/smtp"]["host"] = "smtp.example.com"
    committed.write_text(yaml.safe_dump(doc))
    (problem,) = sops.check(repo_copy).problems
    assert problem.path == "secrets/local/platform.sops.yaml"
    assert "kv.kommerce/smtp.host" in problem.message


def test_check_finds_an_age_private_key_anywhere(repo_copy: Path, key: sops.KeyInfo) -> None:
    shutil.copy(key.path, repo_copy / "docs" / "keys.txt")
    (problem,) = sops.check(repo_copy).problems
    assert problem.path == "docs/keys.txt"
    assert "age private key" in problem.message


def test_check_exemptions(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "secrets").mkdir(parents=True)
    _config(root, "age1" + "q" * 58)
    fixture = root / "tests" / "unit" / "fixtures" / "secret.yaml"
    fixture.parent.mkdir(parents=True)
    fixture.write_text(SAMPLE)
    template = root / "charts" / "app" / "templates" / "secret.yaml"
    template.parent.mkdir(parents=True)
    template.write_text(
        "{{- if .Values.secret.create }}\n"
        + SAMPLE.replace(PASSWORD, "{{ .Values.password | quote }}")
        .replace(API_KEY, '"{{ .Values.apiKey }}"')
        .replace(str(CLEAR["port"]), "{{ .Values.port }}")
        + "{{- end }}\n"
    )
    crd_instance = root / "manifests" / "secret.yaml"
    crd_instance.parent.mkdir(parents=True)
    crd_instance.write_text(
        "apiVersion: kommerce.io/v1alpha1\nkind: Secret\nmetadata: {name: db}\n"
        "spec: {kv: {path: app/db}}\n"
    )
    assert sops.check(root).problems == ()
    template.write_text(template.read_text().replace("{{ .Values.port }}", "2525"))
    (problem,) = sops.check(root).problems
    assert problem.path == "charts/app/templates/secret.yaml"
    assert "stringData.port" in problem.message


# --- OpenBao seed -----------------------------------------------------------------------------


def test_seed_file_shape() -> None:
    entries = sops.kv_entries("kv:\n  kommerce/stripe:\n    api_key: sk_test_x\n")
    assert entries == {"kommerce/stripe": {"api_key": "sk_test_x"}}
    with pytest.raises(sops.SopsError, match="kv:"):
        sops.kv_entries("stripe: x\n")


def test_seed_needs_the_stack_settings(tmp_path: Path) -> None:
    env = {k: "" for k in ("KOMMERCE_VAULT_ADDR", "KOMMERCE_VAULT_TOKEN")}
    result = run("secrets", "seed", env=env)
    assert result.exit_code == 1
    assert "kommerce stack env" in result.output
