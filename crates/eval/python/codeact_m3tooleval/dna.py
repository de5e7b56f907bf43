"""Tools of the cryptobotanists_plant_dna_sequencer domain, written from the pack's tools.json."""

from collections import Counter

from .extremes import largest

_TRANSCRIBE = {"A": "U", "C": "G", "G": "C", "T": "A"}
_REVERSE_TRANSCRIBE = {"U": "A", "C": "G", "A": "T", "G": "C"}
_NUCLEOTIDES = frozenset("ACGT")
_CODONS = {"AUG": "Methionine", "UUU": "Phenylalanine", "UUC": "Phenylalanine"}


def count_nucleotides(dna_sequence):
    """Counts the occurrences of each nucleotide in a DNA sequence."""
    return dict(Counter(dna_sequence))


def transcribe_dna_to_mrna(dna_sequence):
    """Transcribes DNA sequence to mRNA."""
    return "".join(_TRANSCRIBE.get(char, char) for char in dna_sequence)


def translate_mrna_to_amino_acid(mrna_sequence):
    """Translates mRNA sequence to a chain of amino acids."""
    chunks = [mrna_sequence[i : i + 3] for i in range(0, len(mrna_sequence), 3)]
    return "-".join(_CODONS.get(chunk, "X") for chunk in chunks)


def find_max_nucleotide(*args):
    """Return the nucleotide (str) with the maximum count (int)."""
    counts = {}
    # Pairs by index: an odd number of arguments is an IndexError, as a pairwise loop gives.
    for i in range(0, len(args), 2):
        counts[args[i]] = args[i + 1]
    # max keeps the first of equal values, so a tie goes to the key that appeared first.
    key = largest(tuple(counts), key=counts.get)
    return (key, counts[key])


def is_valid_dna_sequence(dna_sequence):
    """Checks if the DNA sequence is valid."""
    return all(char in _NUCLEOTIDES for char in dna_sequence)


def reverse_transcribe_mrna_to_dna(mrna_sequence):
    """Reverse transcribes mRNA sequence to DNA."""
    return "".join(_REVERSE_TRANSCRIBE.get(char, char) for char in mrna_sequence)


def make_tools():
    return {
        "count_nucleotides": count_nucleotides,
        "transcribe_dna_to_mrna": transcribe_dna_to_mrna,
        "translate_mrna_to_amino_acid": translate_mrna_to_amino_acid,
        "find_max_nucleotide": find_max_nucleotide,
        "is_valid_dna_sequence": is_valid_dna_sequence,
        "reverse_transcribe_mrna_to_dna": reverse_transcribe_mrna_to_dna,
    }
