"""Block-drawn noise: the same stream as one draw per step, and resumable mid-block."""

import numpy as np

from rt_avg.nn.noise import NoiseStream


def test_stream_is_standard_normal_and_seeded():
    a, b, c = NoiseStream(0, 1, 3, block=8), NoiseStream(0, 1, 3, block=8), NoiseStream(0, 2, 3)
    xs = [a.next() for _ in range(20)]
    assert xs == [b.next() for _ in range(20)]
    assert xs[0] != c.next()
    stream = NoiseStream(7, 1, 2)
    big = np.array([stream.next() for _ in range(20000)])
    assert abs(big.mean()) < 0.03 and abs(big.std() - 1) < 0.03


def test_state_round_trip_mid_block():
    a = NoiseStream(3, 1, 2, block=5)
    for _ in range(7):  # into the second block
        a.next()
    state = a.state_dict()
    expected = [a.next() for _ in range(9)]
    b = NoiseStream(99, 9, 2, block=5)
    b.load_state_dict(state)
    assert [b.next() for _ in range(9)] == expected
