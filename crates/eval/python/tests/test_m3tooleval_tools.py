"""The tools of the five domains, each exercised against its behaviour in the pack's tools.json,
quirks included; fresh tools per task; the package working once its files are gone."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from m3tooleval_pack import PACK, PYTHON_DIR, tools_json

from codeact_m3tooleval import data, domains
from codeact_m3tooleval.web import Browser


def tools(domain):
    return domains.build(domain)


@pytest.mark.parametrize("domain", list(tools_json()))
def test_each_domain_has_the_tools_of_tools_json_in_order(domain):
    assert list(tools(domain)) == [tool["name"] for tool in tools_json()[domain]]
    for name, tool in tools(domain).items():
        assert tool.__name__ == name


@pytest.mark.parametrize(
    ("domain", "name", "args", "kwargs", "message"),
    [
        (
            "travel_itinerary_planning",
            "book_hotel",
            (),
            {"location": "C", "wifi": "wifi"},
            "book_hotel() got an unexpected keyword argument 'wifi'",
        ),
        (
            "travel_itinerary_planning",
            "find_flights",
            ("A",),
            {},
            "find_flights() missing 2 required positional arguments: 'to_location' and 'date'",
        ),
        ("web_browsing", "calculator", (), {}, "calculator() missing 1 required positional argument"),
        ("web_browsing", "view", (1,), {}, "view() takes 0 positional arguments but 1 was given"),
        ("message_decoder", "reverse_string", ("a", "b"), {}, "reverse_string() takes 1 positional argument"),
    ],
)
def test_call_errors_name_the_tool_as_the_model_knows_it(domain, name, args, kwargs, message):
    with pytest.raises(TypeError) as error:
        tools(domain)[name](*args, **kwargs)
    assert str(error.value).startswith(message)
    assert "<locals>" not in str(error.value)


def test_build_chooses_tools_and_rejects_unknown_names():
    assert list(domains.build("travel_itinerary_planning", ["sum", "find_flights"])) == ["sum", "find_flights"]
    with pytest.raises(ValueError, match="unknown domain 'nope'"):
        domains.build("nope")
    with pytest.raises(ValueError, match="unknown tool 'view' in domain 'message_decoder'"):
        domains.build("message_decoder", ["view"])


def test_message_decoder():
    t = tools("message_decoder")
    assert t["convert_hex_to_ascii"]("61 62\t63") == "abc"
    assert t["convert_hex_to_ascii"](61) == "a"  # str() first
    with pytest.raises(UnicodeDecodeError):
        t["convert_hex_to_ascii"]("ff")
    with pytest.raises(ValueError):
        t["convert_hex_to_ascii"]("6")
    assert t["reverse_string"]([1, 2, 3]) == [3, 2, 1]
    assert t["caesar_decode"]("Khoor, Zruog!", 3) == "Hello, World!"
    assert t["caesar_decode"]("abc", -1) == "bcd"
    assert t["caesar_decode"]("abc", 27) == "zab"
    # isupper() decides, so a non-ASCII capital is shifted from the 'A' base too.
    assert t["caesar_decode"]("É", 0) == chr((ord("É") - 65) % 26 + 65)
    with pytest.raises(ValueError):
        t["caesar_decode"]("abc", "x")
    assert t["string_length"]("héllo") == 5
    assert t["minimum_value"](3, 1.5, 2) == 1.5
    assert t["maximum_value"](3, 1.5, 2) == 3
    assert t["minimum_value"]([3, 1]) == [3, 1]  # min over the tuple of arguments
    with pytest.raises(ValueError, match="min\\(\\) arg is an empty sequence"):
        t["minimum_value"]()


def test_dna_sequencer():
    t = tools("cryptobotanists_plant_dna_sequencer")
    assert t["count_nucleotides"]("GAXGA") == {"G": 2, "A": 2, "X": 1}
    assert list(t["count_nucleotides"]("TTAG")) == ["T", "A", "G"]
    assert t["count_nucleotides"]("") == {}
    assert t["transcribe_dna_to_mrna"]("ACGTN") == "UGCAN"
    assert t["translate_mrna_to_amino_acid"]("AUGUUCUUUA") == "Methionine-Phenylalanine-Phenylalanine-X"
    assert t["find_max_nucleotide"]("A", 1, "C", 2, "A", 5) == ("A", 5)
    assert t["find_max_nucleotide"]("G", 2, "C", 2, "G", 2) == ("G", 2)
    with pytest.raises(IndexError):
        t["find_max_nucleotide"]("A", 1, "C")
    assert t["is_valid_dna_sequence"]("")
    assert t["is_valid_dna_sequence"]("GATTACA")
    assert not t["is_valid_dna_sequence"]("gattaca")
    assert not t["is_valid_dna_sequence"]("GAU")
    assert t["reverse_transcribe_mrna_to_dna"]("UACGN") == "ATGCN"


def test_trade_calculator():
    t = tools("trade_calculator")
    assert t["convert_currency"](3, 4) == 12 and isinstance(t["convert_currency"](3, 4), int)
    assert t["calculate_tariff"](200, 5) == 10.0 and isinstance(t["calculate_tariff"](200, 5), float)
    assert t["estimate_final_value"](100, 2.5) == 102.5
    assert t["find_minimum"](3, 2.5, 7) == 2.5
    assert t["find_maximum"](3, 2.5, 7) == 7
    with pytest.raises(ValueError):
        t["find_maximum"]()
    # Full Python in the tools' namespace; failures of any kind become the failure string.
    assert t["calculator"]("convert_currency(2, 3) + find_maximum(1, 4)") == 10
    assert t["calculator"]("sorted([3, 1])") == [1, 3]
    assert t["calculator"]("1/0") == "Failed to evaluate expression: 1/0"
    assert t["calculator"]("exit()") == "Failed to evaluate expression: exit()"
    assert t["calculator"](5) == "Failed to evaluate expression: 5"


def test_travel_flights():
    t = tools("travel_itinerary_planning")
    plain = t["find_flights"]("B", "E", "2023-12-08")
    assert plain == t["find_flights"]('"B"', '"E"', "2023-12-08")
    assert [flight["price"] for flight in plain] == [470, 946]
    assert plain[0] == {"from_location": '"B"', "to_location": '"E"', "date": "2023-12-08", "price": 470}
    assert t["find_flights"]("B", "E", "2023-12-8") == []
    locations = "['\"A\"', '\"B\"', '\"C\"', '\"D\"', '\"E\"', '\"F\"']"
    with pytest.raises(ValueError) as error:
        t["find_flights"]("Q", "Z", "2023-12-08")
    assert str(error.value) == f"Origin [Q] is not supported. Supported from_locations: {locations}"
    with pytest.raises(ValueError) as error:
        t["find_flights"]('"F"', '"Z"', "2023-12-08")
    assert str(error.value) == f"Destination [Z] is not supported. Supported to_locations: {locations}"


def test_travel_hotels_and_arithmetic():
    t = tools("travel_itinerary_planning")
    assert [hotel["price_per_night"] for hotel in t["book_hotel"]("D")] == [130, 140, 135]
    assert [hotel["price_per_night"] for hotel in t["book_hotel"]('"D"', "gym", "wifi")] == [140, 135]
    assert t["book_hotel"]("F") == []
    assert t["book_hotel"]("C", "pool")[0] == {
        "location": '"C"',
        "preferences": ["pool"],
        "price_per_night": 100,
        "rating": 3,
    }
    with pytest.raises(ValueError, match=r"^Location \[Z\] is not supported. Supported locations: \["):
        t["book_hotel"]("Z")
    assert t["budget_calculator"](100, 20.5, 2) == 141.0
    assert t["max"](1, 7.5, 3) == 7.5 and t["max"]([1, 9]) == 9
    assert t["min"](4, 2, 3) == 2 and t["min"](x for x in [5, 6]) == 5
    assert t["sum"](1, 2.5, 3) == 6.5 and t["sum"]() == 0
    with pytest.raises(TypeError):
        t["max"]()


def test_travel_tables_are_per_task():
    first = tools("travel_itinerary_planning")
    first["find_flights"]("E", "A", "2023-12-25")[0]["price"] = 1
    # Records are returned as stored: the change stays for the rest of the task...
    assert first["find_flights"]("E", "A", "2023-12-25")[0]["price"] == 1
    # ...and no other task sees it.
    assert tools("travel_itinerary_planning")["find_flights"]("E", "A", "2023-12-25")[0]["price"] == 450
    assert data.TRAVEL["flights"][0]["price"] == 450


def test_browser_starts_at_root_and_moves():
    t = tools("web_browsing")
    assert t["view"]().startswith("----------\n[Web Page Name: /]\n[Viewing page 1 of 2]\n\nWelcome")
    assert t["scroll_up"]() == "[Reached the top of the page.]\n"
    assert t["scroll_down"]().endswith(
        "\n\n- Contact Us [Clickable '/contact']\n- Meet Our Team [Clickable '/team']\n"
        "Discover the magic today!\n----------"
    )
    assert "[Viewing page 1 of 2]" in t["scroll_up"]()
    # Any page opens, linked or not; quotes are removed from the address.
    opened = t["click_url"]("'/team/sales/katie_gonzalez'")
    assert opened == (
        "[Opened page: /team/sales/katie_gonzalez]\n----------\n[Web Page Name: /team/sales/katie_gonzalez]\n"
        "[Viewing page 1 of 1]\n\nKatie Gonzalez of Sales Department\nExpertise: Wand/Spellbook\n"
        "Email: katie.gonzalez@farmer-ryan.net\nPhone: 2955701543\n----------"
    )
    assert t["click_url"]("/team/customer_support") == "[URL not found.]"
    assert t["click_url"]("/blog")
    assert t["go_to_previous_page"]().startswith("[Opened page: /team/sales/katie_gonzalez]\n")
    assert t["go_to_previous_page"]().startswith("[Opened page: /]\n")
    # Going back pushes nothing.
    assert t["go_to_previous_page"]() == "[No previous page.]"
    assert t["calculator"]("68.71 + 1") == 69.71
    assert t["calculator"]("view()[:10]") == "-" * 10


def test_browser_state_is_shared_within_a_task_only():
    first = tools("web_browsing")
    first["click_url"]("/contact")
    assert "[Web Page Name: /contact]" in first["view"]()
    assert "[Web Page Name: /]" in tools("web_browsing")["view"]()
    with pytest.raises(AttributeError):
        first["click_url"](5)


def test_view_arithmetic_quirks():
    ten = "\n".join(f"line {i}" for i in range(10))
    browser = Browser({"/": "a", "": ten})
    assert browser.view() == "----------\n[Web Page Name: /]\n[Viewing page 1 of 1]\n\na\n----------"
    browser.click_url("")
    # An empty name has no name line; ten lines report 'of 3'; the third view is empty.
    assert browser.view() == "----------\n[Viewing page 1 of 3]\n\nline 0\nline 1\nline 2\nline 3\nline 4\n----------"
    assert browser.scroll_down().startswith("----------\n[Viewing page 2 of 3]\n\nline 5\n")
    assert browser.scroll_down() == "[Reached the bottom of the page.]\n"
    eleven = Browser({"/": ten + "\n"})
    eleven.scroll_down()
    assert eleven.scroll_down() == "----------\n[Web Page Name: /]\n[Viewing page 3 of 3]\n\n\n----------"


def test_data_is_loaded_from_the_package_copy():
    assert len(data.WEB_PAGES) == 55 and next(iter(data.WEB_PAGES)) == "/"
    for name in ["travel.json", "web_metadata.json"]:
        assert json.loads((PYTHON_DIR / "codeact_m3tooleval" / "data" / name).read_text()) == json.loads(
            (PACK / "data" / name).read_text()
        )
    assert (PYTHON_DIR / "codeact_m3tooleval" / "data" / "web_pages.jsonl").read_text() == (
        PACK / "data" / "web_pages.jsonl"
    ).read_text()
    assert {item["name"] for item in data.WEB_METADATA["item_info"]} <= {
        line[len("Item: ") :] for content in data.WEB_PAGES.values() for line in content.split("\n")
    }


def test_package_works_after_its_files_are_deleted(tmp_path):
    shutil.copytree(PYTHON_DIR / "codeact_m3tooleval", tmp_path / "codeact_m3tooleval")
    vectors = (PACK / "vectors.jsonl").read_text(encoding="utf-8")
    script = textwrap.dedent(
        """
        import shutil, sys
        sys.path.insert(0, sys.argv[1])
        import codeact_m3tooleval
        shutil.rmtree(sys.argv[1])
        sys.path.remove(sys.argv[1])
        h = __import__("codeact_m3tooleval.harness", fromlist=["emit"])
        h.emit("start", "web_browsing", ["click_url", "view"])
        h.emit("call_text", "click_url, /products/wand/legendary_wand")
        h.emit("check_vectors", sys.stdin.read())
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], input=vectors, capture_output=True, text=True, check=True
    )
    assert not (tmp_path / "codeact_m3tooleval").exists()
    lines = run.stdout.splitlines()
    assert [json.loads(line[len("\x1fcodeact-eval ") :]) for line in lines] == [
        {"tools": ["click_url", "view"]},
        {
            "observation": "[Opened page: /products/wand/legendary_wand]\n----------\n"
            "[Web Page Name: /products/wand/legendary_wand]\n[Viewing page 1 of 1]\n\nItem: Legendary Wand\n"
            "Description: High-quality magical item.\nPrice: $68.71\n----------",
            "value": "[Opened page: /products/wand/legendary_wand]\n----------\n"
            "[Web Page Name: /products/wand/legendary_wand]\n[Viewing page 1 of 1]\n\nItem: Legendary Wand\n"
            "Description: High-quality magical item.\nPrice: $68.71\n----------",
            "literal": True,
        },
        {"failures": [], "passed": 92, "total": 92},
    ]
