"""Console sign-in and sign-out: the API's identity call, lockout and audit; the session cookie's
flags; CSRF; operators only; the language switch and the message catalogues."""

from __future__ import annotations

import html
import re
from pathlib import Path

from babel.messages.pofile import read_po
from litestar.testing import AsyncTestClient

from host.console_web import i18n
from host.web.app import create_app
from tests.access.world import FakeSignature, app, bearer, pinfl, token
from tests.console.support import HTML, audit_rows, csrf_in, world
from tests.support import PASSWORD, opened

CONSOLE = Path(i18n.__file__).parent


def cookie_header(response: object, name: str) -> str:
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]  # type: ignore[attr-defined]
    assert found, f"no {name} cookie set"
    return found[0]


async def post_login(client: AsyncTestClient, login: str, password: str) -> object:  # type: ignore[type-arg]
    page = await client.get("/console/login?next=/console/system", headers=HTML)
    return await client.post("/console/login", headers=HTML, follow_redirects=False, data={
        "login": login, "password": password, "csrf": csrf_in(page.text), "next": "/console/system"})


async def test_sign_in_cookie_sign_out_and_language(db_url: str) -> None:
    s = await world(db_url)
    async with AsyncTestClient(create_app(s)) as client:
        # not signed in: a browser goes to the sign-in page, a program gets the API's 401
        r = await client.get("/console/system", headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login?next=/console/system"
        r = await client.get("/console/system")
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")

        wrong = await post_login(client, "op", "not-the-password")
        assert wrong.status_code == 401 and "shifo_console=" not in str(wrong.headers.get_list("set-cookie"))
        assert "Login yoki parol noto‘g‘ri" in wrong.text
        r = await post_login(client, "op", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/console/system"
        flags = cookie_header(r, "shifo_console").lower()
        assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags
        assert "secure" not in flags  # plain http here: see the https test
        assert [(e.outcome, e.login) for e in await audit_rows(s, "auth/login")] == [
            ("failed", "op"), ("ok", "op")]  # the API's audit entries, exactly

        page = await client.get("/console/system", headers=HTML)
        assert page.status_code == 200 and 'lang="uz"' in page.text and ">Tizim<" in page.text
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
        session = client.cookies["shifo_console"]
        r = await client.get("/console/lang/ru", headers={**HTML, "referer": "http://testserver.local/console/system"},
                             follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/system"
        page = await client.get("/console/system", headers=HTML)
        assert 'lang="ru"' in page.text and ">Система<" in page.text and "Выйти" in page.text
        r = await client.get("/console/lang/uz", headers={**HTML, "referer": "https://elsewhere.example/x"},
                             follow_redirects=False)
        assert r.headers["location"] == "/console/"  # never back to another site

        # sign-out needs the form's token; without it nothing happens
        r = await client.post("/console/logout", headers=HTML, data={"csrf": "0" * 64}, follow_redirects=False)
        assert r.status_code == 403
        assert (await client.get("/console/system", headers=HTML)).status_code == 200
        r = await client.post("/console/logout", headers=HTML, data={"csrf": csrf_in(page.text)},
                              follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        assert "max-age=0" in cookie_header(r, "shifo_console").lower()
        # the session is revoked, not only forgotten: the old token opens nothing
        r = await client.get("/api/v1/operator/facilities", headers=bearer(session))
        assert r.status_code == 401
        client.cookies.set("shifo_console", session, path="/console")
        r = await client.get("/console/system", headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


async def test_secure_cookie_over_https(tmp_path: Path) -> None:
    s = await world(f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}")
    async with AsyncTestClient(create_app(s), base_url="https://testserver.local") as client:
        r = await post_login(client, "op", PASSWORD)
        assert r.status_code == 303
        assert "; secure" in cookie_header(r, "shifo_console").lower()


async def test_sign_in_form_needs_its_token_and_locks_like_the_api(db_url: str) -> None:
    s = await world(db_url, slow_after=100, lock_after=3, lock_seconds=600)
    async with AsyncTestClient(create_app(s)) as client:
        await client.get("/console/login", headers=HTML)
        r = await client.post("/console/login", headers=HTML, follow_redirects=False,
                              data={"login": "op", "password": PASSWORD, "csrf": "f" * 64})
        assert r.status_code == 403 and "shifo_console=" not in str(r.headers.get_list("set-cookie"))
        assert await audit_rows(s, "auth/login") == []  # refused before any sign-in attempt
        statuses = [(await post_login(client, "doc", "wrong")).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 423]
        locked = await post_login(client, "doc", PASSWORD)  # the right password: still locked
        assert locked.status_code == 423 and int(locked.headers["retry-after"]) > 0
        api = await client.post("/api/v1/auth/login", json={"login": "doc", "password": PASSWORD})
        assert api.status_code == 423  # one lockout for the console and the API
        outcomes = [e.outcome for e in await audit_rows(s, "auth/login")]
        assert outcomes == ["failed"] * 3 + ["refused:423"] * 3


async def test_only_operators(db_url: str) -> None:
    s = await world(db_url)
    async with opened(s) as rt:
        tokens = {who: await token(rt, who) for who in ("doc", "nurse", "pat")}
    async with AsyncTestClient(create_app(s)) as client:
        for who in ("doc", "nurse", "pat"):  # they sign in, but are not let in
            r = await post_login(client, who, PASSWORD)
            assert r.status_code == 403 and "shifo_console=" not in str(r.headers.get_list("set-cookie")), who
        for who in ("doc", "nurse"):  # a staff session's cookie: 403 page, and the API's 403 to programs
            client.cookies.set("shifo_console", tokens[who], path="/console")
            r = await client.get("/console/system", headers=HTML)
            assert r.status_code == 403 and "<h1>403" in r.text
            assert (await client.get("/console/system")).status_code == 403
        client.cookies.set("shifo_console", tokens["pat"], path="/console")  # another audience: not signed in
        r = await client.get("/console/system", headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        assert len(await audit_rows(s, "operator.system/read")) >= 3  # the refusals are audited


async def test_eds_sign_in(db_url: str) -> None:
    s = await world(db_url)
    fake = FakeSignature()
    async with AsyncTestClient(app(s, signature=fake)) as client:
        async def challenge() -> tuple[str, str, str]:
            form = csrf_in((await client.get("/console/login", headers=HTML)).text)
            r = await client.post("/console/login/eds/challenge", headers=HTML,
                                  data={"login": "op", "csrf": form, "next": "/console/system"})
            assert r.status_code == 200, r.text
            text = re.search(r'<pre class="panel" id="challenge">([^<]+)</pre>', r.text)
            cid = re.search(r'name="challenge_id" value="([^"]+)"', r.text)
            assert text and cid
            return html.unescape(text.group(1)), cid.group(1), csrf_in(r.text)

        text, cid, form = await challenge()
        r = await client.post("/console/login/eds", headers=HTML, follow_redirects=False, data={
            "challenge_id": cid, "signature": fake.sign(text, pinfl(2)), "csrf": form, "next": "/console/system"})
        assert r.status_code == 401 and "shifo_console=" not in str(r.headers.get_list("set-cookie"))
        text, cid, form = await challenge()  # another's key was refused; the holder's is let in
        r = await client.post("/console/login/eds", headers=HTML, follow_redirects=False, data={
            "challenge_id": cid, "signature": fake.sign(text, pinfl(1)), "csrf": form, "next": "/console/system"})
        assert r.status_code == 303 and r.headers["location"] == "/console/system"
        assert "httponly" in cookie_header(r, "shifo_console").lower()
        assert (await client.get("/console/system", headers=HTML)).status_code == 200
    assert [e.outcome for e in await audit_rows(s, "auth/login_eds")] == ["failed", "ok"]


def test_every_msgid_is_translated_in_both_catalogues() -> None:
    catalogues = {}
    for lang in i18n.LANGS:
        with i18n.po_path(lang).open("rb") as f:
            catalogues[lang] = {m.id: m.string for m in read_po(f) if m.id}
    ids = {lang: set(c) for lang, c in catalogues.items()}
    assert ids["uz"] == ids["ru"], ids["uz"] ^ ids["ru"]
    for lang, catalogue in catalogues.items():
        assert not [m for m, s in catalogue.items() if not s], f"untranslated in {lang}"
    used = set()
    for template in (CONSOLE / "templates").glob("*.j2"):
        used |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', template.read_text()))
    for module in CONSOLE.glob("*.py"):  # t(request, "...") and redirect(..., "flash")
        text = module.read_text()
        used |= set(re.findall(r'\bt\(request, "([^"]+)"\)', text))
        used |= set(re.findall(r'redirect\([^)\n]*?, "([^"]+)"\)', text))
    assert not used - ids["uz"], f"msgids missing from the catalogues: {used - ids['uz']}"
