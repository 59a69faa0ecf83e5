"""Rank taxonomy leaves for a free-text complaint. Pure code: no database.

Two sources of evidence, combined into one probability per department:

- ``TaxonomyIndex``: the tree's own wording. Every active leaf is a small
  document made of its names (all locales), its ancestors' names (weighted
  down by distance), and the keywords and synonyms of itself and its
  ancestors (full weight: they were written to be matched). Terms are
  weighted by how few departments use them, so "cylinder" says more than
  "related". Words the tree does not know are matched to a known term one
  edit away (misspellings). Per department it gives the best leaf's score,
  the mean of its best few leaves, and the cosine between the text and all
  of the department's leaves' wording taken together, and how much of the text
  is the department's own name ("Telecom Minister", "Ministry of Coal"): a
  citizen who names the department is usually filing with it.
- ``HistoryModel``: what grievances already routed (and corrected by
  officers) teach. A logistic regression over the complaint's terms, stacked
  with the tree's scores, a nearest-neighbour vote over past grievances and
  a naive Bayes word model per department whose prior is the department's
  tree wording (so a department with few past grievances still has words).
  Trained by a job from history; saved as a plain payload; loaded by every
  process.

``Router`` puts them together and explains each suggestion: which words
matched which node, which learned words counted, and which past grievances
were most alike.
"""

from __future__ import annotations

import base64
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import OSA, Levenshtein
from scipy import sparse

from routing_rules.loanwords import Loanwords
from routing_rules.references import Reference, candidates, find_references
from routing_rules.text import Term, is_english, reading, script, stem, terms, words

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NAME_DECAY = 0.8  # an ancestor's name counts 0.8 ** distance
KEYWORD_WEIGHT = 1.5  # keywords and synonyms of the leaf or any ancestor
FIELD_WEIGHT = 0.5  # labels of the fields a category's form asks for (PPO number, UAN)
assert KEYWORD_WEIGHT >= 1.0 >= FIELD_WEIGHT  # the index lays keywords over names and fields
LEAF_IDF_SHARE = 0.2  # department-level rarity first, leaf-level rarity a little
FUZZY_WEIGHT = 0.8
TREE_ONLY_SHARPNESS = 5.5  # softmax scale for tree scores when no model is trained
# With no model, how sure the tree's wording may make the hub. A department's best leaf gets
# the full TREE_ONLY_SHARPNESS only when it matches the text as strongly as STRONG_MATCHES of
# the taxonomy's rarest keywords would (one leaf's, said once); one such keyword gets half.
# And citizens write about more than a small taxonomy holds ("light bill" where the
# taxonomy has street lights but no electricity board): a taxonomy of fewer than
# BACKGROUND_DEPARTMENTS departments is read as if it had that many, the others unmatched.
STRONG_MATCHES = 2.0
BACKGROUND_DEPARTMENTS = 40
NEIGHBOURS = 15
# a department's probability is tempered by how far the text's nearest examples agree: it
# keeps this share whatever they say, and the rest in proportion to how many of the
# AGREEMENT_NEIGHBOURS nearest went to it
AGREEMENT_FLOOR = 0.5
AGREEMENT_NEIGHBOURS = 10
MIN_DEPARTMENT_PROBABILITY = 0.02  # below this, only the best department is suggested
# a category's share within its department, when history knows the department: the tree's
# wording, the categories of the most alike past grievances, and the categories the
# department's grievances are most often filed under (a catch-all "Others" often)
CATEGORY_MIX = (0.4, 0.4, 0.2)
COMMON_CATEGORIES = 3  # how many of a department's most common categories are candidates
FIRST_PER_DEPARTMENT = 3  # suggestions of one department before the next department's
CATEGORY_POOL = 20  # a department's best leaves by the tree's wording that share its probability
# a category for what fits no other under its parent; where the text's words tie it with
# its siblings (they matched only the wording the siblings share), it is the one offered
CATCH_ALL = re.compile(
    r"(?:any\s+)?others?(?:\s+(?:issues?|matters?|grievances?))?(?:\s*\(.*\))?|"
    r"miscell?[ae]neous(?:\s*/\s*others?)?(?:\s+grievances?)?|misc|general|अन्य|विविध",
    re.IGNORECASE,
)
# the taxonomy's names in two languages teach word pairs (मानदेय is honorarium): a word of
# another locale is read as the English word whose names it shares most (Dice), when they
# share at least ALIGN_MIN_NAMES distinct pairs of names and the Dice coefficient is at
# least ALIGN_MIN_DICE
ALIGN_MIN_NAMES = 3
ALIGN_MIN_DICE = 0.5
SPELT_KEPT = 50_000  # words of Indian scripts whose English reading is remembered
TOP_LEAVES = 3  # a department's "best few leaves" score is the mean of this many
PRIOR_MASS = 20.0  # the tree's wording counts as this many words of a department's history
NB_SMOOTHING = 0.01  # pseudo-count of every term in every department
LEARNED_WITH_SEEDS = "seeds"  # a learned word's node when the model learned from seeds too
# a seed example's weight in the regression (a routed grievance's is 1): the shipped seeds,
# 45 per organisation, weigh as much together as a third as many did at 0.03
SEED_WEIGHT = 0.01
MODEL_VERSION = 5
# version 1 payloads lack the naive Bayes counts (weight 0), versions 1-2 the reference rate,
# versions 1-3 the rates per quoted department (the global rate stands for every one);
# a payload without the weight of the department's own name gives it none, and versions 1-4
# none to the keywords only one department has
READABLE_VERSIONS = (1, 2, 3, 4, 5)
# P(a quoted registration number names the right department) before any history: even odds
REFERENCE_PRIOR = (1.0, 1.0)  # Beta(hits, misses) pseudo-counts
# a quoted department's own record counts against this many quotes at the global rate: a
# catch-all office's numbers (the PMO's, quoted by follow-ups filed with a ministry) earn
# their own, lower rate once history has a few of them
REFERENCE_SHRINK = 2.0
PROBABILITY_FLOOR = 1e-6  # a department the words make unlikely can still be the quoted one
QUOTES_SHOWN = 2  # a suggestion's explanation names at most this many quoted numbers


@dataclass(frozen=True)
class NodeInfo:
    code: str
    department: str
    parent: str | None
    names: dict[str, str]
    keywords: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    destination: str = ""
    fields: tuple[str, ...] = ()  # labels of the input fields its form asks for


@dataclass(frozen=True)
class Match:
    """One reason a suggestion was made."""

    word: str  # what the citizen wrote
    term: str  # the term it became
    # "name" | "keyword" | "synonym" | "field" | "learned" | "reference" | "department"
    source: str
    node: str  # the node whose wording matched ("" for learned words; a department code for
    # a reference or the department's own name)
    # "" | "lexicon" | "names" (the taxonomy's names in two languages) | "spelt" (an English
    # word written in an Indian script) | "fuzzy"
    via: str = ""
    weight: float = 0.0


@dataclass(frozen=True)
class Suggestion:
    category: str | None  # None: the department is likely but no category matched
    department: str
    destination: str
    score: float
    # estimated probability that the department is right (tempered: ``Router._agreement``)
    confidence: float
    category_confidence: float  # ... and that this is the category within it
    matches: tuple[Match, ...]
    similar: tuple[str, ...]  # references of the most alike past grievances


@dataclass
class Routing:
    suggestions: list[Suggestion]
    departments: list[tuple[str, float]]  # every department, most likely first
    words_used: int
    note: str = ""


@dataclass(frozen=True)
class TreeScores:
    """What the tree's wording says about one text."""

    leaves: FloatArray  # per leaf
    best: FloatArray  # per department: its best leaf
    top: FloatArray  # per department: the mean of its TOP_LEAVES best leaves
    centroid: FloatArray  # per department: cosine with all its leaves' wording together
    named: FloatArray  # per department: the text's words that are its own name (best 1)
    # per department: the text's words that are keywords or synonyms of it and in no other
    # department's wording (an attached office, a PSU, a scheme: THDC, Ujjwala), best 1
    own: FloatArray


