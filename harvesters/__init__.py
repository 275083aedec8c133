"""Harvesters: the Scrapy project, CMS-family parsers, the source registry and the sandbox."""

from pathlib import Path

HARVESTERS_DIR = Path(__file__).parent
