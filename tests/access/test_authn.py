"""Authentication: forged tokens, throttling and lockout, sessions, suspension and revocation."""

from __future__ import annotations

import hashlib
import hmac
import statistics
import time
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

import adapters.identity.local as local
from core.clock import utcnow
from core.errors import Conflict
from host.settings import Settings
from tests.access.world import app, b64url, bearer, facilities, staff, token
from tests.access.world import settings as make_settings
from tests.support import ALL_MODULES, PASSWORD, opened

STATUS = "/api/v1/medcard"


async def world(settings: Settings) -> dict[str, Any]:
    async with opened(settings) as rt:
        await facilities(rt, {"F1": ALL_MODULES})
        ids = {"doctor": await staff(rt, "doctor", [("F1", "doctor")], n=1),
               "patient": await staff(rt, "patient", kind="patient", n=2),
               "operator": await staff(rt, "operator", kind="operator", n=3)}
        tokens = {who: await token(rt, who) for who in ids}
    return {"ids": ids, "tokens": tokens}


def forgeries(sub: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": sub, "aud": "staff", "iat": now, "exp": now + 600, "roles": ["doctor"]}

    def jwt(header: dict[str, Any], payload: dict[str, Any], key: bytes | None = None) -> str:
        signing_input = f"{b64url(header)}.{b64url(payload)}"
        sig = b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest()) if key else ""
        return f"{signing_input}.{sig}"

    public_key = b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
    return {
        "alg none": jwt({"alg": "none", "typ": "JWT"}, claims),
        "key confusion HS256": jwt({"alg": "HS256", "typ": "JWT"}, claims, public_key),
        "bad signature": jwt({"alg": "RS256", "typ": "JWT"}, claims)[:-1] + b64url(b"\x00" * 256),
        "expired": jwt({"alg": "HS256"}, {**claims, "exp": now - 60}, b"guessed-secret"),
        "not yet valid": jwt({"alg": "HS256"}, {**claims, "nbf": now + 3600}, b"guessed-secret"),
        "empty": "",
        "overlong": "A" * 5000,
    }


async def test_forged_tokens_and_other_audiences_are_401(db_url: str) -> None:
    settings = make_settings(db_url)
    w = await world(settings)
    async with AsyncTestClient(app(settings)) as client:
        assert (await client.get(STATUS, headers=bearer(w["tokens"]["doctor"]))).status_code == 200
        cases = {**forgeries(str(w["ids"]["doctor"])),
                 "patient-app token on a clinical route": w["tokens"]["patient"],
                 "a real token, one character changed": w["tokens"]["doctor"][:-1] + (
                     "A" if w["tokens"]["doctor"][-1] != "A" else "B")}
        for name, forged in cases.items():
            r = await client.get(STATUS, headers=bearer(forged))
            assert r.status_code == 401, name
            assert r.headers["www-authenticate"].startswith("Bearer"), name
            assert r.json()["status"] == 401, name
        on_admin = await client.get("/api/v1/admin/accounts", headers=bearer(w["tokens"]["patient"]))
        assert on_admin.status_code == 401


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> Any:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


LIMITS = {"slow_after": 2, "lock_after": 4, "delay_seconds": 30, "max_delay_seconds": 60, "lock_seconds": 600}


async def _attempts(client: AsyncTestClient[Any], clock: Clock, login: str) -> list[tuple[int, str, str]]:
    """wrong, wrong, right-too-early, (wait) wrong, (wait) wrong, right-while-locked."""
    seen = []

    async def attempt(password: str) -> None:
        r = await client.post("/api/v1/auth/login", json={"login": login, "password": password})
        seen.append((r.status_code, r.json().get("detail", ""), r.headers.get("retry-after", "")))

    await attempt("wrong-1")
    await attempt("wrong-2")
    await attempt(PASSWORD)
    clock.advance(31)
    await attempt("wrong-3")
    clock.advance(61)
    await attempt("wrong-4")
    clock.advance(60)
    await attempt(PASSWORD)
    return seen


