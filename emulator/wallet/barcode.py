"""Code 128 barcodes as SVG, for the wallet's "show payment code" (ISO/IEC 15417). Pure.

An all-digit value of even length (payment codes have 16-24 digits) uses code set C, two digits
per symbol; anything else uses code set B (printable ASCII).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

# Bar/space widths in modules for symbol values 0-106, bar first; every symbol is 11 modules,
# the stop (106) 13 with its termination bar.
PATTERNS: tuple[str, ...] = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
    "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
    "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
    "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
    "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
    "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
    "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
    "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
    "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
    "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)  # fmt: skip
START_B = 104
START_C = 105
STOP = 106
QUIET_MODULES = 10


def symbols(value: str) -> list[int]:
    """Symbol values: start, data, checksum (mod 103), stop."""
    if not value:
        raise ValueError("a barcode needs a value")
    if value.isdigit() and len(value) % 2 == 0:
        data = [int(value[i : i + 2]) for i in range(0, len(value), 2)]
        start = START_C
    else:
        if any(not 32 <= ord(ch) <= 126 for ch in value):
            raise ValueError("code set B encodes printable ASCII only")
        data = [ord(ch) - 32 for ch in value]
        start = START_B
    checksum = (start + sum(i * v for i, v in enumerate(data, start=1))) % 103
    return [start, *data, checksum, STOP]


def modules(value: str) -> str:
    """The symbol as a string of ``1`` (bar) and ``0`` (space) modules, without quiet zones."""
    out: list[str] = []
    for symbol in symbols(value):
        for i, width in enumerate(PATTERNS[symbol]):
            out.append(("1" if i % 2 == 0 else "0") * int(width))
    return "".join(out)


def code128_svg(value: str, *, module: int = 2, height: int = 80) -> str:
    """A standalone SVG document: black bars on white, quiet zones, the digits underneath."""
    bars = modules(value)
    width = (len(bars) + 2 * QUIET_MODULES) * module
    rects: list[str] = []
    x = 0
    while x < len(bars):
        if bars[x] == "1":
            run = len(bars[x:]) - len(bars[x:].lstrip("1"))
            left = (QUIET_MODULES + x) * module
            rects.append(f'<rect x="{left}" y="0" width="{run * module}" height="{height}"/>')
            x += run
        else:
            x += 1
    text_y = height + 18
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 24}" '
        f'viewBox="0 0 {width} {height + 24}" role="img" aria-label="Code 128 barcode {escape(value)}">'
        f'<rect width="100%" height="100%" fill="#fff"/><g fill="#000">{"".join(rects)}</g>'
        f'<text x="{width // 2}" y="{text_y}" font-family="monospace" font-size="16" '
        f'text-anchor="middle">{escape(value)}</text></svg>'
    )
