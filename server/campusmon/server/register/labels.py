"""Printable asset labels: QR code (tag, name, room) and the same text, on A4 sheets (PDF or PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .formulas import neutralise

#: fonts with Chinese glyphs, in order of preference (Debian: fonts-wqy-microhei, fonts-noto-cjk)
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
DPI = 300
PAGE_MM = (210.0, 297.0)
LABEL_MM = (63.5, 38.1)  # the common 3 x 7 sheet of A4 labels
MARGIN_MM = (7.2, 15.1)


@dataclass(frozen=True)
class Label:
    tag: str
    name: str
    room: str
    #: what the QR code holds, when not the text (a room's report URL, which a phone then opens)
    qr: str = ""

    @property
    def qr_text(self) -> str:
        """One line per field; a scanner that types it into a spreadsheet never enters a formula."""
        if self.qr:
            return self.qr
        return "\n".join(neutralise(p) for p in (self.tag, self.name, self.room) if p)


def _px(mm: float) -> int:
    return round(mm / 25.4 * DPI)


def _font(size: int, font_path: str | None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in ([font_path] if font_path else []) + list(FONT_CANDIDATES):
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
    max_lines: int,
) -> list[str]:
    """Break by character (Chinese has no spaces) and at the text's own line breaks (Alt+Enter in an
    Excel cell); the last line ends in … when text is left."""
    lines: list[str] = []
    paragraphs = [p.strip() for p in text.splitlines()]
    paragraphs = [p for p in paragraphs if p]
    for i, para in enumerate(paragraphs):
        rest = para
        while rest and len(lines) < max_lines:
            n = len(rest)
            while n > 1 and draw.textlength(rest[:n], font=font) > width:
                n -= 1
            line, rest = rest[:n], rest[n:]
            more = bool(rest) or i < len(paragraphs) - 1
            if more and len(lines) == max_lines - 1:
                while line and draw.textlength(line + "…", font=font) > width:
                    line = line[:-1]
                line += "…"
            lines.append(line)
    return lines


def render_label(label: Label, font_path: str | None = None) -> Image.Image:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    w, h = _px(LABEL_MM[0]), _px(LABEL_MM[1])
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    pad = _px(2.5)
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=1, box_size=8)
    qr.add_data(label.qr_text)
    qr.make(fit=True)
    side = min(h - 2 * pad, _px(28))
    code = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    img.paste(code.resize((side, side), Image.Resampling.NEAREST), (pad, (h - side) // 2))
    x = pad + side + pad
    text_w = w - x - pad
    big, small = _font(_px(3.6), font_path), _font(_px(2.9), font_path)
    y = pad + _px(1.5)
    for line in _wrap(draw, label.tag, big, text_w, 2):
        draw.text((x, y), line, font=big, fill="black")
        y += _px(4.6)
    y += _px(1.2)
    for text in (label.name, label.room):
        for line in _wrap(draw, text, small, text_w, 2):
            draw.text((x, y), line, font=small, fill="black")
            y += _px(3.8)
        y += _px(0.8)
    return img


def render_pages(labels: Sequence[Label], font_path: str | None = None) -> list[Image.Image]:
    """A4 pages at 300 dpi, 3 x 7 labels each, with thin cut guides."""
    pw, ph = _px(PAGE_MM[0]), _px(PAGE_MM[1])
    lw, lh = _px(LABEL_MM[0]), _px(LABEL_MM[1])
    mx, my = _px(MARGIN_MM[0]), _px(MARGIN_MM[1])
    cols, rows = (pw - 2 * mx) // lw, (ph - 2 * my) // lh
    pages: list[Image.Image] = []
    for start in range(0, len(labels), cols * rows):
        page = Image.new("RGB", (pw, ph), "white")
        draw = ImageDraw.Draw(page)
        for i, label in enumerate(labels[start : start + cols * rows]):
            x, y = mx + (i % cols) * lw, my + (i // cols) * lh
            page.paste(render_label(label, font_path), (x, y))
            draw.rectangle((x, y, x + lw - 1, y + lh - 1), outline=(200, 200, 200))
        pages.append(page)
    return pages


def write_labels(labels: Sequence[Label], out: Path, font_path: str | None = None) -> list[Path]:
    """PDF: one file, one page per sheet. PNG: out.png, then out-2.png… for further sheets."""
    if not labels:
        return []
    pages = render_pages(labels, font_path)
    if out.suffix.lower() == ".pdf":
        pages[0].save(out, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
        return [out]
    written = []
    for n, page in enumerate(pages, 1):
        path = out if n == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}")
        page.save(path, "PNG", dpi=(DPI, DPI))
        written.append(path)
    return written
