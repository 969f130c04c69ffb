"""The benchmark's report: each result against its target, and equivalent requests for the peer."""

import datetime

from claims.management.commands import bench


def run(p50, p95, rps):
    return {"p50": p50, "p95": p95, "p99": p95 * 1.2, "rps": rps, "requests": 100}


def size_result(list_p95, list_rps, minimal_rps, peer_p95, peer_rps):
    ours = {key: {1: run(2, list_p95, 300), 4: run(5, list_p95 * 2, list_rps)} for key, _, _ in bench.KINDS}
    peer = {key: {1: run(2, peer_p95, 300), 4: run(5, peer_p95 * 2, peer_rps)} for key in ("list", "speaker")}
    return {
        "statements": 1000,
        "ours": ours,
        "minimal": {"list": {1: run(1, 2, 900), 4: run(2, 4, minimal_rps)}},
        "datasette": peer,
        "exports": {
            "csv": {
                "rows": 1000,
                "seconds": 0.5,
                "bytes": 1,
                "lines": 1001,
                "memory_mb": 1.5,
                "copy_seconds": 0.25,
            }
        },
    }


def report(sizes):
    environment = {"machine": "test"}
    return bench.markdown(
        {"sizes": sizes, "environment": environment, "started": datetime.datetime(2026, 1, 1)}
    )


def test_targets_met_and_missed_are_said():
    text = report({1000: size_result(10, 700, 1000, 20, 500), 1_000_000: size_result(14, 650, 1000, 30, 500)})
    list_row = next(line for line in text.splitlines() if line.startswith("| Statements list"))
    assert "p95 ≤ 15 ms: met" in list_row and "≥ 600/s: met" in list_row
    assert "70.0% of its rate (met ≥ 35%)" in list_row
    assert "(faster)" in list_row
    assert "| 1.40 (met ≤ 1.5) |" in text  # list p95 from 10 to 14 ms

    text = report({1000: size_result(20, 300, 1000, 5, 500), 1_000_000: size_result(40, 200, 1000, 5, 500)})
    list_row = next(line for line in text.splitlines() if line.startswith("| Statements list"))
    assert "p95 ≤ 15 ms: MISSED" in list_row and "≥ 600/s: MISSED" in list_row
    assert "30.0% of its rate (MISSED ≥ 35%)" in list_row
    assert "(NOT faster)" in list_row
    assert "| 2.00 (MISSED ≤ 1.5) |" in text
    assert "| csv | 1,000 | 0.50 | 2,000 | 2.0 (COPY 0.25 s) | 1.5 MB |" in text


def test_every_peer_request_has_an_equivalent_of_ours():
    params = {
        "count": 10,
        "speakers": [(1, "s1", 5), (2, "s2", 1)],
        "topics": [(3, "t3", 4)],
        "ranges": [(datetime.date(2020, 1, 1), datetime.date(2020, 3, 1))],
        "statements": [(7, "7c1a9189-927e-42b3-8d24-a3607e3c4392")],
        "claims": ["Iran fired missiles"],
        "common": ["libya"],
        "rare": ["kuvengul"],
    }
    paths = bench.Command().paths(params)
    assert set(paths["datasette"]) <= set(paths["ours"]) == {key for key, _, _ in bench.KINDS}
    assert paths["ours"]["speaker"] == ["/api/v1/statements/?speaker=s1", "/api/v1/statements/?speaker=s2"]
    assert (
        "speaker_id" in paths["datasette"]["speaker"][0]
        and "%22value%22%3A%20%221%22" in paths["datasette"]["speaker"][0]
    )
    assert paths["datasette"]["dates"] == [
        "/claims/statements.json?_size=50&_nocount=1&_shape=objects&_sort_desc=said_on"
        "&said_until__gte=2020-01-01&said_on__lte=2020-03-01"
    ]
    assert paths["ours"]["detail"] == ["/api/v1/statements/7c1a9189-927e-42b3-8d24-a3607e3c4392/"]
    assert paths["datasette"]["detail"] == ["/claims/statements/7.json?_shape=objects"]
    assert paths["ours"]["search_rare"] == ["/api/v1/statements/?q=kuvengul"]
    assert paths["datasette"]["search_rare"][0].endswith("&_search=kuvengul")
