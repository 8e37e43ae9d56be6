"""The CJK font the PDF and the charts embed (Chinese must render, not turn into boxes).

``DOSSIER_REPORT_FONT`` names a TrueType file (``.ttf``/``.ttc``, glyf outlines); without it
the first of :data:`CANDIDATES` that exists is used: Debian's ``fonts-wqy-microhei``
(``make system-deps`` installs it), then fontconfig's best match for Chinese. One font
covers Latin and CJK (simplified and traditional), so one face serves the whole report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dossiers.core.errors import CannotRun

#: Debian paths, best first: WenQuanYi Micro Hei (TrueType outlines, ≈ 5 MB, GB 2312 + Big5
#: + CJK Unified Ideographs) then the other TrueType CJK families Debian packages.
CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
#: Probed in the chosen face: a traditional and a simplified character of the reports.
PROBE = "檔臺賬档台账"


@dataclass(frozen=True)
class Font:
    path: Path
    index: int = 0  # the face in a TrueType collection (.ttc)


@cache
def _find(override: str | None) -> Font:
    if override:
        path = Path(override)
        if not path.is_file():
            raise CannotRun(f"DOSSIER_REPORT_FONT: {path} does not exist")
        return Font(path)
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return Font(Path(candidate))
    matched = _fontconfig_match()
    if matched is not None:
        return matched
    raise CannotRun("no CJK TrueType font found for reports: install Debian's fonts-wqy-microhei "
                    "(`make system-deps` as root) or set DOSSIER_REPORT_FONT to a .ttf/.ttc file")


def cjk_font() -> Font:
    """The font to embed; a clear error naming the fix when none is installed."""
    return _find(os.environ.get("DOSSIER_REPORT_FONT") or None)


def _fontconfig_match() -> Font | None:
    fc = shutil.which("fc-match")
    if fc is None:
        return None
    out = subprocess.run([fc, "-f", "%{file}|%{index}|%{fontformat}", f":lang=zh-cn:charset={ord('檔'):x}"],
                         capture_output=True, text=True, check=False, timeout=30).stdout
    file, _, rest = out.partition("|")
    index, _, fmt = rest.partition("|")
    if not file or fmt != "TrueType" or not Path(file).is_file():
        return None  # CFF-outline OpenType (Noto CJK) is not embeddable by fpdf2 as TrueType
    return Font(Path(file), int(index or 0))
