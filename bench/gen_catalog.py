#!/usr/bin/env python3
"""Generate a large SDMX-ML 2.1 dataflow list shaped like ISTAT's live `dataflow/IT1` answer.

CRLF line ends, the NSI comment, per-dataflow annotations (METADATA_URL with &amp;-escaped URLs,
DDBDataflow, LAST_UPDATE in both ISTAT forms, LAYOUT_*, occasional NonProductionDataflow and
DATAFLOW_CATALOG_TYPE=ONLY_FILE), it/en names. Names and descriptions cycle through a real ISTAT
list (default: examples/istat-dataflows-2020.xml) so categorisation behaves as on real data.
Deterministic for a given --seed.

    bench/gen_catalog.py --count 5000 > catalog-5k.xml     # ~12 MB
"""
import argparse
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


def real_flows(path):
    root = ET.parse(path).getroot()
    flows = []
    for df in root.iter(NS_S + "Dataflow"):
        names = [(n.get(XML_LANG, ""), n.text or "") for n in df.findall(NS_C + "Name")]
        descs = [(d.get(XML_LANG, ""), d.text or "") for d in df.findall(NS_C + "Description")]
        flows.append((df.get("id"), names, descs))
    return flows


def annotation(aid, title=None, texts=()):
    lines = [f"        <common:Annotation id={quoteattr(aid)}>"]
    if title is not None:
        lines.append(f"          <common:AnnotationTitle>{escape(title)}</common:AnnotationTitle>")
    lines.append(f"          <common:AnnotationType>{escape(aid)}</common:AnnotationType>")
    for lang, text in texts:
        lines.append(f'          <common:AnnotationText xml:lang="{lang}">{escape(text)}</common:AnnotationText>')
    lines.append("        </common:Annotation>")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--source", default=SOURCE)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    flows = real_flows(args.source)
    out = sys.stdout.buffer
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
    for i in range(args.count):
        src_id, names, descs = flows[i % len(flows)]
        fid = src_id if i < len(flows) else f"{src_id}_DF_{i}"
        dsd = "DCIS_" + fid.upper()
        lines = [f'      <structure:Dataflow id={quoteattr(fid)} agencyID="IT1" version="1.{i % 5}" isFinal="{"true" if i % 4 else "false"}">',
                 "        <common:Annotations>"]
        url = ("https://esploradati.istat.it/RefMeta/template/GenericMetadataTemplate.html?nodeId=DW"
               f"&metadataSetId=MS_ISTAT_TOPMETA2&reportId={dsd}&lang={{}}&BaseUrlMDA=https://esploradati.istat.it/METADATA_API")
        lines += annotation("METADATA_URL", "METADATA_URL", [(lang, url.format(lang)) for lang in ("en", "it")])
        lines += annotation("DDBDataflow", "%032X" % rnd.getrandbits(128))
        if rnd.random() < 0.9:
            y, m, d = rnd.randint(2014, 2026), rnd.randint(1, 12), rnd.randint(1, 28)
            if rnd.random() < 0.7:
                stamp = f"{y}-{m:02d}-{d:02d}T{rnd.randint(0, 23):02d}:15:51.591Z"
            else:
                stamp = f"{d:02d}/{m:02d}/{y} 16:15:51"
            lines += annotation("LAST_UPDATE", stamp)
        if rnd.random() < 0.75:
            lines += annotation("LAYOUT_ROW", "TIME_PERIOD")
            lines += annotation("LAYOUT_COLUMN", "REF_AREA")
            lines += annotation("LAYOUT_FILTER", "FREQ,DATA_TYPE")
        if rnd.random() < 0.1:
            lines += annotation("NonProductionDataflow", "true")
        if rnd.random() < 0.07:
            lines += annotation("DATAFLOW_CATALOG_TYPE", "ONLY_FILE")
        lines.append("        </common:Annotations>")
        for lang, text in names:
            attr = f' xml:lang="{lang}"' if lang else ""
            lines.append(f"        <common:Name{attr}>{escape(text)}</common:Name>")
        for lang, text in descs:
            attr = f' xml:lang="{lang}"' if lang else ""
            lines.append(f"        <common:Description{attr}>{escape(text)}</common:Description>")
        lines += ["        <structure:Structure>",
                  f'          <Ref id={quoteattr(dsd)} version="1.0" agencyID="IT1" package="datastructure" class="DataStructure" />',
                  "        </structure:Structure>", "      </structure:Dataflow>"]
        out.write(("\r\n".join(lines) + "\r\n").encode())
    out.write(b"    </structure:Dataflows>\r\n  </message:Structures>\r\n</message:Structure>\r\n")


if __name__ == "__main__":
    main()
