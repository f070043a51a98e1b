"""Checks of command-line flags by name, for the programs and the export commands: required flags, numeric ranges.

A range is `(lowest, highest)`, either None for no bound; a bound in a
1-tuple is excluded (`(0,)`: above 0). Each table (`tasks.common.FLAG_RANGES`,
`export.saved_model.FLAG_RANGES`, ...) lists its commands' flags.
"""


def check_flag_ranges(flag_values, ranges):
    """Raises a `ValueError` naming the first numeric flag outside its range.

    Args:
        flag_values: absl `FlagValues` (or a dict-like of objects with
            `.value`). Flags it does not define, and flags left at None
            ("not given"), are not checked.
        ranges: dict `{flag name: (lowest, highest)}`.
    """
    for name, (lowest, highest) in ranges.items():
        if name not in flag_values or flag_values[name].value is None:
            continue
        value = flag_values[name].value
        low_excluded, high_excluded = isinstance(lowest, tuple), isinstance(highest, tuple)
        low = lowest[0] if low_excluded else lowest
        high = highest[0] if high_excluded else highest
        too_low = low is not None and (value <= low if low_excluded else value < low)
        too_high = high is not None and (value >= high if high_excluded else value > high)
        # NaN compares false with everything: refused as out of any range.
        if too_low or too_high or value != value:
            if high is None:
                expected = f"{'above' if low_excluded else 'at least'} {low}"
            else:
                expected = f"in {'(' if low_excluded else '['}{low}, {high}{')' if high_excluded else ']'}"
            raise ValueError(f"--{name} must be {expected}. Got {value}.")


def check_required_flags(flag_values, *names):
    """Raises a `ValueError` naming the flags of `names` that were not given (empty or None)."""
    missing = [f"--{name}" for name in names if not flag_values[name].value]
    if missing:
        raise ValueError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required.")
