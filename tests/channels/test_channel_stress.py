"""One writer at full speed, several reader processes: no torn record, seqs increase per reader.

Readers are ``python -c`` subprocesses (their own resource tracker, like Ray workers) and one
``multiprocessing`` spawn child (sharing the test's tracker); every field of a record is a
function of its seq, so each reader checks each record on its own.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import time

import pytest
from channel_workers import (  # noqa: F401  (shm_prefix is a fixture)
    command,
    encode_spec,
    shm_prefix,
    spawn_stress_read,
    stress_dtype,
    stress_fields,
)

from helpers import HANG_S
from rt_avg.realtime.channels import LatestChannel, list_segments


def _run_stress(
    prefix: str, *, k: int, slots: int, n_reads: int, n_subprocess: int, time_limit_s: float, verify: bool = True
) -> list[dict]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with LatestChannel.create(stress_dtype(k), prefix=prefix, slots=slots, label="stress") as writer:
        writer.write(stress_fields(1, k))
        spec = writer.spec
        procs = [
            subprocess.Popen(
                command("stress", encode_spec(spec), k, n_reads, time_limit_s, int(verify)), stdout=subprocess.PIPE, text=True
            )
            for _ in range(n_subprocess)
        ]
        child = ctx.Process(target=spawn_stress_read, args=(spec, k, n_reads, time_limit_s, verify, queue))
        child.start()
        results = []
        deadline = time.monotonic() + time_limit_s + HANG_S  # the readers' start-up on top
        while len(results) < 1 or any(p.poll() is None for p in procs):
            for _ in range(200):
                writer.write(stress_fields(writer.last_seq + 1, k))
            if len(results) < 1 and not queue.empty():
                results.append(queue.get())
            assert time.monotonic() < deadline, "stress readers did not finish"
        for p in procs:
            out, _ = p.communicate(timeout=HANG_S)
            assert p.returncode == 0, out
            results.append(json.loads(out.strip().splitlines()[-1]))
        child.join(HANG_S)
        assert child.exitcode == 0
        # readers exiting (one of them a non-child with its own tracker) left the segment alone
        assert writer.name in list_segments(prefix)
    return results


@pytest.mark.slow
def test_stress_no_torn_reads(shm_prefix: str) -> None:
    # the readers stop at their count, however long that takes (seconds on an idle machine,
    # a minute or more when two CPUs are shared with other work): no rate is assumed
    n_reads = 10_000
    results = _run_stress(shm_prefix, k=64, slots=3, n_reads=n_reads, n_subprocess=2, time_limit_s=HANG_S)
    print("reads, rejected copies per reader:", [(r["reads"], r["rejected"]) for r in results])
    assert all(r["reads"] == n_reads for r in results), results
    assert all(r["torn"] == 0 for r in results), results
    assert all(r["not_monotonic"] == 0 for r in results), results
    assert len({r["pid"] for r in results}) == 3


@pytest.mark.slow
def test_stress_single_slot_races_are_caught(shm_prefix: str) -> None:
    """One slot and ~100 KB records: copies race with the writer all the time; all are caught.
    The readers stop at 1500 reads or after 30 s: the checks hold for any number of reads."""
    results = _run_stress(shm_prefix, k=8192, slots=1, n_reads=1500, n_subprocess=1, time_limit_s=30)
    print("rejected copies per reader:", [r["rejected"] for r in results])
    assert all(r["reads"] > 0 for r in results), results
    assert all(r["torn"] == 0 for r in results), results
    assert all(r["not_monotonic"] == 0 for r in results), results


@pytest.mark.slow
def test_stress_without_checksum_delivers_torn_records(shm_prefix: str) -> None:
    """The same single-slot run with the readers' checksum test switched off: the seq words
    alone let torn records through, so the checksum is what the test above relies on."""
    results = _run_stress(shm_prefix, k=8192, slots=1, n_reads=1500, n_subprocess=1, time_limit_s=30, verify=False)
    print("torn records delivered per reader:", [r["torn"] for r in results])
    assert sum(r["torn"] for r in results) > 0, results
