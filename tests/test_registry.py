"""The one registry idiom: name -> entry with a one-line doc; lazy entries; one-line errors naming key and values."""
import pytest

from syft_fl import choices
from syft_fl.channel import BANDWIDTH_MODE, COHERENCE, FADING, OUTAGE_RULE
from syft_fl.codec import SCHEMES
from syft_fl.config import describe_choices
from syft_fl.policy import WINDOW_START
from syft_fl.registry import Registry, first_line
from syft_fl.strategies import KINDS


def test_registry_keeps_order_docs_and_entries():
    reg = Registry("colour")
    assert reg.add("red", 1, doc="the first") == 1
    reg.add("blue", doc="a name alone")
    assert reg.names() == ("red", "blue") and list(reg) == ["red", "blue"] and len(reg) == 2
    assert reg["red"] == 1 and reg.get("blue") is None and "red" in reg and "green" not in reg
    assert reg.doc("blue") == "a name alone" and reg.table() == [("red", "the first"), ("blue", "a name alone")]
    assert reg.describe() == "red | blue"


def test_registry_refuses_twice_empty_names_and_multiline_docs():
    reg = Registry("colour")
    reg.add("red", doc="x")
    for name, doc in (("red", "again"), ("", "empty"), ("green", ""), ("green", "two\nlines")):
        with pytest.raises(ValueError):
            reg.add(name, doc=doc)


def test_check_is_one_line_naming_the_key_the_value_and_the_allowed_values():
    reg = Registry("colour")
    reg.add("red", doc="x")
    reg.add("blue", doc="y")
    reg.check("paint", "red")
    with pytest.raises(ValueError) as err:
        reg.check("paint", "rde")
    assert str(err.value) == "paint='rde' is not one of red, blue (did you mean 'red'?)"
    with pytest.raises(ValueError, match=r"^unknown colour 'green' \(expected one of red, blue\)$"):
        reg.get("green")


def test_lazy_entries_are_imported_when_first_asked_for():
    reg = Registry("thing")
    reg.add_lazy("join", "os.path:join", doc="os.path.join")
    import os.path

    assert reg["join"] is os.path.join


def test_extended_registers_for_the_block_only():
    reg = Registry("colour")
    with reg.extended("red", 1, doc="x") as entry:
        assert entry == 1 and reg["red"] == 1
    assert "red" not in reg


def test_every_registered_choice_has_a_one_line_doc_and_loads():
    registries = list(choices.TOP_LEVEL.values()) + [FADING, COHERENCE, BANDWIDTH_MODE, OUTAGE_RULE, WINDOW_START,
                                                      KINDS, SCHEMES]
    for reg in registries:
        assert len(reg) >= 2
        for name, doc in reg.table():
            assert doc and "\n" not in doc
            reg.get(name)  # lazy entries import
    listed = {(key, name) for key, name, _ in describe_choices()}
    assert ("transport", "ray") in listed and ("channel.fading", "rician") in listed
    assert ("channel.outage_rule", "stall") in listed
    assert ("codec scheme (spec's first word)", "uniform") in listed


def test_first_line_is_the_first_sentence_on_one_line():
    assert first_line("Bit planes of the\n    float32 word. More here.") == "Bit planes of the float32 word."
    assert first_line(None) == ""
