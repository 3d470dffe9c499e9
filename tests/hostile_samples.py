"""Sample files for the loader tests: small PDFs written byte by byte (no PDF library
needed to make them), and a folder of hostile files with what ingestion must do with
each (see `make_hostile_folder`)."""
from __future__ import annotations

import codecs
import io
import os
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

# --- PDFs -------------------------------------------------------------------------


def pdf_bytes(streams: list[bytes], filter_: bytes | None = None, extra_trailer: bytes = b"",
              extra_objects: list[bytes] = ()) -> bytes:
    """A one-page PDF whose page content is `streams` (already encoded with `filter_`)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", b"",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", *extra_objects]
    refs = []
    for content in streams:
        head = b"<< /Length %d" % len(content) + (b" /Filter /" + filter_ if filter_ else b"") + b" >>"
        objs.append(head + b"\nstream\n" + content + b"\nendstream")
        refs.append(b"%d 0 R" % len(objs))
    objs[2] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [" + b" ".join(refs)
               + b"] /Resources << /Font << /F1 4 0 R >> >> >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, extra_trailer, xref))
    return out.getvalue()


def text_pdf(*lines: str) -> bytes:
    """A PDF showing `lines` (ASCII) in Helvetica."""
    ops = [b"BT /F1 12 Tf 72 720 Td 14 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(b"(" + escaped.encode("latin-1") + b") Tj T*")
    ops.append(b"ET")
    return pdf_bytes([b"\n".join(ops)])


def bomb_pdf(inflated_bytes: int = 400_000_000, text_operators: bool = True) -> bytes:
    """A FlateDecode content stream of ~1 MB that inflates to `inflated_bytes`."""
    unit = b"BT /F1 12 Tf 72 720 Td (AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA) Tj ET\n" if text_operators else b"\0" * 64
    compressor, parts = zlib.compressobj(9), []
    block = unit * (1_000_000 // len(unit))
    for _ in range(inflated_bytes // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return pdf_bytes([b"".join(parts)], b"FlateDecode")


def encrypted_pdf_rc4(user_password: str = "secret") -> bytes:
    """A PDF encrypted by pypdf (RC4-128, needs no extra package)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf("Encrypted content about canals."))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf_aes() -> bytes:
    """A PDF declaring AES (V4/AESV2) encryption with a user password."""
    encrypt = (b"<< /Filter /Standard /V 4 /R 4 /Length 128 /CF << /StdCF << /CFM /AESV2 /AuthEvent /DocOpen "
               b"/Length 16 >> >> /StmF /StdCF /StrF /StdCF /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>")
    return pdf_bytes([bytes(range(16))], extra_objects=[encrypt],
                     extra_trailer=b"/Encrypt 5 0 R /ID [<" + b"ab" * 16 + b"> <" + b"ab" * 16 + b">] ")


def deeply_nested_pdf(depth: int = 100_000) -> bytes:
    """A content stream of `depth` nested arrays (recursion in naive parsers)."""
    return pdf_bytes([b"[" * depth + b"]" * depth])


# --- the hostile folder ---------------------------------------------------------

OUTSIDE_CANARY = "OUTSIDECANARY7f3a9"


@dataclass(frozen=True)
class Hostile:
    """One generated file and what ingestion must do with it.

    expect: "skip" (reported as skipped, `reason` in the message), "ingest" (in the
    catalog under `doc_id`), "ignore" (silently left out: hidden or unsupported), or
    "any" (must not break anything; either outcome is fine).
    """

    name: str
    expect: str
    reason: str = ""
    doc_id: str = ""


PROSE = ("The harbour of Valparaiso handled record cargo volumes in the spring season. "
         "Port authorities credited new cranes and longer opening hours for the growth. ")


