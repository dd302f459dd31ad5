"""I/O-style tools for the process profile: each call runs alone in its own process."""
import time
from html.parser import HTMLParser
from typing import List, TypedDict

from snakepit_bridge import BaseAdapter, tool


# Result shapes: `npx snakepit types` writes them into the tools' TypeScript interface.
class Page(TypedDict):
    title: str
    links: List[str]


class Fetched(TypedDict):
    url: str
    status: int


class _LinkCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.extend(value for name, value in attrs if name == "href")
        self._in_title = tag == "title"

    def handle_data(self, data):
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False


class WebAdapter(BaseAdapter):
    """Stands in for a scraper: parses a page it is given instead of fetching one."""

    @tool(description="Extract the title and links of an HTML page")
    def extract_links(self, html: str) -> Page:
        parser = _LinkCollector()
        parser.feed(html)
        return {"title": parser.title.strip(), "links": parser.links}

    @tool(description="Simulate a slow upstream call")
    def fetch(self, url: str, latency_ms: int = 50) -> Fetched:
        time.sleep(latency_ms / 1000)
        return {"url": url, "status": 200}


class TextTools(BaseAdapter):
    @tool(description="Count words")
    def word_count(self, text: str) -> int:
        return len(text.split())

    @tool(description="Lower-case, dash-separated slug")
    def slugify(self, text: str) -> str:
        return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())

    @tool(description="Reverse the bytes of a blob")
    def reverse_bytes(self, blob: bytes) -> bytes:
        return blob[::-1]
