"""SearchEngine: BM25 Okapi over the seeded documents, with a Penn-Treebank-style query tokenizer.

Facts from the pack's apis.json (SearchEngine ``behavior``): keyword lower-cased and stripped, NLTK
``word_tokenize`` (Punkt sentences, then Treebank words), BM25Okapi with k1=1.5, b=0.75,
epsilon=0.25 over ``tokenized_documents``, the two best ``raw_documents``. The tokenizer here is this
package's own rendering of the Treebank conventions (punctuation split off words, contractions
split, final period split); the seeded documents are already tokenized, so only the query goes
through it. Ties keep document order (the original's numpy sort gave indices 0 and 1 for all-zero
scores).
"""

import functools
import math
import re

from .registry import api

K1, B, EPSILON = 1.5, 0.75, 0.25

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_RULES = (
    (re.compile(r'([ (\[{<])"'), r"\1 `` "),
    (re.compile(r"\.\.\."), " ... "),
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),
    (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r'([^.])(\.)([\]\)}>"\']*)\s*$'), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"[\]\[(){}<>]"), r" \g<0> "),
    (re.compile(r"--"), " -- "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"([^' ])('[sSmMdD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
)


def word_tokenize(text):
    tokens = []
    for sentence in _SENTENCE_END.split(text.strip()):
        # An opening quote at the very start, then padding so that every rule can see a boundary.
        sentence = " " + re.sub(r'^"', "``", sentence) + " "
        for pattern, replacement in _RULES:
            sentence = pattern.sub(replacement, sentence)
        tokens.extend(sentence.split())
    return tokens


@functools.lru_cache(maxsize=None)
def _index(documents):
    """(idf, document term counts, document lengths, average length) of a tuple of token tuples."""
    n = len(documents)
    counts = [{} for _ in documents]
    frequency = {}
    for doc, tf in zip(documents, counts):
        for word in doc:
            tf[word] = tf.get(word, 0) + 1
        for word in tf:
            frequency[word] = frequency.get(word, 0) + 1
    idf, negative, total = {}, [], 0.0
    for word, n_w in frequency.items():
        value = math.log(n - n_w + 0.5) - math.log(n_w + 0.5)
        idf[word] = value
        total += value
        if value < 0:
            negative.append(word)
    floor = EPSILON * total / len(idf)
    for word in negative:
        idf[word] = floor
    lengths = [len(doc) for doc in documents]
    return idf, counts, lengths, sum(lengths) / n


def bm25_scores(documents, query):
    idf, counts, lengths, average = _index(documents)
    scores = [0.0] * len(documents)
    for q in query:
        weight = idf.get(q, 0.0)
        for i, tf in enumerate(counts):
            f = tf.get(q, 0)
            scores[i] += weight * (f * (K1 + 1) / (f + K1 * (1 - B + B * lengths[i] / average)))
    return scores


@api("SearchEngine")
def search_engine(db, keyword):
    keyword = keyword.lower().strip()
    table = db.table("SearchEngine")
    documents = tuple(tuple(doc) for doc in table["tokenized_documents"])
    scores = bm25_scores(documents, word_tokenize(keyword))
    best = sorted(range(len(scores)), key=lambda i: -scores[i])[:2]
    return [table["raw_documents"][i] for i in best]
