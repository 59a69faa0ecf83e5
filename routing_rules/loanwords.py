"""English words written in an Indian script: बीपीसीएल for BPCL, एप्लीकेशन for application.

Pure code. Citizens writing Hindi (or any Brahmic script, read as Devanagari first) spell
many English words as they sound: acronyms letter by letter (एलआईसी, ईपीएफओ) and
loanwords by ear (सर्टिफिकेट, एक्सप्रेस, प्रोक्योरमेंट). No lexicon lists them all, but the
taxonomy's English wording is a list of the words worth finding. ``Loanwords`` is built from
that wording and reads a written word back as one of its English words:

- an acronym: the word is made wholly of the names of English letters (बी पी सी एल);
- a loanword: the word and an English word share their consonants, sound for sound (the
  vowels are what Hindi spelling of English changes most), at least LOANWORD_MIN_SOUNDS of
  them, and their spellings, vowels included, are alike enough (LOANWORD_MIN_SIMILARITY).
  Consonants alone match by accident: कृपा ("please") has those of "crop", so a frame
  shorter than that is never read; परेशान ("troubled") has those of "person", so the
  vowels must agree too; and a word with a letter English is never spelt with in Hindi
  (most aspirates, ष, ण) is an Indian word: शिक्षित ("educated") is not "sixth".

Two English words that fit a written word equally well are no reading at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein

LOANWORD_MIN_SOUNDS = 4
LOANWORD_MIN_SIMILARITY = 0.7
ACRONYM_MIN_LETTERS = 2
READINGS_KEPT = 50_000  # words read before; a long-running hub forgets them all past this

# English as Hindi spells it has no aspirates but थ ("th") and फ ("f"), and none of these
# letters: a word that has one is an Indian word, whatever English it sounds like (ଶିକ୍ଷିତ,
# Odia "educated", has the consonants of "sixth")
_NOT_IN_ENGLISH = frozenset("खघछझठढधभषणञङऋृळ")
_NUKTA = "\u093c"
_VIRAMA = "\u094d"
_CONSONANTS = {
    **dict.fromkeys("कक़", "k"),
    **dict.fromkeys("खख़", "kh"),
    **dict.fromkeys("गग़", "g"),
    "घ": "gh",
    "ङ": "n",
    "च": "ch",
    "छ": "chh",
    "ज": "j",
    "ज़": "z",
    "झ": "jh",
    "ञ": "n",
    "ट": "t",
    "ठ": "th",
    "ड": "d",
    "ड़": "r",
    "ढ": "dh",
    "ढ़": "rh",
    "ण": "n",
    "त": "t",
    "थ": "th",
    "द": "d",
    "ध": "dh",
    "न": "n",
    "प": "p",
    **dict.fromkeys("फफ़", "f"),
    "ब": "b",
    "भ": "bh",
    "म": "m",
    "य": "y",
    "य़": "y",
    "र": "r",
    "ल": "l",
    "ळ": "l",
    "व": "v",
    "श": "sh",
    "ष": "sh",
    "स": "s",
    "ह": "h",
}
_VOWELS = {
    **dict.fromkeys("अआा", "a"),
    **dict.fromkeys("इईिी", "i"),
    **dict.fromkeys("उऊुू", "u"),
    **dict.fromkeys("ऋृ", "ri"),
    **dict.fromkeys("एे", "e"),
    # the open "a" of English: कैंसिल (cancel), पैसेंजर (passenger), टॅक्स (tax)
    **dict.fromkeys("ऐैऍॅ", "a"),
    **dict.fromkeys("ओऑोॉ", "o"),
    **dict.fromkeys("औौ", "au"),
    **dict.fromkeys("ंँ", "n"),  # anusvara before a consonant is its nasal: पेंशन, pension
    "\u0903": "h",  # visarga
}
# the names of the English letters as Hindi writes them (and the common variants)
_LETTERS = {
    "ए": "a",
    "बी": "b",
    "सी": "c",
    "डी": "d",
    "ई": "e",
    "एफ": "f",
    "जी": "g",
    "एच": "h",
    "आई": "i",
    "आय": "i",
    "जे": "j",
    "के": "k",
    "एल": "l",
    "एम": "m",
    "एन": "n",
    "ओ": "o",
    "पी": "p",
    "क्यू": "q",
    "आर": "r",
    "एस": "s",
    "टी": "t",
    "यू": "u",
    "वी": "v",
    "डब्ल्यू": "w",
    "डब्लू": "w",
    "एक्स": "x",
    "वाई": "y",
    "वाय": "y",
    "जेड": "z",
    "ज़ेड": "z",
}
# English spelling to sound, in order (before vowels go): what Hindi hears in each
_SPELLING = (
    (re.compile(r"[ts]ion"), "shn"),
    (re.compile(r"ph"), "f"),
    (re.compile(r"ck"), "k"),
    (re.compile(r"x"), "ks"),
    (re.compile(r"qu"), "kv"),
    (re.compile(r"w"), "v"),
    (re.compile(r"c(?=[eiy])"), "s"),
    # "ch" that is said "k": school, scheme, scholarship; technical, mechanic; chemical, chronic
    (re.compile(r"sch"), "sk"),
    (re.compile(r"(?<=[tm]e)ch"), "k"),
    (re.compile(r"^ch(?=em|r|l)"), "k"),
    (re.compile(r"ch"), "C"),
    (re.compile(r"[cq]"), "k"),
    (re.compile(r"g(?=[eiy])"), "j"),
    (re.compile(r"z"), "j"),
    (re.compile(r"sh"), "s"),
    (re.compile(r"([kgtdbpjC])h"), r"\1"),
)
_SOFT_VOWELS = ((re.compile(r"ai"), "e"), (re.compile(r"au"), "o"), (re.compile(r"y"), "i"))
# (English spellings: maintenance, मेंटेनन्स; caution, कॉशन)
_NOT_CONSONANT = re.compile(r"[aeiouyh]")
_DOUBLED = re.compile(r"(.)\1+")


def romanise(word: str) -> str | None:
    """A Devanagari word in plain Latin letters as it sounds (सर्टिफिकेट: srtifiket; the
    inherent vowel is left out), or None when it holds anything else."""
    out: list[str] = []
    i = 0
    while i < len(word):
        ch = word[i]
        if word[i + 1 : i + 2] == _NUKTA and ch + _NUKTA in _CONSONANTS:
            out.append(_CONSONANTS[ch + _NUKTA])
            i += 2
            continue
        if ch in _CONSONANTS:
            out.append(_CONSONANTS[ch])
        elif ch in _VOWELS:
            out.append(_VOWELS[ch])
        elif ch not in (_VIRAMA, _NUKTA):
            return None
        i += 1
    return "".join(out) or None


def _sounded(latin: str) -> str:
    for pattern, sound in _SPELLING:
        latin = pattern.sub(sound, latin)
    return latin


def consonants(latin: str) -> str:
    """The consonant sounds of a Latin spelling, doubled ones once: certificate and
    srtifiket both give srtfkt."""
    return _DOUBLED.sub(r"\1", _NOT_CONSONANT.sub("", _sounded(latin)))


def _spelling(latin: str) -> str:
    """Sounds with the vowels kept, for comparing two spellings of one word."""
    latin = _sounded(latin)
    for pattern, sound in _SOFT_VOWELS:
        latin = pattern.sub(sound, latin)
    return _DOUBLED.sub(r"\1", latin)


def acronyms(word: str) -> list[str]:
    """Every way a word splits wholly into the names of at least ACRONYM_MIN_LETTERS
    English letters (एसबीआई: sbi)."""
    found: list[str] = []

    def split(at: int, letters: str) -> None:
        if at == len(word):
            if len(letters) >= ACRONYM_MIN_LETTERS:
                found.append(letters)
            return
        for name, letter in _LETTERS.items():
            if word.startswith(name, at):
                split(at + len(name), letters + letter)

    split(0, "")
    return found


class Loanwords:
    """Reads a word of an Indian script as one of a list of English words (or not)."""

    def __init__(self, english: Iterable[str]) -> None:
        self.words = frozenset(w for w in english if w.isascii() and w.isalpha())
        self._by_sound: dict[str, list[str]] = {}
        for known in sorted(self.words):
            frame = consonants(known)
            if len(frame) >= LOANWORD_MIN_SOUNDS:
                self._by_sound.setdefault(frame, []).append(known)
        self._read: dict[str, str | None] = {}

    def read(self, word: str) -> str | None:
        """The English word ``word`` (as Devanagari) spells, if it is one of ours."""
        if word not in self._read:
            if len(self._read) >= READINGS_KEPT:
                self._read.clear()
            self._read[word] = self._spelt(word)
        return self._read[word]

    def _spelt(self, word: str) -> str | None:
        spelt = [a for a in acronyms(word) if a in self.words]
        if spelt:
            return spelt[0] if len(set(spelt)) == 1 else None
        latin = romanise(word)
        if latin is None or not _NOT_IN_ENGLISH.isdisjoint(word):
            return None
        heard = self._by_sound.get(consonants(latin), [])
        if not heard:
            return None
        soft = _spelling(latin)
        scored = sorted(
            ((1.0 - Levenshtein.normalized_distance(soft, _spelling(e)), e) for e in heard),
            reverse=True,
        )
        best, english = scored[0]
        if best < LOANWORD_MIN_SIMILARITY:
            return None
        if len(scored) > 1 and scored[1][0] == best:
            return None  # two English words sound and look alike: no guess
        return english
