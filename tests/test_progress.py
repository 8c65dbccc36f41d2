"""Progress: a plain line every few rounds when stderr is not a terminal (no carriage-return frames in a log)."""
import io

from syft_fl.progress import PlainProgress, bar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_file_gets_one_plain_line_every_few_rounds_and_the_last():
    log = io.StringIO()
    progress = bar(total=12, desc="   tiered", every=5, stream=log)
    assert isinstance(progress, PlainProgress)
    for rnd in range(12):
        progress.set_postfix(acc=f"{rnd / 10:.3f}")
        progress.update(1)
    progress.close()
    assert "\r" not in log.getvalue()
    assert log.getvalue().splitlines() == ["tiered: 5/12 rounds (acc=0.400)", "tiered: 10/12 rounds (acc=0.900)",
                                           "tiered: 12/12 rounds (acc=1.100)"]


def test_a_resumed_run_counts_from_where_it_was_and_a_polled_count_prints_once_per_step():
    log = io.StringIO()
    progress = bar(total=20, initial=7, desc="study", every=5, stream=log)
    progress.n = 9
    progress.refresh()
    progress.n = 16  # a poll that jumped over 10 and 15: one line
    progress.refresh()
    progress.refresh()
    progress.close()
    assert log.getvalue().splitlines() == ["study: 16/20 rounds"]


def test_a_terminal_gets_tqdm_and_disabled_progress_writes_nothing():
    term = Terminal()
    progress = bar(total=3, desc="x", stream=term)
    assert not isinstance(progress, PlainProgress)
    progress.update(3)
    progress.close()
    assert "\r" in term.getvalue()
    quiet = io.StringIO()
    off = bar(total=3, desc="x", enabled=False, stream=quiet)
    off.update(3)
    off.close()
    assert quiet.getvalue() == ""