async def test_failures_slow_down_then_lock_alike_for_unknown_logins(db_url: str, monkeypatch: Any) -> None:
    settings = make_settings(db_url, **LIMITS)
    await world(settings)
    clock = Clock()
    monkeypatch.setattr(local, "utcnow", clock)
    async with AsyncTestClient(app(settings)) as client:
        known = await _attempts(client, clock, "doctor")
        unknown = await _attempts(client, clock, "no-such-user")
        assert [s for s, _, _ in known] == [401, 401, 429, 401, 401, 423]
        assert known == unknown  # same statuses, words and waits: nothing tells the login exists
        assert known[2][2] == "30" and known[5][2] == "540"
        locked = await client.post("/api/v1/auth/login", json={"login": "doctor", "password": PASSWORD})
        assert locked.status_code == 423 and locked.headers["content-type"].startswith("application/problem")
        clock.advance(541)
        r = await client.post("/api/v1/auth/login", json={"login": "doctor", "password": PASSWORD})
        assert r.status_code == 200
        r = await client.post("/api/v1/auth/login", json={"login": "doctor", "password": "wrong"})
        assert r.status_code == 401  # a success cleared the login's counter


async def test_one_client_guessing_many_logins_is_slowed(db_url: str, monkeypatch: Any) -> None:
    settings = make_settings(db_url, client_slow_after=3, client_lock_after=5, delay_seconds=30)
    await world(settings)
    clock = Clock()
    monkeypatch.setattr(local, "utcnow", clock)
    async with AsyncTestClient(app(settings)) as client:
        async def attempt(login: str) -> int:
            r = await client.post("/api/v1/auth/login", json={"login": login, "password": "x"})
            return r.status_code

        codes = [await attempt(f"user{i}") for i in range(4)]
        assert codes == [401, 401, 401, 429]
        clock.advance(31)
        codes = [await attempt(f"other{i}") for i in range(3)]
        assert codes == [401, 429, 429]  # 4th failure: wait 60 s more


async def test_unknown_logins_take_as_long_as_wrong_passwords(db_url: str) -> None:
    settings = Settings(database_url=db_url, run_relay=False,
                        extra={"identity": {"slow_after": 100, "lock_after": 200, "client_slow_after": 100,
                                            "client_lock_after": 200}})
    await world(settings)
    async with opened(settings) as rt:
        async def timed(login: str) -> float:
            start = time.perf_counter()
            with pytest.raises(Exception, match="wrong"):
                await rt.identity.login(login, "wrong-password", "10.0.0.9")
            return time.perf_counter() - start

        known = statistics.median([await timed("doctor") for _ in range(3)])
        unknown = statistics.median([await timed("ghost") for _ in range(3)])
    assert unknown > 0.5 * known and known > 0.5 * unknown


async def test_sessions_are_capped_and_sharing_is_flagged(db_url: str) -> None:
    settings = make_settings(db_url, max_sessions=2)
    w = await world(settings)
    async with opened(settings) as rt:
        await rt.identity.logout(w["tokens"]["doctor"])
        first = await token(rt, "doctor", "10.0.0.1")
        second = await token(rt, "doctor", "10.0.0.1")
        assert await rt.identity.authenticate(first, "staff") is not None
        assert await rt.identity.flags() == []  # same address: nothing to flag
        third = await token(rt, "doctor", "10.0.0.2")
        assert await rt.identity.authenticate(first, "staff") is None  # the oldest made room
        assert await rt.identity.authenticate(second, "staff") is not None
        assert await rt.identity.authenticate(third, "staff") is not None
        flags = await rt.identity.flags()
        assert [(f.login, f.client, f.other_client) for f in flags] == [("doctor", "10.0.0.2", "10.0.0.1")]
        operator = await token(rt, "operator")
    async with AsyncTestClient(app(settings)) as client:
        r = await client.get("/api/v1/admin/session-flags", headers=bearer(operator))
        assert r.status_code == 200 and r.json()[0]["other_client"] == "10.0.0.1"


