"""Offline stand-in for CodeActInstruct's `wikipedia_search`: the qa tasks' document collection.

The qa tasks of qa.jsonl ask multi-hop questions about the Veloran Islands, an invented
archipelago. Every fact lives in `ARTICLES` below (titles and short summaries, consistent with
each other), so the tasks have one right answer and need no network. `search_notes` answers in
the shape the original tool's observations had (FORMAT.md §5.8): blocks of
`Page: {title}\nSummary: {text}` separated by a blank line, several pages per query, best first.

Loaded into the agent's session with `--tools`; only the functions a task lists in `tools` are
offered to the model, and the model sees `search_notes`'s signature and docstring as its
description. Standard library only, Python 3.9+.
"""

import math
import re

# (title, summary). Numbers below 10000 are written without a thousands separator so that an
# answer copied from a summary compares as a number with the qa check (float parse) as well.
ARTICLES = [
    (
        "Veloran Islands",
        "The Veloran Islands are an archipelago in the southern Pallid Sea, made up of five inhabited "
        "islands (Marrow, Tessik, Oldhaven, Quell and Lanth) and about forty uninhabited islets. The "
        "islands had 212,400 inhabitants at the 2020 census and have a combined land area of 2290 km2. "
        "The capital and largest town is Port Anselm on Marrow. The archipelago has governed itself "
        "since the Charter of Self-Government; its head of government is the Chief Minister and its "
        "currency the Veloran crown.",
    ),
    (
        "Marrow (island)",
        "Marrow is the largest of the Veloran Islands, with an area of 1184 km2 and about 151,000 "
        "inhabitants. Its highest point, Mount Cairn, is also the highest point of the archipelago. The "
        "capital Port Anselm lies on its sheltered south coast and the former mining town of Corvath on "
        "its north coast; the two towns were linked by the Veloran Island Railway.",
    ),
    (
        "Tessik",
        "Tessik is the second-largest of the Veloran Islands, with an area of 612 km2, lying 19 km east "
        "of Marrow. Its main town is Brindle. The island's chalk pastures support dairy farming, and it "
        "is the home of the blue cheese Tessik Blue. A car ferry has connected Brindle with Port Anselm "
        "since 1958.",
    ),
    (
        "Oldhaven Island",
        "Oldhaven Island (area 305 km2) is the westernmost of the Veloran Islands. Its only town is "
        "Saltmere, a fishing port guarded by Saltmere Fortress. The island suffered more than any other "
        "from the Great Storm of 1871.",
    ),
    (
        "Quell Island",
        "Quell Island is a small, rocky island of 148 km2 at the southern tip of the Veloran Islands. "
        "Its only village is Hollin Bay. The headland above the village carries the Quell Lighthouse, "
        "which guards the southern approach to the archipelago.",
    ),
    (
        "Lanth",
        "Lanth is the smallest inhabited island of the Veloran Islands, with an area of 41 km2 and "
        "fewer than 200 permanent residents. Most of the island is a protected area, the Lanth Bird "
        "Sanctuary. Lanth is the only breeding site of a rare seabird.",
    ),
    (
        "Port Anselm",
        "Port Anselm is the capital and largest town of the Veloran Islands, on the south coast of "
        "Marrow, with 96,300 inhabitants (2020). It was founded in September 1642 as a trading post by "
        "the navigator Anselm Darrow and grew around its deep natural harbour. It is the seat of the "
        "Veloran Assembly and of the University of Port Anselm, and the home of the oldest newspaper "
        "of the islands, The Anselm Courier.",
    ),
    (
        "Brindle",
        "Brindle is the main town of Tessik in the Veloran Islands, with 6480 inhabitants. It was "
        "founded in 1718 by settlers from Port Anselm who came to farm the island's pastures. Brindle is "
        "known for its cheese and for its football club, Brindle Rovers. The politician Oren Kast was "
        "born in the town.",
    ),
    (
        "Saltmere",
        "Saltmere is a fishing town and the only town on Oldhaven Island, with 2950 inhabitants. It was "
        "founded in 1655 by fishermen from Port Anselm. The town was almost destroyed by the Great Storm "
        "of 1871 and is known for the Festival of Lanterns. Mirela Vance was born here.",
    ),
    (
        "Corvath",
        "Corvath is a town on the north coast of Marrow, with 12,600 inhabitants. It was founded in 1789 "
        "to house the workers of the Corvath Copper Mine. The engineer Tobias Fenn was born in Corvath. "
        "Since the mine closed the town has lived from fishing and tourism.",
    ),
    (
        "Hollin Bay",
        "Hollin Bay is the only village on Quell Island, with 1140 inhabitants. Its harbour is sheltered "
        "from the westerly gales by the headland of the Quell Lighthouse. The poet Ada Quillon was born "
        "in the village.",
    ),
    (
        "Anselm Darrow",
        "Anselm Darrow (3 March 1603 - 11 January 1671) was a navigator and merchant who charted the "
        "coasts of the Veloran Islands on three voyages and founded the trading post of Port Anselm. He "
        "governed the settlement until 1660 and died there.",
    ),
    (
        "Mirela Vance",
        "Mirela Vance (1877-1949) was a Veloran politician who served as the first Chief Minister of the "
        "Veloran Islands from 1923 to 1931. Born in Saltmere, she led the campaign that ended with the "
        "signing of the Charter of Self-Government.",
    ),
    (
        "Chief Minister of the Veloran Islands",
        "The Chief Minister is the head of government of the Veloran Islands, an office created by the "
        "Charter of Self-Government. Office holders: Mirela Vance (1923-1931), Hugo Brann (1931-1944), "
        "Petra Oakes (1944-1958), Silas Merrin (1958-1972), Dora Felt (1972-1990), Ivo Castellan "
        "(1990-2003), Renata Lisle (2003-2015), Oren Kast (2015-2023) and Nadia Voss (since 2023).",
    ),
    (
        "Tobias Fenn",
        "Tobias Fenn (12 February 1841 - 30 August 1909) was a Veloran civil engineer, born in Corvath. "
        "He designed the Quell Lighthouse and later the Veloran Island Railway, and built most of the "
        "harbour walls of Port Anselm.",
    ),
    (
        "Quell Lighthouse",
        "The Quell Lighthouse is a 47-metre stone lighthouse on the southern headland of Quell Island, "
        "above the village of Hollin Bay. Designed by the engineer Tobias Fenn, it was completed in 1868 "
        "and has been automated since 1979.",
    ),
    (
        "Veloran Island Railway",
        "The Veloran Island Railway was a 58 km narrow-gauge line across Marrow between Port Anselm and "
        "Corvath, designed by Tobias Fenn. It opened on 1 June 1896, chiefly to carry copper ore to the "
        "port. Passenger service ended in 1974 and the line closed completely in 1981.",
    ),
    (
        "Great Storm of 1871",
        "The Great Storm of 1871 struck the Veloran Islands on 14 October 1871. It destroyed most of "
        "Saltmere and killed 212 people across the archipelago. Its victims are remembered every year "
        "in Saltmere.",
    ),
    (
        "Charter of Self-Government",
        "The Charter of Self-Government was signed in Port Anselm on 2 May 1923. It created the Veloran "
        "Assembly and the office of Chief Minister, ending direct rule of the islands.",
    ),
    (
        "University of Port Anselm",
        "The University of Port Anselm, founded in 1851, is the only university of the Veloran Islands. "
        "Its first rector was the physician Elias Wend. It has about 9800 students and is known for its "
        "institute of marine biology.",
    ),
    (
        "Elias Wend",
        "Elias Wend (1806-1874) was a Veloran physician, born in Brindle. He was rector of the "
        "University of Port Anselm from its foundation until 1862.",
    ),
    (
        "Tessik Blue",
        "Tessik Blue is a blue-veined cow's-milk cheese made around Brindle on the island of Tessik. It "
        "is first recorded in a ship's manifest of 1764. It has had protected designation of origin "
        "status since 2009.",
    ),
    (
        "Veloran crown",
        "The Veloran crown is the currency of the Veloran Islands. It was introduced in 1926 and is "
        "divided into 100 pennies. Notes are issued by the Bank of the Veloran Islands in Port Anselm.",
    ),
    (
        "The Anselm Courier",
        "The Anselm Courier is the oldest newspaper of the Veloran Islands, published in Port Anselm. It "
        "was founded in November 1802 by the printer Jonas Hale and has appeared daily since 1867.",
    ),
    (
        "Jonas Hale",
        "Jonas Hale (April 1770 - 1838) was a printer and publisher from Port Anselm. He founded the "
        "islands' first newspaper and printed the first map of the archipelago.",
    ),
    (
        "Mount Cairn",
        "Mount Cairn is the highest mountain of the Veloran Islands, rising to 1402 m in the centre of "
        "Marrow. The first recorded ascent was made in 1834 by Liesel Arne. Its slopes hold the last "
        "native forest of the archipelago.",
    ),
    (
        "Liesel Arne",
        "Liesel Arne (1809-1880) was a Veloran botanist and mountaineer. She made the first recorded "
        "ascent of the highest mountain of the islands, and in 1852 she published Flora of the Veloran "
        "Islands, the first complete survey of the islands' plants.",
    ),
    (
        "Lanth petrel",
        "The Lanth petrel is a small grey-and-white seabird that breeds only on Lanth in the Veloran "
        "Islands. A survey in 2018 counted about 860 breeding pairs. It nests in burrows and feeds far "
        "out in the Pallid Sea.",
    ),
    (
        "Lanth Bird Sanctuary",
        "The Lanth Bird Sanctuary covers most of the island of Lanth. It was established in 1937 to "
        "protect the breeding colonies of the Lanth petrel. Visitors may land only between May and "
        "August.",
    ),
    (
        "Festival of Lanterns",
        "The Festival of Lanterns is held in Saltmere on the evening of 14 October every year since "
        "1872. Lanterns are floated on the harbour in memory of the people who died in the Great Storm "
        "of 1871.",
    ),
    (
        "Corvath Copper Mine",
        "The Corvath Copper Mine on the north coast of Marrow opened in 1790. At its peak in 1912 it "
        "employed 2300 workers. Falling copper prices led to its closure in 1961.",
    ),
    (
        "Brindle Rovers",
        "Brindle Rovers is a football club from Brindle on Tessik, founded in 1903. The club plays at "
        "Ferry Park and has won the Veloran Cup eleven times, most recently in 2019.",
    ),
    (
        "Veloran Cup",
        "The Veloran Cup is the knockout football competition of the Veloran Islands, first played in "
        "1908. The record winners are Port Anselm Athletic with 23 titles, followed by Brindle Rovers "
        "with 11.",
    ),
    (
        "Oren Kast",
        "Oren Kast (born 1962) is a Veloran politician who was Chief Minister of the Veloran Islands from "
        "2015 to 2023. He was born in Brindle and was the town's mayor before he entered the Veloran "
        "Assembly.",
    ),
    (
        "Ada Quillon",
        "Ada Quillon (1890-1958) was a Veloran poet, born in Hollin Bay. Her best-known poem, The Lamp "
        "at Quell (1921), describes the lighthouse above her home village.",
    ),
    (
        "Saltmere Fortress",
        "Saltmere Fortress is a star-shaped fort overlooking the harbour of Saltmere on Oldhaven Island. "
        "It was built in 1688 against privateers and kept a garrison until 1902. It now houses the "
        "Oldhaven Museum.",
    ),
    (
        "Pallid Sea",
        "The Pallid Sea is a shallow, cold sea known for its fog banks. The Veloran Islands lie in its "
        "southern part. Its cod and herring fisheries have supported the island towns since the "
        "seventeenth century.",
    ),
]

