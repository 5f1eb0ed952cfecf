"""Stage `data`: text -> tokenizer + token streams. Tokenizers (char, byte, word, BPE), the
grammar engine (`grammar/`) and the shipped grammars (`grammars/`, the built-in smart-home
recipe among them), the line format (`lines`), the dataset and its held-out splits, and the
probe strings that check a device's tokenizer against the host's.
"""
