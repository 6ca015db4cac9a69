"""One scored router over the information needs declared in `knowledge/needs.yaml`.

Each need is scored for a message by three signals, weighted by the file's `router` settings:
- semantic: the best cosine similarity between the message and the need's example utterances (the embedding
  model the product already ships; e5 similarities live in a narrow band, so they are rescaled against the
  message's similarity to every example, which makes one threshold work for short and long messages);
- lexical: how many of the need's keywords occur in the message, compared on Snowball stems (French and
  English) of whole words, so a keyword never matches inside a longer word ("dece" is not in "decembre");
- fill: the share of the need's calculator inputs that the conversation already holds.
The best need is taken only when it clears `min_score` and leads the best need of another intent by `margin`;
a second need is kept for two-part questions. Otherwise the router abstains and says so.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import CorpusError
from assistant.index.text import figureless

log = logging.getLogger(__name__)

AnswerType = Literal["amount", "duration", "date", "procedure", "yes_no", "list"]
Embed = Callable[[list[str]], np.ndarray]  # texts -> (n, d) L2-normalised rows


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Data):
    fr: str
    en: str

    def __call__(self, language: str) -> str:
        return self.fr if language == "fr" else self.en


class Need(_Data):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    intent: str
    action: Literal["answer", "refuse", "smalltalk"] = "answer"
    answer: AnswerType
    label: Bilingual
    facts: list[str] = Field(default_factory=list)
    calculators: list[str] = Field(default_factory=list)
    required: bool = False
    # needs whose main fact completes this need's answer (how to terminate -> the notice to give): a support
    # agent says it unasked, because the customer acts on both
    also: list[str] = Field(default_factory=list)
    query_hint: str = ""
    keywords: dict[Literal["fr", "en"], list[str]] = Field(default_factory=dict)
    examples: dict[Literal["fr", "en"], list[str]] = Field(default_factory=dict)

    def all_examples(self) -> list[str]:
        return [e for lang in ("fr", "en") for e in self.examples.get(lang, [])]  # type: ignore[index]

    def all_keywords(self) -> list[str]:
        return [k for lang in ("fr", "en") for k in self.keywords.get(lang, [])]  # type: ignore[index]


class RouterSettings(_Data):
    min_score: float = 0.2
    margin: float = 0.03
    second_ratio: float = 0.7
    second_min_keywords: int = 1
    tie_answers_both: bool = False  # two answerable needs within the margin: both answered (else abstain)
    second_close_ratio: float = 1.0  # a second need this close to the first is kept without keywords of its own
    embedding_weight: float = 0.6
    keyword_weight: float = 0.3
    slot_weight: float = 0.1
    fill_min_semantic: float = 0.0  # the fill counts in full for a need the message is this plausibly about
    regularisation_c: float = 50.0
    part_separators: list[str] = Field(default_factory=lambda: ["?", ";"])  # where a question splits in parts
    part_min_score: float = 0.3  # a part's own best need, when another need than the whole's, above this
    part_min_semantic: float = 0.5  # ... or, without keywords, when the classifier is this sure of it
    fact_min_similarity: float = 0.87  # a generic need picks the fact whose label is this close to the message
    fact_margin: float = 0.03          # ... and this far ahead of the next fact, else no fact is picked
    fact_need_weight: float = 0.5      # ranking facts of a need: + this x similarity to the need's typical question
    fact_keyword_bonus: float = 0.01   # ... + this per keyword of the need in the fact's French text (at most 3)
    context_max_words: int = 15        # a message this short is also read with the question before it ...
    context_margin: float = 0.2        # ... whose need wins when the message alone scores it this close to its own
    facts_max_words: int = 25          # a message of figures for the previous question's calculator, this long at most,
                                       # naming no need of its own, completes that question
    new_question_score: float = 0.45   # a short message of facts routed to another need with this score is a new
                                       # question, not the continuation of the previous one


class FusionWeights(_Data):
    """Weights of the fused fact score (assistant/agent/evidence.py); cosine similarity is the unit."""

    retrieval: float = 0.06  # x 1/(1 + rank) of the fact's clause among the retrieved passages (0 when absent)
    need: float = 0.15       # x the router's score of the best need serving the fact
    lexical: float = 0.07    # x share of the question's content words found in the fact's label and summary
    override_margin: float = 0.02  # the best fact leads the routed need's best fact by this much: its need answers
    say_min_similarity: float = 0.87  # the best fact is said as well (when the need's facts omit it) from this cosine
    answer_min_similarity: float = 0.87  # the router abstained: the best fact's need answers from this cosine
    ask_offset: float = 0.0  # a fact's closest `asks` question counts for its cosine less this


class NeedCatalog(_Data):
    router: RouterSettings = RouterSettings()
    fact_fusion: FusionWeights = FusionWeights()
    stop_words: list[str] = Field(default_factory=list)  # words that never tell two facts apart
    needs: list[Need]

    def get(self, need_id: str) -> Need | None:
        return next((n for n in self.needs if n.id == need_id), None)

    @property
    def ids(self) -> set[str]:
        return {n.id for n in self.needs}


def load_needs(path: Path) -> NeedCatalog:
    """Read and validate the needs file; a broken file is one clear line, never a silent degrade."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        catalog = NeedCatalog.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise CorpusError(f"cannot read needs file {path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CorpusError(f"needs file {path.name}: {where}: {first['msg']}") from exc
    ids = [n.id for n in catalog.needs]
    if len(ids) != len(set(ids)):
        raise CorpusError(f"needs file {path.name}: duplicate need ids")
    unknown = sorted({a for n in catalog.needs for a in n.also} - set(ids))
    if unknown:
        raise CorpusError(f"needs file {path.name}: `also` names unknown needs: {', '.join(unknown)}")
    return catalog


# --------------------------------------------------------------------------- lexical signal


@lru_cache(maxsize=2)
def _stemmer(language: str):  # noqa: ANN202 - PyStemmer has no type stubs
    import Stemmer

    return Stemmer.Stemmer(language)


def stem_tokens(text: str, language: str | None = None) -> list[frozenset[str]]:
    """Per word of `text`, its French and English Snowball stems (accent-folded); only one language's
    stem when `language` is given (an English stem of a French word can collide: portable/portabilité)."""
    from assistant.agent.text import fold
    from assistant.index.text import LETTERS

    tokens = [w for t in LETTERS.findall(text.casefold().replace("'", " ").replace("’", " ")) for w in t.split("-")]
    if language == "en":
        return [frozenset({fold(a)}) for a in _stemmer("english").stemWords(tokens)]
    fr = _french_stems(tokens)
    if language == "fr":
        return fr
    en = _stemmer("english").stemWords(tokens)
    return [stems | {fold(b)} for stems, b in zip(fr, en, strict=True)]


def _french_stems(tokens: list[str]) -> list[frozenset[str]]:
    """French Snowball stems; a verb in the third person plural ("coupent", "résilient") also gets the stem of its
    singular, which Snowball leaves apart ("coupent" stays "coupent", "coupe" is "coup")."""
    from assistant.agent.text import fold

    stemmer = _stemmer("french")
    stems = stemmer.stemWords(tokens)
    plural = [t[:-2] if len(t) > 5 and t.endswith("ent") else "" for t in tokens]
    singular = stemmer.stemWords([p for p in plural if p])
    it = iter(singular)
    return [frozenset({fold(a)} | ({fold(next(it))} if p else set())) for a, p in zip(stems, plural, strict=True)]


def phrase_in(phrase: Sequence[frozenset[str]], text: Sequence[frozenset[str]]) -> bool:
    """True when every word of `phrase` matches, in order and contiguously, words of `text` (by any stem)."""
    n = len(phrase)
    if not n:
        return False
    return any(all(phrase[j] & text[i + j] for j in range(n)) for i in range(len(text) - n + 1))


# --------------------------------------------------------------------------- the router


class NeedScore(BaseModel):
    need: str
    score: float
    semantic: float
    keywords: int
    fill: float


class Routing(BaseModel):
    """The router's decision: the needs it takes (0, 1 or 2) and the ranking it took them from."""

    needs: list[str] = Field(default_factory=list)
    ranked: list[NeedScore] = Field(default_factory=list)
    abstained: bool = False

    @property
    def top(self) -> str | None:
        return self.needs[0] if self.needs else None


class NeedRouter:
    def __init__(self, catalog: NeedCatalog, embed: Embed | None = None, cache_dir: Path | None = None,
                 model_name: str = "", normalise: Callable[[str], str] | None = None):
        self.catalog = catalog
        # what a message is about, without the words that say nothing of the need (operator names): the
        # answer path embeds that same text for the facts, so a turn embeds it once
        self._normalise = normalise or (lambda text: text)
        self.settings = catalog.router
        self._embed = embed
        self._owners: list[int] = []
        self._matrix: np.ndarray | None = None
        # keywords with the same stems ("résilier", "résiliation") count once
        self._keywords = [list({tuple(sorted(min(t) for t in stem_tokens(k))): stem_tokens(k)
                                for k in n.all_keywords()}.values()) for n in catalog.needs]
        self._clf = None
        self._lexical_examples = self._example_stems()
        self._signals = lru_cache(maxsize=256)(self._text_signals)
        if embed is not None:
            self._matrix = self._example_matrix(embed, cache_dir, model_name)
            self._fit()

    def _example_matrix(self, embed: Embed, cache_dir: Path | None, model_name: str) -> np.ndarray:
        examples: list[str] = []
        for i, need in enumerate(self.catalog.needs):
            for ex in need.all_examples():
                examples.append(figureless(ex))
                self._owners.append(i)
        digest = hashlib.sha1(("\n".join(examples) + model_name).encode()).hexdigest()[:16]
        path = cache_dir / f"router-{digest}.npy" if cache_dir else None
        if path is not None and path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError):
                log.warning("router cache %s unreadable; recomputing", path)
        matrix = embed(examples)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, matrix)
            except OSError as exc:  # a read-only data dir only costs a recomputation at the next start
                log.warning("cannot write router cache %s: %s", path, exc)
        return matrix

    def _example_stems(self) -> list[tuple[int, frozenset[str]]]:
        """(need index, stems) per example, and each stem's idf over the needs (for the no-model signal)."""
        rows = [(i, frozenset(s for tok in stem_tokens(ex) for s in tok))
                for i, need in enumerate(self.catalog.needs) for ex in need.all_examples()]
        df: dict[str, set[int]] = {}
        for i, stems in rows:
            for st in stems:
                df.setdefault(st, set()).add(i)
        n = max(len(self.catalog.needs), 1)
        self._idf = {st: float(np.log(1 + n / len(owners))) for st, owners in df.items()}
        return rows

    def _lexical_semantic(self, text: str) -> np.ndarray:
        """Without an embedding model: per need, the best idf-weighted share of the message's words found in
        one of its examples (so the router still ranks by examples, not by keywords alone)."""
        words = {s for tok in stem_tokens(text) for s in tok if s in self._idf}
        out = np.zeros(len(self.catalog.needs))
        total = sum(self._idf[w] for w in words)
        if not total:
            return out
        for i, stems in self._lexical_examples:
            out[i] = max(out[i], sum(self._idf[w] for w in words & stems) / total)
        return out

    def keyword_hits(self, need_id: str, text: str) -> int:
        """How many of the need's keywords `text` holds (whole words, by stem)."""
        index = next((i for i, n in enumerate(self.catalog.needs) if n.id == need_id), None)
        if index is None:
            return 0
        tokens = stem_tokens(text)
        return sum(phrase_in(k, tokens) for k in self._keywords[index])

    def centroid(self, need_id: str) -> np.ndarray | None:
        """The mean direction of a need's examples (unit length): what a typical question of the need is about."""
        if self._matrix is None:
            return None
        index = next((i for i, n in enumerate(self.catalog.needs) if n.id == need_id), None)
        rows = [r for r, owner in enumerate(self._owners) if owner == index]
        if not rows:
            return None
        mean = self._matrix[rows].mean(axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-9)

    @property
    def embed(self) -> Embed | None:
        """The embedding function the router uses (shared with fact ranking so a message is embedded alike)."""
        return self._embed

    def _fit(self) -> None:
        """A multinomial logistic regression over the examples' embeddings (centred, unit length): unlike
        nearest-neighbour similarity it learns which directions separate needs that share vocabulary."""
        from sklearn.linear_model import LogisticRegression

        assert self._matrix is not None
        self._mean = self._matrix.mean(axis=0)
        X = self._features(self._matrix)
        self._clf = LogisticRegression(C=self.settings.regularisation_c, max_iter=3000).fit(X, self._owners)

    def _features(self, rows: np.ndarray) -> np.ndarray:
        centred = rows - self._mean
        return centred / np.maximum(np.linalg.norm(centred, axis=-1, keepdims=True), 1e-9)

    def _semantic(self, text: str) -> np.ndarray:
        """Per need, the classifier's probability for `text` (zeros without an embedding model)."""
        n = len(self.catalog.needs)
        if self._embed is None or self._clf is None:
            return self._lexical_semantic(text)
        proba = self._clf.predict_proba(self._features(self._embed([figureless(text)])[:1]))[0]
        out = np.zeros(n)
        out[self._clf.classes_] = proba
        return out

    def route(self, text: str, fill: dict[str, float] | None = None, allowed: set[str] | None = None) -> Routing:
        """Rank the needs for `text`; `fill` maps need id -> share of its inputs already known."""
        fill = fill or {}
        s = self.settings
        semantic, keyword_hits = self._signals(self._normalise(text) or text)
        scores: list[NeedScore] = []
        for i, need in enumerate(self.catalog.needs):
            if allowed is not None and need.id not in allowed:
                continue
            hits = keyword_hits[i]
            lexical = 1.0 - 0.5 ** hits
            # the inputs a message fills break ties between needs it is plausibly about; they never make a need
            # the message does not speak of win (an amount fits the late-payment calculator, a deposit too...)
            plausible = min(1.0, max(semantic[i], lexical) / s.fill_min_semantic) if s.fill_min_semantic else 1.0
            total = (s.embedding_weight * semantic[i] + s.keyword_weight * lexical
                     + s.slot_weight * fill.get(need.id, 0.0) * plausible)
            scores.append(NeedScore(need=need.id, score=round(float(total), 4), semantic=round(float(semantic[i]), 4),
                                    keywords=hits, fill=fill.get(need.id, 0.0)))
        scores.sort(key=lambda x: -x.score)
        needs = self._decide(scores)
        if len(needs) == 1 and allowed is None:
            needs += self._other_part(text, needs[0], fill)
        return Routing(needs=needs, ranked=scores[:6], abstained=not needs)

    def _text_signals(self, text: str) -> tuple[np.ndarray, tuple[int, ...]]:
        """What routing reads from the text alone (classifier probabilities, keyword hits per need): a turn
        routes the same text more than once (with the inputs it fills, with only the answerable needs)."""
        tokens = stem_tokens(text)
        present = frozenset().union(*tokens)  # a keyword whose words are not all there is not looked for in order
        return self._semantic(text), tuple(sum(all(w & present for w in k) and phrase_in(k, tokens) for k in kws)
                                           for kws in self._keywords)

    def parts(self, text: str) -> list[str]:
        """The parts of a question in parts (cut at `part_separators`), each of two words at least."""
        parts = [text]
        for sep in self.settings.part_separators:
            parts = [p for piece in parts for p in piece.split(sep)]
        return [p for p in parts if len(p.split()) >= 2]

    def _other_part(self, text: str, first: str, fill: dict[str, float]) -> list[str]:
        """A two-part question ("what notice, and what will it cost?"): route each part on its own; a part
        whose own need differs from the whole's, with its own keywords, adds that need."""
        parts = self.parts(text)
        if len(parts) < 2:
            return []
        answer_ids = {n.id for n in self.catalog.needs if n.action == "answer"}
        for part in parts:
            routed = self.route(part, fill, allowed=answer_ids)
            best = routed.ranked[0] if routed.ranked else None
            if (best is not None and best.need != first and best.score >= self.settings.part_min_score
                    and (best.keywords >= 1 or best.semantic >= self.settings.part_min_semantic)
                    and self._intent(best.need) != self._intent(first)):
                return [best.need]
        return []

    def _decide(self, ranked: list[NeedScore]) -> list[str]:
        s = self.settings
        if not ranked or ranked[0].score < s.min_score:
            return []
        first = self.catalog.get(ranked[0].need)
        assert first is not None
        rival = next((r for r in ranked[1:] if not self._compatible(first.id, r.need)), None)
        if rival is not None and ranked[0].score - rival.score < s.margin and ranked[0].keywords <= rival.keywords:
            other = self.catalog.get(rival.need)
            if (s.tie_answers_both and other is not None and first.action == other.action == "answer"
                    and rival.score >= s.min_score):
                return [first.id, other.id]  # as much about one as the other: both answered, no guess
            return []
        taken = [first.id]
        for other in ranked[1:3]:
            need = self.catalog.get(other.need)
            if (need is not None and need.action == "answer" and first.action == "answer"
                    and other.score >= s.second_ratio * ranked[0].score
                    and ((other.keywords >= s.second_min_keywords and need.answer != first.answer)
                         or other.score >= s.second_close_ratio * ranked[0].score)
                    and need.calculators[:1] != first.calculators[:1]):  # not two ways to one computation
                taken.append(need.id)
                break
        return taken

    def _compatible(self, a: str, b: str) -> bool:
        """Two needs answered from the same facts (a reminder fee is both a fee and a late-payment fact) or of
        the same intent: being close to each other is no reason to abstain."""
        na, nb = self.catalog.get(a), self.catalog.get(b)
        if na is None or nb is None:
            return False
        if na.intent == nb.intent:
            return True
        fa, fb = set(na.facts), set(nb.facts)
        if "fee:*" in fa:
            return any(f.startswith("fee:") for f in fb)
        if "fee:*" in fb:
            return any(f.startswith("fee:") for f in fa)
        return bool(fa & fb)

    def _intent(self, need_id: str) -> str:
        need = self.catalog.get(need_id)
        return need.intent if need else ""