# -- the tree ---------------------------------------------------------------------------


class TaxonomyIndex:
    """The active taxonomy's leaves as weighted term vectors, grouped by department."""

    def __init__(
        self,
        nodes: list[NodeInfo],
        departments: list[str] | None = None,
        department_names: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.nodes = {n.code: n for n in nodes}
        parents = {n.parent for n in nodes if n.parent}
        leaves = [n for n in nodes if n.code not in parents]
        dept_codes = sorted({*(departments or ()), *(n.department for n in nodes)})
        self.departments = dept_codes
        self.dept_pos = {code: i for i, code in enumerate(dept_codes)}
        leaves.sort(key=lambda n: (self.dept_pos[n.department], n.code))
        self.leaves = [n.code for n in leaves]
        self.leaf_pos = {code: i for i, code in enumerate(self.leaves)}
        self.leaf_dept = np.array([self.dept_pos[n.department] for n in leaves], dtype=np.int64)
        # leaves are contiguous per department: [start, end) of each
        counts = np.bincount(self.leaf_dept, minlength=len(dept_codes))
        self.dept_end = np.cumsum(counts)
        self.dept_start = self.dept_end - counts

        # each distinct name read once: the tree repeats many ("Others", "अन्य")
        read = {name: terms(name) for name in {n for node in nodes for n in node.names.values()}}
        self.node_terms: dict[str, dict[str, set[str]]] = {}
        for node in nodes:
            self.node_terms[node.code] = {
                "name": {t.term for name in node.names.values() for t in read[name]},
                "keyword": {t for k in node.keywords for t in _terms_of(k)},
                "synonym": {t for s in node.synonyms for t in _terms_of(s)},
                "field": {t for f in node.fields for t in _terms_of(f)},
            }

        # keywords and synonyms outweigh any name or field (KEYWORD_WEIGHT >= 1), so a node's
        # keywords are laid over its leaves' documents last, as one dict update
        keyword_weights = {
            code: dict.fromkeys(own["keyword"] | own["synonym"], KEYWORD_WEIGHT)
            for code, own in self.node_terms.items()
        }
        docs: list[dict[str, float]] = []
        for leaf in leaves:
            doc: dict[str, float] = {}
            path = self.path(leaf.code)
            for distance, code in enumerate(path):
                own = self.node_terms[code]
                for source in ("name", "field"):
                    weight = _wording_weight(source, distance)
                    for term in own[source]:
                        if doc.get(term, 0.0) < weight:
                            doc[term] = weight
            for code in path:
                doc.update(keyword_weights[code])
            docs.append(doc)

        # every (term, leaf, weight) at once, grouped by term with leaves in order
        vocabulary: dict[str, int] = {}
        term_ids = np.array(
            [vocabulary.setdefault(t, len(vocabulary)) for doc in docs for t in doc],
            dtype=np.int64,
        )
        leaf_ids = np.repeat(np.arange(len(docs), dtype=np.int64), [len(d) for d in docs])
        raw = np.fromiter((w for doc in docs for w in doc.values()), np.float64, len(term_ids))
        order = np.argsort(term_ids, kind="stable")
        bounds = np.cumsum(np.bincount(term_ids, minlength=len(vocabulary)))[:-1]
        groups: tuple[list[IntArray], list[FloatArray]] = (
            (np.split(leaf_ids[order], bounds), np.split(raw[order], bounds))
            if vocabulary
            else ([], [])  # np.split of nothing is one empty group
        )
        n_dept, n_leaf = max(len(dept_codes), 1), max(len(leaves), 1)
        self.idf: dict[str, float] = {}
        self.postings: dict[str, tuple[IntArray, FloatArray]] = {}
        # per department: how many of its leaves use each term, as a unit TF-IDF vector (the
        # centroid of its wording) and as a share of PRIOR_MASS words (a naive Bayes prior)
        dept_counts: dict[str, tuple[IntArray, FloatArray]] = {}
        for term, ids, weights in zip(vocabulary, *groups, strict=True):
            found, times = np.unique(self.leaf_dept[ids], return_counts=True)
            idf = math.log((n_dept + 1) / (len(found) + 0.5)) + LEAF_IDF_SHARE * math.log(
                (n_leaf + 1) / (len(ids) + 0.5)
            )
            self.idf[term] = idf
            self.postings[term] = (ids, weights * idf)
            dept_counts[term] = (found.astype(np.int64), times.astype(np.float64))
        norm = np.zeros(len(dept_codes))
        total = np.zeros(len(dept_codes))
        for term, (cols, used) in dept_counts.items():
            np.add.at(norm, cols, ((1.0 + np.log(used)) * self.idf[term]) ** 2)
            np.add.at(total, cols, np.log1p(used))
        norm = np.sqrt(np.where(norm > 0, norm, 1.0))
        self.dept_postings: dict[str, tuple[IntArray, FloatArray, FloatArray]] = {
            term: (
                cols,
                (1.0 + np.log(used)) * self.idf[term] / norm[cols],
                PRIOR_MASS * np.log1p(used) / total[cols],
            )
            for term, (cols, used) in dept_counts.items()
        }
        self.has_leaves = total > 0  # departments with a prior
        # keywords and synonyms that one department's wording has and no other's
        said: dict[str, str] = {}  # each keyword's first node, for explanations
        for code, own in self.node_terms.items():
            for term in own["keyword"] | own["synonym"]:
                said.setdefault(term, code)
        self.own_keywords: dict[str, tuple[int, str]] = {
            term: (int(cols[0]), said[term])
            for term, (cols, _) in dept_counts.items()
            if len(cols) == 1 and term in said
        }
        # a best leaf's score that counts as strong evidence (see STRONG_MATCHES): the rarest
        # term's IDF, that of a keyword one leaf has
        rarest = math.log((n_dept + 1) / 1.5) + LEAF_IDF_SHARE * math.log((n_leaf + 1) / 1.5)
        self.strong_score = STRONG_MATCHES * KEYWORD_WEIGHT * rarest
        self._name_index(nodes, department_names or {})
        self.translations = _align(nodes, read)
        self.loanwords = Loanwords(_english_words(nodes, read, department_names or {}))
        self._spelt: dict[str, str | None] = {}
        self.catch_all = np.array(
            [any(CATCH_ALL.fullmatch(name.strip()) for name in n.names.values()) for n in leaves],
            dtype=bool,
        )
        self._deletes: dict[str, list[str]] = {}
        for term in self.postings:
            if len(term) >= 4 and term.isascii():
                for variant in _deletes(term):
                    self._deletes.setdefault(variant, []).append(term)

    def _name_index(self, nodes: list[NodeInfo], names: dict[str, dict[str, str]]) -> None:
        """Per department, the words of its own name: its names in every locale and those
        of its top nodes (a CPGRAMS tree's first stage is the ministry)."""
        own: dict[str, set[str]] = {}
        for code, localised in names.items():
            if code in self.dept_pos:
                own.setdefault(code, set()).update(
                    t for name in localised.values() for t in _terms_of(name)
                )
        for node in nodes:
            if node.parent is None or node.parent not in self.nodes:
                own.setdefault(node.department, set()).update(self.node_terms[node.code]["name"])
        naming: dict[str, list[int]] = {}
        for code, named in own.items():
            for term in named:
                naming.setdefault(term, []).append(self.dept_pos[code])
        n_dept = max(len(self.departments), 1)
        self.name_postings: dict[str, tuple[IntArray, float]] = {
            # a name word the leaves do not use is as rare as the departments it names
            term: (
                np.array(sorted(cols), dtype=np.int64),
                self.idf.get(term, math.log((n_dept + 1) / (len(cols) + 0.5))),
            )
            for term, cols in naming.items()
        }

    def spelt(self, word: str) -> str | None:
        """The term of the English word a word of an Indian script spells (बीपीसीएल: bpcl),
        when the taxonomy's wording uses it. Remembered (SPELT_KEPT words at most: past
        that, a long-running process starts again)."""
        if word not in self._spelt:
            if len(self._spelt) >= SPELT_KEPT:
                self._spelt.clear()
            english = self.loanwords.read(reading(word), script(word))
            term = stem(english) if english is not None else None
            self._spelt[word] = term if term is not None and term in self.postings else None
        return self._spelt[word]

    def path(self, code: str) -> list[str]:
        """The node and its ancestors, nearest first."""
        out: list[str] = []
        seen: set[str] = set()
        current: str | None = code
        while current is not None and current in self.nodes and current not in seen:
            out.append(current)
            seen.add(current)
            current = self.nodes[current].parent
        return out

    def knows(self, term: str) -> bool:
        return term in self.postings or term in self.name_postings

    def correct(self, term: str, word: str = "", *, meant: bool = False) -> str | None:
        """A known term one edit away from an unknown one (a misspelling), if any: a letter
        left out, added, changed, or two side by side swapped ('pensoin'), the swap first
        ('recieved' is received, not relieved). ``word``, the word as written: a real
        English word is not a misspelling ('still' is not 'skill'), though it may be the
        other spelling of the taxonomy's word ('license' for licence, 'labor', 'center').
        ``meant``: the term is a word chosen on purpose (a lexicon's English reading), so
        only its other spelling may stand for it."""
        if not 5 <= len(term) <= 20 or not term.isascii():
            return None
        real = meant or (bool(word) and is_english(word))
        variants = _deletes(term)
        candidates = {c for v in (term, *variants) for c in self._deletes.get(v, ())}
        candidates.update(v for v in variants if v in self.postings)
        best = [
            c
            for c in candidates
            if OSA.distance(term, c) <= 1 and (not real or _other_spelling(term, c))
        ]
        if not best:
            return None
        return min(
            best,
            key=lambda c: (Levenshtein.distance(term, c) == 1, -len(self.postings[c][0]), c),
        )

    def score(self, query: dict[str, float]) -> TreeScores:
        """Per-leaf and per-department scores for weighted query terms."""
        leaf_scores = np.zeros(len(self.leaves))
        cols: list[IntArray] = []
        values: list[FloatArray] = []
        own = np.zeros(len(self.departments))
        query_norm = 0.0
        for term, weight in query.items():
            posting = self.postings.get(term)
            if posting is not None:
                leaf_scores[posting[0]] += posting[1] * weight
                depts, cosines, _ = self.dept_postings[term]
                cols.append(depts)
                values.append(cosines * (weight * self.idf[term]))
                query_norm += (weight * self.idf[term]) ** 2
                only = self.own_keywords.get(term)
                if only is not None:
                    own[only[0]] += weight * self.idf[term]
        centroid = np.zeros(len(self.departments))
        if cols:
            centroid = np.bincount(
                np.concatenate(cols), np.concatenate(values), minlength=len(self.departments)
            ) / math.sqrt(query_norm)
        best = np.zeros(len(self.departments))
        top = np.zeros(len(self.departments))
        if len(self.leaves):
            nonempty = self.dept_end > self.dept_start
            starts = self.dept_start[nonempty]
            sizes = (self.dept_end - self.dept_start)[nonempty]
            best[nonempty] = np.maximum.reduceat(leaf_scores, starts)
            # the TOP_LEAVES best leaves of each department: take the best (and its ties) away
            # from what is left, TOP_LEAVES times
            left = leaf_scores
            wanted = np.minimum(sizes, TOP_LEAVES)
            total = np.zeros(len(starts))
            highest = best[nonempty]
            for _ in range(TOP_LEAVES):
                if not highest.any():
                    break
                ties = (left == np.repeat(highest, sizes)) & (left > 0)
                taken = np.minimum(np.add.reduceat(ties, starts), wanted)
                total += taken * highest
                wanted = wanted - taken
                left = np.where(ties, 0.0, left)
                highest = np.maximum.reduceat(left, starts)
            top[nonempty] = total / np.minimum(sizes, TOP_LEAVES)
        named = np.zeros(len(self.departments))
        for term, weight in query.items():
            naming = self.name_postings.get(term)
            if naming is not None:
                named[naming[0]] += weight * naming[1]
        return TreeScores(leaf_scores, best, top, centroid, _unit(named), _unit(own))

    def naming(self, department: str, query: list[Term], weights: dict[str, float]) -> list[Match]:
        """The words of the text that are the department's own name."""
        pos = self.dept_pos.get(department)
        found: dict[str, Match] = {}
        if pos is None:
            return []
        for item in query:
            naming = self.name_postings.get(item.term)
            if naming is not None and pos in naming[0] and item.term not in found:
                found[item.term] = Match(
                    word=item.word,
                    term=item.term,
                    source="department",
                    node=department,
                    via=item.via,
                    weight=round(naming[1] * weights.get(item.term, 0.0), 3),
                )
        return sorted(found.values(), key=lambda m: -m.weight)

    def owning(self, department: str, query: list[Term], weights: dict[str, float]) -> list[Match]:
        """The words of the text that are keywords only the department has."""
        pos = self.dept_pos.get(department)
        found: dict[str, Match] = {}
        for item in query:
            only = self.own_keywords.get(item.term)
            if only is not None and only[0] == pos and item.term not in found:
                code = only[1]
                source = "keyword" if item.term in self.node_terms[code]["keyword"] else "synonym"
                found[item.term] = Match(
                    word=item.word,
                    term=item.term,
                    source=source,
                    node=code,
                    via=item.via,
                    weight=round(self.idf[item.term] * weights.get(item.term, 0.0), 3),
                )
        return sorted(found.values(), key=lambda m: -m.weight)

    def columns(self, departments: list[str]) -> IntArray:
        """Where each of the index's departments is in ``departments`` (-1: absent)."""
        pos = {code: i for i, code in enumerate(departments)}
        return np.array([pos.get(code, -1) for code in self.departments], dtype=np.int64)

    def explain(self, leaf: str, query: list[Term], weights: dict[str, float]) -> list[Match]:
        """Which words of the text matched which node of the leaf's path, strongest first
        (a term as its first word wrote it; the nearest node; keywords before names)."""
        first: dict[str, Term] = {}
        for item in query:
            first.setdefault(item.term, item)
        position = {term: i for i, term in enumerate(first)}
        found: dict[str, Match] = {}
        for distance, code in enumerate(self.path(leaf)):
            own = self.node_terms[code]
            hits = {t for words in own.values() for t in words if t in first and t not in found}
            for term in sorted(hits, key=position.__getitem__):
                source = next(s for s in ("keyword", "synonym", "name", "field") if term in own[s])
                item = first[term]
                found[term] = Match(
                    word=item.word,
                    term=term,
                    source=source,
                    node=code,
                    via=item.via,
                    weight=round(
                        _wording_weight(source, distance)
                        * self.idf.get(term, 0.0)
                        * weights.get(term, 0.0),
                        3,
                    ),
                )
        return sorted(found.values(), key=lambda m: -m.weight)


def _align(nodes: list[NodeInfo], read: dict[str, list[Term]]) -> dict[str, str]:
    """Word pairs from the names nodes have in English and in another locale: each term of
    the other locale's names (as ``terms`` reads them, in ``read``, the lexicons' additions
    left out) to the English term whose names it shares most (see ALIGN_MIN_NAMES,
    ALIGN_MIN_DICE). A pair of names repeated across the tree ("Others", "अन्य") counts
    once."""
    pairs: set[tuple[frozenset[str], frozenset[str]]] = set()
    for node in nodes:
        english = frozenset(
            t.term for t in read.get(node.names.get("en", ""), ()) if not t.via and t.term.isascii()
        )
        if not english:
            continue
        for locale, name in node.names.items():
            if locale != "en":
                other = frozenset(t.term for t in read[name] if not t.via and not t.term.isascii())
                if other:
                    pairs.add((english, other))
    seen_en: Counter[str] = Counter()
    seen_other: Counter[str] = Counter()
    together: Counter[tuple[str, str]] = Counter()
    for english, other in pairs:
        seen_en.update(english)
        seen_other.update(other)
        together.update((o, e) for o in other for e in english)
    best: dict[str, tuple[float, str]] = {}
    for (o, e), n in together.items():
        dice = 2 * n / (seen_other[o] + seen_en[e])
        if n >= ALIGN_MIN_NAMES and dice >= ALIGN_MIN_DICE and (dice, e) > best.get(o, (0.0, "")):
            best[o] = (dice, e)
    return {o: e for o, (_, e) in sorted(best.items())}


def _english_words(
    nodes: list[NodeInfo], read: dict[str, list[Term]], names: dict[str, dict[str, str]]
) -> Counter[str]:
    """Every English word of the taxonomy's wording, as written (lower case), with how
    many nodes' names (or keywords, synonyms, fields, departments' names) use it; its
    names as ``read`` already holds them."""
    named = Counter(name for node in nodes for name in set(node.names.values()))
    texts = Counter(t for node in nodes for t in {*node.keywords, *node.synonyms, *node.fields})
    texts.update(n for localised in names.values() for n in set(localised.values()))
    found: Counter[str] = Counter()
    for name, uses in named.items():
        for word in {t.word for t in read[name]}:
            found[word] += uses
    for text, uses in texts.items():
        for word in set(words(text)):
            found[word] += uses
    return Counter({w: n for w, n in found.items() if w.isascii() and w.isalpha()})


def _wording_weight(source: str, distance: int) -> float:
    """How much a node's word counts for a leaf ``distance`` below it, by its source."""
    if source in ("keyword", "synonym"):
        return KEYWORD_WEIGHT
    decay: float = NAME_DECAY**distance
    return FIELD_WEIGHT * decay if source == "field" else decay


def field_labels(fields: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The labels of a category's input fields, as the taxonomy stores them."""
    return tuple(str(f["label"]) for f in fields if isinstance(f, dict) and f.get("label"))


def _terms_of(text: str) -> list[str]:
    return [t.term for t in terms(text)]


# American and British spellings of one word, as their stems end: labor/labour,
# center/centre (centr), license/licence, defense/defence
_SPELLINGS = (("or", "our"), ("er", "r"), ("ns", "nc"))


def _other_spelling(term: str, other: str) -> bool:
    """``other`` is ``term`` spelt the other side of the Atlantic."""
    return any(
        a.endswith(x) and b.endswith(y) and a[: -len(x)] == b[: -len(y)]
        for a, b in ((term, other), (other, term))
        for x, y in _SPELLINGS
    )


def _deletes(term: str) -> list[str]:
    return [term[:i] + term[i + 1 :] for i in range(len(term))]


def weigh(index: TaxonomyIndex, query: list[Term]) -> tuple[dict[str, float], list[Term]]:
    """Query term weights (1 + log count), with misspellings mapped to known terms, the
    words of another locale that no lexicon knows read as the taxonomy's names teach, and
    English words written in an Indian script read as the English words they spell."""
    counts: Counter[str] = Counter()
    used: list[Term] = []
    by_lexicon = {item.word for item in query if item.via == "lexicon"}
    for item in query:
        term = item.term
        known = index.knows(term)
        translated, via = None, ""
        if item.word not in by_lexicon:  # a word no lexicon reads
            translated, via = index.translations.get(term), "names"
            if translated is None and not known and not item.word.isascii():
                translated, via = index.spelt(item.word), "spelt"
        if not known:  # a lexicon's English word is meant: only its other spelling
            corrected = index.correct(term, item.word, meant=item.via == "lexicon")
            if corrected is not None:
                item = Term(corrected, item.word, "fuzzy")
        counts[item.term] += 1
        used.append(item)
        if translated is not None and translated != item.term:
            counts[translated] += 1
            used.append(Term(translated, item.word, via))
    fuzzy = {t.term for t in used if t.via == "fuzzy"}
    weights = {
        term: (1.0 + math.log(n)) * (FUZZY_WEIGHT if term in fuzzy else 1.0)
        for term, n in counts.items()
    }
    return weights, used


def _unit(values: FloatArray) -> FloatArray:
    top = float(values.max()) if values.size else 0.0
    return values / top if top > 0 else values


def _softmax(logits: FloatArray) -> FloatArray:
    shifted: FloatArray = np.exp(logits - logits.max())
    return shifted / float(shifted.sum())


# -- history ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A grievance whose department (and perhaps category) is known to be right."""

    text: str
    department: str
    category: str | None = None
    reference: str = ""
    weight: float = 1.0  # officer corrections count more than a citizen's own choice
    seed: bool = False  # written for the department (``seed_examples``), not filed


def seed_examples(seeds: Mapping[str, Sequence[str]], departments: Iterable[str]) -> list[Example]:
    """Example grievances written for departments (``overlays.read_examples``), to learn
    from beside history: they teach the neighbours' vote and the word model as filed
    grievances do, and count SEED_WEIGHT of one in the regression, where history decides.
    They carry the knowledge of what a department does that a taxonomy's names and a
    young deployment's history lack (its schemes, undertakings, offices, everyday words).
    Those of departments not in ``departments`` are left out; none is cited as a
    similar grievance, and none teaches how often quoted numbers are right."""
    wanted = set(departments)
    return [
        Example(text, code, weight=SEED_WEIGHT, seed=True)
        for code in sorted(seeds)
        if code in wanted
        for text in seeds[code]
    ]


@dataclass
class HistoryModel:
    departments: list[str]
    vocab: dict[str, int]
    idf: FloatArray
    weights: FloatArray  # vocab x departments
    # per department: zero in models trained now (see ``_fit``); a payload trained before
    # carries its learned one, and is read as it was trained
    bias: FloatArray
    tree_weight: float
    knn_weight: float
    example_rows: sparse.csr_matrix  # examples x vocab, unit rows
    example_departments: IntArray
    example_categories: list[str | None]
    example_references: list[str]
    trained_on: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    top_weight: float = 0.0
    centroid_weight: float = 0.0
    bayes_weight: float = 0.0
    named_weight: float = 0.0
    own_weight: float = 0.0
    # vocab x departments: damped term counts of the examples (naive Bayes)
    term_counts: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    # how often a quoted registration number named the department a grievance belonged to
    reference_rate: float = REFERENCE_PRIOR[0] / sum(REFERENCE_PRIOR)
    # ... per quoted department, shrunk towards ``reference_rate``
    reference_rates: dict[str, float] = field(default_factory=dict)
    _common: dict[str, dict[str, float]] | None = field(default=None, init=False, repr=False)
    _count_totals: FloatArray | None = field(default=None, init=False, repr=False)
    _citable: npt.NDArray[np.bool_] | None = field(default=None, init=False, repr=False)

    # - training -

    @classmethod
    def train(
        cls,
        index: TaxonomyIndex,
        examples: list[Example],
        *,
        iterations: int = 300,
        l2: float = 1e-3,
        seed: int = 7,
        numbers: Sequence[re.Pattern[str]] = (),
    ) -> HistoryModel:
        if not examples:
            raise ValueError("no examples to learn from")
        texts = [[t.term for t in weigh(index, terms(e.text))[1]] for e in examples]
        df: Counter[str] = Counter(t for ts in texts for t in set(ts))
        # every word history has seen, once is enough: a local name or a scheme one officer's
        # correction taught is worth as much as the words it was filed with
        vocab_terms = sorted(df)
        vocab = {t: i for i, t in enumerate(vocab_terms)}
        n = len(examples)
        idf = np.array([math.log((n + 1) / (df[t] + 1)) + 1 for t in vocab_terms])
        departments = sorted({*index.departments, *(e.department for e in examples)})
        pos = {code: i for i, code in enumerate(departments)}
        labels = np.array([pos[e.department] for e in examples], dtype=np.int64)
        rows = _vectorise(texts, vocab, idf)
        sample_weight = np.array([e.weight for e in examples], dtype=np.float64)

        classes = len(departments)
        queries = [{t: 1.0 + math.log(c) for t, c in Counter(ts).items()} for ts in texts]
        tree, top, centroid, named, own = (np.zeros((n, classes)) for _ in range(5))
        tree_cols = np.array([pos[c] for c in index.departments], dtype=np.int64)
        for i, query in enumerate(queries):
            scores = index.score(query)
            tree[i, tree_cols] = _unit(scores.best)
            top[i, tree_cols] = _unit(scores.top)
            centroid[i, tree_cols] = scores.centroid
            named[i, tree_cols] = scores.named
            own[i, tree_cols] = scores.own
        counts = _counts(queries, vocab, labels, classes)  # examples x vocab, by department

        # the neighbour vote and the word model each example would have got without itself
        knn = np.zeros((n, classes))
        bayes = np.zeros((n, classes))
        columns = index.columns(departments)
        order = list(range(n))
        random.Random(seed).shuffle(order)
        folds = [sorted(order[k::5]) for k in range(5)] if n >= 10 else [[i] for i in range(n)]
        for fold in folds:
            held = set(fold)
            rest = np.array([i for i in range(n) if i not in held], dtype=np.int64)
            if rest.size == 0:
                continue
            bank = rows[rest]
            sims = (rows[fold] @ bank.T).toarray()
            onehot = sparse.csr_matrix(
                (np.ones(rest.size), (labels[rest], np.arange(rest.size))),
                shape=(classes, rest.size),
            )
            fold_counts = np.asarray((onehot @ counts[rest]).T.todense())
            fold_totals = fold_counts.sum(axis=0)
            for row_i, i in enumerate(fold):
                knn[i] = _vote(sims[row_i], labels[rest], classes)
                bayes[i] = _bayes(index, columns, vocab, fold_counts, fold_totals, queries[i])

        weights, mix = _fit(
            rows,
            [tree, knn, top, centroid, bayes, named, own],
            labels,
            sample_weight,
            classes,
            iterations,
            l2,
        )
        onehot = sparse.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(classes, n))
        quoted: list[tuple[str, dict[str, float]]] = [
            (e.department, shares)
            for e in examples
            if not e.seed and (shares := candidates(find_references(e.text, departments, numbers)))
        ]
        rate = _rate(sum(d in shares for d, shares in quoted), len(quoted))
        return cls(
            departments=departments,
            vocab=vocab,
            idf=idf,
            weights=weights,
            bias=np.zeros(classes),
            tree_weight=float(mix[0]),
            knn_weight=float(mix[1]),
            example_rows=rows,
            example_departments=labels,
            example_categories=[e.category for e in examples],
            example_references=[e.reference for e in examples],
            trained_on=n,
            top_weight=float(mix[2]),
            centroid_weight=float(mix[3]),
            bayes_weight=float(mix[4]),
            named_weight=float(mix[5]),
            own_weight=float(mix[6]),
            term_counts=np.asarray((onehot @ counts).T.todense()),
            reference_rate=rate,
            reference_rates=_rates(quoted, rate),
            info={"quoting": len(quoted), "seeds": sum(e.seed for e in examples)},
        )

    # - use -

    def vector(self, query: dict[str, float]) -> sparse.csr_matrix:
        cols = [self.vocab[t] for t in query if t in self.vocab]
        values = np.array([query[t] for t in query if t in self.vocab]) * self.idf[cols]
        norm = float(np.linalg.norm(values)) if len(cols) else 0.0
        if norm > 0:
            values = values / norm
        return sparse.csr_matrix(
            (values, (np.zeros(len(cols), dtype=np.int64), cols)), shape=(1, len(self.vocab))
        )

    def similarities(self, vector: sparse.csr_matrix) -> FloatArray:
        """The text's cosine with every example (``neighbours`` reads them)."""
        sims: FloatArray = (self.example_rows @ vector.T).toarray().ravel()
        return sims

    def neighbours(
        self, sims: FloatArray, k: int = NEIGHBOURS, *, citable: bool = False
    ) -> list[tuple[int, float]]:
        """The k examples most like the text (cosine above 0), nearest first. ``citable``:
        only grievances that can be cited or name a category, so seed examples (which do
        neither) take no place from them."""
        if not sims.size:
            return []
        if citable:
            if self._citable is None:
                self._citable = np.array(
                    [
                        bool(ref) or cat is not None
                        for ref, cat in zip(
                            self.example_references, self.example_categories, strict=True
                        )
                    ],
                    dtype=bool,
                )
            sims = np.where(self._citable, sims, 0.0)
        k = min(k, sims.size)
        top = np.argpartition(-sims, k - 1)[:k]
        return sorted(((int(i), float(sims[i])) for i in top if sims[i] > 0), key=lambda p: -p[1])

    def bayes(self, index: TaxonomyIndex, columns: IntArray, query: dict[str, float]) -> FloatArray:
        """The naive Bayes word model's per-token log likelihoods, best department 0."""
        if not self.bayes_weight:
            return np.zeros(len(self.departments))
        if self._count_totals is None:
            self._count_totals = self.term_counts.sum(axis=0)
        return _bayes(index, columns, self.vocab, self.term_counts, self._count_totals, query)

    def logits(
        self,
        vector: sparse.csr_matrix,
        tree: TreeScores,
        near: list[tuple[int, float]],
        bayes: FloatArray,
    ) -> FloatArray:
        """``tree`` and ``bayes`` in this model's department columns."""
        vote = np.zeros(len(self.departments))
        for i, sim in near:
            vote[self.example_departments[i]] += sim * sim
        learned = np.asarray(vector @ self.weights).ravel()
        result: FloatArray = (
            self.bias
            + learned
            + self.tree_weight * _unit(tree.best)
            + self.knn_weight * _unit(vote)
            + self.top_weight * _unit(tree.top)
            + self.centroid_weight * tree.centroid
            + self.named_weight * tree.named
            + self.own_weight * tree.own
            + self.bayes_weight * bayes
        )
        return result

    def common_categories(self, department: str) -> dict[str, float]:
        """The COMMON_CATEGORIES categories the department's past grievances were most
        often filed under, with their shares of those grievances."""
        if self._common is None:
            counts: dict[int, Counter[str]] = {}
            for category, col in zip(
                self.example_categories, self.example_departments.tolist(), strict=True
            ):
                if category:
                    counts.setdefault(col, Counter())[category] += 1
            self._common = {
                self.departments[col]: {
                    c: n / counts[col].total()
                    for c, n in counts[col].most_common(COMMON_CATEGORIES)
                }
                for col in counts
            }
        return self._common.get(department, {})

    def learned_words(self, query: dict[str, float], department: str, limit: int = 3) -> list[str]:
        col = self.departments.index(department)
        scored = [(float(self.weights[self.vocab[t], col]), t) for t in query if t in self.vocab]
        return [t for w, t in sorted(scored, reverse=True)[:limit] if w > 0.05]

    def quote_rate(self, named: dict[str, float]) -> float:
        """How often quotes like these named the right department: each quoted
        department's own rate, weighed by its share of the quotes."""
        return sum(
            share * self.reference_rates.get(code, self.reference_rate)
            for code, share in named.items()
        )

    # - storage -

    def to_payload(self) -> dict[str, Any]:
        rows = self.example_rows
        counts = sparse.csr_matrix(self.term_counts)
        return {
            "version": MODEL_VERSION,
            "departments": self.departments,
            "vocab": list(self.vocab),
            "idf": _pack(self.idf),
            "weights": _pack(self.weights),
            "bias": _pack(self.bias),
            "tree_weight": self.tree_weight,
            "knn_weight": self.knn_weight,
            "rows": {
                "data": _pack(rows.data),
                "indices": _pack(rows.indices.astype(np.int64)),
                "indptr": _pack(rows.indptr.astype(np.int64)),
            },
            "labels": _pack(self.example_departments),
            "categories": self.example_categories,
            "references": self.example_references,
            "trained_on": self.trained_on,
            "info": self.info,
            "top_weight": self.top_weight,
            "centroid_weight": self.centroid_weight,
            "bayes_weight": self.bayes_weight,
            "named_weight": self.named_weight,
            "own_weight": self.own_weight,
            "reference_rate": self.reference_rate,
            "reference_rates": self.reference_rates,
            "term_counts": {
                "data": _pack(counts.data),
                "indices": _pack(counts.indices.astype(np.int64)),
                "indptr": _pack(counts.indptr.astype(np.int64)),
            },
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> HistoryModel:
        if payload.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"routing model version {payload.get('version')} is not supported")
        departments = list(payload["departments"])
        vocab = {t: i for i, t in enumerate(payload["vocab"])}
        term_counts = np.zeros((len(vocab), len(departments)))
        if "term_counts" in payload:
            term_counts = sparse.csr_matrix(
                (
                    _unpack(payload["term_counts"]["data"], np.float64),
                    _unpack(payload["term_counts"]["indices"], np.int64),
                    _unpack(payload["term_counts"]["indptr"], np.int64),
                ),
                shape=(len(vocab), len(departments)),
            ).toarray()
        rows = sparse.csr_matrix(
            (
                _unpack(payload["rows"]["data"], np.float64),
                _unpack(payload["rows"]["indices"], np.int64),
                _unpack(payload["rows"]["indptr"], np.int64),
            ),
            shape=(len(payload["categories"]), len(vocab)),
        )
        return cls(
            departments=departments,
            vocab=vocab,
            idf=_unpack(payload["idf"], np.float64),
            weights=_unpack(payload["weights"], np.float64).reshape(len(vocab), len(departments)),
            bias=_unpack(payload["bias"], np.float64),
            tree_weight=float(payload["tree_weight"]),
            knn_weight=float(payload["knn_weight"]),
            example_rows=rows,
            example_departments=_unpack(payload["labels"], np.int64),
            example_categories=list(payload["categories"]),
            example_references=list(payload["references"]),
            trained_on=int(payload["trained_on"]),
            info=dict(payload.get("info") or {}),
            top_weight=float(payload.get("top_weight", 0.0)),
            centroid_weight=float(payload.get("centroid_weight", 0.0)),
            bayes_weight=float(payload.get("bayes_weight", 0.0)),
            named_weight=float(payload.get("named_weight", 0.0)),
            own_weight=float(payload.get("own_weight", 0.0)),
            term_counts=term_counts,
            reference_rate=float(payload.get("reference_rate", _rate(0, 0))),
            reference_rates={
                str(code): float(rate)
                for code, rate in (payload.get("reference_rates") or {}).items()
            },
        )


def _rate(hits: int, seen: int) -> float:
    """The share of quoting grievances whose quote named their department, smoothed."""
    return (hits + REFERENCE_PRIOR[0]) / (seen + sum(REFERENCE_PRIOR))


def _rates(quoted: list[tuple[str, dict[str, float]]], rate: float) -> dict[str, float]:
    """Per quoted department: the share of its quotes (a masked number that fits k
    departments is 1/k of a quote of each) that named the grievance's own department,
    shrunk towards ``rate`` by REFERENCE_SHRINK quotes."""
    hits: dict[str, float] = {}
    seen: dict[str, float] = {}
    for department, named in quoted:
        for code, share in named.items():
            seen[code] = seen.get(code, 0.0) + share
            hits[code] = hits.get(code, 0.0) + (share if code == department else 0.0)
    return {
        code: (hits[code] + REFERENCE_SHRINK * rate) / (seen[code] + REFERENCE_SHRINK)
        for code in sorted(seen)
    }


def with_references(
    probs: FloatArray, departments: list[str], named: dict[str, float], rate: float
) -> FloatArray:
    """Department probabilities once the text's quoted registration numbers are known.

    A mixture, not a product: with probability ``rate`` (how often, in history, a quote
    named the department a grievance belonged to) the right department is among the
    quoted ones, and the words choose among them, each weighed by its share of the
    quotes (a masked number that fits k departments gives each 1/k); otherwise the
    words alone decide. Multiplying the words' probability by the quote's odds instead
    counts the same evidence twice when both point the same way (a follow-up repeats
    its first grievance's words), and made quoting texts far surer than they were right.
    Words that agree with the quote still make it surer than either alone, and words
    that point elsewhere keep ``1 - rate`` of their weight.

    Words that leave some probability to a department the taxonomy does not have (the
    tree alone, ``Router._tree_only``) are read for how they rank the hub's departments:
    a quoted number names a department the hub has."""
    shares = np.array([named.get(code, 0.0) for code in departments])
    quoted = shares > 0
    if not quoted.any() or quoted.all():
        return probs
    said = float(probs.sum())
    base = probs / said if said > 0 else np.full(len(departments), 1.0 / len(departments))
    base = np.maximum(base, PROBABILITY_FLOOR)
    rate = min(max(rate, 1e-3), 1.0 - 1e-3)
    within = shares * base
    posterior: FloatArray = rate * within / float(within.sum()) + (1.0 - rate) * base
    return posterior / float(posterior.sum())


def _pack(array: npt.NDArray[Any]) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _unpack(text: str, dtype: type[np.generic]) -> Any:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()


def _vectorise(texts: list[list[str]], vocab: dict[str, int], idf: FloatArray) -> sparse.csr_matrix:
    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for text_terms in texts:
        counts = Counter(t for t in text_terms if t in vocab)
        cols = [vocab[t] for t in counts]
        values = np.array([1.0 + math.log(c) for c in counts.values()]) * idf[cols]
        norm = float(np.linalg.norm(values)) if cols else 0.0
        data.extend((values / norm).tolist() if norm > 0 else values.tolist())
        indices.extend(cols)
        indptr.append(len(indices))
    return sparse.csr_matrix(
        (np.array(data), np.array(indices, dtype=np.int64), np.array(indptr, dtype=np.int64)),
        shape=(len(texts), len(vocab)),
    )


def _vote(sims: FloatArray, labels: IntArray, classes: int) -> FloatArray:
    vote = np.zeros(classes)
    if not sims.size:
        return vote
    k = min(NEIGHBOURS, sims.size)
    for i in np.argpartition(-sims, k - 1)[:k]:
        if sims[i] > 0:
            vote[labels[i]] += sims[i] * sims[i]
    return _unit(vote)


def _counts(
    queries: list[dict[str, float]], vocab: dict[str, int], labels: IntArray, classes: int
) -> sparse.csr_matrix:
    """Examples x vocab: each example's damped term counts (for the word model)."""
    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for query in queries:
        kept = [(vocab[t], w) for t, w in query.items() if t in vocab]
        indices.extend(col for col, _ in kept)
        data.extend(w for _, w in kept)
        indptr.append(len(indices))
    return sparse.csr_matrix(
        (np.array(data), np.array(indices, dtype=np.int64), np.array(indptr, dtype=np.int64)),
        shape=(len(queries), len(vocab)),
    )


def _bayes(
    index: TaxonomyIndex,
    columns: IntArray,
    vocab: dict[str, int],
    counts: FloatArray,
    count_totals: FloatArray,
    query: dict[str, float],
) -> FloatArray:
    """Multinomial naive Bayes per department: counts learned from examples (vocab x
    departments) plus the tree's wording as PRIOR_MASS pseudo-words; the mean log
    likelihood per query word, shifted so the best department is 0. ``count_totals``:
    ``counts`` summed per department (the caller keeps it, summed once)."""
    classes = counts.shape[1]
    with_prior = np.zeros(classes)
    wanted = columns >= 0
    with_prior[columns[wanted]] = index.has_leaves[wanted]
    totals = count_totals + PRIOR_MASS * with_prior
    totals += NB_SMOOTHING * (len(vocab) + len(index.postings))
    found = [(t, w) for t, w in query.items() if t in vocab or index.knows(t)]
    if not found:
        return np.zeros(classes)
    theta = np.full((len(found), classes), NB_SMOOTHING)
    learned = [(row, vocab[t]) for row, (t, _) in enumerate(found) if t in vocab]
    if learned:
        theta[[r for r, _ in learned]] += counts[[c for _, c in learned]]
    cells: list[IntArray] = []
    shares: list[FloatArray] = []
    for row, (term, _) in enumerate(found):
        posting = index.dept_postings.get(term)
        if posting is not None:
            cols = columns[posting[0]]
            kept = cols >= 0
            cells.append(row * classes + cols[kept])
            shares.append(posting[2][kept])
    if cells:
        theta += np.bincount(
            np.concatenate(cells), np.concatenate(shares), minlength=theta.size
        ).reshape(theta.shape)
    weight = np.array([w for _, w in found])
    loglik: FloatArray = (weight @ np.log(theta)) / weight.sum() - np.log(totals)
    shifted: FloatArray = loglik - loglik.max()
    return shifted


def _fit(
    rows: sparse.csr_matrix,
    stacks: list[FloatArray],
    labels: IntArray,
    sample_weight: FloatArray,
    classes: int,
    iterations: int,
    l2: float,
) -> tuple[FloatArray, FloatArray]:
    """Multinomial logistic regression, full batch with Adam: words, plus one shared
    weight for each stacked per-department score (the tree's first). No bias per
    department: a learned one held a department history saw once or never lower than
    its words could lift, and how often a department is filed with is in the
    neighbours' vote already."""
    d = rows.shape[1]
    weights = np.zeros((d, classes))
    mix = np.zeros(len(stacks))
    mix[0] = TREE_ONLY_SHARPNESS
    onehot = np.eye(classes)[labels]
    scale = sample_weight / sample_weight.sum()
    moments: dict[str, tuple[Any, Any]] = {}
    rows_t = rows.T.tocsr()

    def step(name: str, param: Any, grad: Any, it: int, rate: float = 0.05) -> None:
        m, v = moments.get(name, (np.zeros_like(param), np.zeros_like(param)))
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        moments[name] = (m, v)
        param -= rate * (m / (1 - 0.9**it)) / (np.sqrt(v / (1 - 0.999**it)) + 1e-8)

    for it in range(1, iterations + 1):
        logits = np.asarray(rows @ weights)
        for k, stack in enumerate(stacks):
            logits += mix[k] * stack
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        grad = (probs - onehot) * scale[:, None]
        step("w", weights, np.asarray(rows_t @ grad) + l2 * weights, it)
        step("m", mix, np.array([(grad * stack).sum() for stack in stacks]), it)
    return weights, mix


# -- both -------------------------------------------------------------------------------


class Reading(NamedTuple):
    """What the words of one text say (``Router.department_probabilities``)."""

    probs: FloatArray  # per department of the router
    leaf_scores: FloatArray
    weights: dict[str, float]  # query term weights
    used: list[Term]
    cited: list[tuple[int, float]]  # the examples a suggestion may cite, nearest first
    agreement: FloatArray  # per department: the share of its probability that stands


class Router:
    """Suggest categories for a text from the tree and, when there is one, a model."""

    def __init__(self, index: TaxonomyIndex, model: HistoryModel | None = None) -> None:
        self.index = index
        self.model = model
        departments = set(index.departments)
        if model is not None:
            departments.update(model.departments)
        self.departments = sorted(departments)
        self._pos = {code: i for i, code in enumerate(self.departments)}
        self._tree_cols = np.array([self._pos[c] for c in index.departments], dtype=np.int64)
        self._model_cols = (
            np.array([self._pos[c] for c in model.departments], dtype=np.int64)
            if model is not None
            else np.zeros(0, dtype=np.int64)
        )
        self._index_to_model = (
            index.columns(model.departments) if model is not None else np.zeros(0, dtype=np.int64)
        )
        live = set(index.departments)
        self._retired = np.array(
            [i for i, c in enumerate(self.departments) if c not in live], dtype=np.int64
        )

    def department_probabilities(self, text: str) -> Reading:
        weights, used = weigh(self.index, terms(text))
        scores = self.index.score(weights)
        leaf_scores = scores.leaves
        tree = np.zeros(len(self.departments))
        tree[self._tree_cols] = scores.best
        near: list[tuple[int, float]] = []
        if self.model is None:
            whole = np.ones(len(self.departments))  # no neighbours to temper by
            if not tree.any():  # no word of the text is in the taxonomy: no guess at all
                return Reading(np.zeros(len(self.departments)), leaf_scores, {}, used, near, whole)
            return Reading(self._tree_only(tree), leaf_scores, weights, used, near, whole)
        else:
            vector = self.model.vector(weights)
            sims = self.model.similarities(vector)
            near = self.model.neighbours(sims)  # every example votes for its department
            cited = self.model.neighbours(sims, citable=True)
            model_tree = TreeScores(
                leaf_scores,
                *(
                    self._in_model_columns(a)
                    for a in (scores.best, scores.top, scores.centroid, scores.named, scores.own)
                ),
            )
            bayes = self.model.bayes(self.index, self._index_to_model, weights)
            # departments added since the model was trained: the tree's word alone
            logits = self.model.tree_weight * _unit(tree) + float(self.model.bias.min())
            logits[self._model_cols] = self.model.logits(vector, model_tree, near, bayes)
            logits[self._retired] = -1e9  # deactivated since the model was trained
        probs = _softmax(logits) if weights else np.zeros(len(self.departments))
        return Reading(probs, leaf_scores, weights, used, cited, self._agreement(near))

    def _agreement(self, near: list[tuple[int, float]]) -> FloatArray:
        """Per department, the share of its probability that stands: AGREEMENT_FLOOR, and
        the rest in proportion to how many of the text's AGREEMENT_NEIGHBOURS nearest
        examples went to it. The model's probabilities are as sure of a department when
        the most similar past grievances went to several as when they all went to it; of
        those it was surest of, the first kind were right less often. Each neighbour
        counts once, however near: weighed by their similarity (as the model's own vote
        is), the nearest one or two decide the share, and it told right from wrong less
        well. No example near the text: half of each stands."""
        assert self.model is not None
        counted = near[:AGREEMENT_NEIGHBOURS]
        share = np.zeros(len(self.departments))
        for i, _ in counted:
            share[self._model_cols[self.model.example_departments[i]]] += 1.0 / len(counted)
        kept: FloatArray = AGREEMENT_FLOOR + (1.0 - AGREEMENT_FLOOR) * share
        return kept

    def _tree_only(self, tree: FloatArray) -> FloatArray:
        """Department probabilities from the tree's wording alone (STRONG_MATCHES,
        BACKGROUND_DEPARTMENTS): they sum to less than 1 when the evidence is weak or the
        taxonomy small; the rest is a department the taxonomy does not have."""
        logits = TREE_ONLY_SHARPNESS * tree / max(float(tree.max()), self.index.strong_score)
        unseen = max(0, BACKGROUND_DEPARTMENTS - len(self.departments))
        shifted = np.exp(logits - logits.max())
        probs: FloatArray = shifted / (float(shifted.sum()) + unseen * math.exp(-logits.max()))
        return probs

    def _in_model_columns(self, per_index_department: FloatArray) -> FloatArray:
        assert self.model is not None
        out = np.zeros(len(self.model.departments))
        wanted = self._index_to_model >= 0
        out[self._index_to_model[wanted]] = per_index_department[wanted]
        return out

    def quoted(
        self, text: str, numbers: Sequence[re.Pattern[str]] = ()
    ) -> tuple[list[Reference], dict[str, float]]:
        """The registration numbers the text quotes (CPGRAMS ones, and ``numbers``: the
        hub's own, ``references.format_pattern``), and their departments' shares."""
        references = find_references(text, self.departments, numbers)
        live = set(self.index.departments)
        named = {c: w for c, w in candidates(references).items() if c in live}
        total = sum(named.values())  # a quote that also fits a retired department
        return references, {c: w / total for c, w in named.items()}

    def suggest(
        self,
        text: str,
        limit: int = 5,
        departments: int = 5,
        numbers: Sequence[re.Pattern[str]] = (),
    ) -> Routing:
        probs, leaf_scores, weights, used, near, agreement = self.department_probabilities(text)
        references, named = self.quoted(text, numbers)
        if not weights and not named:
            note = "no words we could route on" if not used else "no word matched the taxonomy"
            return Routing([], [], len(used), note=note)
        if named:
            rate = self.model.quote_rate(named) if self.model is not None else _rate(0, 0)
            probs = with_references(probs, self.departments, named, rate)
        probs = probs * agreement  # after the quotes: they leave the neighbours' doubt
        ranked = [int(i) for i in np.argsort(-probs, kind="stable")]
        by_dept = [(self.departments[i], float(probs[i])) for i in ranked]
        suggestions: list[Suggestion] = []
        for rank, i in enumerate(ranked[:departments]):
            if rank and probs[i] < MIN_DEPARTMENT_PROBABILITY:
                break  # an unlikely department is noise, not a suggestion
            suggestions.extend(
                self._in_department(i, float(probs[i]), leaf_scores, weights, used, near, limit)
            )
        suggestions = _spread(suggestions)
        name_counted = self.model is not None and self.model.named_weight > 0
        own_counted = self.model is not None and self.model.own_weight > 0
        explained = []
        for s in suggestions[:limit]:
            matches = self.index.explain(s.category, used, weights)[:6] if s.category else []
            # the department's own name, and keywords no other department has, counted
            # whichever category is suggested: say so, unless the category's wording did
            told = {m.term for m in matches}
            for counted, found in (
                (name_counted, self.index.naming),
                (own_counted, self.index.owning),
            ):
                if counted:
                    matches += [m for m in found(s.department, used, weights) if m.term not in told]
                    told.update(m.term for m in matches)
            explained.append(replace(s, matches=(*matches, *s.matches)))
        return Routing([_with_quotes(s, references) for s in explained], by_dept, len(used))

    def _in_department(
        self,
        dept_i: int,
        prob: float,
        leaf_scores: FloatArray,
        weights: dict[str, float],
        used: list[Term],
        near: list[tuple[int, float]],
        limit: int,
    ) -> list[Suggestion]:
        """The department's best ``limit`` suggestions (no more can be among the first
        ``limit`` of all); their shares are of the whole pool, whatever the limit."""
        code = self.departments[dept_i]
        tree_share: dict[str, float] = {}
        pos = self.index.dept_pos.get(code)
        if pos is not None:
            start, end = int(self.index.dept_start[pos]), int(self.index.dept_end[pos])
            # a catch-all wins ties, and only ties
            block = leaf_scores[start:end] * (1.0 + 1e-9 * self.index.catch_all[start:end])
            if block.size and block.max() > 0:
                # the same pool whatever the limit, ties in code order: asking for more
                # suggestions adds to the list and changes none before them
                best = np.argsort(-block, kind="stable")[: min(CATEGORY_POOL, block.size)]
                total = float(block[best].sum())
                for j in best:
                    if block[j] > 0:
                        tree_share[self.index.leaves[start + int(j)]] = float(block[j]) / total
        knn_share: dict[str, float] = {}
        common: dict[str, float] = {}
        similar: list[str] = []
        learned: list[str] = []
        seeded = False
        if self.model is not None and code in self.model.departments:
            col = self.model.departments.index(code)
            learned = self.model.learned_words(weights, code)
            seeded = bool(self.model.info.get("seeds"))
            votes: dict[str, float] = {}
            for i, sim in near:
                if self.model.example_departments[i] == col:
                    if self.model.example_references[i]:
                        similar.append(self.model.example_references[i])
                    category = self.model.example_categories[i]
                    if category and category in self.index.leaf_pos:
                        votes[category] = votes.get(category, 0.0) + sim * sim
            total_votes = sum(votes.values())
            knn_share = {c: v / total_votes for c, v in votes.items()} if total_votes else {}
            common = {
                c: v
                for c, v in self.model.common_categories(code).items()
                if c in self.index.leaf_pos
            }
        candidates = set(tree_share) | set(knn_share) | set(common)
        learned_matches = tuple(
            Match(
                word=next((t.word for t in used if t.term == w), w),
                term=w,
                source="learned",
                node=LEARNED_WITH_SEEDS if seeded else "",
            )
            for w in learned
        )
        if not candidates:
            return [
                Suggestion(
                    None, code, "", prob * 0.5, prob, 0.0, learned_matches, tuple(similar[:3])
                )
            ]
        if knn_share or common:
            by_tree, by_knn, by_common = CATEGORY_MIX
            shares = {
                leaf: by_tree * tree_share.get(leaf, 0.0)
                + by_knn * knn_share.get(leaf, 0.0)
                + by_common * common.get(leaf, 0.0)
                for leaf in candidates
            }
        else:  # without history of the department, the tree's wording alone
            shares = tree_share
        # strongest first, so that suggestions whose rounded scores tie keep that order (a
        # catch-all before its tied siblings), then by code, run after run
        return [
            Suggestion(
                category=leaf,
                department=code,
                destination=self.index.nodes[leaf].destination,
                score=round(prob * (0.5 + 0.5 * share), 6),
                confidence=round(prob, 6),
                category_confidence=round(prob * share, 6),
                matches=learned_matches,
                similar=tuple(similar[:3]),
            )
            for leaf, share in sorted(shares.items(), key=lambda item: (-item[1], item[0]))[:limit]
        ]


def _spread(suggestions: list[Suggestion]) -> list[Suggestion]:
    """Strongest first, but each likely department's first FIRST_PER_DEPARTMENT before any
    department's next: a text about two problems ("LPG cylinder not delivered; railway
    refund not received") gets suggestions for both, however many categories the likelier
    department has. The order does not depend on how many are asked for."""
    ranked = sorted(suggestions, key=lambda s: -s.score)
    seen: Counter[str] = Counter()
    first: list[Suggestion] = []
    rest: list[Suggestion] = []
    for s in ranked:
        seen[s.department] += 1
        (first if seen[s.department] <= FIRST_PER_DEPARTMENT else rest).append(s)
    return first + rest


def _with_quotes(suggestion: Suggestion, references: list[Reference]) -> Suggestion:
    quotes = tuple(
        Match(word=ref.token, term=ref.code, source="reference", node=suggestion.department)
        for ref in references
        if suggestion.department in ref.departments
    )[:QUOTES_SHOWN]
    return replace(suggestion, matches=(*quotes, *suggestion.matches)) if quotes else suggestion


def explain(suggestion: Suggestion, names: dict[str, str] | None = None) -> str:
    """One line a GRO can read: why this suggestion."""
    names = names or {}
    parts = []
    seen: set[tuple[str, str]] = set()
    for m in suggestion.matches:
        if m.source == "learned" or (m.word, m.node) in seen:
            continue
        seen.add((m.word, m.node))
        if m.source == "reference":
            parts.append(f"quotes {m.word}, a registration number of {names.get(m.node, m.node)}")
            continue
        how = {
            "lexicon": " (via the lexicon)",
            "names": " (read as the taxonomy's names translate it)",
            "spelt": " (read as the English word it spells)",
            "fuzzy": " (spelling corrected)",
        }.get(m.via, "")
        node = names.get(m.node, m.node)
        if m.source == "department":
            parts.append(f"'{m.word}'{how} names the department {node}")
            continue
        source = "an input field" if m.source == "field" else m.source
        parts.append(f"'{m.word}'{how} matched {source} of {node}")
    learned = [m for m in suggestion.matches if m.source == "learned"]
    if learned:
        who = (
            "routed grievances and seed examples taught"
            if any(m.node == LEARNED_WITH_SEEDS for m in learned)
            else "routed grievances taught"
        )
        parts.append(f"{who}: {', '.join(repr(m.word) for m in learned)}")
    worded = any(m.source in ("name", "keyword", "synonym", "field") for m in suggestion.matches)
    if suggestion.category and not worded:
        parts.append(
            "no word matched its wording; past grievances of the department were filed under it"
        )
    elif not parts:
        parts.append("no category's wording matched; the department is a guess")
    return "; ".join(parts)
