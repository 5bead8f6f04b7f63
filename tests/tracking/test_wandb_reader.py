"""The .wandb reader on files written by the installed wandb (records spanning blocks) and
on damaged files."""

from __future__ import annotations

import pytest

from rt_avg.run.tracking.wandb_reader import (BLOCK_BYTES, WandbFileError, find_run_file,
                                 iter_record_bytes, read_finished_run, read_run)


@pytest.fixture(scope="module")
def big_run_file(tmp_path_factory):
    import wandb

    root = tmp_path_factory.mktemp("bigrun")
    run = wandb.init(project="rt-avg-test", dir=str(root), mode="offline",
                     config={"big": "x" * 70_000},  # one record over two blocks
                     settings=wandb.Settings(console="off", silent=True, reinit="create_new"))
    for i in range(400):
        run.log({"v": i * 0.25, "env_step": 10 * i})
    run.finish()
    read_finished_run(root)  # wandb's service flushes the file after finish() returns
    return find_run_file(root)


def test_reads_records_across_blocks(big_run_file):
    assert big_run_file.stat().st_size > 3 * BLOCK_BYTES
    run = read_run(big_run_file)
    assert len(run.config["big"]) == 70_000
    steps, values = run.series("v")
    assert values == [i * 0.25 for i in range(400)] and steps == [10 * i for i in range(400)]
    assert run.exited


def test_a_torn_tail_ends_reading_quietly(big_run_file, tmp_path):
    data = big_run_file.read_bytes()
    torn = tmp_path / "torn.wandb"
    torn.write_bytes(data[: len(data) - 50])
    assert 0 < len(list(iter_record_bytes(torn))) < len(list(iter_record_bytes(big_run_file)))


def test_damage_is_reported(big_run_file, tmp_path):
    data = bytearray(big_run_file.read_bytes())
    bad = tmp_path / "bad.wandb"
    data[200] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(WandbFileError, match="checksum"):
        list(iter_record_bytes(bad))
    bad.write_bytes(b"PK\x03\x04" + bytes(data[4:]))
    with pytest.raises(WandbFileError, match="not a wandb run file"):
        list(iter_record_bytes(bad))
