"""Lineage schema revisions, oldest first; file names are <date>_<revision>_<slug>.py."""
