"""`make demo`: the whole keras-albert pipeline on bundled, openly licensed data."""
