"""``/metrics``: Prometheus text that prometheus-client's own parser reads."""

from __future__ import annotations

import shutil
import sqlite3

import httpx
import pytest
from conftest import CALLBACK_TOKEN, TOKEN, ServerThread
from message_builders import accept, dispatch, kill_relays, open_circuit, texts
from operations_helpers import ADMIN_CONFIG
from prometheus_client.parser import text_string_to_metric_families

from smsgate.host.app import create_app
from smsgate.storage.database import downgrade, head_revision, upgrade
from smsgate.storage.models import utcnow


def scrape(server):
    answer = httpx.get(f"{server.url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def server(make_config, database_url):
    with ServerThread(create_app(make_config(database_url, extra=ADMIN_CONFIG))) as running:
        yield running


def test_metrics_count_intake_and_callbacks_and_read_the_database(server, engine):
    now = utcnow()
    accept(engine, texts(3), now)
    dispatch(engine, now, failed={"m1.": "910"}, unknown=["m2."])
    kill_relays(engine, now, "HTTP 400")
    open_circuit(engine, now, "5 failed batches")
    batch = {
        "messages": [
            {"to": "9876543210", "body": "hi", "message_id": "x1."},
            {"to": "x", "body": "b"},
        ]
    }
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        httpx.post(f"{server.url}/clevertap/pingbix-in", json=batch, headers=auth).status_code
        == 202
    )
    httpx.get(
        f"{server.url}/callbacks/pingbix-in/{CALLBACK_TOKEN}?Transactionid=nope&Status=DELIVRD"
    )
    httpx.get(f"{server.url}/callbacks/pingbix-in/wrong-token")
    httpx.get(f"{server.url}/callbacks/made-up-{now.microsecond}/x")

    samples = scrape(server)

    nick = {"nickname": "pingbix-in"}
    assert value(samples, "smsgate_intake_records_total", outcome="accepted", **nick) == 1
    assert value(samples, "smsgate_intake_records_total", outcome="rejected", **nick) == 1
    assert value(samples, "smsgate_messages_total", status="accepted", **nick) == 1
    assert value(samples, "smsgate_accept_seconds_count", **nick) == 1
    assert value(samples, "smsgate_callback_requests_total", code="404", **nick) == 1
    assert value(samples, "smsgate_callback_requests_total", code="404", nickname="-") == 1
    assert value(samples, "smsgate_database_up") == 1
    assert value(samples, "smsgate_queue_depth", **nick) == 2
    assert value(samples, "smsgate_messages_unknown", **nick) == 1
    assert value(samples, "smsgate_relay_dead", **nick) == 1
    assert value(samples, "smsgate_circuit_state", state="open", **nick) == 1
    assert value(samples, "smsgate_circuit_state", state="closed", **nick) == 0
    assert value(samples, "smsgate_messages_last_hour", status="failed", **nick) == 1
    assert value(samples, "process_cpu_seconds_total") is not None
    # No label carries anything a stranger typed into a URL.
    assert not any("made-up" in str(labels) for _, labels in samples)


def test_a_rejected_record_sent_again_counts_as_one_failed_message(server):
    bad = {"to": "12", "body": "x", "message_id": "bad.1."}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(3):
        httpx.post(f"{server.url}/clevertap/pingbix-in", json=bad, headers=auth)

    samples = scrape(server)

    nick = {"nickname": "pingbix-in"}
    assert value(samples, "smsgate_intake_records_total", outcome="rejected", **nick) == 1
    assert value(samples, "smsgate_intake_records_total", outcome="duplicate", **nick) == 2
    assert value(samples, "smsgate_messages_total", status="failed", **nick) == 1


def test_health_and_metrics_answer_while_another_process_holds_sqlites_write_lock(
    make_config, sqlite_template, tmp_path
):
    # A purge from the command line, say: readers must not queue behind it for 30 s.
    path = tmp_path / "busy.db"
    shutil.copy(sqlite_template, path)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        with ServerThread(create_app(make_config(f"sqlite:///{path}"))) as server:
            holder.execute("BEGIN IMMEDIATE")
            ready = httpx.get(f"{server.url}/readyz", timeout=10)
            samples = scrape(server)
            holder.execute("ROLLBACK")
    finally:
        holder.close()

    assert ready.status_code == 200
    assert value(samples, "smsgate_database_up") == 1


def test_a_sqlite_file_deleted_under_the_gateway_makes_it_unready(
    make_config, sqlite_template, tmp_path
):
    # Its open connections still answer, and what they write is lost at the next start.
    path = tmp_path / "doomed.db"
    shutil.copy(sqlite_template, path)
    with ServerThread(create_app(make_config(f"sqlite:///{path}"))) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        for leftover in tmp_path.glob("doomed.db*"):
            leftover.unlink()
        ready = httpx.get(f"{server.url}/readyz")
        samples = scrape(server)

    assert ready.status_code == 503
    assert ready.json()["database"] == f"unreachable (its file {path} is gone)"
    assert value(samples, "smsgate_database_up") == 0


def test_a_schema_migrated_under_the_gateway_makes_it_unready(make_config, database_url):
    # Its statements were written for the schema it started on; a load balancer must stop
    # sending it work until it is restarted on the version that migrated the database.
    with ServerThread(create_app(make_config(database_url))) as server:
        before = httpx.get(f"{server.url}/readyz")
        downgrade(database_url, "-1")
        try:
            after = httpx.get(f"{server.url}/readyz")
        finally:
            upgrade(database_url)
        again = httpx.get(f"{server.url}/readyz")

    assert (before.status_code, after.status_code, again.status_code) == (200, 503, 200)
    assert after.json()["database"] == (
        f"the schema is at revision {_previous(head_revision())}, this process was built for"
        f" {head_revision()}: restart it on the smsgate version that migrated it"
    )


def _previous(revision: str | None) -> str:
    assert revision is not None
    return f"{int(revision) - 1:04d}"


def test_a_scrape_with_the_database_gone_still_answers(make_config, tmp_path):
    config = make_config(f"sqlite:///{tmp_path / 'gone.db'}", extra=ADMIN_CONFIG)
    app = create_app(config)
    with ServerThread(app) as server:
        app.state.gateway.engine.dispose()
        (tmp_path / "gone.db").unlink()
        (tmp_path / "gone.db").mkdir()  # a folder where the file was: every query fails
        samples = scrape(server)
    assert value(samples, "smsgate_database_up") == 0
