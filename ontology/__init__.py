"""The vocabulary, reference data (agencies, divisions, areas, obligations) and the mapping."""

from pathlib import Path

ONTOLOGY_DIR = Path(__file__).parent
