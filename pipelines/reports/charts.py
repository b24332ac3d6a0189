"""Charts for reports, drawn offline: Altair builds the Vega-Lite spec, vl-convert the PNG.

Every chart comes back as a :class:`~pipelines.reports.content.Chart` with its text
alternative written from the same numbers, so a reader without images (or a screen reader)
gets the content too; the report also shows those numbers in a table.

    chart = bar_chart("top_pages", "Top pages by pageviews", pages, "page", "pageviews",
                      horizontal=True)
    chart.png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
"""

from __future__ import annotations

import struct

import altair as alt
import polars as pl
import vl_convert as vlc

from pipelines.reports.content import Chart

__all__ = ["CURRENT", "PREVIOUS", "WIDTH", "bar_chart", "compared_bar_chart", "png_size"]

WIDTH = 560          # whole image in CSS pixels, axes and legend included: fits a 600 px email
SCALE = 2            # PNG pixels per CSS pixel, sharp on high-density screens
BAR_COLOUR = "#2f6fb3"
PREVIOUS_COLOUR = "#b7c9de"
CURRENT, PREVIOUS = "This period", "Previous period"
LABEL_LIMIT = 180    # px: long paths and names are cut with an ellipsis in the chart only
FONT = "Helvetica, Arial, sans-serif"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, read from the PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return struct.unpack(">II", png[16:24])


def bar_chart(name: str, title: str, frame: pl.DataFrame, category: str, value: str, *,
              horizontal: bool = False, value_title: str | None = None) -> Chart:
    """One bar per row of ``frame``, in row order."""
    value_title = value_title or value
    order = frame[category].to_list()
    bars = alt.Chart(frame).mark_bar(color=BAR_COLOUR)
    cat = alt.X if not horizontal else alt.Y
    val = alt.Y if not horizontal else alt.X
    chart = bars.encode(
        cat(f"{category}:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
        val(f"{value}:Q", title=value_title),
    )
    height = max(120, 26 * len(order) + 40) if horizontal else 220
    alt_text = f"{title}: " + _pairs(frame, category, value)
    return _render(name, title, chart, alt_text, height)


def compared_bar_chart(name: str, title: str, frame: pl.DataFrame, category: str, value: str,
                       previous: str | None, *, value_title: str | None = None) -> Chart:
    """Grouped bars: ``value`` for this period and, when given, ``previous`` beside it."""
    value_title = value_title or value
    order = frame[category].to_list()
    series = {CURRENT: value} if previous is None else {PREVIOUS: previous, CURRENT: value}
    long = pl.concat([
        frame.select(pl.col(category), pl.lit(label).alias("period"), pl.col(column).alias("v"))
        for label, column in series.items()
    ])
    colours = [PREVIOUS_COLOUR, BAR_COLOUR][-len(series):]
    chart = alt.Chart(long).mark_bar().encode(
        alt.X(f"{category}:N", sort=order, title=None,
              axis=alt.Axis(labelAngle=0, labelLimit=LABEL_LIMIT)),
        alt.XOffset("period:N", sort=list(series)),
        alt.Y("v:Q", title=value_title),
        alt.Color("period:N", sort=list(series), title=None,
                  scale=alt.Scale(domain=list(series), range=colours),
                  legend=alt.Legend(orient="top")),
    )
    alt_text = f"{title}. {CURRENT}: " + _pairs(frame, category, value)
    if previous is not None:
        alt_text += f". {PREVIOUS}: " + _pairs(frame, category, previous)
    return _render(name, title, chart, alt_text, 220)


def _pairs(frame: pl.DataFrame, category: str, value: str) -> str:
    pairs = []
    for label, number in frame.select(category, value).iter_rows():
        shown = "no data" if number is None else f"{number:,.0f}" if float(number).is_integer() \
            else f"{number:,.1f}"
        pairs.append(f"{label} {shown}")
    return "; ".join(pairs) if pairs else "no data"


def _render(name: str, title: str, chart: alt.Chart, alt_text: str, height: int) -> Chart:
    # The section heading above the image carries the title; "fit" makes the whole image
    # WIDTH wide whatever the label lengths, so it never overflows the email's column.
    spec = chart.properties(width=WIDTH, height=height,
                            autosize=alt.AutoSizeParams(type="fit", contains="padding")) \
        .configure(font=FONT, background="white").configure_view(stroke=None).to_dict()
    png = vlc.vegalite_to_png(spec, scale=SCALE)
    width, height_px = png_size(png)
    return Chart(name=name, title=title, alt=alt_text, png=png,
                 width=width // SCALE, height=height_px // SCALE)
