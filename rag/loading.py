"""Finding and reading source files into `Document`s.

Supported: .txt, .md (read as they are), .html/.htm (visible text; scripts and styles
dropped), .pdf (pypdf text extraction) and .docx (llama-index's DocxReader). Offsets in
citations point into the text this module returns (a `Document`'s `text`): for .txt and
.md that is the file itself, for the others the extracted text. Every file that cannot
be used is reported as `Skipped` with its reason, and the rest goes on.
Left out: OCR of scanned PDFs, and encodings other than UTF-8/UTF-16.
"""
from __future__ import annotations

import codecs
import hashlib
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from rag.cleaning import kept_sections, metadata, repeated_templates
from rag.errors import LoadError
from rag.types import Document

# Formats read by a reader of llama-index-readers-file, by its class name.
LLAMA_INDEX_READERS = {".docx": "DocxReader"}
SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", *LLAMA_INDEX_READERS}
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # a .docx is a zip: refuse bombs before a reader inflates them
MAX_PDF_PAGES = 2000
MAX_TEXT_CHARS = 5_000_000  # what a decompression bomb could otherwise expand to
# Cleaning costs ~10 us and a few hundred bytes per line: 20 MB of one-letter lines
# would take minutes and gigabytes. Prose never comes near this many lines.
MAX_LINES = 500_000
_LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")  # str.splitlines
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")  # below 32, except \t \n \f \r


@dataclass(frozen=True)
class Skipped:
    """A file left out of ingestion, and why."""

    path: str
    reason: str


def discover(root: Path) -> tuple[list[Path], list[Skipped]]:
    """Supported files under `root` (or `root` itself), never leaving the folder."""
    root = Path(root)
    if not root.exists():
        raise LoadError(f"{root} does not exist")
    if root.is_file():
        return ([root], []) if root.suffix.lower() in SUPPORTED else ([], [Skipped(str(root), "unsupported file type")])
    base, found, skipped = root.resolve(), [], []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED:
                continue
            reason = _unusable(path, base)
            if reason:
                skipped.append(Skipped(str(path), reason))
                continue
            found.append(path)
    return found, skipped


