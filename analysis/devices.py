"""Device type: ``desktop``, ``mobile``, ``tablet``, ``bot`` (or ``unknown``) of an event.

The collector parses the user agent into ``os`` and ``device`` (ua-parser's families). A
device family alone does not say what kind of device it is: Windows and Linux PCs are
"Other", Macs "Mac". The rule, first match wins:

1. ``bot``: the event is flagged ``bot``, or its device family is ``Spider``;
2. ``tablet``: the device family is iPad, Generic Tablet or Kindle, or the user agent
   says ``iPad`` or ``Tablet``, or ``Android`` without ``Mobile`` (Android tablets leave it out);
3. ``mobile``: the device family is iPhone, iPod or Generic Smartphone, or the user agent
   says ``Mobi`` (as in Mobile), ``iPhone`` or ``iPod``, or the os is iOS, Android or
   Windows Phone;
4. ``desktop``: the os is a desktop one (Windows, Mac OS X, Linux, Chrome OS, ...);
5. otherwise by the viewport width, where the event has one: below
   :data:`TABLET_MIN` (768) CSS px ``mobile``, below :data:`DESKTOP_MIN` (1024) ``tablet``,
   else ``desktop``;
6. else ``unknown``.

Written twice, as plain Python (:func:`device_type`, for code that has one event, such as a
collector) and as a DataFrame column (:func:`device_type_column`, for the analysis); a
test holds the two to the same answers. This module imports nothing of the analysis.
"""

from __future__ import annotations

from typing import Any

TABLET_MIN = 768  # CSS px: Bootstrap's md breakpoint; the viewport classes use the same
DESKTOP_MIN = 1024  # Bootstrap's lg

TABLET_DEVICES = ("iPad", "Generic Tablet", "Kindle")
MOBILE_DEVICES = ("iPhone", "iPod", "Generic Smartphone")
MOBILE_OS = ("iOS", "Android", "Windows Phone")
DESKTOP_OS = (
    "Windows",
    "Mac OS X",
    "Mac OS",
    "Linux",
    "Ubuntu",
    "Debian",
    "Fedora",
    "Chrome OS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Solaris",
)
TYPES = ("desktop", "mobile", "tablet", "bot", "unknown")


def device_type(
    user_agent: str | None,
    os: str | None = None,
    device: str | None = None,
    viewport_w: float | None = None,
    bot: bool | None = None,
) -> str:
    """The device type of one event (see the module doc for the rule)."""
    ua = user_agent or ""
    if bot or device == "Spider":
        return "bot"
    if device in TABLET_DEVICES or "iPad" in ua or "Tablet" in ua or ("Android" in ua and "Mobile" not in ua):
        return "tablet"
    if device in MOBILE_DEVICES or "Mobi" in ua or "iPhone" in ua or "iPod" in ua or os in MOBILE_OS:
        return "mobile"
    if os in DESKTOP_OS:
        return "desktop"
    if viewport_w is not None:
        return "mobile" if viewport_w < TABLET_MIN else "tablet" if viewport_w < DESKTOP_MIN else "desktop"
    return "unknown"


def device_type_column(
    F: Any,
    user_agent: str = "user_agent",
    os: str = "os",
    device: str = "device",
    viewport_w: str = "viewport_w",
    bot: str = "bot",
) -> Any:
    """:func:`device_type` as a column of the named columns (``F``: the engine's functions)."""
    ua, os_, dev, width = F.col(user_agent), F.col(os), F.col(device), F.col(viewport_w)

    def one_of(col: Any, names: tuple[str, ...]) -> Any:
        out = F.lit(False)
        for name in names:  # equalities, not isin: DuckDB plans an IN list as a join
            out = out | (col == name)
        return F.coalesce(out, F.lit(False))

    def has(text: str) -> Any:
        return F.coalesce(ua.contains(text), F.lit(False))

    tablet = one_of(dev, TABLET_DEVICES) | has("iPad") | has("Tablet") | (has("Android") & ~has("Mobile"))
    mobile = one_of(dev, MOBILE_DEVICES) | has("Mobi") | has("iPhone") | has("iPod") | one_of(os_, MOBILE_OS)
    return (
        F.when(F.coalesce(F.col(bot), F.lit(False)) | one_of(dev, ("Spider",)), F.lit("bot"))
        .when(tablet, F.lit("tablet"))
        .when(mobile, F.lit("mobile"))
        .when(one_of(os_, DESKTOP_OS), F.lit("desktop"))
        .when(width.isNull(), F.lit("unknown"))
        .when(width < TABLET_MIN, F.lit("mobile"))
        .when(width < DESKTOP_MIN, F.lit("tablet"))
        .otherwise(F.lit("desktop"))
    )
