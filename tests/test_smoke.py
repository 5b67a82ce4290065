"""The skeleton answers end to end: sign in, reach an installed module, be refused elsewhere."""

from host.settings import Settings
from tests.support import add_facility, add_user, login, opened, serving


async def test_doctor_reaches_installed_module_only(db_url: str) -> None:
    settings = Settings(database_url=db_url, run_relay=False)
    async with opened(settings) as rt:
        await add_facility(rt, "F1", ["medcard"])
        await add_user(rt, "doc", grants=[("F1", "doctor")])
    async with serving(settings) as client:
        auth = await login(client, "doc")
        ok = await client.get("/api/v1/medcard/", headers=auth)
        assert ok.status_code == 200 and ok.json()["facility"] == "F1"
        refused = await client.get("/api/v1/polyclinic/", headers=auth)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await client.get("/api/v1/medcard/")).status_code == 401
