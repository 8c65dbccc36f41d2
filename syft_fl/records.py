"""What a round leaves behind, as typed records, and the one place that turns them into CSV rows.

:class:`RoundRecord` is one row of ``rounds.csv`` (one strategy, one round); :class:`UplinkRecord` one row of
``uplinks.csv`` (one strategy, round, UE and tier). Column order is field order. Numbers are written with 9
significant digits (:func:`fmt`), so a seed gives byte-identical files.
"""
import csv
import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Type


@dataclass(frozen=True)
class RoundRecord:
    """One round of one strategy. Times in simulated seconds since the strategy's first broadcast; byte and
    energy counters are cumulative over the strategy's rounds except ``energy_j`` (this round's, J).
    ``n_early_closed``: UEs the BS stopped listening to at their base's arrival (``early_close``);
    ``n_missed``: UEs that delivered fewer tiers than the BS expected from its round-start CSI estimate (an
    adaptive choice or an early close that imperfect CSI got wrong; 0 under perfect CSI)."""

    strategy: str
    round: int
    sim_time_s: float
    round_length_s: float
    test_acc: float
    test_loss: float
    train_loss: float
    uplink_bytes: int
    downlink_bytes: int
    n_selected: int
    n_full: int
    n_partial: int
    n_base_only: int
    n_dropped: int
    n_rejected: int
    n_crashed: int
    n_corrupt_tiers: int
    energy_j: float
    n_early_closed: int
    n_missed: int


@dataclass(frozen=True)
class UplinkRecord:
    """One tier of one UE's upload (tier 0 and 0 bytes for a UE that sent nothing).

    ``distance_m`` [m], ``snr_db`` [dB] and ``rate_bps`` [bit/s] of that tier's fading block, ``compute_s`` the
    UE's local training time [s], ``downlink_s`` its reception of the broadcast [s] (0 with ``downlink: ideal``),
    ``tx_s`` the tier's air time [s], ``arrival_s`` when it reached the BS [s since the broadcast; inf = never],
    ``accepted`` whether the BS merged it, ``energy_j`` [J] spent on it (the base's row carries the training
    energy too), ``reason`` why a crashed or rejected UE sent nothing usable (exception type and message, at most
    :data:`REASON_CHARS` characters).

    When the rate varies while a tier is on the air (``channel.coherence_s``, ``speed_m_per_s`` or
    ``bandwidth_mode: shared_on_air``) ``snr_db`` / ``rate_bps`` stay the broadcast's (what CSI measures) and four
    more columns (:data:`IN_TIME_COLUMNS`) describe the air time: ``snr_min_db`` / ``snr_max_db`` [dB] the lowest and
    highest SNR over the fading blocks (and bandwidth shares) the tier spanned, ``blocks`` how many fading blocks
    it spanned, ``mean_rate_bps`` [bit/s] its bits over its air time (0 when lost; nan for 0 bytes).

    With ``downlink: broadcast`` one more column (:data:`BROADCAST_COLUMNS`): ``downlink_layers``, the broadcast
    layers the UE decoded (0: none, or not selected); ``downlink_s`` is then when it held them.
    """

    strategy: str
    round: int
    ue: int
    status: str
    spec: str
    distance_m: float
    snr_db: float
    rate_bps: float
    compute_s: float
    downlink_s: float
    tier: int
    bytes: int
    tx_s: float
    arrival_s: float
    accepted: bool
    energy_j: float
    reason: str = ""
    snr_min_db: float = math.nan
    snr_max_db: float = math.nan
    blocks: int = 0
    mean_rate_bps: float = math.nan
    downlink_layers: int = 0


#: Longest crash or rejection reason written to uplinks.csv [characters].
REASON_CHARS = 120


def short_reason(text: str) -> str:
    """``text`` on one line, cut to :data:`REASON_CHARS` characters (an ellipsis marks the cut)."""
    line = " ".join(str(text).split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def columns(record_type: Type[Any]) -> List[str]:
    """The CSV columns of a record type: its field names, in order."""
    return [f.name for f in dataclasses.fields(record_type)]


#: uplinks.csv's extra columns when the rate varies while a tier is on the air.
IN_TIME_COLUMNS = ["snr_min_db", "snr_max_db", "blocks", "mean_rate_bps"]
#: uplinks.csv's extra columns with ``downlink: broadcast``.
BROADCAST_COLUMNS = ["downlink_layers"]
ROUND_COLUMNS = columns(RoundRecord)
UPLINK_COLUMNS = [c for c in columns(UplinkRecord) if c not in IN_TIME_COLUMNS + BROADCAST_COLUMNS]


def uplink_columns(varies_in_time: bool, broadcast: bool = False) -> List[str]:
    """uplinks.csv's columns: :data:`UPLINK_COLUMNS`, then :data:`IN_TIME_COLUMNS` when the rate varies in time,
    then :data:`BROADCAST_COLUMNS` with ``downlink: broadcast``."""
    return UPLINK_COLUMNS + (IN_TIME_COLUMNS if varies_in_time else []) + (BROADCAST_COLUMNS if broadcast else [])


def fmt(value: Any) -> str:
    """CSV text of a value: floats with 9 significant digits (``inf``/``nan`` spelled out), bools as 0/1."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return format(value, ".9g")
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


class CsvLog:
    """An append-only CSV file of one record type, flushed after every batch so a crash loses at most the round
    in flight."""

    def __init__(self, path: str, record_type: Type[Any], names: Optional[Sequence[str]] = None) -> None:
        self.columns = list(names) if names is not None else columns(record_type)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._fh = open(path, "a", newline="")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        if new:
            self._writer.writerow(self.columns)
            self._fh.flush()

    def write(self, records: Sequence[Any]) -> None:
        for record in records:
            self._writer.writerow([fmt(getattr(record, c)) for c in self.columns])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
