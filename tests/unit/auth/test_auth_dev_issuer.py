"""The development issuer: keys made once (private key 0600, never in git), tokens the default settings
trust, one development user per role in each jurisdiction's public-works or streets department."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.auth import Role, TokenVerifier
from shared.auth.dev_issuer import (
    PRIVATE_KEY,
    dev_user,
    dev_users,
    ensure_keys,
    jurisdiction_id,
    main,
    mint,
    signing_key,
)
from shared.settings import REPO_ROOT, Settings


def test_keys_are_made_once_with_a_private_file(tmp_path: Path) -> None:
    ensure_keys(tmp_path / "k")
    private = (tmp_path / "k" / "private.pem").read_bytes()
    jwks = json.loads((tmp_path / "k" / "jwks.json").read_text())
    assert stat.S_IMODE((tmp_path / "k" / "private.pem").stat().st_mode) == 0o600
    assert jwks["keys"][0]["kty"] == "RSA" and jwks["keys"][0]["kid"] and "d" not in jwks["keys"][0]
    ensure_keys(tmp_path / "k")
    assert (tmp_path / "k" / "private.pem").read_bytes() == private
    (tmp_path / "k" / "jwks.json").unlink()
    ensure_keys(tmp_path / "k")
    assert json.loads((tmp_path / "k" / "jwks.json").read_text()) == jwks, "the JWKS is rebuilt from the kept key"


def test_a_minted_dev_user_token_is_trusted_by_the_default_issuer_settings(tmp_path: Path) -> None:
    user = dev_user("demo", "supervisor")
    token = mint(user, key_dir=tmp_path)
    principal = TokenVerifier(Settings(auth_jwks_url=str(tmp_path / "jwks.json"))).verify(token)
    assert (principal.subject, principal.role, principal.department) == ("dev-supervisor", Role.SUPERVISOR,
                                                                         "public-works")


def test_the_signing_key_is_loaded_once_per_version_of_its_file(tmp_path: Path) -> None:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    ensure_keys(tmp_path)
    key, kid = signing_key(tmp_path)
    assert signing_key(tmp_path)[0] is key, "the same file is not loaded again"
    assert jwt.get_unverified_header(mint({"sub": "a"}, key_dir=tmp_path))["kid"] == kid
    fresh = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / PRIVATE_KEY).write_bytes(fresh.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    new_key, new_kid = signing_key(tmp_path)
    assert new_key is not key and new_kid != kid, "a rewritten key file is read again"
    assert jwt.get_unverified_header(mint({"sub": "a"}, key_dir=tmp_path))["kid"] == new_kid


def test_there_is_one_dev_user_per_role_and_two_staff_in_different_teams() -> None:
    for jurisdiction in ("demo", "boston", "nyc"):
        users = {u.id: u for u in dev_users(jurisdiction)}
        assert set(users) == {"agent", "staff", "staff2", "supervisor", "admin"}
        assert {r for u in users.values() for r in u.roles} == {str(r) for r in Role}
        staff, staff2, supervisor = users["staff"], users["staff2"], users["supervisor"]
        assert staff.department == staff2.department == supervisor.department is not None
        assert staff.teams and staff2.teams and staff.teams != staff2.teams
        assert users["agent"].department is None and users["admin"].department is None


def test_dev_departments_are_departments_of_their_jurisdiction(require_shared_data) -> None:
    from shared.jurisdiction import load_jurisdiction

    for jurisdiction in ("demo", "boston", "nyc", "montreal"):
        departments = {d.id: d for d in load_jurisdiction(jurisdiction).departments}
        for user in dev_users(jurisdiction):
            if user.department is not None:
                assert user.department in departments, (jurisdiction, user.department)
                assert set(user.teams) <= {t.id for t in departments[user.department].teams}, (jurisdiction, user)


def test_montreal_has_its_development_users_in_a_borough() -> None:
    users = {u.id: u for u in dev_users("montreal")}
    assert set(users) == {"agent", "staff", "staff2", "supervisor", "admin"}
    assert users["staff"].department == users["supervisor"].department == "plateau-mont-royal"
    assert users["staff"].teams == () and users["agent"].department is None  # Montréal's boroughs have no teams


def _drafted_city(folder: Path, teams: str) -> Path:
    """A drafted city's jurisdiction.yaml (no data files), its first department with `teams`."""
    folder.mkdir(parents=True)
    (folder / "jurisdiction.yaml").write_text(
        "id: ville\nname: Ville\ntimezone: Europe/Paris\ndepartments:\n"
        f"  - {{id: voirie, name: Voirie, teams: {teams}}}\n"
        "  - {id: '311', name: Ville 311}\n"
        "services:\n  - {service_code: nid-de-poule, service_name: Nid-de-poule, department: voirie}\n"
        "unclassified: {service_code: autre, service_name: Autre, department: '311'}\n", "utf-8")
    return folder


