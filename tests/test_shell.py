"""The theme's page around dataset pages, rendered once and filled in (openem_build/site/shell.py): used only when
filling it in gives exactly the pages a full rendering gives."""

from __future__ import annotations

import html

import pytest

from openem_build.site.shell import Shell, make


def _theme(title: str, head: str, body: str, id: str) -> str:  # noqa: A002
    """A theme in small: the parts where a theme puts them, the id in two addresses."""
    return (f"<html><head><title>{title} - Site</title>{head}"
            f'<link rel="canonical" href="https://example.org/datasets/{id}/"></head>'
            f'<body><nav><a href="../../">Home</a></nav><main>{body}</main>'
            f'<a href="https://example.org/datasets/{id}/">this page</a></body></html>')


def test_a_filled_shell_is_the_page_rendered_in_full() -> None:
    shell = make(_theme)
    assert shell is not None
    parts = dict(title=html.escape('Tau filaments & "PHF" <b>'), head='<meta name="x" content="1 &amp; 2">',
                 body='<h1 id="title">Tau</h1><p>ß ✓ &lt;</p>', id="tau-filaments-2022")
    assert shell.fill(**parts) == _theme(**parts)
    assert shell.parts.count("id") == 2 and shell.parts.count("body") == 1


@pytest.mark.parametrize("theme", [
    # the title escaped again, shortened, or tested
    lambda title, head, body, id: _theme(html.escape(title), head, body, id),
    lambda title, head, body, id: _theme(title[:20], head, body, id),
    lambda title, head, body, id: _theme(title, head, body, id) + ("<i>long</i>" if len(title) > 40 else ""),
    # the article looked into (Material adds a heading to one without)
    lambda title, head, body, id: _theme(title, head, body if "<h1" in body else f"<h1>{title}</h1>{body}", id)
    .replace("<main>", f"<main data-words={len(body.split())}>"),
    # the id changed on its way into an address
    lambda title, head, body, id: _theme(title, head, body, id.upper()),
])
def test_no_shell_when_the_theme_shows_a_part_in_another_form(theme) -> None:
    assert make(theme) is None


def test_only_a_dataset_id_is_filled_in() -> None:
    shell = make(_theme)
    assert shell is not None
    with pytest.raises(ValueError):
        shell.fill("t", "", "", '../x"><script>')
    assert isinstance(shell, Shell)


def test_file_rows_escape_every_value_and_link_the_first_web_url() -> None:
    from openem_build.records.model import ManifestFile
    from openem_build.render.pages import file_rows

    rows = str(file_rows([
        ManifestFile('maps/a"<b>&.mrc', 1_500_000, "MD5E-s1500000--x.mrc", (("md5", "ab" * 16),),
                     ("s3://bucket/a", 'https://example.org/a?x=1&y="2"')),
        ManifestFile("README.md", None, None, (), ("ssh://host/README.md",)),
    ])).splitlines()
    assert rows[0] == (
        '<tr data-path="maps/a&#34;&lt;b&gt;&amp;.mrc"><td><a href="https://example.org/a?x=1&amp;y=&#34;2&#34;" '
        'download="a&#34;&lt;b&gt;&amp;.mrc">maps/a&#34;&lt;b&gt;&amp;.mrc</a></td><td>MRC</td><td data-sort="0"></td>'
        '<td data-sort=""></td><td data-sort="1500000">1.5 MB</td><td><code class="openem-checksum">md5:'
        + "ab" * 16 + "</code></td></tr>")
    assert rows[1] == ('<tr data-path="README.md"><td><code>README.md</code></td><td>MD</td><td data-sort="0"></td>'
                       '<td data-sort=""></td><td data-sort="">unknown</td><td></td></tr>')
