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

Two English words that fit a written word equally well are no reading at all, unless the
taxonomy uses one far more often (its misspellings are rare). Each script is heard as its
writers spell English: the South Indian ones write "sh" with ṣa and name letters with short
vowels, and Tamil has one letter each for k and g, t and d, p, b and f.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rapidfuzz.distance import Levenshtein

LOANWORD_MIN_SOUNDS = 4
LOANWORD_MIN_SIMILARITY = 0.7
# Tamil's merged sounds match by chance more often (தேர்தல், "election", has DRDL's four)
LOANWORD_MIN_TAMIL_SOUNDS = 5
LOANWORD_TIE_USES = 4  # a tie goes to a word the taxonomy uses this many times as often
ACRONYM_MIN_LETTERS = 2

# English as Hindi spells it has no aspirates but थ ("th") and फ ("f"), and none of these
# letters: a word that has one is an Indian word, whatever English it sounds like (ଶିକ୍ଷିତ,
# Odia "educated", has the consonants of "sixth")
_NOT_IN_ENGLISH = frozenset("खघछझठढधभषणञङऋृळ")
# a vowel said before s and a consonant, where English begins with the cluster (इस्कूल;
# Urdu always writes one: اسٹیشن, read असटीशन)
_PROTHETIC = re.compile("[\u0905\u0907]\u0938(?![\u093e-\u094c])")
_NUKTA = "\u093c"
# Kannada, Telugu, Tamil and Malayalam write English "sh" with their ṣa (ಪೆನ್ಷನ್, pension),
# a nasal before a stop as the stop's own (ಬ್ಯಾಂಕ್ is ङ्क, ಸಿಲಿಂಡರ್ may be ण्ड), and often
# English l as ḷa (அப்ளிகேஷன், സ്കോളർഷിപ്പ്): in these scripts they are English sounds
_DRAVIDIAN = frozenset(("kannada", "telugu", "tamil", "malayalam"))
_NOT_IN_DRAVIDIAN_ENGLISH = _NOT_IN_ENGLISH - frozenset("षणङञळ")
# ... but not in Sanskrit's clusters kṣa and ṣṭa (ಶಿಕ್ಷಿತ, "educated", is not "sixth"; ಕಷ್ಟ),
# kṣa apart in English's closing -ction (ಕನೆಕ್ಷನ್, connection)
_SANSKRIT_SSA = re.compile("\u0915\u094d\u0937(?!\u0928(?:\u094d|$))|\u0937\u094d[\u091f\u0920]")
# ... nor a nasal other than before its own stop (பெண்கள், "women", is not Bengal), but in
# Malayalam, which writes English n as ṇ anywhere (ഫോൺ, കണക്ഷൻ)
_NATIVE_NASAL = re.compile(
    "\u0923(?!\u094d[\u091f-\u0922])|\u0919(?!\u094d[\u0915-\u0918])|\u091e(?!\u094d[\u091a-\u091d])"
)
_CLOSING_M = re.compile("\u0902$")
# ... and name the English letters with short vowels and a final virama (ఎల్పిజి, LPG; I is
# ఐ): read as Hindi names them (एलपीजी) to find an acronym
_HINDI_NAMES = {"\u094d": "", "\u093f": "\u0940", "\u0941": "\u0942", "\u0910": "\u0906\u0908"}
_DRAVIDIAN_NAMES = re.compile("[\u094d\u093f\u0941\u0910]")
# Tamil has one letter for k and g, for t and d, for p, b and f, and writes s, ch and j alike
# (சர்டிபிகேட், certificate): its words are heard, and English compared, with each pair as
# one sound
_TAMIL = str.maketrans({"g": "k", "d": "t", "b": "p", "f": "p", "s": "C", "j": "C", "z": "C"})
# English's closing silent e (insurance, certificate), which no Indian spelling writes
_SILENT_E = re.compile(r"(?<=[^aeiou])e$")
_VIRAMA = "\u094d"
# text is NFKC: a letter with a nukta is the letter and U+093C, a pair of code points
_CONSONANTS = {
    "क": "k",
    "क\u093c": "k",
    "ख": "kh",
    "ख\u093c": "kh",
    "ग": "g",
    "ग\u093c": "g",
    "घ": "gh",
    "ङ": "n",
    "च": "ch",
    "छ": "chh",
    "ज": "j",
    "ज\u093c": "z",
    "झ": "jh",
    "ञ": "n",
    "ट": "t",
    "ठ": "th",
    "ड": "d",
    "ड\u093c": "r",
    "ढ": "dh",
    "ढ\u093c": "rh",
    "ण": "n",
    "त": "t",
    "थ": "th",
    "द": "d",
    "ध": "dh",
    "न": "n",
    "प": "p",
    "फ": "f",
    "फ\u093c": "f",
    "ब": "b",
    "भ": "bh",
    "म": "m",
    "य": "y",
    "य\u093c": "y",
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
    "एफ\u093c": "f",
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
    (re.compile(r"z"), "j"),
    (re.compile(r"sh"), "s"),
    (re.compile(r"([kgtdbpjC])h"), r"\1"),
)
# vowels as English spells them and Hindi hears them: maintenance, मेंटेनन्स; caution, कॉशन
_SOFT_VOWELS = ((re.compile(r"ai"), "e"), (re.compile(r"au"), "o"), (re.compile(r"y"), "i"))
_NOT_CONSONANT = re.compile(r"[aeiouyh]")
_DOUBLED = re.compile(r"(.)\1+")


