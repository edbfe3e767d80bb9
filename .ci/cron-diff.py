"""Compares `crier cron` with Python's croniter: the next 50 firings of a few hundred
schedule lines (generated from a fixed seed, plus hand-picked edge cases) must be the
same instants.

    python cron-diff.py path/to/crier

Where the two are known to part, the comparison says so rather than hiding it:

- The day rule. Vixie cron (and crier) fires on a day matching either day field only
  when neither field starts with `*`; croniter does whenever neither is the bare `*`,
  so for `0 7 */2 * 1` it ORs where cron ANDs. croniter takes the rule as `day_or`,
  and is given cron's.
- Clock changes. croniter fires a skipped local time at the moment the clocks jump,
  and a repeated one twice; crier skips the one and fires the other once. In zones with
  daylight saving, firings within two hours of a change are left out on both sides.
- Lines the generator avoids: `5-5` (croniter reads an equal range as the whole field);
  `*/N` inside a day field's list (croniter takes a day field that allows every day as
  `*` when the other field's text holds a `*` anywhere, so `0 0 1,*/2 * 2-1` ANDs); and
  the forms crier refuses because crons read them differently (a weekday `N/STEP`, a
  step on a range that wraps round).
"""

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

CRIER = sys.argv[1]
FIRINGS = 50
UTC = timezone.utc

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# name, first, last, names (the first standing for `first`), chance of `*`
FIELDS = [
    ("minute", 0, 59, None, 0.1),
    ("hour", 0, 23, None, 0.3),
    ("day", 1, 31, None, 0.45),
    ("month", 1, 12, MONTHS, 0.55),
    ("weekday", 0, 7, DAYS, 0.45),
]

PICKED = [
    "0 7 1 * 1",
    "0 7 1 * mon",
    "0 0 29 2 *",
    "0 0 29 2 mon",
    "*/15 9-17 * * mon-fri",
    "0 0 31 * *",
    "0 0 * * 0-7",
    "0 0 1 * 0-7",
    "0 0 * * 7",
    "0 0 * * 5-7",
    "0 0 * * fri-mon",
    "0 0 * * 1-7/2",
    "0 7 */2 * 1",
    "0 7 1 * */2",
    "0 7 ? * 1",
    "30 6 1,15 * 1-5",
    "0 22-2 * * *",
    "0 12 * nov-feb *",
    "5/20 * * * *",
    "0 0 31/2 * *",
    "0 9 1-7 * mon",
    "59 23 31 12 *",
    "0 0 * JAN-mar/2 SUN",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
    "0 0 31 2 *",  # never fires: both refuse it
]


def generate(count, seed=14):
    """`count` distinct lines, the same ones every run."""
    rng = random.Random(seed)

    def value(v, first, names):
        if names and v - first < len(names) and rng.random() < 0.35:
            return rng.choice([str.lower, str.upper, str.capitalize])(names[v - first])
        return str(v)

    def item(name, first, last, names, alone):
        form = rng.random()
        if form < 0.35:
            return value(rng.randint(first, last), first, names)
        if form < 0.55:  # a range low < high, sometimes with a step
            a, b = sorted(rng.sample(range(first, last + 1), 2))
            step = f"/{rng.randint(2, max(2, b - a))}" if rng.random() < 0.4 else ""
            return f"{value(a, first, names)}-{value(b, first, names)}{step}"
        if form < 0.7 and (alone or name not in ("day", "weekday")):
            return f"*/{rng.randint(2, max(2, (last - first) // 2))}"
        if form < 0.8 and name != "weekday":
            return f"{rng.randint(first, last)}/{rng.randint(2, 20)}"
        if form < 0.9:  # a range that wraps round, no step; 7 and 0 are one weekday
            top = last - 1 if name == "weekday" else last
            b, a = sorted(rng.sample(range(first, top + 1), 2))
            return f"{value(a, first, names)}-{value(b, first, names)}"
        return value(rng.randint(first, last), first, names)

    lines = []
    while len(lines) < count:
        parts = []
        for name, first, last, names, star in FIELDS:
            if rng.random() < star:
                day = name in ("day", "weekday")
                parts.append(rng.choice(["*", "*", "*", f"*/{rng.randint(2, 9)}"]) if day else "*")
            else:
                n = rng.choice([1, 1, 1, 2, 3])
                parts.append(",".join(item(name, first, last, names, n == 1) for _ in range(n)))
        line = " ".join(parts)
        if line not in lines:
            lines.append(line)
    return lines


