"""One password policy (12 to 1024 characters, not the login) on every path that sets a password:
the operator API answers 422 naming the rule, ``shifo accounts create`` one ``shifo: error:`` line
and a non-zero exit; a refused account is not created, an accepted one signs in."""

from __future__ import annotations

import os

import pytest

from host import cli
from host.settings import Settings
from tests.support import add_user, login, opened, serving

GOOD = "a-long-enough-passphrase"


async def test_the_api_refuses_a_password_that_breaks_the_policy(db_url: str) -> None:
    settings = Settings(database_url=db_url, run_relay=False, modules=())
    async with opened(settings) as rt:
        await add_user(rt, "op1", kind="operator")
    async with serving(settings) as client:
        op = await login(client, "op1")
        body = {"kind": "staff", "full_name": "Xamid Xolov", "pinfl": "30211975910033"}
        for login_, password, why in [("x1", "short", "too short"), ("x2", "x" * 1025, "too long"),
                                      ("long.login.name", "Long.Login.Name", "the login")]:
            r = await client.post("/api/v1/admin/accounts", headers=op,
                                  json={**body, "login": login_, "password": password})
            assert r.status_code == 422, r.text
            problem = r.json()
            assert why in problem["detail"] and "12 to 1024 characters" in problem["detail"]
            assert r.headers["content-type"].startswith("application/problem+json")
        listed = (await client.get("/api/v1/admin/accounts", headers=op)).json()
        assert {a["login"] for a in listed} == {"op1"}  # nothing half-written
        r = await client.post("/api/v1/admin/accounts", headers=op, json={**body, "login": "x3", "password": GOOD})
        assert r.status_code == 201, r.text
        signed = await client.post("/api/v1/auth/login", json={"login": "x3", "password": GOOD})
        assert signed.status_code == 200, signed.text


def test_the_cli_refuses_a_short_password(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    def shifo(*args: str, password: str) -> tuple[int, str, str]:
        for name in [n for n in os.environ if n.startswith("SHIFO_")]:
            monkeypatch.delenv(name)
        for name, value in {"SHIFO_DATABASE_URL": db_url, "SHIFO_MODULES": "", "SHIFO_RUN_RELAY": "0",
                            "SHIFO_NEW_PASSWORD": password}.items():
            monkeypatch.setenv(name, value)
        code = cli.main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    assert shifo("migrate", password=GOOD)[0] == 0
    code, _, err = shifo("accounts", "create", "x1", "--name", "Xamid Xolov", "--by", "op1", password="short")
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("shifo: error: the password is too short")
    assert "12 to 1024 characters" in err and "Traceback" not in err
    code, out, _ = shifo("accounts", "list", "--json", password=GOOD)
    assert code == 0 and '"x1"' not in out
    code, _, err = shifo("accounts", "create", "x1", "--name", "Xamid Xolov", "--by", "op1", password=GOOD)
    assert code == 0, err
    assert '"x1"' in shifo("accounts", "list", "--json", password=GOOD)[1]
