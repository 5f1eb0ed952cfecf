from __future__ import annotations

import numpy as np

from toolchain.data.tokenizer import PAD, UNK, UNK_TEXT, Tokenizer


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


# ---- word and BPE (HuggingFace tokenizers) ---------------------------------------------------

import json
import re

import pytest

from toolchain.data import grammar as grammars
from toolchain.data.tokenizer import PIECE
from toolchain.core.errors import UsageError

LINES = [ln + "\n" for ln in grammars.builtin("smarthome").generate(3000, 5)]


@pytest.fixture(scope="module", params=["word", "bpe"])
def learned(request):
    return Tokenizer.learn(LINES, request.param, vocab_size=400, min_count=2, lowercase=True)


def test_pieces_follow_the_documented_regex(learned):
    for text in ["Turn OFF the  kitchen lights => light.off kitchen\n", "set 85% é 你好 \t x", "", "   ", "a1b2 3"]:
        want = re.findall(PIECE, text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                                              "abcdefghijklmnopqrstuvwxyz")))
        assert learned.pieces(text) == want
        assert "".join(want) == learned.normalize(text)  # the pieces cover the text exactly


def test_known_text_round_trips_lowercased(learned):
    for line in LINES[:200]:
        ids = learned.encode(line)
        if UNK in ids:
            continue
        assert learned.decode(ids) == line.lower()
    assert learned.decode(learned.encode("Turn OFF the lights")) == "turn off the lights"


def test_specials_have_fixed_ids_and_texts(learned):
    assert learned.token_text(PAD) == b"" and learned.token_text(UNK) == UNK_TEXT.encode()
    assert learned.vocab_size <= 400
    assert PAD not in learned.encode(LINES[0]).tolist()


def test_word_typos_and_unknown_words_become_one_unk_each():
    tok = Tokenizer.learn(LINES, "word", vocab_size=4000, min_count=2, lowercase=True)
    ids = tok.encode("turn off the kitchnx lights zzyzx").tolist()
    assert ids.count(UNK) == 2 and len(ids) == 6
    assert tok.decode(ids) == f"turn off the{UNK_TEXT} lights{UNK_TEXT}"


def test_bpe_spells_unknown_words_from_subwords_and_unknown_chars_as_unk():
    tok = Tokenizer.learn(LINES, "bpe", vocab_size=600, min_count=2, lowercase=True)
    ids = tok.encode("kitchnx").tolist()
    assert UNK not in ids and tok.decode(ids) == "kitchnx"
    ids = tok.encode("café").tolist()
    assert ids[-1] == UNK and ids.count(UNK) == 1
    m = tok.merges()
    assert m and all(tok.token_text(c) == tok.token_text(a) + tok.token_text(b) for a, b, c in m)


def test_word_min_count_and_vocab_size_bound_the_vocabulary():
    small = Tokenizer.learn(LINES, "word", vocab_size=50, min_count=1)
    assert small.vocab_size == 50
    rare = Tokenizer.learn(["alpha beta beta gamma gamma gamma\n"], "word", vocab_size=100, min_count=2)
    texts = {rare.token_text(i) for i in range(rare.vocab_size)}
    assert b" gamma" in texts and b" beta" in texts and b"alpha" not in texts


def test_bpe_vocab_size_below_the_alphabet_is_a_clear_error():
    with pytest.raises(UsageError, match=r"\[tokenizer\] vocab_size = 16 is below the .* characters"):
        Tokenizer.learn(LINES, "bpe", vocab_size=16)


def test_word_bpe_files_are_the_libraries_own_tokenizer_json(learned, tmp_path):
    from tokenizers import Tokenizer as HF

    learned.save(tmp_path / "tokenizer.json")
    hf = HF.from_file(str(tmp_path / "tokenizer.json"))  # loadable by the library itself
    again = Tokenizer.load(tmp_path / "tokenizer.json")
    assert again.kind == learned.kind and again.lowercase and again.vocab_size == learned.vocab_size
    for line in LINES[:50]:
        assert hf.encode(line, add_special_tokens=False).ids == learned.encode(line).tolist() == again.encode(line).tolist()
    assert json.loads((tmp_path / "tokenizer.json").read_text())["model"]["type"] in ("WordLevel", "BPE")


def test_lowercase_folds_ascii_only_for_every_kind():
    for kind in ("char", "byte"):
        tok = Tokenizer.learn(["abc éÉ"], kind, 96, lowercase=True)
        assert tok.decode(tok.encode("ABC É")) == "abc É"
        assert Tokenizer.from_json(tok.to_json()).lowercase


def test_corrupt_tokenizer_file_is_one_clear_line(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "Unigram"}}')
    with pytest.raises(UsageError, match="unreadable tokenizer.*tlmc train"):
        Tokenizer.load(tmp_path / "tokenizer.json")