def make_hostile_folder(root: Path, outside: Path, big: bool = True) -> list[Hostile]:
    """Write the hostile files under `root` (and a secret under `outside`); return them.
    `big=False` leaves out the 50 MB file (the in-process loader tests)."""
    rng = random.Random(7)
    root.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text(f"The secret code is {OUTSIDE_CANARY}. {PROSE}")
    items: list[Hostile] = []

    def put(name: str, data: bytes | str, expect: str, reason: str = "", doc_id: str | None = None):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        path.write_bytes(data)
        stem = Path(name).with_suffix("").as_posix()
        items.append(Hostile(name, expect, reason, stem if doc_id is None else doc_id))

    # Empty and nearly empty.
    put("empty.txt", b"", "skip", "empty")
    put("empty.md", b"", "skip", "empty")
    put("empty.html", b"", "skip", "empty")
    put("whitespace.txt", " \n\t\n \r\n   \n" * 1000, "skip", "empty")
    put("bom_only.txt", codecs.BOM_UTF8, "skip", "empty")
    put("html_only_script.html", "<html><script>var secret = 'script text';</script></html>", "skip", "empty")
    put("html_unclosed_script.html", "<p><script>document.write('never closed')", "skip", "empty")
    put("html_only_markup.htm", "<div><span></span><br/></div>" * 100, "skip", "empty")
    put("blank_page.pdf", pdf_bytes([b"q Q"]), "skip", "no text")
    # Not text.
    put("binary_junk.txt", bytes(rng.randrange(256) for _ in range(65536)), "skip", "")
    put("binary_junk.md", bytes(rng.randrange(256) for _ in range(4096)), "skip", "")
    put("png_header.md", b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(2048)), "skip", "")
    put("gzip.txt", zlib.compress(PROSE.encode() * 50), "skip", "")
    put("invalid_utf8.txt", ("Café crème brûlée. " * 20).encode("cp1252"), "skip", "not valid UTF-8")
    put("nul_bytes.txt", PROSE.encode() + b"\x00\x00\x00" + PROSE.encode(), "skip", "binary")
    put("controls.txt", bytes(range(1, 9)) * 500, "skip", "binary")
    put("utf16_no_bom.txt", PROSE.encode("utf-16-le"), "skip", "binary")
    put("utf16_odd_length.txt", codecs.BOM_UTF16_LE + PROSE.encode("utf-16-le") + b"\x41", "skip", "utf-16")
    put("utf32_bom.txt", PROSE.encode("utf-32"), "skip", "")
    put("many_lines.txt", "a\n" * 600_000, "skip", "lines")
    # PDFs.
    put("junk.pdf", bytes(rng.randrange(256) for _ in range(8192)), "skip", "PDF")
    put("zero.pdf", b"", "skip", "PDF")
    put("truncated.pdf", text_pdf(PROSE)[:200], "skip", "PDF")
    put("header_only.pdf", b"%PDF-1.7\n", "skip", "PDF")
    put("encrypted_rc4.pdf", encrypted_pdf_rc4(), "skip", "encrypted")
    put("encrypted_aes.pdf", encrypted_pdf_aes(), "skip", "encrypted")
    put("bomb_text.pdf", bomb_pdf(400_000_000, True), "skip", "PDF")
    put("bomb_zeros.pdf", bomb_pdf(500_000_000, False), "skip", "PDF")
    put("nested_arrays.pdf", deeply_nested_pdf(), "any")
    # Too big: sparse, so it costs no disk.
    if big:
        with open(root / "huge_50mb.txt", "wb") as f:
            f.truncate(50 * 1024 * 1024)
        items.append(Hostile("huge_50mb.txt", "skip", "larger than 20 MB"))
        put("huge_line.md", ("word " * (10 * 1024 * 1024)).encode()[: 50 * 1024 * 1024 + 7], "skip", "larger than 20 MB")

    # Valid but unusual: these must be ingested.
    put("zero_width.txt", PROSE.replace(" ", " \u200b").replace("o", "o\u200d") + "\n\ufeffMore text\u2060 here.", "ingest")
    put("right_to_left.txt", "\u202eThe river flows north.\u202c \u200fשלום עולם. مرحبا بالعالم. " + PROSE, "ingest")
    put("emoji.md", "# Harbour 🚢 report\n\n" + PROSE + " 👍🏽 👨‍👩‍👧 \U0001F1FA\U0001F1F8.", "ingest")
    put("utf16_bom.txt", codecs.BOM_UTF16_LE + ("UTF-16 text: " + PROSE).encode("utf-16-le"), "ingest")
    put("utf16be_bom.txt", codecs.BOM_UTF16_BE + ("Big endian: " + PROSE).encode("utf-16-be"), "ingest")
    put("utf8_bom.md", codecs.BOM_UTF8 + ("With a BOM. " + PROSE).encode(), "ingest")
    put("crlf.txt", ("Windows line one about ships.\r\n" + PROSE + "\r\n") * 3, "ingest")
    put("cr_only.txt", ("Old Mac line about cranes.\r" + PROSE + "\r") * 3, "ingest")
    put("form_feeds.txt", ("Page one about tides.\f" + PROSE + "\v" + PROSE + "\u2028" + PROSE + "\x85") * 2, "ingest")
    put("long_line.txt", " ".join(rng.choice(PROSE.split()) for _ in range(3_000)), "ingest")
    put("nested_divs.html", "<div>" * 100_000 + PROSE + "</div>" * 100_000, "ingest")
    put("html_with_scripts.html", "<html><head><style>body{color:red}</style><script>var secret='SCRIPTCANARY';"
        "</script></head><body><h1>Harbour news</h1><p>" + PROSE + "</p><script>alert('SCRIPTCANARY')</script>"
        "<noscript>SCRIPTCANARY</noscript></body></html>", "ingest")
    put("html_malformed.html", "<p>" + PROSE + "<b><i></p></b>< notatag > &amp; &bogus; &#x110000; &#0;"
        "<a href='x>y'>link</a><!-- unclosed comment", "ingest")
    put("html_quadratic.html", "<p>" + PROSE + "</p>" + "</" * 300_000, "any")
    put("name with spaces.txt", "Spaces in the name. " + PROSE, "ingest")
    put("unicodé naïve 名前.md", "Unicode name. " + PROSE, "ingest")
    put("a..b.txt", "Two dots in the name. " + PROSE, "ingest")
    put("..leading-dots.txt", "Hidden by its leading dot. " + PROSE, "ignore")
    put("new\nline.txt", "A newline in the name. " + PROSE, "ingest")
    put("dir..x/inside.txt", "A folder with two dots. " + PROSE, "ingest")
    put("/".join(f"d{i}" for i in range(40)) + "/deep.txt", "Forty folders deep. " + PROSE, "ingest")
    put("x" * 200 + ".txt", "A long file name. " + PROSE, "ingest")
    put("good.pdf", text_pdf("A small PDF about the harbour of Valparaiso.", "Cargo volumes grew again."), "ingest")
    put("only_zero_width.txt", "\u200b\u200c\u200d" * 100, "any")
    put("boilerplate_only.txt", "Ad\nLEAVE A REPLY\nPlease enter your comment!\n", "any")
    # Left out without a word: hidden files and unsupported types.
    put(".hidden.txt", "Hidden file. " + PROSE, "ignore")
    put("program.exe", b"MZ" + bytes(100), "ignore")
    put("document.docx", b"PK\x03\x04" + bytes(100), "skip", "not a valid .docx")
    put("noext", PROSE, "ignore")
    (root / "folder.txt").mkdir()  # a directory with a supported suffix
    (root / "folder.txt" / "within.md").write_text("Inside a folder named like a file. " + PROSE)
    items.append(Hostile("folder.txt/within.md", "ingest", doc_id="folder.txt/within"))

    # Links and special files.
    os.symlink(outside / "secret.txt", root / "outside_link.txt")
    items.append(Hostile("outside_link.txt", "skip", "outside the folder"))
    os.symlink(os.path.relpath(outside / "secret.txt", root), root / "relative_outside.md")
    items.append(Hostile("relative_outside.md", "skip", "outside the folder"))
    os.symlink("../../" + root.name + "/../" + outside.name + "/secret.txt", root / "dir..x" / "dotdot_outside.txt")
    items.append(Hostile("dir..x/dotdot_outside.txt", "skip", "outside the folder"))
    os.symlink(outside, root / "outside_dir")  # a linked folder: never walked
    os.symlink("/etc/hostname", root / "etc_hostname.txt")
    items.append(Hostile("etc_hostname.txt", "skip", "outside the folder"))
    os.symlink("/dev/zero", root / "dev_zero.txt")
    items.append(Hostile("dev_zero.txt", "skip", "outside the folder"))
    os.symlink("missing.txt", root / "dangling.txt")
    items.append(Hostile("dangling.txt", "skip", "broken symbolic link"))
    os.symlink("loop_b.txt", root / "loop_a.txt")
    os.symlink("loop_a.txt", root / "loop_b.txt")
    items += [Hostile("loop_a.txt", "skip", "broken symbolic link"), Hostile("loop_b.txt", "skip", "broken symbolic link")]
    os.symlink("name with spaces.txt", root / "inside_link.txt")  # inside the folder: fine
    items.append(Hostile("inside_link.txt", "ingest", doc_id="inside_link"))
    os.mkfifo(root / "fifo.txt")
    items.append(Hostile("fifo.txt", "skip", "not a regular file"))
    bad_name = os.fsencode(root) + b"/bad\xffname.txt"
    with open(bad_name, "wb") as f:
        f.write(PROSE.encode())
    items.append(Hostile(os.fsdecode(b"bad\xffname.txt"), "skip", "not valid UTF-8"))
    return items
