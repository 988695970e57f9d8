"""The figures as a table, the ratios the performance targets are stated in, and JSON."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from stress.bench.measure import Peak
from stress.bench.rounds import Measure

__all__ = ["RATIOS", "Ratio", "RatioValue", "evaluate", "render", "to_json"]

# The tool each scenario's medians are divided by in the table.
REFERENCE = {"cached": "floor", "ls-warm": "floor", "edit": "turbo", "cold": "xargs"}
RSS_TARGET_MB = 150.0


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` medians, each a (scenario, tool); compared to a target."""

    label: str
    numerator: tuple[str, str]
    denominator: tuple[str, str]
    target: str = ""  # "<= 1", ">= 8"; empty: context only


RATIOS = (
    Ratio("cached: ours / turbo", ("cached", "ours"), ("cached", "turbo"), "<= 1"),
    Ratio("cached: qik 0.2.10 / ours", ("cached", "qik-0.2.10"), ("cached", "ours"), ">= 8"),
    Ratio("cached: ours / floor", ("cached", "ours"), ("cached", "floor"), "<= 3"),
    Ratio("edit: ours / turbo", ("edit", "ours"), ("edit", "turbo"), "<= 1"),
    Ratio("cold -n 2: ours / xargs -P 2", ("cold", "ours"), ("cold", "xargs"), "<= 1.5"),
    Ratio("cached: turbo / floor", ("cached", "turbo"), ("cached", "floor")),
    Ratio("cached: qik 0.2.10 / floor", ("cached", "qik-0.2.10"), ("cached", "floor")),
    Ratio("cached: qik 0.2.10 / turbo", ("cached", "qik-0.2.10"), ("cached", "turbo")),
    Ratio("ls warm: ours / floor", ("ls-warm", "ours"), ("cached", "floor")),
    Ratio("ls warm: qik 0.2.10 / floor", ("ls-warm", "qik-0.2.10"), ("cached", "floor")),
    Ratio("edit: qik 0.2.10 / turbo", ("edit", "qik-0.2.10"), ("edit", "turbo")),
    Ratio("cold -n 2: qik 0.2.10 / xargs -P 2", ("cold", "qik-0.2.10"), ("cold", "xargs")),
)

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class RatioValue:
    label: str
    value: float | None
    target: str
    verdict: str  # "met", "missed", "context", or why it is not measured


def _medians(measures: Sequence[Measure]) -> dict[tuple[str, str], Measure]:
    return {(m.scenario, m.tool): m for m in measures}


def _why_missing(key: tuple[str, str], by_key: Mapping[tuple[str, str], Measure]) -> str:
    measure = by_key.get(key)
    if measure is None:
        return f"not measured: {key[1]} unavailable"
    return f"not measured: {key[1]} failed ({measure.error[:120]})"


def evaluate(measures: Sequence[Measure]) -> list[RatioValue]:
    by_key = _medians(measures)
    out = []
    for ratio in RATIOS:
        num, den = by_key.get(ratio.numerator), by_key.get(ratio.denominator)
        if num is None or num.median is None:
            out.append(
                RatioValue(ratio.label, None, ratio.target, _why_missing(ratio.numerator, by_key))
            )
            continue
        if den is None or not den.median:
            out.append(
                RatioValue(
                    ratio.label, None, ratio.target, _why_missing(ratio.denominator, by_key)
                )
            )
            continue
        value = num.median / den.median
        verdict = "context"
        if ratio.target:
            op, bound = ratio.target.split()
            verdict = "met" if _OPS[op](value, float(bound)) else "missed"
        out.append(RatioValue(ratio.label, value, ratio.target, verdict))
    return out


def _rss_lines(peaks: Mapping[str, Peak]) -> list[str]:
    lines = ["", f"peak RSS (MB, sampled; target for ours < {RSS_TARGET_MB:.0f} MB)"]
    for name, peak in peaks.items():
        last = peak.outcome.tail.strip().splitlines()[-1:] or [""]
        status = "" if peak.outcome.is_ok else f"  (run failed: {last[0][:100]})"
        pss = f"{peak.tree_pss_mb:7.1f}" if peak.tree_pss_mb is not None else "      -"
        lines.append(
            f"  {name:<28} tree RSS {peak.tree_mb:7.1f}   tree PSS {pss}"
            f"   main process RSS {peak.root_mb:7.1f}{status}"
        )
    return lines


def render(measures: Sequence[Measure], peaks: Mapping[str, Peak]) -> str:
    by_key = _medians(measures)
    lines = [f"{'scenario':<9} {'tool':<28} {'median s':>9} {'min':>8} {'max':>8}  ratio"]
    for m in measures:
        if m.median is None:
            lines.append(f"{m.scenario:<9} {m.tool:<28} {'failed':>9}  {m.error[:150]}")
            continue
        # ls-warm runs in the cached round, beside the floor it is compared with.
        ref_tool = REFERENCE[m.scenario]
        ref = by_key.get(("cached" if m.scenario == "ls-warm" else m.scenario, ref_tool))
        ratio = f"{m.median / ref.median:6.2f}x {ref_tool}" if ref and ref.median else ""
        lines.append(
            f"{m.scenario:<9} {m.tool:<28} {m.median:9.3f} {min(m.seconds):8.3f} "
            f"{max(m.seconds):8.3f}  {ratio}"
        )
    lines += ["", "ratios of medians (targets are for ours)"]
    for r in evaluate(measures):
        value = f"{r.value:7.2f}" if r.value is not None else "      -"
        lines.append(f"  {r.label:<36} {value}  {r.target:<7} {r.verdict}")
    return "\n".join(lines + _rss_lines(peaks))


def to_json(
    measures: Sequence[Measure], peaks: Mapping[str, Peak], context: Mapping[str, object]
) -> dict[str, object]:
    return {
        **context,
        "measures": [{**asdict(m), "median": m.median} for m in measures],
        "ratios": [asdict(r) for r in evaluate(measures)],
        "peak_rss_mb": {
            name: {
                "tree_rss": p.tree_mb,
                "tree_pss": p.tree_pss_mb,
                "main_rss": p.root_mb,
                "ok": p.outcome.is_ok,
            }
            for name, p in peaks.items()
        },
    }
