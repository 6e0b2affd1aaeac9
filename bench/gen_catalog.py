#!/usr/bin/env python3
"""Generate a large dataflow list shaped like ISTAT's live `dataflow/IT1` answer, as SDMX-ML 2.1
(default) or as SDMX-JSON 2.0 (--format json): the same dataflows either way.

XML: CRLF line ends, the NSI comment, per-dataflow annotations (METADATA_URL with &amp;-escaped
URLs, DDBDataflow, LAST_UPDATE in both ISTAT forms, LAYOUT_*, occasional NonProductionDataflow
and DATAFLOW_CATALOG_TYPE=ONLY_FILE), it/en names. JSON: one line like ISTAT's
`format=sdmx-json` answer (meta, then data.dataflows[] with links, annotations, name + names,
descriptions, version, agencyID, isFinal, structure URN), holding the same ids, names,
descriptions and annotations. Names and descriptions cycle through a real ISTAT list (default:
examples/istat-dataflows-2020.xml) so categorisation behaves as on real data. Deterministic for a
given --seed.

    bench/gen_catalog.py --count 5000 > catalog-5k.xml                 # ~12 MB
    bench/gen_catalog.py --count 5000 --format json > catalog-5k.json  # same 5,000 dataflows

--categorisations FILE also writes FILE: one SDMX-ML 2.1 structure message (as ISTAT's
`categoryscheme/IT1` and `categorisation/IT1` answers, in one message as INSEE's) with the real
ISTAT_DW category scheme (default: tests/fixtures/samples/ondata__guida-api-istat/rawdata/
categoryscheme.xml, 19 themes, 113 categories) and one Categorisation per generated dataflow,
targeting a category by its dotted path from the top as ISTAT does. The category is the one whose
id starts the dataflow id (ISTAT's convention: 101_1015 is in category 101) when the scheme has
it, else one drawn at random (its own --seed stream, so the catalogue is the same with or
without this option).

    bench/gen_catalog.py --count 5000 --categorisations categorisations-5k.xml > catalog-5k.xml
"""
import argparse
import json
import os
import random
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "examples", "istat-dataflows-2020.xml")
NS_S = "{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure}"
NS_C = "{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SCHEME_SOURCE = os.path.join(HERE, "..", "tests", "fixtures", "samples", "ondata__guida-api-istat",
                             "rawdata", "categoryscheme.xml")
JSON_SCHEMA = ("https://raw.githubusercontent.com/sdmx-twg/sdmx-json/develop/structure-message/"
               "tools/schemas/2.0.0/sdmx-json-structure-schema.json")


def real_flows(path):
    root = ET.parse(path).getroot()
    flows = []
    for df in root.iter(NS_S + "Dataflow"):
        names = [(n.get(XML_LANG, ""), n.text or "") for n in df.findall(NS_C + "Name")]
        descs = [(d.get(XML_LANG, ""), d.text or "") for d in df.findall(NS_C + "Description")]
        flows.append((df.get("id"), names, descs))
    return flows


def dataflows(count, seed, source):
    """The generated dataflows as dicts; the random draws are the same for every output format."""
    rnd = random.Random(seed)
    flows = real_flows(source)
    for i in range(count):
        src_id, names, descs = flows[i % len(flows)]
        fid = src_id if i < len(flows) else f"{src_id}_DF_{i}"
        dsd = "DCIS_" + fid.upper()
        url = ("https://esploradati.istat.it/RefMeta/template/GenericMetadataTemplate.html?nodeId=DW"
               f"&metadataSetId=MS_ISTAT_TOPMETA2&reportId={dsd}&lang={{}}&BaseUrlMDA=https://esploradati.istat.it/METADATA_API")
        # (id, title, [(lang, text)]) in document order
        anns = [("METADATA_URL", "METADATA_URL", [(lang, url.format(lang)) for lang in ("en", "it")]),
                ("DDBDataflow", "%032X" % rnd.getrandbits(128), [])]
        if rnd.random() < 0.9:
            y, m, d = rnd.randint(2014, 2026), rnd.randint(1, 12), rnd.randint(1, 28)
            if rnd.random() < 0.7:
                stamp = f"{y}-{m:02d}-{d:02d}T{rnd.randint(0, 23):02d}:15:51.591Z"
            else:
                stamp = f"{d:02d}/{m:02d}/{y} 16:15:51"
            anns.append(("LAST_UPDATE", stamp, []))
        if rnd.random() < 0.75:
            anns += [("LAYOUT_ROW", "TIME_PERIOD", []), ("LAYOUT_COLUMN", "REF_AREA", []),
                     ("LAYOUT_FILTER", "FREQ,DATA_TYPE", [])]
        if rnd.random() < 0.1:
            anns.append(("NonProductionDataflow", "true", []))
        if rnd.random() < 0.07:
            anns.append(("DATAFLOW_CATALOG_TYPE", "ONLY_FILE", []))
        yield {"id": fid, "dsd": dsd, "version": f"1.{i % 5}", "final": bool(i % 4),
               "annotations": anns, "names": names, "descs": descs}


