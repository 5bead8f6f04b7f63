"""Progress display: a live line on a terminal, plain periodic lines otherwise."""

import io

from rt_avg.run.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_not_a_tty():
    out = io.StringIO()
    bar = Progress(1000, stream=out, plain_every_s=1e-9)
    bar.episode(10.0)
    bar.episode(20.0)
    bar.overruns = 3
    bar.update(500)
    line = out.getvalue()
    assert line.endswith("\n") and "\r" not in line
    assert "step       500/1000" in line and "steps/s" in line and "eta" in line
    assert "return(10)     15.00" in line and "overruns 3" in line


def test_quiet_when_not_a_tty_and_disabled():
    out = io.StringIO()
    bar = Progress(1000, stream=out, plain_every_s=0)
    bar.update(10)
    bar.close()
    assert out.getvalue() == ""


def test_live_line_on_a_tty():
    out = FakeTTY()
    bar = Progress(100, stream=out, every_s=1e-9)
    bar.update(50)
    bar.update(100)
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