async def test_suspension_and_revocation_take_effect_at_once(db_url: str) -> None:
    settings = make_settings(db_url)
    w = await world(settings)
    doc, op, uid = bearer(w["tokens"]["doctor"]), bearer(w["tokens"]["operator"]), w["ids"]["doctor"]
    async with AsyncTestClient(app(settings)) as client:
        assert (await client.get(STATUS, headers=doc)).status_code == 200
        suspended = await client.post(f"/api/v1/admin/accounts/{uid}/suspend", headers=op)
        assert suspended.json()["status"] == "suspended"
        assert (await client.get(STATUS, headers=doc)).status_code == 401
        assert (await client.post(f"/api/v1/admin/accounts/{uid}/reactivate", headers=op)).status_code == 200
        assert (await client.get(STATUS, headers=doc)).status_code == 401  # suspension revoked the session
        login = await client.post("/api/v1/auth/login", json={"login": "doctor", "password": PASSWORD})
        doc = bearer(login.json()["access_token"])
        assert (await client.get(STATUS, headers=doc)).status_code == 200
        detail = (await client.get(f"/api/v1/admin/accounts/{uid}", headers=op)).json()
        assert len(detail["sessions"]) == 1
        grant_id = detail["grants"][0]["id"]
        assert (await client.post(f"/api/v1/admin/grants/{grant_id}/revoke", headers=op)).status_code == 200
        assert (await client.get(STATUS, headers=doc)).status_code == 403  # signed in, but no role left
        assert (await client.post(f"/api/v1/admin/grants/{grant_id}/revoke", headers=op)).status_code == 409
        assert (await client.post(f"/api/v1/admin/accounts/{uid}/deactivate", headers=op)).status_code == 200
        assert (await client.post(f"/api/v1/admin/accounts/{uid}/reactivate", headers=op)).status_code == 409
        again = await client.post("/api/v1/auth/login", json={"login": "doctor", "password": PASSWORD})
        assert again.status_code == 401


async def test_logout_revokes_the_token(db_url: str) -> None:
    settings = make_settings(db_url)
    w = await world(settings)
    doc = bearer(w["tokens"]["doctor"])
    async with AsyncTestClient(app(settings)) as client:
        assert (await client.get(STATUS, headers=doc)).status_code == 200
        assert (await client.post("/api/v1/auth/logout", headers=doc)).status_code == 204
        assert (await client.get(STATUS, headers=doc)).status_code == 401


async def test_a_patient_signs_in_with_their_pinfl_and_has_one_account(db_url: str) -> None:
    """The patient app signs a person in by PINFL: it names exactly one patient account."""
    settings = make_settings(db_url)
    await world(settings)
    async with opened(settings) as rt:
        accounts = {a.login: a for a in await rt.identity.accounts()}
        pinfl = accounts["patient"].pinfl
        assert pinfl is not None
        with pytest.raises(Conflict):
            await rt.identity.create_account(login="patient-again", password=PASSWORD, kind="patient",
                                             full_name="Twin", pinfl=pinfl)
        staff_pinfl = accounts["doctor"].pinfl
    async with AsyncTestClient(app(settings)) as client:
        r = await client.post("/api/v1/auth/login", json={"login": pinfl, "password": PASSWORD})
        assert r.status_code == 200, r.text
        me = await client.get("/api/v1/patient/card", headers=bearer(r.json()["access_token"]))
        assert me.status_code in (200, 404)  # signed in as the patient (no card registered here)
        r = await client.post("/api/v1/auth/login", json={"login": staff_pinfl, "password": PASSWORD})
        assert r.status_code == 401  # only patient accounts answer to their PINFL
