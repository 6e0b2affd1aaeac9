#!/usr/bin/env python3
"""The reference service's dataflow analysis, re-implemented for comparison (benchmark and
agreement check); Python 3.11 standard library only.

What it follows (section numbers of /work/shared/reference-service.md, which documents the
Osservatorio Python service at commit fe716d2 that `dataflow` replaces):

- §1.1 / §6.2: the input is an SDMX-ML 2.1 structure message read from a server-side file as
  UTF-8 text (`xml_file_path`), then handed to the analysis as a string.
- §1.2, base service (`_parse_dataflow_xml` + `_extract_dataflow_info`): `ET.fromstring`; pass 1
  `.//str:Dataflow` with the structure/common namespaces, pass 2 (only if pass 1 found nothing)
  un-namespaced `.//Dataflow`; no `@id` → skipped; every descendant Name, `it` and `en` overwrite,
  an untagged Name (pass 2: any other language) is Italian if none yet; first descendant
  Description in any language; text verbatim; `display_name = name_it or name_en or id`.
- §1.3: the seven categories in enum order, `altri` the default.
- §1.4 (B): the rule set seeded into SQLite, which the base service uses in a real deployment,
  in the DB order `priority DESC` (§1.6; the 30-minute in-process cache is a dict here, no
  SQLite). `--rules fallback` uses set (A), the base service's fallback (and its unit tests').
  Keywords normalised as the `CategorizationRule` model does (lower + strip, empties dropped,
  duplicates kept).
- §1.5: `text = (display_name + " " + description).lower()`; per rule the sum of its priority
  over the keywords that are substrings of `text`; a strictly greater score wins (ties keep the
  earlier rule); the `CategoryResult` confidence formula.
- §1.7, base service, steps 1-9 with the request defaults (`max_results` 100, no category or
  score filter) except `include_tests=False`: all seven categories as keys, each list sorted by
  score descending (stable), cut to `max_results // 7` (bug §9.6 kept: `--max-results 5`
  empties every list), `performance_metrics` with `analysis_duration_seconds`,
  `dataflows_processed`, `categories_found`, `tests_performed`.
- §1.12 / §6.2: the HTTP answer `DataflowAnalysisResponse` (`success`, `message`, `timestamp`,
  `total_analyzed`, `categorized_dataflows` of `DataflowInfo`, `test_results`,
  `tableau_ready_count`, `analysis_timestamp`, `performance_metrics`), serialised the way
  FastAPI's default JSONResponse does (`json.dumps(ensure_ascii=False, separators=(",", ":"))`,
  naive local ISO timestamps, §1.12).

Left out, so that timings of this script are a lower bound for the reference service: HTTP,
JWT auth, rate limiting and audit rows in SQLite (§6.1), pydantic validation of every model, the
SQLite rule query, and the data-access tests of §1.7 step 7 / §1.8 (an ISTAT download plus a 1 s
sleep per dataflow; `include_tests=True` is the reference's default). The K8s service variant
(§1.2/§1.6/§1.7: rule set (C), no sorting) and the legacy analyzer (D) are not modelled.

    bench/reference_analyze.py FILE.xml [--max-results 100] [--rules db|fallback] > answer.json
    bench/reference_analyze.py FILE.xml --all-flows   # every dataflow: id, category, score (agreement checks)
"""
import argparse
import datetime
import json
import sys
import time
import xml.etree.ElementTree as ET

