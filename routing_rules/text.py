"""From what a citizen wrote to the terms the router compares.

Pure code. Text is NFKC-normalised and lower-cased; words are split in Latin,
the Indic scripts and Urdu's; every Indic script is read as Devanagari (Urdu by
``urdu.devanagari``); everyday words of the languages the lexicons hold
(``lexicon/*.yaml``, one file per language, and a deployment's own folder of them,
merged; read again when a file changes) gain their English equivalent;
stop words are dropped and the rest stemmed (Snowball English for Latin words,
Snowball Hindi for Devanagari), so "pensions", "pensioner's" and "pension" meet in
one term.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import snowballstemmer
import yaml

from routing_rules import urdu
from routing_rules.rules import RuleError

LEXICON_DIR = Path(__file__).with_name("lexicon")
MAX_WORDS = 1500  # a long rambling text is routed on its first 1,500 words
MAX_WORD_LENGTH = 40  # longer "words" are ids, URLs or noise

# Latin letters and digits, a run of Devanagari letters and marks (other Brahmic scripts
# are read as Devanagari first), or a run of Perso-Arabic letters and marks (Urdu); the
# danda, double danda, Devanagari digits and the abbreviation sign (U+0964-U+0970) end a
# word, as a full stop or a digit does in English, and so do Urdu's full stop, comma,
# question mark and digits; a zero-width joiner or non-joiner belongs to the word it sits
# inside, and to no other.
_URDU_LETTERS = (
    "\u0620-\u063f\u0641-\u064a\u066e\u066f\u0671-\u06d3"
    "\u06d5\u06ee\u06ef\u06fa-\u06ff\u0750-\u077f"
)
_URDU_MARKS = "\u0640\u064b-\u065f\u0670\u06d6-\u06ed"
_WORD = re.compile(
    r"[a-z0-9]+|[\u0900-\u0963\u0971-\u097f](?:[\u0900-\u0963\u0971-\u097f\u200c\u200d]*"
    r"[\u0900-\u0963\u0971-\u097f])?"
    rf"|[{_URDU_LETTERS}](?:[{_URDU_LETTERS}{_URDU_MARKS}\u200c\u200d]*"
    rf"[{_URDU_LETTERS}{_URDU_MARKS}])?"
)
# Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada and Malayalam: Unicode lays
# each 128-point block out parallel to Devanagari (ISCII's order), so the same letter sits at
# the same offset. Read as Devanagari, their words meet the Hindi names, lexicon and stemmer
# (Sanskrit-derived words are mostly spelt alike). One code point for one, so a word's place
# in the text is the same in both readings; Gurmukhi's tippi is a nasal (anusvara).
_BRAHMIC_BLOCKS = range(0x0980, 0x0D80, 0x80)
# a few letters added to a script after ISCII sit where Devanagari has no twin: Assamese ra
# and wa (U+09F0 would be the abbreviation sign, which ends a word), Oriya wa, Bengali's
# khanda ta and Malayalam's chillus and dot reph (vowelless consonants, atomic)
_OWN_LETTERS = {
    0x09F0: 0x0930,  # Assamese ra: र
    0x09F1: 0x0935,  # Assamese wa: व
    0x0B71: 0x0935,  # Oriya wa: व
    0x09CE: 0x0924,  # Bengali khanda ta: त
    0x0D7A: 0x0923,  # Malayalam chillu nn: ण
    0x0D7B: 0x0928,  # chillu n: न
    0x0D7C: 0x0930,  # chillu rr: र
    0x0D7D: 0x0932,  # chillu l: ल
    0x0D7E: 0x0933,  # chillu ll: ळ
    0x0D7F: 0x0915,  # chillu k: क
    0x0D54: 0x092E,  # chillu m: म
    0x0D55: 0x092F,  # chillu y: य
    0x0D56: 0x0933,  # chillu lll: ळ
    0x0D4E: 0x0930,  # dot reph: र
}
_TO_DEVANAGARI = (
    {block + offset: 0x0900 + offset for block in _BRAHMIC_BLOCKS for offset in range(0x80)}
    | {0x0A70: 0x0902}
    | _OWN_LETTERS
)
# ... and in a word's reading, the khanda ta and the chillus are consonants without a vowel
_VOWELLESS = (0x09CE, 0x0D4E, 0x0D54, 0x0D55, 0x0D56, *range(0x0D7A, 0x0D80))
_READ_AS: dict[int, int | str] = _TO_DEVANAGARI | {
    code: chr(_OWN_LETTERS[code]) + "\u094d" for code in _VOWELLESS
}
# what the offset leaves unlike Hindi: Gurmukhi's addak (doubling; U+0A71 lands on U+0971)
# has no sign there; a Malayalam chillu typed with a virama after it (ൻ്റ, nta) has one
# virama too many; Bengali and Oriya write the sound ya with a nukta (য়, ୟ: their plain
# letter says ja), Hindi without; NFKC splits Gurmukhi sha and lla into sa and la + nukta;
# the Dravidian short e and o and alveolar n and r are plain e, o, n and r to a Hindi reader
# Malayalam's doubled ṟa and its ṟa after n say t (സർട്ടിഫിക്കറ്റ്, certificate;
# ഡിപ്പാർട്ട്മെന്റ്, department): read as Hindi writes t, the n typed in any of three ways
_MALAYALAM_SPELLING = (
    ("\u0d31\u0d4d\u0d31", "\u0d1f\u0d4d\u0d1f"),
    ("\u0d7b\u0d4d\u0d31", "\u0d28\u0d4d\u0d1f"),
    ("\u0d7b\u0d31", "\u0d28\u0d4d\u0d1f"),
    ("\u0d28\u0d4d\u0d31", "\u0d28\u0d4d\u0d1f"),
)
_DEVANAGARI_SPELLING = (
    ("\u0971", ""),
    ("\u094d\u094d", "\u094d"),
    ("\u092f\u093c", "\u092f"),
    ("\u095f", "\u092f"),  # Oriya's yya has no decomposition: it lands on Devanagari's
    ("\u0938\u093c", "\u0936"),
    ("\u0932\u093c", "\u0933"),
    ("\u090e", "\u090f"),
    ("\u0912", "\u0913"),
    ("\u0946", "\u0947"),
    ("\u094a", "\u094b"),
    ("\u0929", "\u0928"),
    ("\u0931", "\u0930"),
)
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
# byte-order mark; direction marks; the soft hyphen (a place a word may break: "gar\xadbage")
_INVISIBLE = frozenset("\ufeff\u200e\u200f\u061c\u00ad")
_SCRIPTS = (
    "devanagari",
    "bengali",
    "gurmukhi",
    "gujarati",
    "oriya",
    "tamil",
    "telugu",
    "kannada",
    "malayalam",
)

_ENGLISH_STOP = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "dated",
        "dear",
        "did",
        "do",
        "does",
        "doing",
        "done",
        "down",
        "during",
        "each",
        "etc",
        "few",
        "for",
        "from",
        "further",
        "get",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "kindly",
        "madam",
        "me",
        "more",
        "most",
        "mr",
        "mrs",
        "ms",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "please",
        "regarding",
        "request",
        "requested",
        "respected",
        "same",
        "she",
        "shall",
        "should",
        "shri",
        "since",
        "sir",
        "smt",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "till",
        "to",
        "too",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "via",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "within",
        "without",
        "would",
        "yet",
        "you",
        "your",
        "yours",
    ]
)
# function words (the common Hindi stop list) and a letter's courtesies
_HINDI_STOP_WORDS = """
    अंदर अत अदि अप अपना अपनि अपनी अपने अभि अभी आदि आप इंहिं इंहें इंहों इतयादि इत्यादि
    इन इनका इन्हीं इन्हें इन्हों इस इसका इसकि इसकी इसके इसमें इसि इसी इसे उंहिं उंहें
    उंहों उन उनका उनकि उनकी उनके उनको उन्हीं उन्हें उन्हों उस उसके उसि उसी उसे एक एवं एस
    एसे ऐसे ओर और कइ कई कर करता करते करना करने करें कहते कहा का काफि काफ़ी कि किंहें
    किंहों कितना किन्हें किन्हों किया किर किस किसि किसी किसे की कुछ कुल के को कोइ कोई
    कोन कोनसा कौन कौनसा गया गई गए जब जहाँ जहां जा जिंहें जिंहों जितना जिधर जिन जिन्हें
    जिन्हों जिस जिसे जीधर जेसा जेसे जैसा जैसे जो तक तब तरह तिंहें तिंहों तिन तिन्हें
    तिन्हों तिस तिसे तो था थि थी थे दबारा दवारा दिया दुसरा दुसरे दूसरे दो द्वारा न नहिं
    नहीं ना निचे निहायत नीचे ने पर पहले पुरा पूरा पे फिर बनि बनी बहि बही बहुत बाद बाला
    बिलकुल भि भितर भी भीतर मगर मानो मे में यदि यह यहाँ यहां यहि यही या यिह ये रखें रहा
    रही रहे लिए लिये लेकिन व वगेरह वरग वह वहाँ वहां वहिं वहीं वाले वुह वे वग़ैरह संग
    सकता सकते सबसे सभि सभी साथ साबुत साभ सारा से सो हि ही हुअ हुआ हुइ हुई हुए हे हें है
    हैं हो होता होति होती होते होना होने तथा हेतु अतः अथवा एवम् जी श्री श्रीमान महोदय
    महोदया मान्यवर आदरणीय महाशय कृपया निवेदन सादर प्रणाम धन्यवाद मेरा मेरी मेरे हम मैं
    हमारा हमारी हमारे आपका आपकी आपके तुम बारे