def cron_day_or(line):
    """Vixie cron's day rule, for croniter's `day_or`."""
    if line.startswith("@"):
        return True
    day, weekday = line.split()[2], line.split()[4]
    return not (day.startswith("*") or day == "?" or weekday.startswith("*") or weekday == "?")


def crier(line, after, zone):
    run = subprocess.run(
        [CRIER, "cron", line, "--next", str(FIRINGS), "--json", "--tz", zone, "--after", after.isoformat()],
        capture_output=True,
        text=True,
    )
    if run.returncode == 1:
        return None
    if run.returncode != 0:
        sys.exit(f"crier cron {line!r} failed ({run.returncode}): {run.stderr}")
    return [datetime.fromisoformat(t["utc"].replace("Z", "+00:00")) for t in json.loads(run.stdout)]


def oracle(line, after, zone, until=None):
    """croniter's firings after `after`: FIRINGS of them, or all up to `until`."""
    try:
        it = croniter(line, after.astimezone(ZoneInfo(zone)), day_or=cron_day_or(line))
        out = []
        while len(out) < (4 * FIRINGS if until else FIRINGS):
            t = it.get_next(datetime).astimezone(UTC)
            if until and t > until:
                break
            out.append(t)
        return out
    except Exception as e:  # croniter refuses the line, or finds no firing
        return type(e).__name__


def clock_changes(zone, start, end):
    tz = ZoneInfo(zone)
    changes, t = [], start
    offset = t.astimezone(tz).utcoffset()
    while t < end:
        t += timedelta(hours=1)
        now = t.astimezone(tz).utcoffset()
        if now != offset:
            changes.append(t)
            offset = now
    return changes


def main():
    generated = generate(220)
    lines = PICKED + generated
    start = datetime(2026, 1, 1, tzinfo=UTC)
    differences, refused, compared = [], 0, {"UTC": 0, "Asia/Kolkata": 0, "dst": 0}

    def differ(line, zone, after, ours, theirs):
        differences.append(f"{line!r} in {zone} after {after.isoformat()}:\n  crier:    {ours}\n  croniter: {theirs}")

    for line in lines:
        for zone in ("UTC", "Asia/Kolkata"):
            ours, theirs = crier(line, start, zone), oracle(line, start, zone)
            if ours is None or isinstance(theirs, str):
                if ours is None and isinstance(theirs, str):
                    refused += zone == "UTC"
                else:
                    crier_says = "refused" if ours is None else "firings"
                    croniter_says = theirs if isinstance(theirs, str) else "firings"
                    differ(line, zone, start, crier_says, croniter_says)
                continue
            if ours != theirs:
                first = next(i for i, (a, b) in enumerate(zip(ours + [None], theirs + [None])) if a != b)
                differ(line, zone, start, ours[first : first + 3], theirs[first : first + 3])
            compared[zone] += len(ours)

    # Across clock changes: starts just before each of 2026's, firings before 2036,
    # none within two hours of a change.
    horizon = datetime(2036, 1, 1, tzinfo=UTC)
    for zone, starts in (
        ("America/New_York", ["2026-03-08T04:00:00+00:00", "2026-10-31T22:00:00+00:00"]),
        ("Europe/London", ["2026-03-28T22:00:00+00:00", "2026-10-24T22:00:00+00:00"]),
    ):
        changes = clock_changes(zone, start, horizon)

        def kept(times):
            return [t for t in times if t < horizon and all(abs(t - c) > timedelta(hours=2) for c in changes)]

        for after in map(datetime.fromisoformat, starts):
            for line in lines:
                ours = crier(line, after, zone)
                if ours is None:
                    continue
                theirs = oracle(line, after, zone, until=ours[-1])
                if isinstance(theirs, str):
                    differ(line, zone, after, "firings", theirs)
                    continue
                ours, theirs = kept(ours), kept(theirs)
                if ours != theirs:
                    differ(line, zone, after, [t for t in ours if t not in theirs][:3], [t for t in theirs if t not in ours][:3])
                compared["dst"] += len(ours)

    print(
        f"cron-diff: {len(lines)} lines ({len(generated)} generated, {len(PICKED)} picked), "
        f"{refused} refused by both; firings compared: {compared['UTC']} in UTC, "
        f"{compared['Asia/Kolkata']} in Asia/Kolkata, {compared['dst']} in America/New_York and "
        f"Europe/London (away from clock changes); {len(differences)} differences"
    )
    for d in differences[:10]:
        print(d)
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