def test_a_city_the_users_file_does_not_list_gets_them_in_its_first_department(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    city = _drafted_city(tmp_path / "drafts" / "my city", "[nord, sud, est]")
    for given in (city, city / "jurisdiction.yaml"):
        users = {u.id: u for u in dev_users(str(given))}
        assert set(users) == {"agent", "staff", "staff2", "supervisor", "admin"}
        assert users["staff"].department == users["staff2"].department == users["supervisor"].department == "voirie"
        assert (users["staff"].teams, users["staff2"].teams) == (("nord",), ("sud",))
        assert users["admin"].roles == ("administrator",) and users["admin"].department is None
    plain = {u.id: u for u in dev_users(str(_drafted_city(tmp_path / "plain", "[]")))}
    assert plain["staff2"].department == "voirie" and plain["staff2"].teams == ()

    monkeypatch.setenv("OMNI311_AUTH_DEV_ISSUER_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("OMNI311_JURISDICTION", str(city))
    assert main(["mint", "supervisor"]) == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(Settings(auth_jwks_url=str(tmp_path / "keys" / "jwks.json"))).verify(token)
    assert (principal.role, principal.department) == (Role.SUPERVISOR, "voirie")


def test_an_unknown_jurisdiction_or_user_names_the_known_ones() -> None:
    with pytest.raises(LookupError, match="demo"):
        dev_users("atlantis")
    with pytest.raises(LookupError, match="supervisor"):
        dev_user("demo", "root")


def test_the_users_file_holds_no_secret() -> None:
    text = (REPO_ROOT / "deploy/local/dev-users.yaml").read_text()
    data = yaml.safe_load(text)
    keys = {k for u in data["users"] for k in u}
    assert keys <= {"id", "subject", "name", "roles", "in_department", "team"}
    assert "PRIVATE KEY" not in text and "password" not in text.lower()


def test_the_dev_issuer_keys_are_ignored_by_git() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/dev-issuer/private.pem"], cwd=REPO_ROOT)
    assert ignored.returncode == 0


def test_the_cli_mints_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("OMNI311_AUTH_DEV_ISSUER_DIR", str(tmp_path))
    monkeypatch.setenv("OMNI311_JURISDICTION", "boston")
    assert main(["keygen"]) == 0
    assert main(["users"]) == 0
    assert "PWDx" in capsys.readouterr().out
    assert main(["mint", "staff2"]) == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(Settings(auth_jwks_url=str(tmp_path / "jwks.json"))).verify(token)
    assert principal.subject == "dev-staff2" and principal.department == "PWDx"
    assert main(["mint", "nobody"]) == 2


def test_the_jurisdiction_setting_may_be_an_id_a_folder_or_its_file() -> None:
    assert [jurisdiction_id(j) for j in ("nyc", "jurisdictions/nyc", str(REPO_ROOT / "jurisdictions/nyc"),
                                         "jurisdictions/nyc/jurisdiction.yaml")] == ["nyc"] * 4


def test_a_path_is_named_by_its_yamls_id_not_its_folder(tmp_path: Path) -> None:
    city = _drafted_city(tmp_path / "draft-2", "[]")
    assert jurisdiction_id(str(city)) == jurisdiction_id(str(city / "jurisdiction.yaml")) == "ville"
