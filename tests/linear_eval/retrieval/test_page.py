"""Tests of linear_eval/retrieval/page.py: every text a page shows is escaped, and its links are
built from numbers and index names, escaped for an attribute, with nothing a request gave raw."""

from __future__ import annotations

from html.parser import HTMLParser

from linear_eval.retrieval.page import Site, error_page, link, pages

HOSTILE = '<script>alert("x")</script> & "quoted" \'single\''


class Collected(HTMLParser):
    """Tags, attributes and text of a page, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.hrefs += [value for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> Collected:
    collected = Collected()
    collected.feed(html)
    return collected


def test_a_link_is_its_path_and_parameters_escaped_for_an_attribute() -> None:
    assert link("/search", row=3, k=10, index=None) == "/search?row=3&amp;k=10"
    assert link("/") == "/"
    # an index name with markup in it stays a value of the query
    href = parsed(f'<a href="{link("/", index=HOSTILE)}">x</a>').hrefs[0]
    assert href.startswith("/?index=") and "<" not in href and '"' not in href


def test_an_error_page_shows_the_message_as_text_never_as_markup() -> None:
    page = parsed(error_page(Site(HOSTILE, {}), None, 400, HOSTILE))
    assert "script" not in page.tags  # nothing became an element
    assert page.text.count(HOSTILE) == 2  # the run's name and the message, as written
    assert "/" in page.hrefs  # the way back to the gallery


def test_pages_link_the_previous_and_next_page_when_there_is_one() -> None:
    assert parsed(pages("/", 1, 1)).hrefs == []
    assert parsed(pages("/", 1, 3, k=5)).hrefs == ["/?page=2&k=5"]
    assert parsed(pages("/", 3, 3)).hrefs == ["/?page=2"]
    assert parsed(pages("/", 2, 3)).hrefs == ["/?page=1", "/?page=3"]
    assert "page 2 of 1,234" in parsed(pages("/", 2, 1234)).text
