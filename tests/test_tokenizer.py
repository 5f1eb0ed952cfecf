from __future__ import annotations

import numpy as np

from toolchain.tokenizer import PAD, UNK, UNK_TEXT, Tokenizer


def test_char_round_trip_including_non_ascii():
    text = "héllo wörld — 你好\n"
    tok = Tokenizer.learn([text], "char", 96)
    assert tok.decode(tok.encode(text)) == text
    assert PAD not in tok.encode(text).tolist()


def test_unknown_chars_map_to_unk_and_decode_visibly():
    tok = Tokenizer.learn(["aaabbc"], "char", 4)  # room for 2 chars: a, b
    ids = tok.encode("abcz").tolist()
    assert ids[2] == UNK and ids[3] == UNK
    assert tok.decode(ids) == "ab" + UNK_TEXT * 2


def test_char_vocab_keeps_most_frequent_sorted_by_code_point():
    tok = Tokenizer.learn(["zzzz yyy x"], "char", 4)
    assert tok.chars[2:] == ["y", "z"]


def test_byte_tokenizer_round_trips_any_utf8():
    tok = Tokenizer.learn([], "byte")
    text = "naïve ☃ \x00 end"
    ids = tok.encode(text)
    assert ids.min() >= 1 and ids.max() <= 256 and tok.vocab_size == 257
    assert tok.decode(ids) == text


def test_json_round_trip(tmp_path):
    tok = Tokenizer.learn(["the quick brown fox"], "char", 20)
    tok.save(tmp_path / "t.json")
    again = Tokenizer.load(tmp_path / "t.json")
    assert again.chars == tok.chars
    assert np.array_equal(again.encode("brown"), tok.encode("brown"))


def test_token_text_matches_decode():
    tok = Tokenizer.learn(["abc é"], "char", 10)
    for i in range(tok.vocab_size):
        assert tok.token_text(i).decode() == tok.decode([i])