# §1.1: the two namespaces the analysis uses (Config.SDMX_NAMESPACES)
NAMESPACES = {
    "str": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure",
    "com": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# §1.3, enum order
CATEGORIES = ["popolazione", "economia", "lavoro", "territorio", "istruzione", "salute", "altri"]

# §1.4 (B): schema.py _insert_default_categorization_rules (rule_id, category, priority, keywords)
DB_RULES = [
    ("pop_rule", "popolazione", 10, ["popolazione", "popul", "residente", "demografic", "demo", "nascite", "morti",
                                     "stranieri", "cittadini", "anagrafe", "matrimoni", "divorzi", "migrazioni",
                                     "natalità", "mortalità"]),
    ("econ_rule", "economia", 9, ["pil", "gdp", "economia", "economic", "inflazione", "prezzi", "price", "reddito",
                                  "income", "consumi", "spesa", "export", "import", "commercio", "bilancia",
                                  "prodotto_interno"]),
    ("work_rule", "lavoro", 8, ["lavoro", "occupazione", "disoccupazione", "employment", "unemploy", "forze_lavoro",
                                "attività", "inattivi", "occupati", "cerca_lavoro", "tasso_occupazione"]),
    ("terr_rule", "territorio", 7, ["regione", "provincia", "comune", "territorial", "geographic", "territorio",
                                    "amministrativo", "confini", "enti_locali", "municipalità", "circoscrizione"]),
    ("edu_rule", "istruzione", 6, ["istruzione", "scuola", "università", "education", "student", "studenti",
                                   "alunni", "laureati", "diploma", "formazione", "educazione", "insegnanti",
                                   "docenti"]),
    ("health_rule", "salute", 5, ["sanita", "salute", "ospedale", "health", "medical", "sanitario", "medico",
                                  "malattie", "ricoveri", "cure", "farmaci", "prevenzione", "mortalità",
                                  "cause_morte"]),
]

# §1.4 (A): dataflow_analysis_service.py fallback rules
FALLBACK_RULES = [
    ("pop_rule", "popolazione", 10, ["popolazione", "popul", "residente", "demografic", "demo", "nascite", "morti",
                                     "stranieri", "cittadini", "anagrafe"]),
    ("econ_rule", "economia", 9, ["pil", "gdp", "economia", "economic", "inflazione", "prezzi", "price", "reddito",
                                  "income", "consumi", "spesa"]),
    ("work_rule", "lavoro", 8, ["lavoro", "occupazione", "disoccupazione", "employment", "unemploy", "forze_lavoro",
                                "attività", "occupati"]),
    ("terr_rule", "territorio", 7, ["regione", "provincia", "comune", "territorial", "geographic", "territorio",
                                    "amministrativo", "enti_locali"]),
    ("edu_rule", "istruzione", 6, ["istruzione", "scuola", "università", "education", "student", "studenti",
                                   "formazione", "educazione"]),
    ("health_rule", "salute", 5, ["sanita", "salute", "ospedale", "health", "medical", "sanitario", "medico", "cure",
                                  "prevenzione"]),
]


def load_rules(which):
    """§1.4/§1.6: CategorizationRule objects, DB order priority DESC (stable for equal priorities)."""
    rows = DB_RULES if which == "db" else FALLBACK_RULES
    rules = []
    for rule_id, category, priority, keywords in rows:
        kws = [k.lower().strip() for k in keywords]
        rules.append({"id": rule_id, "category": category, "priority": priority,
                      "keywords": [k for k in kws if k], "is_active": True})
    rules.sort(key=lambda r: -r["priority"])
    return rules


def now():
    return datetime.datetime.now()  # §1.12: naive local time


def extract_dataflow_info(elem, namespaced):
    """§1.2 `_extract_dataflow_info`; None = skipped."""
    try:
        flow_id = elem.get("id", "")
        if not flow_id:
            return None
        name_it = None
        name_en = None
        if namespaced:
            names = elem.findall(".//com:Name", NAMESPACES)
            desc_elem = elem.find(".//com:Description", NAMESPACES)
        else:
            names = elem.findall(".//Name")
            desc_elem = elem.find(".//Description")
        for name_elem in names:
            lang = name_elem.get(XML_LANG, "")
            if not namespaced and not lang:
                lang = name_elem.get("lang", "")
            text = name_elem.text
            if lang == "it":
                name_it = text
            elif lang == "en":
                name_en = text
            elif not name_it and (lang == "" or not namespaced):
                name_it = text
        description = desc_elem.text if desc_elem is not None and desc_elem.text else ""
        display_name = name_it or name_en or flow_id
        return {"id": flow_id, "name_it": name_it or "", "name_en": name_en or "",
                "display_name": display_name or "Unknown", "description": description,
                "category": "altri", "relevance_score": 0, "created_at": now()}
    except Exception as e:  # the reference logs a warning and skips the element
        print(f"warning: failed to extract dataflow info: {e}", file=sys.stderr)
        return None


def parse_dataflow_xml(xml_content):
    """§1.2 `_parse_dataflow_xml`: two passes; a ParseError propagates."""
    root = ET.fromstring(xml_content)
    flows = []
    for elem in root.findall(".//str:Dataflow", NAMESPACES):
        info = extract_dataflow_info(elem, True)
        if info is not None:
            flows.append(info)
    if not flows:
        for elem in root.findall(".//Dataflow"):
            info = extract_dataflow_info(elem, False)
            if info is not None:
                flows.append(info)
    return flows


def categorize_single_dataflow(flow, rules):
    """§1.5: the winning rule's category and score, matched keywords and confidence."""
    text = (flow["display_name"] + " " + (flow["description"] or "")).lower()
    best_category, best_score, matched = "altri", 0, []
    for rule in rules:
        if not rule["is_active"]:
            continue
        score = 0
        rule_matches = []
        for keyword in rule["keywords"]:
            if keyword in text:
                score += rule["priority"]
                rule_matches.append(keyword)
        if score > best_score:
            best_category, best_score, matched = rule["category"], score, rule_matches
    if best_score == 0:
        confidence = 0.0
    else:
        confidence = (min(1.0, len(matched) / 3) + min(1.0, best_score / 50)) / 2
    return {"category": best_category, "relevance_score": best_score, "matched_keywords": matched,
            "confidence": confidence}


def analyze_dataflows_from_xml(xml_content, rules, max_results=100, categories=None, min_relevance_score=0):
    """§1.7, base service, with include_tests=False."""
    start = now()
    max_results = min(max(1, max_results), 1000)  # AnalysisFilters clamp
    flows = parse_dataflow_xml(xml_content)
    categorized = {c: [] for c in CATEGORIES}
    for flow in flows:
        result = categorize_single_dataflow(flow, rules)
        flow["category"] = result["category"]
        flow["relevance_score"] = result["relevance_score"]
        categorized[result["category"]].append(flow)
    for c in categorized:
        categorized[c].sort(key=lambda f: f["relevance_score"], reverse=True)
    if categories:
        categorized = {c: v for c, v in categorized.items() if c in categories}
    if min_relevance_score > 0:
        categorized = {c: [f for f in v if f["relevance_score"] >= min_relevance_score]
                       for c, v in categorized.items()}
    max_per_category = max_results // len(CATEGORIES)  # §9.6: 0 below 7
    categorized = {c: v[:max_per_category] for c, v in categorized.items()}
    metrics = {
        "analysis_duration_seconds": (now() - start).total_seconds(),
        "dataflows_processed": len(flows),
        "categories_found": sum(1 for v in categorized.values() if v),
        "tests_performed": 0,
    }
    return {"total_analyzed": len(flows), "categorized_dataflows": categorized, "test_results": [],
            "tableau_ready_count": 0, "analysis_timestamp": now(), "performance_metrics": metrics}, flows


def iso(value):
    return value.isoformat() if isinstance(value, datetime.datetime) else value


def to_response(result):
    """§6.2: AnalysisResult → DataflowAnalysisResponse, as FastAPI encodes it."""
    info_fields = ("id", "name_it", "name_en", "display_name", "description", "category", "relevance_score",
                   "created_at")
    return {
        "success": True,
        "message": f"Successfully analyzed {result['total_analyzed']} dataflows",
        "timestamp": iso(now()),
        "total_analyzed": result["total_analyzed"],
        "categorized_dataflows": {c: [{k: iso(f[k]) for k in info_fields} for f in v]
                                  for c, v in result["categorized_dataflows"].items()},
        "test_results": result["test_results"],
        "tableau_ready_count": result["tableau_ready_count"],
        "analysis_timestamp": iso(result["analysis_timestamp"]),
        "performance_metrics": result["performance_metrics"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", help="SDMX-ML 2.1 dataflow list")
    ap.add_argument("--max-results", type=int, default=100)
    ap.add_argument("--rules", choices=("db", "fallback"), default="db")
    ap.add_argument("--all-flows", action="store_true",
                    help="print {total_analyzed, category_counts, flows: [[id, category, score], ...]} for every "
                         "parsed dataflow (before the per-category cut) instead of the HTTP answer")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with open(args.file, encoding="utf-8") as f:  # §6.2: the server-side file, read as UTF-8
        xml_content = f.read()
    result, flows = analyze_dataflows_from_xml(xml_content, load_rules(args.rules), args.max_results)
    if args.all_flows:
        counts = {c: 0 for c in CATEGORIES}
        for fl in flows:
            counts[fl["category"]] += 1
        body = {"total_analyzed": len(flows), "category_counts": counts,
                "flows": [[fl["id"], fl["category"], fl["relevance_score"]] for fl in flows]}
    else:
        body = to_response(result)
    out = json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    sys.stdout.write(out)
    sys.stdout.flush()
    # read + parse + analyse + serialise, without the interpreter's start-up: the reference is a
    # long-running service and pays this part per request
    print(f"reference_analyze: {len(flows)} dataflows in {(time.perf_counter() - t0) * 1000:.1f} ms "
          "(read, parse, analyse, serialise)", file=sys.stderr)


if __name__ == "__main__":
    main()
