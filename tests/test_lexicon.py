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


def test_cli_dest_needs_install_and_a_folder(tmp_path, capsys):
    parser = lexicon.get_args_parser()
    assert lexicon.main(parser.parse_args(["--dest", str(tmp_path / "nltk")])) == 2
    assert "--dest is where --install puts the corpora" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert lexicon.main(parser.parse_args(["--install", "--dest", str(tmp_path / "file")])) == 1
    assert f"--dest {tmp_path / 'file'}: a file, not a folder" in capsys.readouterr().err
    assert not (tmp_path / "nltk").exists()


def test_omw_languages_lists_what_build_accepts():
    assert {"ita", "spa", "fra", "por"} <= set(lexicon.omw_languages())