def annotation(aid, title=None, texts=()):
    lines = [f"        <common:Annotation id={quoteattr(aid)}>"]
    if title is not None:
        lines.append(f"          <common:AnnotationTitle>{escape(title)}</common:AnnotationTitle>")
    lines.append(f"          <common:AnnotationType>{escape(aid)}</common:AnnotationType>")
    for lang, text in texts:
        lines.append(f'          <common:AnnotationText xml:lang="{lang}">{escape(text)}</common:AnnotationText>')
    lines.append("        </common:Annotation>")
    return lines


def write_xml(flows, out):
    head = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<!--NSI Web Service v9.11.0.0-->",
        '<message:Structure xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" '
        'xmlns:structure="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure" '
        'xmlns:common="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">',
        "  <message:Header>", "    <message:ID>IDREF1</message:ID>", "    <message:Test>false</message:Test>",
        "    <message:Prepared>2026-11-01T10:00:00.0000000+01:00</message:Prepared>",
        '    <message:Sender id="Unknown" />', '    <message:Receiver id="Unknown" />', "  </message:Header>",
        "  <message:Structures>", "    <structure:Dataflows>",
    ]
    out.write(("\r\n".join(head) + "\r\n").encode())
    for f in flows:
        lines = [f'      <structure:Dataflow id={quoteattr(f["id"])} agencyID="IT1" version="{f["version"]}" '
                 f'isFinal="{"true" if f["final"] else "false"}">',
                 "        <common:Annotations>"]
        for aid, title, texts in f["annotations"]:
            lines += annotation(aid, title, texts)
        lines.append("        </common:Annotations>")
        for lang, text in f["names"]:
            attr = f' xml:lang="{lang}"' if lang else ""
            lines.append(f"        <common:Name{attr}>{escape(text)}</common:Name>")
        for lang, text in f["descs"]:
            attr = f' xml:lang="{lang}"' if lang else ""
            lines.append(f"        <common:Description{attr}>{escape(text)}</common:Description>")
        lines += ["        <structure:Structure>",
                  f'          <Ref id={quoteattr(f["dsd"])} version="1.0" agencyID="IT1" package="datastructure" class="DataStructure" />',
                  "        </structure:Structure>", "      </structure:Dataflow>"]
        out.write(("\r\n".join(lines) + "\r\n").encode())
    out.write(b"    </structure:Dataflows>\r\n  </message:Structures>\r\n</message:Structure>\r\n")


def json_texts(pairs):
    """(single, multi) SDMX-JSON fields: `name` in the first content language, `names` by language."""
    multi = {lang or "it": text for lang, text in pairs}
    single = multi.get("en", next(iter(multi.values()))) if multi else None
    return single, multi


def write_json(flows, out):
    """One line, as ISTAT sends it; the dataflows are written one at a time (no list in memory)."""
    meta = {"id": "IDREF1", "test": False, "schema": JSON_SCHEMA, "prepared": "2026-11-01T10:00:00+01:00",
            "contentLanguages": ["en", "it"], "sender": {"id": "Unknown"}, "receivers": [{"id": "Unknown"}]}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out.write(('{"meta":' + dumps(meta) + ',"data":{"dataflows":[').encode())
    for n, f in enumerate(flows):
        urn = f"urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=IT1:{f['id']}({f['version']})"
        obj = {"links": [{"rel": "self", "type": "dataflow", "uri": JSON_SCHEMA, "urn": urn}],
               "id": f["id"], "annotations": []}
        for aid, title, texts in f["annotations"]:
            ann = {"id": aid, "title": title, "type": aid}
            if texts:
                ann["text"], ann["texts"] = json_texts(texts)
            obj["annotations"].append(ann)
        obj["name"], obj["names"] = json_texts(f["names"])
        if f["descs"]:
            obj["description"], obj["descriptions"] = json_texts(f["descs"])
        obj.update({"version": f["version"], "agencyID": "IT1", "isExternalReference": False,
                    "isFinal": f["final"],
                    "structure": f"urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=IT1:{f['dsd']}(1.0)"})
        out.write(((b"," if n else b"") + dumps(obj).encode()))
    out.write(b"]}}")