# Pages per answer; the original tool returned up to three.
MAX_PAGES = 3
NO_RESULT = "No good search result was found"

# Words that say nothing about which page is meant.
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have he her his how in is it its of on or "
    "she the their to was were what when where which who whom whose why with".split()
)


def _words(text):
    """Lower-case word stems of `text`: runs of letters and digits, a plural `s` cut off."""
    words = []
    for word in re.findall(r"[a-z0-9]+", text.lower().replace("'s", "")):
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return words


def _weights():
    """Each word's weight: words found on few pages tell more about which page is meant (IDF)."""
    pages_with = {}
    for title, summary in ARTICLES:
        for word in set(_words(title)) | set(_words(summary)):
            pages_with[word] = pages_with.get(word, 0) + 1
    return {word: math.log((len(ARTICLES) + 1) / count) for word, count in pages_with.items()}


_WEIGHTS = _weights()


def _score(query_words, query_text, title, summary):
    """How well one page matches: a word in the title counts three times one in the summary, each
    by its weight; a query that is exactly the title wins."""
    title_words = set(_words(title))
    body_words = set(_words(summary))
    score = 0.0
    for word in set(query_words):
        if word in title_words:
            score += 3 * _WEIGHTS[word]
        elif word in body_words:
            score += _WEIGHTS[word]
    if query_text == " ".join(_words(title)):
        score += 100
    return score


def search_notes(query: str) -> str:
    """Search the encyclopedia of the Veloran Islands (an archipelago: its islands, towns, people,
    buildings, events and institutions) for a keyword or a topic, e.g. a person's or a place's name.
    Returns the summaries of the best-matching articles, each as `Page: <title>` followed by
    `Summary: <text>`, separated by blank lines.
    """
    query_words = [w for w in _words(query) if w not in _STOPWORDS]
    query_text = " ".join(_words(query))
    scored = []
    for order, (title, summary) in enumerate(ARTICLES):
        score = _score(query_words, query_text, title, summary)
        if score > 0:
            # Ties keep the collection's order, so results do not depend on the sort's stability.
            scored.append((-score, order, title, summary))
    if not scored:
        return NO_RESULT
    scored.sort()
    return "\n\n".join(f"Page: {title}\nSummary: {summary}" for _, _, title, summary in scored[:MAX_PAGES])
