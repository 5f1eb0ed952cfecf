"""Stage `data`: text -> tokenizer + token streams. Tokenizers (char, byte, word, BPE), the
built-in recipes (`recipes/`), the dataset and its held-out splits, and the probe strings that
check a device's tokenizer against the host's.
"""