def read_scheme(path):
    """The first CategoryScheme of `path`: (attributes, names, categories); a category is
    (id, names, children)."""
    def names_of(el):
        return [(n.get(XML_LANG, ""), n.text or "") for n in el.findall(NS_C + "Name")]

    def category(el):
        return (el.get("id"), names_of(el), [category(c) for c in el.findall(NS_S + "Category")])

    scheme = next(ET.parse(path).getroot().iter(NS_S + "CategoryScheme"))
    return dict(scheme.attrib), names_of(scheme), [category(c) for c in scheme.findall(NS_S + "Category")]


def write_categorisations(path, flows, seed, scheme_source):
    """The scheme and one categorisation per (id, version) in `flows`, CRLF like ISTAT's answers."""
    attrs, names, tops = read_scheme(scheme_source)
    paths = {}  # category id -> dotted path, in document order

    def scheme_lines(cat, prefix, depth):
        cid, cnames, children = cat
        dotted = f"{prefix}.{cid}" if prefix else cid
        paths.setdefault(cid, dotted)
        pad = "  " * (depth + 4)
        urn = f"urn:sdmx:org.sdmx.infomodel.categoryscheme.Category=IT1:{attrs['id']}({attrs['version']}).{dotted}"
        out = [f'{pad}<structure:Category id={quoteattr(cid)} urn={quoteattr(urn)}>']
        out += [f'{pad}  <common:Name xml:lang="{lang}">{escape(text)}</common:Name>' for lang, text in cnames]
        for child in children:
            out += scheme_lines(child, dotted, depth + 1)
        return out + [f"{pad}</structure:Category>"]

    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<!--NSI Web Service v9.11.0.0-->",
             '<message:Structure xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" '
             'xmlns:structure="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure" '
             'xmlns:common="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">',
             "  <message:Header>", "    <message:ID>IDREF2</message:ID>", "    <message:Test>false</message:Test>",
             "    <message:Prepared>2026-11-01T10:00:00.0000000+01:00</message:Prepared>",
             '    <message:Sender id="Unknown" />', '    <message:Receiver id="Unknown" />', "  </message:Header>",
             "  <message:Structures>", "    <structure:CategorySchemes>",
             f'      <structure:CategoryScheme id={quoteattr(attrs["id"])} agencyID={quoteattr(attrs["agencyID"])} '
             f'version={quoteattr(attrs["version"])} isFinal="true">']
    lines += [f'        <common:Name xml:lang="{lang}">{escape(text)}</common:Name>' for lang, text in names]
    for top in tops:
        lines += scheme_lines(top, "", 0)
    lines += ["      </structure:CategoryScheme>", "    </structure:CategorySchemes>",
              "    <structure:Categorisations>"]
    rnd = random.Random(seed * 7919 + 1)
    all_paths = list(paths.values())
    with open(path, "wb") as out:
        out.write(("\r\n".join(lines) + "\r\n").encode())
        for fid, version in flows:
            dotted = paths.get(fid.split("_")[0]) or rnd.choice(all_paths)
            out.write(("\r\n".join([
                f'      <structure:Categorisation id={quoteattr("CAT_" + fid)} agencyID="IT1" version="1.0">',
                f'        <common:Name xml:lang="en">{escape(fid)} in {escape(dotted)}</common:Name>',
                "        <structure:Source>",
                f'          <Ref id={quoteattr(fid)} version="{version}" agencyID="IT1" package="datastructure" class="Dataflow" />',
                "        </structure:Source>", "        <structure:Target>",
                f'          <Ref id={quoteattr(dotted)} maintainableParentID={quoteattr(attrs["id"])} '
                f'maintainableParentVersion={quoteattr(attrs["version"])} agencyID="IT1" package="categoryscheme" class="Category" />',
                "        </structure:Target>", "      </structure:Categorisation>"]) + "\r\n").encode())
        out.write(b"    </structure:Categorisations>\r\n  </message:Structures>\r\n</message:Structure>\r\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--source", default=SOURCE)
    ap.add_argument("--format", choices=("xml", "json"), default="xml")
    ap.add_argument("--categorisations", metavar="FILE",
                    help="also write the ISTAT_DW scheme and one categorisation per dataflow to FILE")
    ap.add_argument("--scheme-source", default=SCHEME_SOURCE, help="the category scheme to use")
    args = ap.parse_args()
    flows = dataflows(args.count, args.seed, args.source)
    written = []  # (id, version) of each dataflow, for --categorisations
    if args.categorisations:
        flows = (written.append((f["id"], f["version"])) or f for f in flows)
    (write_json if args.format == "json" else write_xml)(flows, sys.stdout.buffer)
    if args.categorisations:
        write_categorisations(args.categorisations, written, args.seed, args.scheme_source)


if __name__ == "__main__":
    main()
