"""The README's option reference is generated from the schema and must stay in sync."""

from pathlib import Path

from dynamic_dynamodb.config.reference import BEGIN, END, markdown

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_option_reference_matches_the_schema() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == markdown(), (
        "README option reference is stale: regenerate it with "
        "python -m dynamic_dynamodb.config.reference")


def test_readme_opens_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```sh") + 1: lines.index("```sh") + 3]
    assert [line.split("#")[0].strip() for line in block] == ["make demo", "make test"]
