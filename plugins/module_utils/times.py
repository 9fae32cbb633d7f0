# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one time parser and formatter of the collection (records, reports, CloudWatch windows, hold tags).

Pure functions. Times are epoch seconds (float) inside; ISO 8601 UTC text (`2026-11-26T10:00:00Z`) outside.
"""

import datetime
import math
import re

_RELATIVE_RE = re.compile(r"^-(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def to_epoch(value, now=None):
    """Epoch seconds from ISO 8601 text (with Z or an offset; naive means UTC), epoch seconds (a number or numeric
    text), or - when `now` (epoch seconds) is given - a time relative to it (-15m, -900s, -1h, -1d).

    ValueError for anything else (empty text, None, booleans, NaN, infinity included)."""
    if value is None or isinstance(value, bool):
        raise ValueError("%r is not a time" % (value,))
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("%r is not a time" % (value,))
        return float(value)
    text = str(value).strip()
    match = _RELATIVE_RE.match(text) if now is not None else None
    if match:
        return float(now) - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
        raise ValueError("%r is not a time" % (value,))
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("%r is not a time" % (value,))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def parse_time(value, now=None):
    """to_epoch(value, now), or None when `value` is not a time (a record's missing or garbled field)."""
    try:
        return to_epoch(value, now)
    except ValueError:
        return None


def iso(epoch):
    """Epoch seconds -> `2026-11-26T10:00:00Z` (whole seconds, UTC)."""
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
