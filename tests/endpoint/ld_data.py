"""A small but real published dataset for the Linked Data, downloads and browser tests.

The real ontology and reference graphs, three notices of 渝中区 (one with a hostile title and a
`javascript:` page, one without 索引号), a quarantined notice's SHACL result, a harvest run.
A plain module (conftest is not importable); tests/browser adds this folder to sys.path.
"""

from __future__ import annotations

from pathlib import Path

from endpoint.dumps import write_dumps
from endpoint.store import publish
from gongkai.config import DataDir
from gongkai.reference import ontology_files, reference_files, turtle_files_to_ntriples
from ontology.namespaces import BASE, graph_iri

RUN_ID = "20250301T020000Z"
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
NOTICE = BASE + "id/notice/yuzhong/11500054B8891CFDDX_2024-00001"
HOSTILE_NOTICE = BASE + "id/notice/yuzhong/11500054B8891CFDDX_2024-00002"
NO_INDEX_NOTICE = BASE + "id/notice/yuzhong/doc-123456"
QUARANTINED = BASE + "id/notice/yuzhong/11500054B8891CFDDX_2024-00003"
AGENCY = BASE + "id/agency/yuzhong"
DIVISION = BASE + "id/division/500103"
GK = BASE + "def/gongkai#"
DCT = "http://purl.org/dc/terms/"
SH = "http://www.w3.org/ns/shacl#"
XSD = "http://www.w3.org/2001/XMLSchema#"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _notice(iri: str, title: str, issued: str, index_no: str | None, page: str, area: int) -> str:
    s = f"<{iri}>"
    lines = [
        f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{GK}Notice> .",
        f'{s} <{DCT}title> "{_esc(title)}"@zh .',
        f"{s} <{DCT}publisher> <{AGENCY}> .",
        f'{s} <{GK}publisherName> "重庆市渝中区人民政府"@zh .',
        f'{s} <{DCT}issued> "{issued}"^^<{XSD}date> .',
        f"{s} <{GK}sourcePage> <{page}> .",
        f"{s} <http://xmlns.com/foaf/0.1/page> <{page}> .",
        f"{s} <{GK}source> <{BASE}id/source/yuzhong> .",
        f"{s} <{GK}area> <{BASE}def/category/{area}> .",
        f"{s} <{GK}classification> <{iri}#area-{area}> .",
        f"<{iri}#area-{area}> <{GK}area> <{BASE}def/category/{area}> .",
        f'<{iri}#area-{area}> <{GK}matchedRule> "a{area}-rule" .',
        f"{s} <http://www.w3.org/ns/prov#wasGeneratedBy> <{BASE}id/run/{RUN_ID}> .",
        f'{s} <http://www.w3.org/ns/prov#generatedAtTime> "2025-03-01T10:00:00+08:00"^^<{XSD}dateTime> .',
    ]
    if index_no:
        lines.append(f'{s} <{GK}indexNumber> "{index_no}" .')
        lines.append(f'{s} <{DCT}identifier> "{index_no}" .')
    return "\n".join(lines) + "\n"


NOTICES_NT = (
    _notice(NOTICE, "渝中区2024年第1期行政处罚案件信息公开", "2024-03-05",
            "11500054B8891CFDDX/2024-00001", "https://www.cqyz.gov.cn/zwgk_229/t20240305_1.html", 2)
    + _notice(HOSTILE_NOTICE, HOSTILE, "2024-04-01", "11500054B8891CFDDX/2024-00002",
              "javascript:alert(1)", 19)
    + _notice(NO_INDEX_NOTICE, "渝中区关于=HYPERLINK(\"x\")的通知", "2023-12-01", None,
              "https://www.cqyz.gov.cn/zwgk_229/t20231201_123456.html", 1)
)  # fmt: skip

QUALITY_NT = f"""_:r <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{SH}ValidationResult> .
_:r <{SH}focusNode> <{QUARANTINED}> .
_:r <{SH}resultSeverity> <{SH}Violation> .
_:r <{SH}resultPath> <{DCT}title> .
_:r <{SH}resultMessage> "a notice has exactly one non-empty title <b>bold</b>" .
"""

PROVENANCE_NT = f"""<{BASE}id/run/{RUN_ID}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{GK}HarvestRun> .
<{BASE}id/run/{RUN_ID}> <http://www.w3.org/ns/prov#startedAtTime> "2025-03-01T02:00:00Z"^^<{XSD}dateTime> .
<{BASE}id/run/{RUN_ID}> <http://www.w3.org/2000/01/rdf-schema#label> "harvest run {RUN_ID}"@en .
"""


def build(root: Path, *, dumps: bool = True) -> DataDir:
    """Publish the dataset under `root` (and write its dumps); returns the data directory."""
    data = DataDir(root)
    src = root / "in"
    src.mkdir(parents=True, exist_ok=True)
    graphs = {
        graph_iri("ontology"): turtle_files_to_ntriples(ontology_files(), src / "ontology.nt"),
        graph_iri("reference"): turtle_files_to_ntriples(reference_files(), src / "reference.nt"),
    }
    for name, text in (
        ("yuzhong", NOTICES_NT),
        ("quality", QUALITY_NT),
        ("provenance", PROVENANCE_NT),
    ):
        path = src / f"{name}.nt"
        path.write_text(text, encoding="utf-8")
        graphs[graph_iri(name)] = path
    gen = publish(data, graphs, run_id=RUN_ID)
    if dumps:
        write_dumps(data, gen, RUN_ID)
    return data
