import pytest

from datasets import lexicon


def test_stop_words_are_nltks_english_list():
    words = lexicon.stop_words()
    assert len(words) == 179
    assert {"the", "of", "and", "can"} <= words and "teapot" not in words


def test_wordnet_folds_plurals():
    wn = lexicon.wordnet()
    assert wn.morphy("cranes", "n") == "crane"
    assert wn.morphy("mice", "n") == "mouse"


def test_missing_corpus_says_how_to_install(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    assert lexicon.missing_corpora(("stopwords",)) == ["stopwords"]
    with pytest.raises(LookupError, match=r"python -m datasets\.lexicon --install"):
        lexicon._require("stopwords")