def _unusable(path: Path, base: Path) -> str | None:
    """Why a listed file cannot be read safely, or None."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # ids and metadata must be valid UTF-8 for the store
        return "file name is not valid UTF-8"
    try:
        if path.is_symlink() and not path.resolve(strict=True).is_relative_to(base):
            return "symbolic link pointing outside the folder"
        if not path.is_file():  # FIFOs, sockets, devices: reading could block or never end
            return "not a regular file"
    except (OSError, RuntimeError):  # dangling link, or a loop (RuntimeError before 3.13)
        return "broken symbolic link (missing target or a loop)"
    return None


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of one file, or LoadError saying why it is unusable."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"larger than {max_bytes // (1024 * 1024)} MB ({size} bytes)")
        suffix = path.suffix.lower()
        if suffix in LLAMA_INDEX_READERS:
            text = _read_with_llama_index(path, LLAMA_INDEX_READERS[suffix])
        else:
            text = _read_pdf(path) if suffix == ".pdf" else _decode(path.read_bytes())
        if suffix in {".html", ".htm"}:
            text = html_to_text(text)
    except OSError as exc:
        raise LoadError(f"cannot be read ({exc.strerror or exc})") from exc
    if not text.strip():
        raise LoadError("empty, or no text could be extracted")
    lines = sum(text.count(sep) for sep in _LINE_BREAKS) - text.count("\r\n")
    if lines > MAX_LINES:
        raise LoadError(f"more than {MAX_LINES} lines ({lines}): not a document")
    return text


def load_documents(root: Path, doc_id_base: Path | None = None) -> tuple[list[Document], list[Skipped]]:
    """Read, clean and describe every usable file under `root`."""
    paths, skipped = discover(root)
    base = doc_id_base or (Path(root) if Path(root).is_dir() else Path(root).parent)
    texts: dict[Path, str] = {}
    for path in paths:
        try:
            texts[path] = read_text(path)
        except LoadError as exc:
            skipped.append(Skipped(str(path), str(exc)))
    # Repetition across documents is a corpus-level signal, so it is computed first.
    # Identical copies count once: a duplicate upload must not turn its original's
    # headline into "boilerplate" and change the original's title.
    repeated = repeated_templates(dict.fromkeys(texts.values()))
    docs = [make_document(path, text, repeated, base) for path, text in texts.items()]
    return docs, skipped


def make_document(path: Path, text: str, repeated: set[str], base: Path) -> Document:
    """Clean one text and attach its metadata and content hash."""
    doc_id = path.relative_to(base).with_suffix("").as_posix() if path.is_relative_to(base) else path.stem
    kept = kept_sections(text, repeated)
    title, published = metadata(text, kept, doc_id)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    digest.update(repr([(s.start, s.end) for s in kept]).encode())
    return Document(doc_id, text, title, published, str(path), digest.hexdigest(), kept)


def _decode(data: bytes) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return _reject_binary(data.decode(encoding))
            except UnicodeDecodeError as exc:
                raise LoadError(f"not valid {encoding} text") from exc
    try:
        return _reject_binary(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid UTF-8 text (byte {exc.start})") from exc


def _reject_binary(text: str) -> str:
    sample = text[:8192]
    controls = len(_CONTROL_CHARS.findall(sample))
    if "\x00" in sample or controls > len(sample) * 0.05:
        raise LoadError("binary content (NUL or control bytes)")
    return text


def _read_with_llama_index(path: Path, reader_name: str) -> str:
    """The text a llama-index file reader extracts (its parts joined by blank lines)."""
    _check_unzipped_size(path)
    try:
        import llama_index.readers.file as readers

        parts = getattr(readers, reader_name)().load_data(path)
    except ImportError as exc:
        raise LoadError(f"reading {path.suffix} files needs the missing package {exc.name}") from exc
    except Exception as exc:  # a damaged file can break a reader in any way
        raise LoadError(f"unreadable {path.suffix} file ({type(exc).__name__})") from exc
    text = "\n\n".join(part.text for part in parts)
    if len(text) > MAX_TEXT_CHARS:
        raise LoadError(f"expands to more than {MAX_TEXT_CHARS} characters")
    return _reject_binary(text)


def _check_unzipped_size(path: Path) -> None:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise LoadError(f"not a valid {path.suffix} file (damaged or not a zip archive)") from exc
    if size > MAX_UNZIPPED_BYTES:
        raise LoadError(f"unzips to more than {MAX_UNZIPPED_BYTES // (1024 * 1024)} MB: refused")


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, LimitReachedError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF")
        pages, total = [], 0
        for page in reader.pages[:MAX_PDF_PAGES]:
            pages.append(page.extract_text() or "")
            total += len(pages[-1])
            if total > MAX_TEXT_CHARS:
                raise LoadError(f"PDF expands to more than {MAX_TEXT_CHARS} characters")
        return "\n\n".join(pages)
    except LoadError:
        raise
    except LimitReachedError as exc:  # a decompression bomb, or a stream with too many operators
        raise LoadError(f"PDF exceeds a safety limit ({exc})") from exc
    except DependencyError as exc:  # e.g. AES encryption without the `cryptography` package
        raise LoadError(f"encrypted PDF ({exc})") from exc
    except Exception as exc:  # a hostile PDF can break the parser in any way
        raise LoadError(f"unreadable PDF ({type(exc).__name__})") from exc


class _TextExtractor(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
    BLOCK = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skipping += tag in self.SKIP
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self.skipping -= tag in self.SKIP and self.skipping > 0
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


# A tag (quoted attribute values may hold "<" and ">"), declaration or processing
# instruction that is closed. Possessive quantifiers: no backtracking.
_FINISHED_MARKUP = re.compile(r"""</?[A-Za-z](?:[^<>"']++|"[^"]*+"|'[^']*+')*+>|<[!?][^<>\[]*+>""")


def escape_unfinished_markup(html: str) -> str:
    """`html` with every "<" that opens no finished construct written as "&lt;" (it is
    text either way). html.parser rescans to the end of the input for each unfinished
    construct, so "</" repeated 200,000 times took minutes; this pass is linear."""
    parts, pos, last_comment_end = [], 0, html.rfind("-->")
    at = html.find("<")
    while at >= 0:
        if html.startswith("<!--", at):
            end = html.find("-->", at + 4) + 3 if at + 4 <= last_comment_end else -1
        else:
            found = _FINISHED_MARKUP.match(html, at)
            end = found.end() if found else -1
        if end < 0:
            parts += [html[pos:at], "&lt;"]
            pos, end = at + 1, at + 1
        at = html.find("<", end)
    return "".join(parts) + html[pos:]


def html_to_text(html: str) -> str:
    """Visible text of an HTML page, one block per line; markup and scripts removed."""
    parser = _TextExtractor()
    parser.feed(escape_unfinished_markup(html))
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
