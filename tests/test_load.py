"""The load and fault test, in its short form (the full one: make load-test)."""

import io

from django.core.management import call_command


def test_short_load_with_the_database_stopped_and_restarted():
    """gunicorn with production settings, 8 clients for 15 s, the database down for 4 s in between:
    no 5xx but 503 (and those only during the outage), recovery on its own, every acknowledged
    write stored with its history entry, /healthz answering within 2 s while two slow readers hold
    exports open, every export read to its end or refused with a 503 (load_test raises CommandError
    otherwise)."""
    out = io.StringIO()
    call_command("load_test", "--clients", "8", "--seconds", "15", "--fault", "--outage", "4", stdout=out)
    report = out.getvalue()
    assert report.rstrip().endswith("passed")
    assert " 0 without a history entry" in report
    assert "answers were 503" in report
    # Two anonymous clients read exports at 2 kB/s meanwhile: read to their end, /healthz unaffected.
    assert "2 slow readers" in report and "'read to the end'" in report
    assert "/healthz meanwhile:" in report
