"""What bounding OTLP requests costs, and what a burst becomes.

Why this exists: the OTLP sink splits every batch into requests a Collector accepts (at most
512 spans and 3 MiB each, sinks/otlp.py), by an upper bound of each span's encoded size computed
from its values' lengths rather than by encoding it twice. This prints, for the spans of a
synthetic rolling update (``synthetic_cluster.py``):

- the time per span of that bound, against the SDK encoder's time per span (the export's own
  cost, which the bound must stay well below);
- how far above the true encoded size the bound is (a bound too generous makes more requests);
- the requests the batch of every span becomes, with the largest one's true size.

    python benchmarks/export_bench.py            # 200 Deployments x 10 pods
    python benchmarks/export_bench.py --quick    # 20 x 10, a few seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from synthetic_cluster import rolling_update, write_capture

from kspan_py.config import OtlpSettings
from kspan_py.sinks.otlp import encoded_size_bound, make_otlp_exporter
from tests.tracing import replay_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="20 Deployments: a few seconds")
    args = parser.parse_args(argv)
    deployments = 20 if args.quick else args.deployments

    with tempfile.TemporaryDirectory(prefix="kspan-export-bench-") as tmp:
        capture = Path(tmp) / "capture.jsonl"
        cluster, stream = rolling_update(deployments=deployments, replicas=args.replicas)
        write_capture(capture, stream, cluster.api.stats)
        spans = replay_file(capture)

    start = time.perf_counter()
    bounds = [encoded_size_bound(span) for span in spans]
    bound_s = time.perf_counter() - start
    start = time.perf_counter()
    one_request = encode_spans(spans).SerializeToString()
    encode_s = time.perf_counter() - start
    sizes = [encode_spans([span]).ByteSize() for span in spans]

    sink = make_otlp_exporter(OtlpSettings())
    start = time.perf_counter()
    chunks = list(sink.chunks(spans))
    chunk_s = time.perf_counter() - start
    largest = max(encode_spans(chunk).ByteSize() for chunk in chunks)
    sink.shutdown()

    figures = {
        "spans": len(spans),
        "bound_us_per_span": round(bound_s / len(spans) * 1e6, 2),
        "encode_us_per_span": round(encode_s / len(spans) * 1e6, 2),
        "bound_over_size": round(sum(bounds) / sum(sizes), 2),
        "requests": len(chunks),
        "chunking_ms": round(chunk_s * 1e3, 1),
        "largest_request_bytes": largest,
        "one_request_bytes": len(one_request),
    }
    print(
        f"{figures['spans']} spans: size bound {figures['bound_us_per_span']} µs/span, SDK "
        f"encoder (one request, serialised) {figures['encode_us_per_span']} µs/span; "
        f"bound / true size "
        f"{figures['bound_over_size']}\n"
        f"as one request: {figures['one_request_bytes']:,} bytes; split: "
        f"{figures['requests']} requests, the largest {figures['largest_request_bytes']:,} "
        f"bytes ({figures['chunking_ms']} ms to split)"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
