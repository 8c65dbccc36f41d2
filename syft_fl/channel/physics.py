"""The channel's formulas, free of any state: path loss, the Shannon rate in the dB domain, the SNR from a link
budget, and a message's air time."""
import math

#: Above this SNR [dB] ``log2(1 + 10^(snr/10))`` is ``snr/10 * log2(10)`` (equal in double precision; no overflow).
LOG_DOMAIN_DB = 3000.0


def log2_1p_db(snr_db: float) -> float:
    """``log2(1 + 10^(snr_db / 10))`` [bit/s/Hz], finite for every finite ``snr_db`` (dB domain above
    ``LOG_DOMAIN_DB``, where ``10^(snr/10)`` would overflow; below it the plain expression, bit for bit)."""
    if snr_db > LOG_DOMAIN_DB:
        return snr_db / 10.0 * math.log2(10.0)
    return math.log2(1.0 + 10.0 ** (snr_db / 10.0))


def pathloss_db(distance_m: float, *, intercept_db: float = 128.1, slope_db: float = 37.6) -> float:
    """Large-scale path loss [dB] at ``distance_m`` [m]: ``intercept + slope * log10(d / 1 km)``."""
    return intercept_db + slope_db * math.log10(distance_m / 1000.0)


def upload_time_s(nbytes: float, rate_bps: float) -> float:
    """Air time [s] of ``nbytes`` bytes at ``rate_bps`` bit/s; ``math.inf`` if the rate is 0."""
    if rate_bps <= 0.0:
        return math.inf
    return nbytes * 8.0 / rate_bps


def check_bytes(tier: int, nbytes: float) -> None:
    if nbytes < 0:
        raise ValueError("tier_bytes[{}] must be >= 0, got {!r}".format(tier, nbytes))


def snr_db_from_budget(budget_db: float, gain: float, noise_dbm: float) -> float:
    """SNR [dB] from the link budget (power - losses [dBm]), the small-scale power gain and the noise [dBm]."""
    gain_db = 10.0 * math.log10(gain) if gain > 0.0 else -math.inf
    return budget_db + gain_db - noise_dbm
