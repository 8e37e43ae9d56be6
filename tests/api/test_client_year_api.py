"""A year of one client's life through the REST API (issue 3's "done when"), with real
Airflow JWTs against the real test database.

The year's steps and what each must answer are in ``tests/client_year.py`` (the CLI takes
the same steps in tests/integration/test_client_year.py); this is their API driver: each step
is a request as that person, answered with the status the API gives it.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import quote

import pytest

from dossiers.core import db
from dossiers.workflows import staff

from client_year import Reason, Year, live_the_year

pytestmark = [pytest.mark.integration, pytest.mark.api]

#: The HTTP status of each reason for a refusal.
REFUSED = {"forbidden": 403, "invalid": 422}


class Answer(NamedTuple):
    response: Any
    status: int  # what it must be when the step succeeds
    page: bool = False  # a list: its rows are the page's items (the year fits in one page)


class Api:
    """The year's verbs as requests to the API (``client``: FastAPI's TestClient)."""

    def __init__(self, client: Any, as_user: Any):
        self.client = client
        self.as_user = as_user

    def ok(self, answer: Answer) -> Any:
        assert answer.response.status_code == answer.status, answer.response.text
        body = answer.response.json()
        if answer.page:
            assert body["next"] is None, body
            return body["items"]
        return body

    def refused(self, answer: Answer, reason: Reason) -> str:
        assert answer.response.status_code == REFUSED[reason], answer.response.text
        return str(answer.response.json()["detail"])

    def _post(self, who: str, path: str, body: Any = None, status: int = 200) -> Answer:
        return Answer(self.client.post(path, json=body, headers=self.as_user(who)), status)

    def _dossier(self, year: Year) -> str:
        return f"/dossiers/{quote(year.ids['dossier_no'], safe='')}"

    def submit_form(self, year: Year, who: str, form: dict[str, str]) -> Answer:
        return self._post(who, "/forms", [form])

    def list_forms(self, year: Year, who: str) -> Answer:
        return Answer(self.client.get("/forms", headers=self.as_user(who)), 200, page=True)

    def review_form(self, year: Year, who: str) -> Answer:
        return self._post(who, f"/forms/{year.ids['form_id']}/review", {"decision": "approve"})

    def create_dossier(self, year: Year, who: str) -> Answer:
        return self._post(who, "/dossiers", {"form_id": year.ids["form_id"]}, 201)

    def file_dossier(self, year: Year, who: str, cabinet: str, shelf: int) -> Answer:
        return self._post(who, f"{self._dossier(year)}/file", {"cabinet": cabinet, "shelf": shelf})

    def change_stage(self, year: Year, who: str, **stage: Any) -> Answer:
        return self._post(who, f"{self._dossier(year)}/stage", stage)

    def read_dossier(self, year: Year, who: str) -> Answer:
        return Answer(self.client.get(self._dossier(year), headers=self.as_user(who)), 200)

    def request_query(self, year: Year, who: str, **query: Any) -> Answer:
        return self._post(who, "/queries", {"dossier_no": year.ids["dossier_no"], **query}, 201)

    def approve_query(self, year: Year, who: str) -> Answer:
        return self._post(who, f"/queries/{year.ids['grant_id']}/approve")

    def request_loan(self, year: Year, who: str, **loan: Any) -> Answer:
        return self._post(who, "/loans", {"dossier_nos": [year.ids["dossier_no"]], **loan}, 201)

    def approve_loan(self, year: Year, who: str) -> Answer:
        return self._post(who, f"/loans/{year.ids['loan_id']}/approve", {})

    def add_staff(self, year: Year, who: str, username: str, department: str, role: str) -> Answer:
        """The API onboards nobody (the CS head does, with ``dossier staff add``): in-process."""
        with db.transaction() as conn:
            added = staff.add(conn, who, username, department, [role])
        return Answer(_Json(added), 200)

    def lend_loan(self, year: Year, who: str) -> Answer:
        return self._post(who, f"/loans/{year.ids['loan_id']}/lend")

    def extend_loan(self, year: Year, who: str, wd: int) -> Answer:
        return self._post(who, f"/loans/{year.ids['loan_id']}/extension", {"wd": wd})

    def approve_extension(self, year: Year, who: str) -> Answer:
        return self._post(who, f"/loans/{year.ids['loan_id']}/extension/decision",
                          {"decision": "approve"})

    def return_loan(self, year: Year, who: str, condition: str) -> Answer:
        return self._post(who, f"/loans/{year.ids['loan_id']}/return", {"default": condition})

    def submit_update(self, year: Year, who: str, **update: Any) -> Answer:
        return self._post(who, "/updates", {"dossier_no": year.ids["dossier_no"],
                                            "collection_channel": "email", **update}, 201)

    def review_update(self, year: Year, who: str) -> Answer:
        return self._post(who, f"/updates/{year.ids['change_id']}/review", {"decision": "approve"})

    def approve_important(self, year: Year, who: str) -> Answer:
        return self._post(who, f"/updates/{year.ids['change_id']}/important",
                          {"decision": "approve"})

    def apply_update(self, year: Year, who: str) -> Answer:
        return self._post(who, f"/updates/{year.ids['change_id']}/apply")


class _Json(NamedTuple):
    """An in-process result standing in for a response."""

    body: Any
    status_code: int = 200

    def json(self) -> Any:
        return self.body

    @property
    def text(self) -> str:
        return repr(self.body)


def test_a_year_of_one_client_through_the_api(client, company, as_user) -> None:
    live_the_year(Api(client, as_user))
