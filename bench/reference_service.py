#!/usr/bin/env python3
"""The reference service's POST /api/analysis/dataflow as a FastAPI app (the "reference port"),
for side-by-side throughput figures in bench/bench_speed.py.

The reference service (/work/shared/reference-service.md, §6.2) is a FastAPI app served by
uvicorn; its analysis route validates the body with pydantic (`DataflowAnalysisRequest`), runs
the analysis (§1.7) and answers `DataflowAnalysisResponse`. This port keeps exactly that much:
Debian's FastAPI 0.92 and uvicorn 0.17 (python3-fastapi, python3-uvicorn), the request model with
its defaults and clamps, and the algorithm of bench/reference_analyze.py (rule set B, the
FastAPI JSON encoding). Left out, so that its figures are an upper bound for the reference: JWT
auth, the rate limiter, audit rows in SQLite, the SQLite rule query (the rules are loaded once)
and the data tests (`include_tests` is accepted and ignored, as with include_tests=False).

    /usr/bin/python3 bench/reference_service.py --port 8099     # one uvicorn worker, as deployed
"""
import argparse
import os
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import reference_analyze as ref  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

RULES = ref.load_rules("db")


class DataflowAnalysisRequest(BaseModel):
    xml_content: Optional[str] = None
    xml_file_path: Optional[str] = None
    categories: Optional[List[str]] = None
    min_relevance_score: int = Field(0, ge=0)
    max_results: int = Field(100, ge=1, le=1000)
    include_tests: bool = True
    only_tableau_ready: bool = False


app = FastAPI(title="Osservatorio ISTAT Data Platform API (reference port)")


@app.post("/api/analysis/dataflow")
def analyze(req: DataflowAnalysisRequest):
    result, _ = ref.analyze_dataflows_from_xml(req.xml_content or "", RULES, req.max_results,
                                               req.categories, req.min_relevance_score)
    return ref.to_response(result)


@app.get("/health/live")
def live():
    return {"status": "ok"}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", access_log=False)