"""
_HINDI_STOP = frozenset(_HINDI_STOP_WORDS.split())
# Urdu's, as read: for Urdu words only (جن, "whom", reads जन, Hindi's "people")
_URDU_STOP = frozenset(urdu.devanagari(word) for word in urdu.STOP_WORDS.split())
_HINGLISH_STOP = frozenset(
    [
        "hai",
        "hain",
        "ka",
        "ki",
        "ke",
        "ko",
        "se",
        "mein",
        "me",
        "mera",
        "meri",
        "mere",
        "nahi",
        "nahin",
        "aur",
        "ya",
        "par",
        "bhi",
        "kya",
        "koi",
        "kar",
        "karo",
        "kiya",
        "gaya",
        "raha",
        "rahi",
        "hum",
        "main",
        "aap",
        "ji",
    ]
)

_EN = snowballstemmer.stemmer("english")
_HI = snowballstemmer.stemmer("hindi")


@dataclass(frozen=True)
class Term:
    """One comparable term and the word in the text it came from."""

    term: str
    word: str
    via: str = ""  # "" | "lexicon" | "fuzzy"


Lexicon = dict[tuple[str, str], tuple[str, ...]]
Signature = tuple[tuple[str, int, int], ...]  # (file, mtime ns, size) of each lexicon file
LEXICON_KEYS = ("version", "words")


class UniqueKeys(yaml.SafeLoader):
    """YAML keeps the last of two equal keys without a word: a lexicon that lists a word
    twice would lose one meaning unseen, so the duplicates are collected instead."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # (the mapping, the key, its line)
        self.duplicates: list[tuple[yaml.MappingNode, Any, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # << merges a mapping in: its keys are no repeat
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float):
                continue  # a list or mapping as a key: refused as not a word later
            if key in seen:
                self.duplicates.append((node, key, key_node.start_mark.line + 1))
            seen.add(key)
        return super().construct_mapping(node, deep)

    def document(self) -> tuple[Any, list[tuple[Any, int]], list[tuple[Any, int]]]:
        """The document, its repeated top-level keys and its other repeated keys."""
        root = self.get_single_node()
        raw = self.construct_document(root) if root is not None else None
        top = [(key, line) for node, key, line in self.duplicates if node is root]
        rest = [(key, line) for node, key, line in self.duplicates if node is not root]
        return raw, top, rest


def read_yaml(
    file: Path, limit: int | None = None
) -> tuple[Any, list[tuple[Any, int]], list[tuple[Any, int]]]:
    """A YAML file's document and its repeated keys (``UniqueKeys.document``). Raises
    ``RuleError`` naming the file and what kept it from being read; ``limit``: bytes
    past which it is refused unread."""
    try:
        size = file.stat().st_size
        if limit is not None and size > limit:
            raise RuleError([f"{file}: {size:,} bytes; a file may hold {limit:,}"])
        loader = UniqueKeys(file.read_text(encoding="utf-8"))
        try:
            return loader.document()
        finally:
            loader.dispose()
    except RuleError:
        raise  # (a ValueError too)
    except FileNotFoundError:
        raise RuleError([f"{file}: file not found"]) from None
    except OSError as exc:  # a folder of that name, no permission: a problem, not a crash
        raise RuleError([f"{file}: cannot be read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise RuleError([f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # a date like 2023-02-30
        raise RuleError([f"{file}: not valid YAML: {exc}".replace("\n", " ")]) from None


def lexicon_files(path: Path) -> list[Path]:
    """A lexicon file, or the ``*.yaml`` lexicons of a folder."""
    return sorted(path.glob("*.yaml")) if path.is_dir() else [path]


def is_lexicon(path: Path) -> bool:
    """Whether ``path`` is a lexicon, or a folder of lexicons: YAML whose top is ``words``
    (rule files have ``departments``, ``nodes``, ``boundaries`` or ``offices``). A file
    that cannot be read decides nothing: the check that follows names its problem."""
    found = False
    for file in lexicon_files(path):
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError, yaml.YAMLError):
            continue
        if not isinstance(raw, dict) or "words" not in raw:
            return False
        found = True
    return found


def read_lexicons(*paths: Path) -> Lexicon:
    """Every lexicon of ``paths`` (files, or folders of ``*.yaml``), merged: a word as
    citizens write it, as its script and its Devanagari reading (as ``terms`` reads it), to
    its English words. A word two lexicons give different meanings keeps both. Raises
    ``RuleError`` listing every problem of every file, each naming the file and the word;
    then nothing is read."""
    merged: Lexicon = {}
    problems: list[str] = []
    for file in (f for path in paths for f in lexicon_files(path)):
        for word, english in _lexicon_entries(file, problems):
            found = (script(word), reading(word))
            merged[found] = tuple(dict.fromkeys((*merged.get(found, ()), *english)))
    if problems:
        raise RuleError(problems)
    return merged


def _lexicon_entries(file: Path, problems: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """One file's words and their English words; its problems go to ``problems``."""
    try:
        raw, top, repeated = read_yaml(file)
    except RuleError as exc:
        problems.extend(exc.problems)
        return []
    entries = raw.get("words") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        problems.append(f"{file}: words: expected a mapping of word to English word(s)")
        return []
    problems.extend(f"{file}: {key}: unknown key" for key in raw if key not in LEXICON_KEYS)
    problems.extend(f"{file}: {key} (line {line}): listed twice" for key, line in top)
    problems.extend(
        f"{file}: words.{key} (line {line}): listed twice; give one entry all its English words"
        for key, line in repeated
    )
    out = []
    for key, value in entries.items():
        where = f"{file}: words.{key}"
        if isinstance(key, bool):
            problems.append(
                f"{where}: YAML reads yes, no, on and off as true or false; quote the word"
            )
            continue
        if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: expected a word and its English word(s)")
            continue
        word = unicodedata.normalize("NFKC", key).lower()
        split = words(word)
        if [reading(w) for w in split] != [reading(word)]:
            shown = ", ".join(split) or "nothing"
            problems.append(
                f"{where}: read as {len(split)} words ({shown}) in a citizen's text, so it "
                "never matches; a lexicon lists one word"
            )
            continue
        english = tuple(value.lower().split())
        if unknown := [e for e in english if not re.fullmatch(r"[a-z]+", e)]:
            problems.append(
                f"{where}: English word(s) {', '.join(unknown)}: letters a-z only, "
                "one or more separated by spaces"
            )
            continue
        if empty := [e for e in english if stem(e) is None]:
            problems.append(
                f"{where}: {', '.join(empty)} is a stop word, which routes nothing; "
                "give the word the taxonomy would use"
            )
            continue
        out.append((split[0], english))
    return out  # with any problem, ``read_lexicons`` keeps none of it


@dataclass
class _Lexicons:
    """The lexicons terms are read with: the shipped folder and a deployment's own, read
    again when their files change (``refresh_lexicons``)."""

    folders: tuple[Path, ...] = (LEXICON_DIR,)
    signature: Signature | None = None
    refused: Signature | None = None
    merged: Lexicon | None = None
    version: int = 0  # one more at every swap: an index built with another one is stale


_lexicons = _Lexicons()


def _signature(folders: tuple[Path, ...]) -> Signature:
    out = []
    for folder in folders:
        if not folder.is_dir():  # gone: another state than there and empty
            out.append((str(folder), -1, -1))
            continue
        for file in lexicon_files(folder):
            try:
                stat = file.stat()
            except OSError:
                continue
            out.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def _lexicon() -> Lexicon:
    if _lexicons.merged is None:
        _lexicons.signature = _signature(_lexicons.folders)
        _lexicons.merged = read_lexicons(*_lexicons.folders)
    return _lexicons.merged


def use_lexicons(extra: Path | None) -> None:
    """Read the shipped lexicons and, when given, a deployment's own folder of them.
    Raises ``RuleError`` listing every problem; then the lexicons in use stay as they were."""
    folders = (LEXICON_DIR,) if extra is None else (LEXICON_DIR, extra)
    if folders == _lexicons.folders and _lexicons.merged is not None:
        return
    merged = read_lexicons(*folders)
    _swap(folders, _signature(folders), merged)


def refresh_lexicons() -> bool:
    """Read the lexicons again if a file was added, changed or removed since they were
    read; True when terms now read differently. A changed lexicon with problems raises
    ``RuleError`` once (until it changes again), and the lexicons in use stay."""
    folders = _lexicons.folders
    signature = _signature(folders)
    if _lexicons.merged is None or signature in (_lexicons.signature, _lexicons.refused):
        return False
    try:
        merged = read_lexicons(*folders)
    except RuleError:
        _lexicons.refused = signature
        raise
    except Exception as exc:  # unforeseen: a problem to report, never a routing failure
        _lexicons.refused = signature
        raise RuleError([f"{', '.join(map(str, folders))}: could not be read: {exc!r}"]) from exc
    _swap(folders, signature, merged)
    return True


def lexicon_version() -> int:
    """Changes whenever the lexicons in use change: an index built under another version
    read the tree's wording with other lists."""
    return _lexicons.version


def _swap(folders: tuple[Path, ...], signature: Signature, merged: Lexicon) -> None:
    _lexicons.folders, _lexicons.signature, _lexicons.merged = folders, signature, merged
    _lexicons.refused = None
    _lexicons.version += 1
    _word_terms.cache_clear()


def meanings(lexicon: Lexicon, word: str) -> tuple[str, ...]:
    """What the lexicons say a word means. A word list speaks for the script it is written
    in: Gujarati ones for Gujarati words, Urdu ones for Urdu words; and, as every Indic
    script is read as Devanagari, the Devanagari ones (Hindi, Marathi) for all of them. So
    a Kannada or Bengali word that reads as a Hindi word of another meaning (ಲಂಚ, bribe,
    reads लंच) never says so of the Hindi word."""
    written, read = script(word), reading(word)
    own = lexicon.get((written, read), ())
    if written in ("latin", "devanagari"):
        return own
    return tuple(dict.fromkeys((*own, *lexicon.get(("devanagari", read), ()))))


def clean(text: str) -> str:
    """HTML character references read (exports write hon&#39;ble, &quot;), NFKC, lower
    case, control characters and NULs turned into spaces. The zero-width joiner and
    non-joiner stay: inside an Indic word they only shape a conjunct (Marathi कार्‍यालय,
    Kannada ಸ್ಕಾಲರ್‌ಶಿಪ್), and ``reading`` takes them out. Byte-order and direction marks
    (which Urdu keyboards put inside words) go."""
    text = unicodedata.normalize("NFKC", html.unescape(text)).lower().translate(_PLAIN_LATIN)
    return "".join(
        ch if ch.isprintable() or ch in "\t\n\u200c\u200d" else " "
        for ch in text
        if ch not in _INVISIBLE
    )


def _plain_latin() -> dict[int, str]:
    """Latin letters with a diacritic as their plain letters (garbagé, naïve, café): words
    are matched in a-z, and 'garbagé' is no 'garbag' and 'é'. Only the Latin blocks: the
    marks of Indian scripts are letters of their words."""
    table: dict[int, str] = {}
    # Latin-1, Extended-A and -B, and Extended Additional (romanised Hindi: saḍak, ṭūṭī)
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        plain = "".join(
            ch for ch in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(ch)
        )
        if plain != chr(code) and plain.isascii() and plain.isalpha():
            table[code] = plain
    return table


_PLAIN_LATIN = _plain_latin()


def looks_binary(text: str) -> bool:
    """True for text that is mostly control or replacement characters: not words at all.
    Format characters are text: the zero-width joiner and non-joiner shape Indic conjuncts
    (Malayalam has written its chillus with the joiner, പെന്‍ഷന്‍), a soft hyphen marks
    where a pasted word may break."""
    if not text:
        return False
    sample = text[:4000]
    bad = sum(
        1
        for ch in sample
        if ch == "\ufffd" or (unicodedata.category(ch) in _NOT_TEXT and ch not in "\t\r\n")
    )
    return bad / len(sample) > 0.1


_NOT_TEXT = frozenset(("Cc", "Cs"))  # control characters, lone surrogates


def script(word: str) -> str:
    """The script a word is written in: latin, urdu, or the Unicode name of its Indic block
    (devanagari, bengali, gurmukhi, gujarati, oriya, tamil, telugu, kannada, malayalam)."""
    if word.isascii():
        return "latin"
    for ch in word:
        code = ord(ch)
        if 0x0900 <= code < 0x0D80:
            return _SCRIPTS[(code - 0x0900) // 0x80]
        if urdu.is_urdu(ch):
            return "urdu"
    return "other"


ENGLISH_MIN_COUNT = 50  # a word the English word list has seen this often is a real word


@functools.cache
def _english() -> frozenset[str]:
    """English words (pyspellchecker's frequency list, words seen ENGLISH_MIN_COUNT times
    or more: 'still', 'resolved'; not 'recieved'), read once."""
    from spellchecker import SpellChecker  # about 0.2 s: only when a misspelling is sought

    counts = SpellChecker(language="en", distance=1).word_frequency.dictionary
    return frozenset(w for w, n in counts.items() if n >= ENGLISH_MIN_COUNT)


def is_english(word: str) -> bool:
    """A real English word, which no misspelling correction should rewrite."""
    return word.isascii() and word.lower() in _english()


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str | None:
    """The term for one lower-case word, or None for a stop word or noise."""
    if word.isascii():
        if len(word) < 2 or word in _ENGLISH_STOP or word in _HINGLISH_STOP:
            return None
        if word.isdigit() or sum(ch.isdigit() for ch in word) > len(word) // 2:
            return None  # numbers, masked ids, pin codes: not routing words
        return str(_EN.stemWord(word))
    read = reading(word)
    if read in _HINDI_STOP or len(read) < 2 or (read in _URDU_STOP and urdu.is_urdu(word)):
        return None
    if read in _HINDI_KEPT:
        return read
    return str(_HI.stemWord(read)) if _DEVANAGARI.search(read) else read


# Hindi words whose stem is another word, kept whole: पानी (water) would be पान (betel
# leaf), and a paan-shop complaint would go to the water board
_HINDI_KEPT = frozenset({"पानी"})


def devanagari(word: str) -> str:
    """A word with the other Brahmic scripts' letters read as their Devanagari twins, or an
    Urdu word read as Hindi would spell it."""
    if word.isascii():
        return word
    if urdu.is_urdu(word):
        return urdu.devanagari(word)
    if "\u0d31" in word:
        for written, read in _MALAYALAM_SPELLING:
            word = word.replace(written, read)
    word = word.translate(_READ_AS)
    for written, read in _DEVANAGARI_SPELLING:
        word = word.replace(written, read)
    return word


@functools.lru_cache(maxsize=200_000)
def reading(word: str) -> str:
    """A word as the stemmer and the lexicons read it: as Devanagari, without the invisible
    joiners some keyboards put inside a conjunct (Marathi र्‍य)."""
    return devanagari(word).replace("\u200c", "").replace("\u200d", "")


def words(text: str) -> list[str]:
    """The words of a text as written (lower case), split where its Devanagari reading breaks."""
    text = clean(text)
    found = _WORD.finditer(text.translate(_TO_DEVANAGARI))
    kept = (text[m.start() : m.end()] for m in found if m.end() - m.start() <= MAX_WORD_LENGTH)
    return [w for _, w in zip(range(MAX_WORDS), kept, strict=False)]


def terms(text: str) -> list[Term]:
    """The comparable terms of a text, in order, with the words they came from."""
    return [term for word in words(text) for term in _word_terms(word)]


@functools.lru_cache(maxsize=200_000)
def _word_terms(word: str) -> tuple[Term, ...]:
    """One word's terms: its own, then what the lexicons say it means."""
    lexicon = _lexicon()
    meant = meanings(lexicon, word)
    # Urdu leaves short vowels unwritten, so a reading may be another Hindi word (ضلع,
    # "district", reads जला, "burnt"): a word the Urdu lexicon knows is what it says
    known = script(word) == "urdu" and ("urdu", reading(word)) in lexicon
    term = None if known else stem(word)
    out = [Term(term, word)] if term is not None else []
    for english in meant:
        mapped = stem(english)
        if mapped is not None and mapped != term:
            out.append(Term(mapped, word, "lexicon"))
    return tuple(out)


def term_set(text: str) -> list[str]:
    """Just the terms (for indexing the taxonomy's own wording)."""
    return [t.term for t in terms(text)]