# English "g" before e, i or y is soft in some words (general, agency: जनरल, एजेंसी) and
# hard in others (target, gift: टारगेट, गिफ्ट); spelling cannot tell, so both are heard
_SOFT_G = re.compile(r"g(?=[eiy])")


def _sounded(latin: str) -> str:
    for pattern, sound in _SPELLING:
        latin = pattern.sub(sound, latin)
    return latin


def _english_sounds(word: str) -> list[str]:
    """How an English spelling may sound (with a soft and a hard g, when it has one)."""
    hard = _sounded(word)
    soft = _SOFT_G.sub("j", hard)
    return [hard] if soft == hard else [hard, soft]


# each Devanagari letter and sign as it sounds, in the letters ``_sounded`` gives English: a
# Hindi letter is said one way wherever it stands (ग is always hard; Hindi writes a soft g
# with ज), so English spelling rules never apply to it
_SOUNDS = {
    letter: _sounded(latin) for table in (_CONSONANTS, _VOWELS) for letter, latin in table.items()
} | {_VIRAMA: ""}


def sounds(word: str) -> str | None:
    """A Devanagari word as it sounds, in Latin letters (सर्टिफिकेट: srtifiket; the inherent
    vowel is left out), or None when it holds anything else."""
    out: list[str] = []
    i = 0
    while i < len(word):
        pair = word[i : i + 2]
        if pair in _SOUNDS:  # a letter with a nukta: ज़, फ़
            out.append(_SOUNDS[pair])
            i += 2
            continue
        sound = _SOUNDS.get(word[i])
        if sound is None:
            return None
        out.append(sound)
        i += 1
    return "".join(out) or None


def _tamil(sounded: str) -> str:
    return sounded.translate(_TAMIL)


def _frame(sounded: str) -> str:
    return _DOUBLED.sub(r"\1", _NOT_CONSONANT.sub("", sounded))


def _soft(sounded: str) -> str:
    for pattern, sound in _SOFT_VOWELS:
        sounded = pattern.sub(sound, sounded)
    return _DOUBLED.sub(r"\1", sounded)


_LETTER_RUN = re.compile("(?:" + "|".join(sorted(_LETTERS, key=len, reverse=True)) + ")+")


