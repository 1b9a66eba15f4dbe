from seqgen.codecs import CharCodec, codec_from_dict


def test_round_trip_and_vocabulary_from_training_text():
    text = "Hello, wörld!\nÇa va? 日本"
    codec = CharCodec.fit([text])
    assert codec.decode(codec.encode(text)) == text
    assert codec.vocab_size == len(set(text)) + 1  # + <unk>
    assert codec.unk_id == 0 and 0 not in codec.encode(text)


def test_unseen_characters_map_to_unk_and_are_reported():
    codec = CharCodec.fit(["abc"])
    assert codec.encode("abz") == [codec.stoi["a"], codec.stoi["b"], codec.unk_id]
    assert codec.unknown_chars("zabzy") == ["z", "y"]
    assert codec.decode(codec.encode("abz")) == "ab"  # <unk> is never rendered


def test_sentence_boundaries_wrap_each_line():
    codec = CharCodec.fit(["ab\nba\n"], boundaries=True)
    assert "\n" not in codec.stoi
    ids = codec.encode_document("ab\n\nba\n")
    a, b = codec.stoi["a"], codec.stoi["b"]
    assert ids == [codec.bos_id, a, b, codec.eos_id, codec.bos_id, b, a, codec.eos_id]
    assert codec.start_ids == [codec.bos_id] and codec.end_ids == [codec.eos_id]
    assert codec.bos_id in codec.special_ids and codec.eos_id not in codec.special_ids


def test_start_context_without_boundaries_is_a_newline():
    codec = CharCodec.fit(["xy"])  # a newline joins the vocabulary even when the text has none
    assert codec.start_ids == [codec.stoi["\n"]]
    assert codec.encode_corpus(["xy", "yx"]).tolist() == codec.encode("\nxy\nyx")
    assert CharCodec(["x", "y"]).start_ids == []  # a vocabulary without one has no start context


def test_serialises_into_a_dict_and_back():
    codec = CharCodec.fit(["the quick brown fox\n"], boundaries=True)
    again = codec_from_dict(codec.to_dict())
    assert isinstance(again, CharCodec)
    assert again.itos == codec.itos and again.boundaries
    assert again.encode("fox") == codec.encode("fox")


def test_array_encoding_equals_the_character_lookup():
    text = "Zürich — naïve ☃ 日本語\n\tend" * 3
    codec = CharCodec.fit([text[:-5]])  # leave some characters unseen
    expected = [codec.stoi.get(c, codec.unk_id) for c in text]
    assert codec.encode_array(text).tolist() == expected == codec.encode(text)
    assert CharCodec.fit([""]).encode("abc") == [0, 0, 0]
