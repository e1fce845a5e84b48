"""A summary section as data: a title, an introduction, a table and a link, rendered once into
Markdown and into the HTML page by the job that owns the summary (its template lays out the
fields), so no written file is ever edited or read back."""
from __future__ import annotations

import html
from dataclasses import dataclass, field


@dataclass
class Section:
    title: str
    intro: str
    head: list[str]
    body: list[list[str]]
    #: (text, relative address) of a page with the details
    link: tuple[str, str] | None = None
    #: further Markdown after the table (sub-tables)
    extra_markdown: str = field(default="", repr=False)

    def markdown(self) -> str:
        text = f"# {self.title}\n\n{self.intro}\n\n{markdown_table(self.head, self.body)}"
        return text + (f"\n{self.extra_markdown}" if self.extra_markdown else "")


def markdown_table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def html_table(head: list[str], body: list[list[str]]) -> str:
    e = html.escape
    rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in body)
    header = "".join(f"<th>{e(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