def acronyms(word: str) -> list[str]:
    """Every way a word splits wholly into the names of at least ACRONYM_MIN_LETTERS
    English letters (एसबीआई: sbi)."""
    found: list[str] = []
    if not _LETTER_RUN.fullmatch(word):
        return found

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

    def __init__(self, english: Iterable[str] | Mapping[str, int]) -> None:
        """``english``: the words, or the words with how often the taxonomy uses each."""
        used = english if isinstance(english, Mapping) else dict.fromkeys(english, 1)
        self._used = {w: n for w, n in used.items() if w.isascii() and w.isalpha()}
        self.words = frozenset(self._used)
        # by consonant frame: each word and its spelling with the vowels, softened; and the
        # same with Tamil's letters (``_tamil``)
        self._by_sound: dict[str, list[tuple[str, str]]] = {}
        self._by_tamil_sound: dict[str, list[tuple[str, str]]] = {}
        for known in sorted(self.words):
            for sounded in _english_sounds(known):
                heard = _SILENT_E.sub("", sounded)
                frame = _frame(heard)
                if len(frame) >= LOANWORD_MIN_SOUNDS:
                    self._by_sound.setdefault(frame, []).append((known, _soft(heard)))
                    tamil = _tamil(heard)
                    tamil_frame = _frame(tamil)
                    if len(tamil_frame) >= LOANWORD_MIN_TAMIL_SOUNDS:
                        by_tamil = self._by_tamil_sound.setdefault(tamil_frame, [])
                        by_tamil.append((known, _soft(tamil)))

    def read(self, word: str, script: str = "devanagari") -> str | None:
        """The English word ``word`` (as Devanagari) spells, if it is one of ours; ``script``:
        the one it was written in (``text.script``)."""
        dravidian = script in _DRAVIDIAN
        spelt = [a for a in acronyms(word) if a in self.words]
        if not spelt and dravidian:
            # ... at least three letters, as short syllables name letters by chance (ಬಿಸಿ,
            # "hot", is not BC)
            named = _DRAVIDIAN_NAMES.sub(lambda m: _HINDI_NAMES[m[0]], word)
            spelt = [a for a in acronyms(named) if len(a) >= 3 and a in self.words]
        if spelt:
            return spelt[0] if len(set(spelt)) == 1 else None
        if dravidian:
            if _SANSKRIT_SSA.search(word):
                return None
            if script != "malayalam" and _NATIVE_NASAL.search(word):
                return None
            # ṣa is "sh"; a closing anusvara is m (വർഷം, "year", is varsham, not version)
            word = _CLOSING_M.sub("म", word.replace("ष", "श"))
        if not (_NOT_IN_DRAVIDIAN_ENGLISH if dravidian else _NOT_IN_ENGLISH).isdisjoint(word):
            return None
        tamil = script == "tamil"
        english = self._heard(word, tamil)
        if english is None and _PROTHETIC.match(word):
            english = self._heard(word[1:], tamil)  # इस्कूल, Urdu's اسٹیشن: school, station
        return english

    def _heard(self, word: str, tamil: bool) -> str | None:
        sounded = sounds(word)
        if sounded is None:
            return None
        if tamil:
            sounded = _tamil(sounded)
        heard = (self._by_tamil_sound if tamil else self._by_sound).get(_frame(sounded))
        if not heard:
            return None
        soft = _soft(sounded)
        scored = sorted(
            ((1.0 - Levenshtein.normalized_distance(soft, other), e) for e, other in heard),
            reverse=True,
        )
        best, english = scored[0]
        if best < LOANWORD_MIN_SIMILARITY:
            return None
        tied = sorted((self._used[e], e) for score, e in scored if score == best)
        if len(tied) > 1:
            # two English words sound and look alike: the one the taxonomy uses far more
            # often (registration, not its misspelling resistration), else no guess; in
            # Tamil, where unlike words sound alike (catering, gathering), no guess
            (rival, _), (most, english) = tied[-2:]
            if tamil or most < LOANWORD_TIE_USES * rival:
                return None
        return english
