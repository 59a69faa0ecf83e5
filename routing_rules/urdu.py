"""Urdu words read as Devanagari, so an Urdu complaint meets the Hindi ones.

Pure code. Hindi and Urdu are one spoken language in two scripts: پانی is पानी,
سڑک is सड़क, نہیں is नहीं. Urdu writes consonants and long vowels and mostly leaves
short vowels out, so a reading is exact for many everyday words and close for the
rest; the lexicons (keyed by how Urdu is written, read the same way) and the reader
of English loanwords (پنشن sounds as pension) take it from there.

The reading, letter by letter:
- consonants by sound, without the nukta Hindi rarely writes for Persian sounds
  (خ ख, ز ذ ض ظ ژ ज, ف फ, ق क, غ ग; ث ص س; ط ت); ڑ is ड़; ں, and ن inside a word
  before a consonant, a nasal (ं: بند बंद, as Hindi writes it);
- ھ makes the consonant before it aspirated (بھ भ, کھ ख, ڈھ ढ);
- ا after a consonant is ा and begins a word as अ (آ आ; او ओ, ای ए); و and ی are व and य at
  the start of a word or before a vowel letter, and ی after ا (شکایت), otherwise ो
  and ी; ے is े; a word ending in ہ after a consonant ends in ा (راستہ), as Urdu
  spells it;
- ئ with ی or ے is ई or ए (کوئی कोई, گئے गए), ؤ is ओ (دواؤں दवाओं), a closing یہ
  is -िया (ڈاکیہ डाकिया); ع is read as the ा it mostly sounds after a consonant
  (بعد बाद, and so a closing عہ: دفعہ दफा), as अ at the start, and عی there as ई (عید);
- the short vowel marks, where a writer puts them, are read (zer ि, pesh ु, jazm ्,
  a shadda doubles; zer before ی and pesh before و are one long vowel); Arabic-keyboard
  forms (ك ي ه) are the Urdu letters; other scripts' consonants stay as written.
"""

from __future__ import annotations

import re

# Arabic-keyboard letters and composed forms as the Urdu letters they stand for
_SAME = str.maketrans(
    {
        "\u0643": "\u06a9",  # ك kaf: ک
        "\u064a": "\u06cc",  # ي yeh: ی
        "\u0649": "\u06cc",  # ى alef maksura: ی
        "\u0647": "\u06c1",  # ه heh: ہ
        "\u06d5": "\u06c1",  # ە ae: ہ
        "\u06c0": "\u06c1",  # ۀ heh with yeh above: ہ
        "\u06c2": "\u06c1",  # ۂ heh goal with hamza: ہ
        "\u06c3": "\u062a",  # ۃ teh marbuta goal: ت
        "\u0629": "\u062a",  # ة teh marbuta: ت
        "\u0623": "\u0627",  # أ alef with hamza: ا
        "\u0625": "\u0627",  # إ
        "\u0671": "\u0627",  # ٱ alef wasla
        "\u06d3": "\u0626\u06d2",  # ۓ: ئے
        "\u0640": None,  # tatweel: a stretch, no letter
        "\u200c": None,
        "\u200d": None,
    }
)

_CONSONANTS = {
    "ب": "ब",
    "پ": "प",
    "ت": "त",
    "ٹ": "ट",
    "ث": "स",
    "ج": "ज",
    "چ": "च",
    "ح": "ह",
    "خ": "ख",
    "د": "द",
    "ڈ": "ड",
    "ذ": "ज",
    "ر": "र",
    "ڑ": "ड\u093c",
    "ز": "ज",
    "ژ": "ज",
    "س": "स",
    "ش": "श",
    "ص": "स",
    "ض": "ज",
    "ط": "त",
    "ظ": "ज",
    "غ": "ग",
    "ف": "फ",
    "ق": "क",
    "ک": "क",
    "گ": "ग",
    "ل": "ल",
    "م": "म",
    "ن": "न",
    "ہ": "ह",
}
_ASPIRATED = {
    "ब": "भ",
    "प": "फ",
    "त": "थ",
    "ट": "ठ",
    "ज": "झ",
    "च": "छ",
    "द": "ध",
    "ड": "ढ",
    "ड\u093c": "ढ\u093c",
    "क": "ख",
    "ग": "घ",
}
_VOWEL_LETTERS = frozenset("اآویےئع")
_MARKS = {
    "\u0650": "\u093f",  # zer: ि
    "\u064f": "\u0941",  # pesh: ु
    "\u0652": "\u094d",  # jazm: ्
    "\u0670": "\u093e",  # standing alef: ा
}
_LONG = {("\u0650", "ی"): ("ी", "ई"), ("\u064f", "و"): ("ू", "ऊ")}
_VOWEL_BEFORE_SHADDA = re.compile("([\u0650\u064f])\u0651")
_INITIAL_MARKS = {"\u0650": "इ", "\u064f": "उ"}
_SILENT_MARKS = frozenset("\u064b\u064c\u064d\u064e\u0651\u0653\u0654\u0655")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f]")


def is_urdu(word: str) -> bool:
    return _ARABIC.search(word) is not None


def devanagari(word: str) -> str:
    """An Urdu (Perso-Arabic script) word read as Devanagari."""
    # NFKC orders a zer or pesh before a shadda; the doubling is read first
    letters = _VOWEL_BEFORE_SHADDA.sub("\u0651\\1", word.translate(_SAME))
    out: list[str] = []
    after_consonant = False  # the last sound written can take a vowel sign
    i, n = 0, len(letters)
    while i < n:
        ch = letters[i]
        nxt = letters[i + 1] if i + 1 < n else ""
        last = i + 1 == n
        after = letters[i + 2 : i + 3]
        if (ch, nxt) in _LONG and after not in _VOWEL_LETTERS:
            # zer before ی, pesh before و: one long vowel (بِیمار, دُودھ), unless a vowel
            # follows and the letter is y or v (دِیا दिया)
            sign, letter = _LONG[ch, nxt]
            out.append(sign if after_consonant else letter)
            after_consonant = False
            i += 1
        elif ch in _MARKS:
            if after_consonant:
                out.append(_MARKS[ch])
            elif ch in _INITIAL_MARKS and out and out[-1] == "अ":
                out[-1] = _INITIAL_MARKS[ch]
            after_consonant = False
        elif ch == "\u0651":  # shadda: the consonant before is doubled
            if after_consonant and out:
                out[-1:] = [out[-1], "\u094d", out[-1]]
        elif ch in _SILENT_MARKS:
            pass
        elif ch == "ھ":
            if after_consonant and out[-1] in _ASPIRATED:
                out[-1] = _ASPIRATED[out[-1]]
            else:
                out.append("ह")
                after_consonant = True
        elif ch == "ہ" and last and after_consonant and len(out) > 1:
            out.append("ा")  # a word's closing ہ: the -a of راستہ, مسئلہ
            after_consonant = False
        elif ch == "ہ" and last and letters[i - 1 : i] == "ع":
            pass  # ... and after ع, which already said it: دفعہ, दफा
        elif ch == "ن" and out and nxt in _CONSONANTS and nxt != "ہ":
            out.append("ं")  # n before a consonant, as Hindi writes it: بند बंद, پنچایت पंचायत
            after_consonant = False
        elif ch in _CONSONANTS:
            out.append(_CONSONANTS[ch])
            after_consonant = True
        elif ch == "ں":
            out.append("ं")
        elif ch == "آ":
            out.append("ा" if after_consonant else "आ")
            after_consonant = False
        elif ch in "اع":  # ع mostly sounds as the alif would (بعد बाद)
            if after_consonant:
                out.append("ा")
            elif not out and ch == "ع" and nxt == "ی":
                out.append("ई")  # عید ईद
                i += 1
            elif not out:
                out.append("अ")
            elif ch == "ا":
                out.append("आ")  # after a vowel; an ع there says nothing
            after_consonant = False
        elif ch == "و":
            if after_consonant and (nxt not in _VOWEL_LETTERS or nxt == "ئ"):
                out.append("ो")
                after_consonant = False
            elif out == ["अ"] and nxt not in _VOWEL_LETTERS:
                out[-1] = "ओ"  # او at the start: ओ (اور, और); عوام is अवाम
            else:
                out.append("व")
                after_consonant = True
        elif ch == "ی" and after_consonant and nxt == "ہ" and i + 2 == n:
            out.append("िया")  # ڈاکیہ, بلدیہ: -iya
            i += 1
            after_consonant = False
        elif ch in "یے":
            vowel = "ी" if ch == "ی" else "े"
            if after_consonant and (nxt not in _VOWEL_LETTERS or ch == "ے"):
                out.append(vowel)
                after_consonant = False
            elif out == ["अ"]:
                out[-1] = "ए"  # ای at the start: ایک एक, ایس एस
            elif ch == "ی" and (not out or nxt in _VOWEL_LETTERS or out[-1] in "ाआ"):
                out.append("य")
                after_consonant = True
            else:
                out.append("ई" if ch == "ی" else "ए")
                after_consonant = False
        elif ch == "ئ":
            if nxt == "ی":
                out.append("ई")
                i += 1
            elif nxt == "ے":
                out.append("ए")
                i += 1
            else:
                out.append("इ")
            after_consonant = False
        elif ch == "ؤ":  # a vowel's seat: the -ओं of دواؤں
            out.append("ो" if after_consonant else "ओ")
            after_consonant = False
        elif ch == "ء":
            after_consonant = False
        else:
            out.append(ch)  # a consonant of Sindhi, Kashmiri or Pashto: as written
            after_consonant = True
        i += 1
    return "".join(out)


# function words and a letter's courtesies, as Urdu writes them
STOP_WORDS = """
    کا کی کے کو نے سے میں پر اور یا بھی ہے ہیں تھا تھی تھے تھیں ہو ہوں ہوا ہوئی ہوئے ہوتا
    ہوتی ہوتے ہونا ہونے کر کرنا کرنے کرتا کرتی کرتے کریں کیا کیے گیا گئی گئے گئیں رہا رہی
    رہے یہ وہ یہاں وہاں جو جس جن اس ان اسے انہیں انہوں جسے کہ کیونکہ لیکن مگر تو ہی تک جب
    تب نہیں نہ ایک کوئی کچھ سب بہت اپنا اپنی اپنے میرا میری میرے ہمارا ہماری ہمارے ہم آپ
    آپکا آپکی آپکے جناب صاحب محترم محترمہ گزارش عرض شکریہ براہ کرم مہربانی لئے لیے طرف ساتھ
    بعد پہلے والا والی والے دیا دی دیں دیے گا گی گے سکتا سکتی سکتے چاہیے جی شری
"""
